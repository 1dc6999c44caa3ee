"""A centroid detector for microcontrollers, after Edge Impulse's FOMO (Faster Objects, More Objects, 2022): a
MobileNetV2 trunk (Sandler et al. 2018) cut at its 1/8-resolution layer `block_6_expand_relu` (the expansion of the
first stride-16 block, before its strided depthwise conv), a 1x1 conv of 32 channels with ReLU, and a 1x1 conv to
C+1 channels: per cell of the 1/8 grid, softmax probabilities over background (channel 0) and the C classes.
A 96x96 input gives a 12x12 map; objects are found as cells, reported as centroids (no boxes).

The loss (cross-entropy weighting object cells x10; Edge Impulse uses x100): edgekit/tasks/centroid_loss.py. In training
mode the outputs also carry the logits, for a stable cross-entropy.
"""

from __future__ import annotations

import torch.nn as nn

from .mobile import V2, InvertedResidual, cbn, divisible


class Fomo(nn.Module):
    def __init__(self, cin: int, num_classes: int, width: float = 0.35, head: int = 32):
        super().__init__()
        c = divisible(32 * width)
        layers = [cbn(cin, c, 3, 2, act=nn.ReLU6)]
        for t, co, n, s in V2[:3]:  # 16 (stride 2), 24 (stride 4), 32 (stride 8): Keras blocks 0..5
            co = divisible(co * width)
            for i in range(n):
                layers.append(InvertedResidual(c, co, 3, s if i == 0 else 1, t))
                c = co
        expand = divisible(c * V2[3][0])
        layers.append(cbn(c, expand, 1, act=nn.ReLU6))  # block_6_expand + its ReLU6
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(expand, head, 1), nn.ReLU(), nn.Conv2d(head, num_classes + 1, 1))

    def forward(self, x):
        logits = self.head(self.trunk(x))
        out = {"heatmap": logits.softmax(1)}
        if self.training:
            out["logits"] = logits
        return out


def build(input_shape, num_classes, width: float = 0.35, head: int = 32):
    if len(input_shape) != 3:
        raise TypeError(f"a centroid detector takes images (C, H, W), not input shape {tuple(input_shape)}")
    _, h, w = input_shape
    if h % 8 or w % 8:
        raise TypeError(f"a centroid detector's input height and width must be multiples of 8 (a 1/8 grid), got {h}x{w}")
    if not num_classes or num_classes < 1:
        raise TypeError("a centroid detector needs the number of classes (num_classes ≥ 1)")
    return Fomo(int(input_shape[0]), num_classes, width, int(head))
