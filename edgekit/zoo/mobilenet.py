"""MobileNetV1, the MLPerf Tiny visual-wake-words reference at width 0.25 (96x96x3, 2 classes)."""

from __future__ import annotations

import torch.nn as nn

from .layers import conv_bn_relu, depthwise_separable, scaled

# (output channels at width 1.0, stride) for the 13 depthwise-separable blocks of MobileNetV1.
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 2, width: float = 0.25):
        super().__init__()
        cin = scaled(32, width)
        layers = [conv_bn_relu(in_channels, cin, 3, stride=2)]
        for cout, stride in _BLOCKS:
            layers.append(depthwise_separable(cin, scaled(cout, width), stride))
            cin = scaled(cout, width)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def build(input_shape, num_classes, width: float = 0.25) -> nn.Module:
    return MobileNetV1(input_shape[0], num_classes, width=width)
