"""Box detection on the device: the model decodes (boxes normalised to its input frame, per-class scores), this
module thresholds, runs class-aware NMS and maps the boxes back to the raw image's pixels through the recorded
letterbox. Export's parity check runs this same code on the host.

A sample's value: {"boxes": (K, 4) raw-pixel x1,y1,x2,y2, "scores": (K,), "classes": (K,)}, best first. The device
scores only what numpy can (detections per image, agreement with the host reference's confident boxes); the
host completes the score with COCO mAP from these same values (edgekit/tasks/detection.py).
"""

import numpy as np

from . import ragged
from .base import DeviceTask, by_name
from .boxes import iou_matrix, nms
from ..preprocess.letterbox import boxes_to_raw, find_letterbox, letterbox_geometry

DEFAULTS = {"score_threshold": 0.001, "display_threshold": 0.25, "iou_threshold": 0.6, "max_detections": 100,
            "max_candidates": 3000}
AGREEMENT_IOU = 0.5  # a confident reference box is kept when the artifact has one of its class overlapping this much


def _option(options, key):
    value = options.get(key, DEFAULTS[key])
    return DEFAULTS[key] if value is None else value


def _check_pair(boxes, scores):
    if boxes.ndim != 3 or boxes.shape[2] != 4:
        raise ValueError("output 'boxes' must be (rows, anchors, 4), got shape %s" % (list(boxes.shape),))
    if scores.ndim != 3 or scores.shape[:2] != boxes.shape[:2]:
        raise ValueError("output 'scores' must be (rows, anchors, classes) beside boxes %s, got shape %s"
                         % (list(boxes.shape), list(scores.shape)))


def detections(boxes, scores, options):
    """One row's decoded boxes (A, 4) and class scores (A, C) -> (boxes, scores, classes) after the score
    threshold (every anchor-class pair above it is a candidate, as COCO evaluation wants), the best
    max_candidates, class-aware NMS and max_detections."""
    threshold = float(_option(options, "score_threshold"))
    anchor, cls = np.nonzero(scores > threshold)
    conf = scores[anchor, cls].astype(np.float32)
    order = np.argsort(-conf, kind="stable")[:int(_option(options, "max_candidates"))]
    anchor, cls, conf = anchor[order], cls[order], conf[order]
    cand = boxes[anchor].astype(np.float32)
    keep = nms(cand, conf, cls, float(_option(options, "iou_threshold")), int(_option(options, "max_detections")))
    return cand[keep], conf[keep], cls[keep].astype(np.int64)


