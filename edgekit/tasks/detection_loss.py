"""The box detector's target assignment and loss, YOLOv8's recipe (Jocher et al. 2023):

- assignment: TOOD's task-aligned assigner (Feng et al. 2021): for each true box, the cells whose centre lies inside
  it are ranked by score^0.5 · IoU^6 of their own prediction, the top 10 become positives (a cell claimed by
  several boxes goes to the one it overlaps most), and each positive's class target is its alignment, normalised
  so the best cell of a box gets that box's best IoU;
- loss: BCE on the class scores (normalised by the sum of targets), CIoU on the decoded boxes (Zheng et al. 2020)
  and Distribution Focal Loss on the distance distributions (GFL, Li et al. 2020), weighted 7.5 / 0.5 / 1.5.

`loss(outputs, targets, input_hw)` takes the detector's outputs (edgekit/zoo/detector.py; in training mode they
carry logits, distributions, cell centres and strides) and the batch's targets as the detection task collates
them: `[{"boxes": (M, 4) normalised x1y1x2y2 in the input frame, "classes": (M,)}]`. A model giving only
`boxes` and `scores` (a user's detector) still trains: BCE on its probabilities, every cell a candidate, no DFL.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

TOPK, ALPHA, BETA = 10, 0.5, 6.0
GAINS = {"box": 7.5, "cls": 0.5, "dfl": 1.5}
EPS = 1e-9


def pad_targets(targets: list[dict], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ragged per-image targets as (N, M, 4) boxes, (N, M) classes and an (N, M) mask of real rows."""
    m = max((len(t["classes"]) for t in targets), default=0)
    n = len(targets)
    boxes, classes, mask = (
        torch.zeros(n, m, 4, device=device),
        torch.zeros(n, m, dtype=torch.long, device=device),
        torch.zeros(n, m, dtype=torch.bool, device=device),
    )
    for i, t in enumerate(targets):
        k = len(t["classes"])
        if k:
            boxes[i, :k] = torch.as_tensor(t["boxes"], dtype=torch.float32, device=device).reshape(k, 4)
            classes[i, :k] = torch.as_tensor(t["classes"], device=device).long()
            mask[i, :k] = True
    return boxes, classes, mask


def box_iou(a: torch.Tensor, b: torch.Tensor, ciou: bool = False) -> torch.Tensor:
    """IoU (or CIoU) of x1y1x2y2 boxes, broadcast over leading dimensions."""
    w1, h1 = (a[..., 2] - a[..., 0]).clamp(min=0), (a[..., 3] - a[..., 1]).clamp(min=0)
    w2, h2 = (b[..., 2] - b[..., 0]).clamp(min=0), (b[..., 3] - b[..., 1]).clamp(min=0)
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    iou = inter / (w1 * h1 + w2 * h2 - inter + EPS)
    if not ciou:
        return iou
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    diagonal = cw**2 + ch**2 + EPS
    centre = ((b[..., 0] + b[..., 2] - a[..., 0] - a[..., 2]) ** 2 + (b[..., 1] + b[..., 3] - a[..., 1] - a[..., 3]) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / (h2 + EPS)) - torch.atan(w1 / (h1 + EPS))) ** 2
    with torch.no_grad():  # clamped, not + EPS: for equal boxes 1 + 1e-9 rounds to 1 in float32 and 0/0 is NaN
        alpha = v / (v - iou + 1).clamp(min=EPS)
    return iou - (centre / diagonal + v * alpha)


