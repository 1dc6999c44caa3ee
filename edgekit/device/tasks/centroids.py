"""Centroid detection (FOMO-style) on the device: the model gives a heat map of per-cell class probabilities
(channel 0 = background) at 1/8 of the input; cells whose object probability reaches the threshold join their
neighbours into blobs, each blob is one object (see `blobs`), mapped back to the raw image's pixels.

Score, by centroid matching: a detected centroid is a true positive when it lies inside a ground-truth box of its
class not yet matched (detections taken best score first, each box matched once); precision, recall and F1 over
the whole split. Everything here is numpy: it runs on a microcontroller's host board as it is.
"""

import numpy as np

from . import ragged
from .base import DeviceTask, by_name
from ..preprocess.letterbox import boxes_to_raw, find_letterbox, letterbox_geometry

DEFAULTS = {"score_threshold": 0.5}


def blobs(probs, threshold):
    """(C+1, h, w) probabilities -> (points (K, 2) x, y in 0..1 of the input, scores (K,), classes (K,)).

    A cell is hot when its object probability (1 - background) reaches the threshold, whichever class holds it; a
    blob is 4-connected hot cells, found at the objectness-weighted mean of its cells' centres, of the class with the
    most probability summed over its cells, scored by its best cell's objectness. Measured on fomo-mobilenet-v2
    (made objects, validation split): thresholding the best single class instead split one object into several
    blobs where the model hesitated between two shapes, and dropped it where neither reached the threshold
    (class-blind F1 0.79 at best vs 0.87 this way, on the same heat maps)."""
    obj = 1.0 - probs[0]
    hot = obj >= threshold
    h, w = hot.shape
    seen = np.zeros_like(hot)
    points, scores, classes = [], [], []
    for r0, c0 in zip(*np.nonzero(hot)):
        if seen[r0, c0]:
            continue
        stack, cells = [(r0, c0)], []
        seen[r0, c0] = True
        while stack:  # 4-connected hot cells
            r, c = stack.pop()
            cells.append((r, c))
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= rr < h and 0 <= cc < w and hot[rr, cc] and not seen[rr, cc]:
                    seen[rr, cc] = True
                    stack.append((rr, cc))
        rc = np.asarray(cells)
        weight = obj[rc[:, 0], rc[:, 1]].astype(np.float64)
        points.append([((rc[:, 1] + 0.5) * weight).sum() / weight.sum() / w, ((rc[:, 0] + 0.5) * weight).sum() / weight.sum() / h])
        scores.append(float(weight.max()))
        classes.append(int(probs[1:, rc[:, 0], rc[:, 1]].sum(axis=1).argmax()))
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    return (np.asarray(points, np.float32).reshape(-1, 2)[order], np.asarray(scores, np.float32)[order],
            np.asarray(classes, np.int64)[order])


def matches(points, classes, boxes, box_classes):
    """True positives of one image's centroids (best first) against its boxes, each box matched at most once."""
    used = np.zeros(len(boxes), bool)
    tp = 0
    for (x, y), c in zip(points, classes):
        inside = ((boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])
                  & (box_classes == c) & ~used) if len(boxes) else np.zeros(0, bool)
        if inside.any():
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            dist = np.where(inside, ((centres - [x, y]) ** 2).sum(axis=1), np.inf)
            used[int(dist.argmin())] = True
            tp += 1
    return tp


def f1_scores(values, labels):
    tp = found = truth = 0
    for v, lab in zip(values, labels):
        tp += matches(v["points"], v["classes"], lab["boxes"], lab["classes"])
        found += len(v["points"])
        truth += len(lab["boxes"])
    precision = float(tp) / found if found else (1.0 if not truth else 0.0)
    recall = float(tp) / truth if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}


class Centroids(DeviceTask):
    name = "centroids"

    def postprocess(self, outputs, options):
        heat = np.asarray(by_name(outputs, ("heatmap",), "centroid")["heatmap"])
        if heat.ndim != 4 or heat.shape[1] < 2:
            raise ValueError("output 'heatmap' must be (rows, classes + 1, h, w), got shape %s" % (list(heat.shape),))
        threshold = float(options.get("score_threshold", DEFAULTS["score_threshold"]))
        found = [blobs(heat[i], threshold) for i in range(len(heat))]
        return {"points": [f[0] for f in found], "scores": [f[1] for f in found], "classes": [f[2] for f in found]}

    def reduce(self, features, outputs):
        return {"points": outputs["points"][0], "scores": outputs["scores"][0], "classes": outputs["classes"][0]}

    def place(self, value, raw_shape, pipeline):
        step = find_letterbox(pipeline)
        if step is None:
            raise ValueError("a centroid model's preprocess needs a letterbox step to map points back to the image")
        p = np.asarray(value["points"], np.float32).reshape(-1, 2)
        raw = boxes_to_raw(np.concatenate([p, p], axis=1), letterbox_geometry(raw_shape[:2], step), step["size"],
                           raw_shape[:2])
        return {"points": raw[:, :2], "scores": np.asarray(value["scores"], np.float32),
                "classes": np.asarray(value["classes"], np.int64)}

    def describe(self, value, labels, options):
        found = [{"x": round(float(x), 2), "y": round(float(y), 2), "score": float(s),
                  "label": labels[int(c)] if 0 <= int(c) < len(labels) else str(int(c))}
                 for (x, y), s, c in zip(value["points"], value["scores"], value["classes"])]
        counts = {}
        for d in found:
            counts[d["label"]] = counts.get(d["label"], 0) + 1
        summary = ", ".join("%d %s" % (n, name) for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        return {"label": summary or "nothing", "index": int(value["classes"][0]) if found else None,
                "score": found[0]["score"] if found else 0.0, "centroids": found, "output": []}

    def load_labels(self, npz):
        boxes, classes = ragged.load(npz, "y_boxes"), ragged.load(npz, "y_classes")
        out = []
        for b, c in zip(boxes, classes):
            b, c = np.asarray(b), np.asarray(c)
            if (b.size and (b.ndim != 2 or b.shape[1] != 4)) or c.dtype.kind not in "iu" or len(c) != len(b.reshape(-1, 4)):
                raise ValueError("keys 'y_boxes' / 'y_classes' must hold (n, 4) boxes and n integer classes per image")
            out.append({"boxes": b.reshape(-1, 4).astype(np.float32), "classes": c.astype(np.int64)})
        return out

    def load_reference(self, npz):
        points, scores = ragged.load(npz, "reference_points"), ragged.load(npz, "reference_scores")
        classes = ragged.load(npz, "reference_classes")
        if not len(points) == len(scores) == len(classes):
            raise ValueError("reference_points, reference_scores and reference_classes hold different sample counts")
        return [{"points": np.asarray(p, np.float32).reshape(-1, 2), "scores": np.asarray(s, np.float32),
                 "classes": np.asarray(c, np.int64)} for p, s, c in zip(points, scores, classes)]

    def score(self, values, reference, labels):
        mine, ref = f1_scores(values, labels), f1_scores(reference, labels)
        return {"f1": mine["f1"], "precision": mine["precision"], "recall": mine["recall"], "reference_f1": ref["f1"],
                "f1_drop_points": (ref["f1"] - mine["f1"]) * 100,
                "objects_per_image": float(np.mean([len(v["points"]) for v in values])) if len(values) else 0.0}


TASK = Centroids()
