"""digits-cnn: the embedded default, a small CNN sized for 8x8 scikit-learn digits."""

from __future__ import annotations

import torch.nn as nn

from .layers import conv_bn_relu, scaled


class DigitsCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = (scaled(c, width) for c in (16, 32, 64))
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, c1),
            conv_bn_relu(c1, c2),
            nn.MaxPool2d(2),
            conv_bn_relu(c2, c3),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(c3, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def build(input_shape, num_classes, width: float = 1.0) -> nn.Module:
    return DigitsCNN(in_channels=input_shape[0], num_classes=num_classes, width=width)
