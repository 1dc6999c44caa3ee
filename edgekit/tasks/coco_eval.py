"""COCO box evaluation by the field's library, from edgekit's per-sample values.

Detections and ground truth are edgekit's (raw-pixel x1,y1,x2,y2 per image, class ids); this adapter builds the
COCO dicts in memory (xywh boxes, area = w*h, no crowd) and lets the library score them: mAP50-95 (the mean over
IoU 0.50:0.05:0.95), mAP50, mAP75, per-class AP and the precision/recall curves, exactly as COCOeval defines them
(101 recall points, maxDets 100). faster-coco-eval is the default: on the same detections it gives exactly
pycocotools' figures (every mAP and per-class AP equal) and is 6-7x faster (benchmarks/coco_eval.py measured
both); pycocotools stays selectable for the comparison.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

LIBRARY = "faster-coco-eval"  # benchmarks/coco_eval.py: same figures, the faster one
IOU_50, AREA_ALL, MAX_DETS = 0, 0, -1  # indices into COCOeval.eval["precision"]: IoU 0.5, area "all", maxDets 100


def _coco_dicts(values: list, labels: list, num_classes: int):
    images = [{"id": i + 1, "width": 1, "height": 1} for i in range(len(labels))]
    cats = [{"id": c + 1, "name": str(c)} for c in range(num_classes)]
    anns, dets = [], []
    for i, lab in enumerate(labels):
        for box, c in zip(np.asarray(lab["boxes"], np.float64).reshape(-1, 4), lab["classes"]):
            w, h = max(box[2] - box[0], 0.0), max(box[3] - box[1], 0.0)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    for i, v in enumerate(values):
        boxes = np.asarray(v["boxes"], np.float64).reshape(-1, 4)
        for box, s, c in zip(boxes, v["scores"], v["classes"]):
            dets.append([i + 1, box[0], box[1], box[2] - box[0], box[3] - box[1], float(s), int(c) + 1])
    gt = {"images": images, "categories": cats, "annotations": anns}
    return gt, np.asarray(dets, np.float64).reshape(-1, 7)


def _evaluator(library: str, gt: dict, dets: np.ndarray):
    if library == "faster-coco-eval":
        from faster_coco_eval import COCO, COCOeval_faster

        coco = COCO(gt)
        found = coco.loadRes(dets) if len(dets) else COCO({**gt, "annotations": []})
        return COCOeval_faster(coco, found, "bbox", print_function=lambda *a, **k: None)
    if library == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        if len(dets):
            found = coco.loadRes(dets)
        else:
            found = COCO()
            found.dataset = {**gt, "annotations": []}
            found.createIndex()
        return COCOeval(coco, found, "bbox")
    raise ValueError(f"unknown COCO library {library!r}")


def evaluate(values: list, labels: list, num_classes: int, library: str = LIBRARY) -> dict:
    """{"map50_95", "map50", "map75", "class_ap": [AP50-95 per class or None], "class_ap50": [...], "pr": {"recall":
    101 points, "precision": per class at IoU 0.5 (None where the class has no ground truth)}}."""
    if not len(labels):
        return {"map50_95": None, "map50": None, "map75": None, "class_ap": [], "class_ap50": [], "pr": {}}
    gt, dets = _coco_dicts(values, labels, num_classes)
    if not gt["annotations"]:  # nothing to find: COCO has no AP to give
        none = [None] * num_classes
        return {"map50_95": None, "map50": None, "map75": None, "class_ap": none, "class_ap50": none, "pr": {}}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        ev = _evaluator(library, gt, dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(v) for v in ev.stats[:3]]
    precision = np.asarray(ev.eval["precision"])  # (T IoUs, 101 recalls, K classes, areas, maxDets)
    class_ap, class_ap50, curves = [], [], []
    for k in range(num_classes):
        p = precision[:, :, k, AREA_ALL, MAX_DETS]
        has = (p > -1).any()
        class_ap.append(float(p[p > -1].mean()) if has else None)
        p50 = p[IOU_50]
        class_ap50.append(float(p50[p50 > -1].mean()) if has else None)
        curves.append([round(float(v), 4) for v in p50] if has else None)
    return {
        "map50_95": _stat(stats[0]),
        "map50": _stat(stats[1]),
        "map75": _stat(stats[2]),
        "class_ap": class_ap,
        "class_ap50": class_ap50,
        "pr": {"recall": [round(float(r), 2) for r in np.linspace(0, 1, 101)], "precision": curves},
    }


def _stat(v: float) -> float | None:
    return None if v < 0 else v  # COCOeval's -1: no ground truth to score against
