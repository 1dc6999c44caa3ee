"""The centroid detector's targets and loss, as Edge Impulse trains FOMO: each true box marks the cell of the 1/8 grid
holding its centre with its class (1..C; 0 is background), and the per-cell cross-entropy weights object cells
100 times the background (most cells are background: unweighted, the model learns to say "nothing" everywhere).

`loss(outputs, targets, input_hw)` takes `{"heatmap": (N, C+1, h, w) probabilities}` (plus `logits` in training
mode, edgekit/zoo/fomo.py) and the batch's targets as the task collates them: `[{"boxes": (M, 4) normalised
x1y1x2y2 in the input frame, "classes": (M,)}]`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

OBJECT_WEIGHT = 100.0


def cell_labels(targets: list[dict], grid_hw: tuple[int, int], device) -> torch.Tensor:
    """(N, h, w) class per cell: 0 = background, k + 1 = class k has a centroid in that cell."""
    h, w = grid_hw
    labels = torch.zeros(len(targets), h, w, dtype=torch.long, device=device)
    for i, t in enumerate(targets):
        if not len(t["classes"]):
            continue
        boxes = torch.as_tensor(t["boxes"], dtype=torch.float32, device=device).reshape(-1, 4)
        classes = torch.as_tensor(t["classes"], device=device).long()
        col = ((boxes[:, 0] + boxes[:, 2]) / 2 * w).long().clamp(0, w - 1)
        row = ((boxes[:, 1] + boxes[:, 3]) / 2 * h).long().clamp(0, h - 1)
        labels[i, row, col] = classes + 1
    return labels


def loss(outputs: dict, targets: list[dict], input_hw) -> tuple[torch.Tensor, dict]:
    heatmap = outputs["heatmap"]
    labels = cell_labels(targets, tuple(heatmap.shape[-2:]), heatmap.device)
    if "logits" in outputs:
        ce = F.cross_entropy(outputs["logits"].float(), labels, reduction="none")
    else:  # a model giving only probabilities
        ce = F.nll_loss(heatmap.float().clamp(min=1e-7).log(), labels, reduction="none")
    weight = torch.where(labels > 0, OBJECT_WEIGHT, 1.0)
    total = (ce * weight).mean()
    return total, {"weighted_xent": float(total.detach())}
