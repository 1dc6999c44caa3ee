"""An exponential moving average of the weights (Polyak averaging), as YOLOv5/YOLOv8's ModelEMA keeps it: the average
is validated, kept as the best state and shipped, the raw weights only train. Its decay ramps up from 0 (d = 0.9999 ·
(1 - exp(-updates / 2000))), so the first epochs follow the raw weights and the average only lengthens once they
settle. Floating-point buffers (batch-norm statistics) are averaged too; counters are copied.

A detector trained from scratch on a small data set moves far between steps: its validation mAP tracked the
learning-rate decay (benchmarks/results/detect.md), the noise an average of the last steps removes.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

DECAY, TAU = 0.9999, 2000.0  # Ultralytics' defaults


class WeightAverage:
    def __init__(self, model: nn.Module, updates: int = 0):
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.updates = updates

    def decay(self) -> float:
        return DECAY * (1 - math.exp(-self.updates / TAU))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay()
        current = model.state_dict()
        for name, value in self.module.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(current[name].detach(), alpha=1 - d)
            else:
                value.copy_(current[name])

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)