@torch.no_grad()
def assign(scores, boxes, centres, gt_boxes, gt_classes, gt_mask):
    """Task-aligned assignment → (foreground mask (N, A), target boxes (N, A, 4), target scores (N, A, C))."""
    n, a, c = scores.shape
    m = gt_boxes.shape[1]
    if m == 0:
        return torch.zeros(n, a, dtype=torch.bool, device=scores.device), torch.zeros_like(boxes), torch.zeros_like(scores)
    if centres is None:  # a model that says nothing of its cells: every cell is a candidate for every box
        inside = torch.ones(n, m, a, dtype=torch.bool, device=scores.device)
    else:
        lt = centres[None, None] - gt_boxes[:, :, None, :2]
        rb = gt_boxes[:, :, None, 2:] - centres[None, None]
        inside = torch.cat((lt, rb), -1).amin(-1) > EPS
    inside &= gt_mask[:, :, None]
    iou = box_iou(gt_boxes[:, :, None], boxes[:, None]).clamp(min=0) * inside  # (N, M, A)
    score = scores.gather(2, gt_classes[:, None, :].expand(n, a, m)).transpose(1, 2)  # each cell's score for the box's class
    metric = score.pow(ALPHA) * iou.pow(BETA) * inside
    top = metric.topk(min(TOPK, a), dim=-1).indices
    pos = torch.zeros_like(metric, dtype=torch.bool).scatter_(-1, top, True) & inside
    claimed = pos.sum(1) > 1  # a cell in the top of several boxes goes to the one it overlaps most
    if claimed.any():
        best = F.one_hot(iou.argmax(1), m).permute(0, 2, 1).bool()
        pos = torch.where(claimed[:, None], best & inside, pos)
    fg = pos.any(1)
    which = pos.float().argmax(1)  # (N, A)
    target_boxes = gt_boxes.gather(1, which[..., None].expand(n, a, 4))
    target_classes = gt_classes.gather(1, which)
    metric, iou = metric * pos, iou * pos
    norm = (metric * iou.amax(-1, keepdim=True) / (metric.amax(-1, keepdim=True) + EPS)).amax(1)  # (N, A)
    target_scores = F.one_hot(target_classes, c).float() * (fg * norm)[..., None]
    return fg, target_boxes, target_scores


def dfl_loss(dist_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution Focal Loss: cross-entropy to the two bins around each target distance, weighted by nearness."""
    bins = dist_logits.shape[-1]
    target = target.clamp(0, bins - 1 - 0.01)
    left = target.long()
    w_left = left + 1 - target
    ce = lambda idx: F.cross_entropy(dist_logits.reshape(-1, bins), idx.reshape(-1), reduction="none").view(idx.shape)  # noqa: E731
    return (ce(left) * w_left + ce(left + 1) * (1 - w_left)).mean(-1)


def loss(outputs: dict, targets: list[dict], input_hw) -> tuple[torch.Tensor, dict]:
    """Total loss and its parts (box, cls, dfl) for one batch."""
    h, w = (float(v) for v in input_hw)
    to_pixels = torch.tensor([w, h, w, h], device=outputs["boxes"].device)
    boxes = outputs["boxes"].float() * to_pixels  # IoU and CIoU in pixels: right for non-square inputs too
    scores = outputs["scores"].float()
    centres = outputs.get("centres")
    centres = centres.float() * to_pixels[:2] if centres is not None else None
    gt_boxes, gt_classes, gt_mask = pad_targets(targets, boxes.device)
    gt_boxes = gt_boxes * to_pixels
    fg, target_boxes, target_scores = assign(scores.detach(), boxes.detach(), centres, gt_boxes, gt_classes, gt_mask)
    total_scores = target_scores.sum().clamp(min=1.0)
    if "cls_logits" in outputs:
        cls = F.binary_cross_entropy_with_logits(outputs["cls_logits"].float(), target_scores, reduction="sum")
    else:
        cls = F.binary_cross_entropy(scores.clamp(1e-6, 1 - 1e-6), target_scores, reduction="sum")
    cls = cls / total_scores
    zero = boxes.sum() * 0.0
    box, dfl = zero, zero
    if fg.any():
        weight = target_scores.sum(-1)[fg]
        box = ((1.0 - box_iou(boxes[fg], target_boxes[fg], ciou=True)) * weight).sum() / total_scores
        if "dist_logits" in outputs and centres is not None and "strides" in outputs:
            strides = (outputs["strides"].float() * to_pixels[:2])[None].expand(len(fg), -1, -1)[fg]  # (P, 2)
            c = centres[None].expand(len(fg), -1, -1)[fg]
            t = target_boxes[fg]
            distances = torch.cat(((c - t[:, :2]) / strides, (t[:, 2:] - c) / strides), -1)
            dfl = (dfl_loss(outputs["dist_logits"][fg].float(), distances) * weight).sum() / total_scores
    parts = {"box": box, "cls": cls, "dfl": dfl}
    return sum(GAINS[k] * v for k, v in parts.items()), {k: float(v.detach()) for k, v in parts.items()}
