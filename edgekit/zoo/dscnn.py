"""DS-CNN, the MLPerf Tiny keyword-spotting reference (49x10 MFCC input, 64 filters, 4 DS blocks)."""

from __future__ import annotations

import torch.nn as nn

from .layers import depthwise_separable, scaled


class DSCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 12, width: float = 1.0, blocks: int = 4):
        super().__init__()
        f = scaled(64, width)
        # (10,4) kernel, stride 2: padding (5,1) gives Keras' 'same' output size (25x5 from 49x10).
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, f, (10, 4), stride=2, padding=(5, 1)),
            nn.BatchNorm2d(f),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
        )
        self.blocks = nn.Sequential(*[depthwise_separable(f, f) for _ in range(blocks)])
        self.head = nn.Sequential(nn.Dropout(0.4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(f, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def build(input_shape, num_classes, width: float = 1.0) -> nn.Module:
    return DSCNN(input_shape[0], num_classes, width=width)