class Detection(DeviceTask):
    name = "detection"

    def postprocess(self, outputs, options):
        outputs = by_name(outputs, ("boxes", "scores"), "detection")
        boxes, scores = np.asarray(outputs["boxes"]), np.asarray(outputs["scores"])
        _check_pair(boxes, scores)
        found = [detections(boxes[i], scores[i], options) for i in range(len(boxes))]
        return {"boxes": [f[0] for f in found], "scores": [f[1] for f in found], "classes": [f[2] for f in found]}

    def reduce(self, features, outputs):
        """One raw sample makes one model input: its detections, still in the model input's frame (0..1)."""
        return {"boxes": outputs["boxes"][0], "scores": outputs["scores"][0], "classes": outputs["classes"][0]}

    def place(self, value, raw_shape, pipeline):
        """The boxes in the raw image's pixels, through the letterbox the pipeline records (clipped to the image)."""
        step = find_letterbox(pipeline)
        if step is None:
            raise ValueError("a detection model's preprocess needs a letterbox step to map boxes back to the image")
        geometry = letterbox_geometry(raw_shape[:2], step)
        boxes = boxes_to_raw(value["boxes"], geometry, step["size"], raw_shape[:2])
        return {"boxes": boxes, "scores": np.asarray(value["scores"], np.float32),
                "classes": np.asarray(value["classes"], np.int64)}

    def describe(self, value, labels, options):
        shown = np.asarray(value["scores"]) >= float(_option(options, "display_threshold"))
        found = []
        for box, score, c in zip(value["boxes"][shown], value["scores"][shown], value["classes"][shown]):
            found.append({"box": [round(float(v), 2) for v in box], "score": float(score),
                          "label": labels[int(c)] if 0 <= int(c) < len(labels) else str(int(c))})
        counts = {}
        for d in found:
            counts[d["label"]] = counts.get(d["label"], 0) + 1
        summary = ", ".join("%d %s" % (n, name) for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        top = found[0] if found else None
        return {"label": summary or "nothing", "index": int(value["classes"][shown][0]) if top else None,
                "score": top["score"] if top else 0.0, "detections": found, "output": []}

    def load_labels(self, npz):
        boxes, classes = ragged.load(npz, "y_boxes"), ragged.load(npz, "y_classes")
        if len(boxes) != len(classes):
            raise ValueError("y_boxes and y_classes hold different sample counts")
        out = [{"boxes": _boxes(b, "y_boxes"), "classes": _ints(c, "y_classes")} for b, c in zip(boxes, classes)]
        if any(len(o["boxes"]) != len(o["classes"]) for o in out):
            raise ValueError("y_boxes and y_classes must hold one class per box")
        return out

    def load_reference(self, npz):
        boxes, scores = ragged.load(npz, "reference_boxes"), ragged.load(npz, "reference_scores")
        classes = ragged.load(npz, "reference_classes")
        if not len(boxes) == len(scores) == len(classes):
            raise ValueError("reference_boxes, reference_scores and reference_classes hold different sample counts")
        return [{"boxes": _boxes(b, "reference_boxes"), "scores": np.asarray(s, np.float32),
                 "classes": _ints(c, "reference_classes")} for b, s, c in zip(boxes, scores, classes)]

    def score(self, values, reference, labels):
        """What numpy scores on any board: detections per image, and the share of the host reference's confident
        boxes (score >= display_threshold's default) the artifact finds again (same class, IoU >= 0.5)."""
        return {"detections_per_image": _per_image(values), "reference_detections_per_image": _per_image(reference),
                "agreement": agreement(values, reference, DEFAULTS["display_threshold"])}

    def ship(self, values):
        """Every sample's detections for the host's COCO evaluation, as plain lists (rounded: 0.01 px)."""
        return [{"boxes": np.round(np.asarray(v["boxes"], np.float64), 2).tolist(),
                 "scores": np.round(np.asarray(v["scores"], np.float64), 6).tolist(),
                 "classes": np.asarray(v["classes"], np.int64).tolist()} for v in values]


def _boxes(b, key):
    b = np.asarray(b)
    if b.dtype.kind not in "fiu" or (b.size and (b.ndim != 2 or b.shape[1] != 4)):
        raise ValueError("key '%s' must hold x1,y1,x2,y2 rows (n, 4), got %s %s" % (key, b.dtype, list(b.shape)))
    return b.reshape(-1, 4).astype(np.float32)


def _ints(c, key):
    c = np.asarray(c)
    if c.dtype.kind not in "iu" or c.ndim != 1:
        raise ValueError("key '%s' must hold integer class ids, got %s %s" % (key, c.dtype, list(c.shape)))
    return c.astype(np.int64)


def _per_image(values):
    return float(np.mean([len(v["scores"]) for v in values])) if len(values) else 0.0


def agreement(values, reference, threshold):
    """Share of the reference's detections scoring >= threshold that the artifact matches (one to one, greedy by
    score: same class, IoU >= AGREEMENT_IOU, the artifact's detection also >= threshold). 1.0 when there are none."""
    found = total = 0
    for v, r in zip(values, reference):
        rk, vk = r["scores"] >= threshold, v["scores"] >= threshold
        rb, rc, vb, vc = r["boxes"][rk], r["classes"][rk], v["boxes"][vk], v["classes"][vk]
        total += len(rb)
        if not len(rb) or not len(vb):
            continue
        iou = iou_matrix(rb, vb)
        iou[rc[:, None] != vc[None, :]] = 0.0
        used = np.zeros(len(vb), bool)
        for i in range(len(rb)):
            j = int(np.argmax(np.where(used, -1.0, iou[i])))
            if not used[j] and iou[i, j] >= AGREEMENT_IOU:
                used[j] = True
                found += 1
    return float(found) / total if total else 1.0


TASK = Detection()
