"""Box arithmetic the device tasks share (numpy only): IoU and class-aware non-maximum suppression."""

import numpy as np


def iou_matrix(a, b):
    """IoU of every x1,y1,x2,y2 box of `a` (n, 4) with every box of `b` (m, 4) -> (n, m)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(boxes, scores, classes, iou_threshold, max_keep):
    """Indices of the boxes greedy NMS keeps, best score first; boxes of different classes never suppress each
    other (each class is shifted to its own region of the plane, as torchvision's batched_nms does). Each kept box
    suppresses the lower-scored rest in one vectorised step: max_keep steps at most."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((0,), np.int64)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    span = float(np.abs(boxes).max()) + 1.0
    b = boxes[order] + (np.asarray(classes, np.float64)[order] * 2 * span)[:, None]
    x1, y1, x2, y2 = (np.ascontiguousarray(b[:, k]) for k in range(4))
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    alive = np.ones(len(b), bool)
    keep = []
    for i in range(len(b)):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) >= max_keep:
            break
        rest = np.nonzero(alive[i + 1:])[0] + i + 1
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        union = area[i] + area[rest] - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
        alive[rest[iou > iou_threshold]] = False
    return order[np.asarray(keep, np.int64)]
