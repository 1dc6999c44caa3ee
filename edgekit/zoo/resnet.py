"""ResNet-8, the MLPerf Tiny image-classification reference (mlcommons/tiny, 16 base filters)."""

from __future__ import annotations

import torch
import torch.nn as nn

from .layers import conv_bn_relu, scaled


class ResidualStack(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(cin, cout, 3, stride=stride),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
        )
        # The reference projects the identity with a plain 1x1 conv (no BN) when the shape changes.
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride=stride)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.body(x))


class ResNet8(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0, base_filters: int = 16):
        super().__init__()
        f = scaled(base_filters, width)
        self.stem = conv_bn_relu(in_channels, f)
        self.stacks = nn.Sequential(ResidualStack(f, f, 1), ResidualStack(f, 2 * f, 2), ResidualStack(2 * f, 4 * f, 2))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(4 * f, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.stacks(self.stem(x))))


def build(input_shape, num_classes, width: float = 1.0, base_filters: int = 16) -> nn.Module:
    return ResNet8(input_shape[0], num_classes, width=width, base_filters=base_filters)
