"""Tiny models: hundreds to a few thousand parameters, seconds to train on two CPU cores. They exist so the tests
can walk every format × precision × task (tests/test_plugins.py) with real trained models, not for accuracy.
Each still holds the layers the formats must handle: convolutions, batch-norm (folded on export), pooling, linear.
"""

from __future__ import annotations

import math

import torch.nn as nn

from .layers import conv_bn_relu, scaled


class TinyCNN(nn.Module):
    """Classifier for small images: two 3x3 conv blocks (the second strided), global pooling, one linear layer."""

    def __init__(self, in_channels: int, num_classes: int, width: float = 1.0):
        super().__init__()
        c1, c2 = scaled(4, width), scaled(8, width)
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, c1),
            conv_bn_relu(c1, c2, stride=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(c2, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


class TinyAutoencoder(nn.Module):
    """Reconstructs a feature vector through an 8-wide bottleneck (anomaly detection by reconstruction error)."""

    def __init__(self, inputs: int, bottleneck: int = 8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(inputs, bottleneck),
            nn.BatchNorm1d(bottleneck),
            nn.ReLU(inplace=True),
            nn.Linear(bottleneck, inputs),
        )

    def forward(self, x):
        return self.net(x)


def build(input_shape, num_classes=None, family: str = "cnn", width: float = 1.0) -> nn.Module:
    if family == "cnn":
        if len(input_shape) != 3:
            raise TypeError(f"family 'cnn' takes images (C, H, W), not input shape {tuple(input_shape)}")
        return TinyCNN(input_shape[0], num_classes, width)
    if family == "autoencoder":
        return TinyAutoencoder(math.prod(input_shape), scaled(8, width))
    raise TypeError(f"unknown family {family!r} (cnn, autoencoder)")
