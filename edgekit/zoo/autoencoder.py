"""FC autoencoder, the MLPerf Tiny anomaly-detection reference (640 inputs, 128-wide, 8-wide bottleneck)."""

from __future__ import annotations

import math

import torch.nn as nn

from .layers import scaled


def _dense_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]


class FCAutoencoder(nn.Module):
    def __init__(self, inputs: int = 640, hidden: int = 128, bottleneck: int = 8, depth: int = 4):
        super().__init__()
        widths = [inputs] + [hidden] * depth + [bottleneck] + [hidden] * depth
        layers: list[nn.Module] = [nn.Flatten()]
        for cin, cout in zip(widths, widths[1:]):
            layers += _dense_bn_relu(cin, cout)
        layers.append(nn.Linear(hidden, inputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def build(input_shape, num_classes=None, width: float = 1.0) -> nn.Module:
    # An autoencoder reconstructs its input: it has no classes, and its output has the input's size.
    return FCAutoencoder(inputs=math.prod(input_shape), hidden=scaled(128, width), bottleneck=scaled(8, width))
