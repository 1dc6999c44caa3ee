"""Building blocks shared by the zoo architectures."""

from __future__ import annotations

import torch.nn as nn


def scaled(channels: int, width: float) -> int:
    """Channel count at a width multiplier, never below 1."""
    return max(1, int(round(channels * width)))


def conv_bn_relu(cin: int, cout: int, kernel=3, stride=1, padding=1, groups=1) -> nn.Sequential:
    # bias=True matches the MLPerf Tiny Keras references, whose Conv2D layers keep their bias.
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, bias=True),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def depthwise_separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        conv_bn_relu(cin, cin, 3, stride=stride, padding=1, groups=cin),
        conv_bn_relu(cin, cout, 1, padding=0),
    )
