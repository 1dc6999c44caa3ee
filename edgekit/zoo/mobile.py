"""Well-known mobile architectures, written compactly from their papers, at any width and input size: the
constructs users' networks are made of (channel shuffle, squeeze-excitation, hard-swish, inverted residuals,
fire modules, ghost modules, attention blocks) go through every edgekit verb in tests and benchmarks.

Each `build(input_shape, num_classes, width=...)` returns a plain nn.Module; shapes follow the papers at
width 1.0 (ImageNet heads replaced by num_classes). They are not torchvision/timm ports: no weights, no
dependency — the same constructs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import scaled


def divisible(v: float, d: int = 8) -> int:
    """Round channels to a multiple of 8 (MobileNet's rule), never down by more than 10%."""
    out = max(d, int(v + d / 2) // d * d)
    return out + d if out < 0.9 * v else out


def cbn(cin, cout, k=3, s=1, groups=1, act=nn.ReLU):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, reduce: int = 4, gate=nn.Hardsigmoid):
        super().__init__()
        mid = divisible(c / reduce)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.act, self.fc2, self.gate = nn.Conv2d(c, mid, 1), nn.ReLU(), nn.Conv2d(mid, c, 1), gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 block: 1x1 expand → depthwise k x k → (SE) → 1x1 project, residual when shapes match."""

    def __init__(self, cin, cout, k, s, expand, se=False, act=nn.ReLU6):
        super().__init__()
        mid = divisible(cin * expand)
        layers = [] if mid == cin else [cbn(cin, mid, 1, act=act)]
        layers += [cbn(mid, mid, k, s, groups=mid, act=act)]
        if se:
            layers.append(SqueezeExcite(mid))
        layers.append(cbn(mid, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = s == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class Classifier(nn.Module):
    def __init__(self, features: nn.Module, c: int, num_classes: int, hidden: int | None = None, act=nn.ReLU, dropout=0.2):
        super().__init__()
        self.features = features
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        head = (
            [nn.Linear(c, hidden), act(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)]
            if hidden
            else [nn.Dropout(dropout), nn.Linear(c, num_classes)]
        )
        self.head = nn.Sequential(*head)

    def forward(self, x):
        return self.head(self.pool(self.features(x)))


# ---------------------------------------------------------------- MobileNetV2 (Sandler et al. 2018)

V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v2(input_shape, num_classes, width=1.0):
    c = divisible(32 * width)
    layers = [cbn(input_shape[0], c, 3, 2, act=nn.ReLU6)]
    for t, co, n, s in V2:
        co = divisible(co * width)
        for i in range(n):
            layers.append(InvertedResidual(c, co, 3, s if i == 0 else 1, t))
            c = co
    last = divisible(1280 * max(1.0, width))
    layers.append(cbn(c, last, 1, act=nn.ReLU6))
    return Classifier(nn.Sequential(*layers), last, num_classes)


# ---------------------------------------------------------------- MobileNetV3-small (Howard et al. 2019)

V3S = [
    (3, 1, 16, True, "RE", 2),
    (3, 4.5, 24, False, "RE", 2),
    (3, 3.67, 24, False, "RE", 1),
    (5, 4, 40, True, "HS", 2),
    (5, 6, 40, True, "HS", 1),
    (5, 6, 40, True, "HS", 1),
    (5, 3, 48, True, "HS", 1),
    (5, 3, 48, True, "HS", 1),
    (5, 6, 96, True, "HS", 2),
    (5, 6, 96, True, "HS", 1),
    (5, 6, 96, True, "HS", 1),
]


def mobilenet_v3_small(input_shape, num_classes, width=1.0):
    c = divisible(16 * width)
    layers = [cbn(input_shape[0], c, 3, 2, act=nn.Hardswish)]
    for k, e, co, se, act, s in V3S:
        co = divisible(co * width)
        layers.append(InvertedResidual(c, co, k, s, e, se=se, act=nn.Hardswish if act == "HS" else nn.ReLU))
        c = co
    last = divisible(576 * width)
    layers.append(cbn(c, last, 1, act=nn.Hardswish))
    return Classifier(nn.Sequential(*layers), last, num_classes, hidden=1024, act=nn.Hardswish)


# ---------------------------------------------------------------- ShuffleNetV2 (Ma et al. 2018)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride > 1:
            self.left = nn.Sequential(cbn(cin, cin, 3, stride, groups=cin, act=None), cbn(cin, half, 1))
        right_in = cin if stride > 1 else half
        self.right = nn.Sequential(cbn(right_in, half, 1), cbn(half, half, 3, stride, groups=half, act=None), cbn(half, half, 1))

    def forward(self, x):
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            out = torch.cat((a, self.right(b)), 1)
        else:
            out = torch.cat((self.left(x), self.right(x)), 1)
        return channel_shuffle(out, 2)


def shufflenet_v2(input_shape, num_classes, width=0.5):
    stages = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024)}.get(width) or tuple(
        divisible(c * width, 4) for c in (116, 232, 464)
    ) + (1024,)
    c = 24
    layers = [cbn(input_shape[0], c, 3, 2), nn.MaxPool2d(3, 2, 1)]
    for co, repeats in zip(stages[:3], (4, 8, 4)):
        layers += [ShuffleUnit(c, co, 2)] + [ShuffleUnit(co, co, 1) for _ in range(repeats - 1)]
        c = co
    layers.append(cbn(c, stages[3], 1))
    return Classifier(nn.Sequential(*layers), stages[3], num_classes, dropout=0.0)


# ---------------------------------------------------------------- SqueezeNet 1.1 (Iandola et al. 2016)


class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU())

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat((self.e1(s), self.e3(s)), 1)


class SqueezeNet(nn.Module):
    def __init__(self, cin, num_classes, width=1.0):
        super().__init__()

        def w(c):
            return scaled(c, width)

        self.features = nn.Sequential(
            nn.Conv2d(cin, w(64), 3, 2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(w(64), w(16), w(64)),
            Fire(w(128), w(16), w(64)),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(w(128), w(32), w(128)),
            Fire(w(256), w(32), w(128)),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(w(256), w(48), w(192)),
            Fire(w(384), w(48), w(192)),
            Fire(w(384), w(64), w(256)),
            Fire(w(512), w(64), w(256)),
        )
        # The paper (and torchvision) put a ReLU after the classifier conv. It kills classes: a class whose score is
        # below 0 for every input gets no gradient again. On digits 7 of 10 classes died while training (0.39 after 30
        # epochs at 32 px, 0.69 at 64 px), and a pruning cut killed all 10 (0.100, one class predicted). Scores stay
        # linear here (benchmarks/results/pruning.md); no parameter changes.
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(w(512), num_classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        # The paper's (and torchvision's) initialisation of the classifier: small, so no class starts far ahead.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is self.head[1]:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.head(self.features(x))


def squeezenet(input_shape, num_classes, width=1.0):
    return SqueezeNet(input_shape[0], num_classes, width)


# ---------------------------------------------------------------- PP-LCNet (Cui et al. 2021)

LC = (
    [(3, 32, 1, False), (3, 64, 2, False), (3, 64, 1, False), (3, 128, 2, False), (3, 128, 1, False), (3, 256, 2, False)]
    + [(5, 256, 1, False)] * 5
    + [(5, 512, 2, True), (5, 512, 1, True)]
)


def lcnet(input_shape, num_classes, width=0.5):
    c = divisible(16 * width)
    layers = [cbn(input_shape[0], c, 3, 2, act=nn.Hardswish)]
    for k, co, s, se in LC:
        co = divisible(co * width)
        block = [cbn(c, c, k, s, groups=c, act=nn.Hardswish)] + ([SqueezeExcite(c)] if se else []) + [cbn(c, co, 1, act=nn.Hardswish)]
        layers.append(nn.Sequential(*block))
        c = co
    return Classifier(nn.Sequential(*layers), c, num_classes, hidden=1280, act=nn.Hardswish)


# ---------------------------------------------------------------- GhostNet (Han et al. 2020)


class Ghost(nn.Module):
    """Half the channels from a 1x1 conv, the other half from a cheap depthwise conv of them."""

    def __init__(self, cin, cout, relu=True):
        super().__init__()
        primary = -(-cout // 2)
        act = nn.ReLU if relu else None
        self.primary, self.cheap = cbn(cin, primary, 1, act=act), cbn(primary, primary, 3, groups=primary, act=act)
        self.cout = cout

    def forward(self, x):
        p = self.primary(x)
        return torch.cat((p, self.cheap(p)), 1)[:, : self.cout]


class GhostBottleneck(nn.Module):
    def __init__(self, cin, mid, cout, k, s, se):
        super().__init__()
        layers = [Ghost(cin, mid)]
        if s > 1:
            layers.append(cbn(mid, mid, k, s, groups=mid, act=None))
        if se:
            layers.append(SqueezeExcite(mid))
        layers.append(Ghost(mid, cout, relu=False))
        self.body = nn.Sequential(*layers)
        self.shortcut = (
            nn.Identity()
            if s == 1 and cin == cout
            else nn.Sequential(cbn(cin, cin, k, s, groups=cin, act=None), cbn(cin, cout, 1, act=None))
        )

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


GHOST = [
    (3, 16, 16, 0, 1),
    (3, 48, 24, 0, 2),
    (3, 72, 24, 0, 1),
    (5, 72, 40, 1, 2),
    (5, 120, 40, 1, 1),
    (3, 240, 80, 0, 2),
    (3, 200, 80, 0, 1),
    (3, 480, 112, 1, 1),
    (5, 672, 160, 1, 2),
    (5, 960, 160, 1, 1),
]


def ghostnet(input_shape, num_classes, width=0.5):
    c = divisible(16 * width, 4)
    layers = [cbn(input_shape[0], c, 3, 2)]
    for k, mid, co, se, s in GHOST:
        mid, co = divisible(mid * width, 4), divisible(co * width, 4)
        layers.append(GhostBottleneck(c, mid, co, k, s, se))
        c = co
    last = divisible(960 * width, 4)
    layers.append(cbn(c, last, 1))
    return Classifier(nn.Sequential(*layers), last, num_classes, hidden=1280)


# ---------------------------------------------------------------- EfficientNet-Lite0 (Tan & Le 2019; "lite": ReLU6, no SE)

EFF = [(1, 3, 16, 1, 1), (6, 3, 24, 2, 2), (6, 5, 40, 2, 2), (6, 3, 80, 3, 2), (6, 5, 112, 3, 1), (6, 5, 192, 4, 2), (6, 3, 320, 1, 1)]


def efficientnet_lite(input_shape, num_classes, width=1.0):
    c = divisible(32 * width)
    layers = [cbn(input_shape[0], c, 3, 2, act=nn.ReLU6)]
    for t, k, co, n, s in EFF:
        co = divisible(co * width)
        for i in range(n):
            layers.append(InvertedResidual(c, co, k, s if i == 0 else 1, t))
            c = co
    layers.append(cbn(c, 1280, 1, act=nn.ReLU6))
    return Classifier(nn.Sequential(*layers), 1280, num_classes)


# ---------------------------------------------------------------- MobileViT-XXS (Mehta & Rastegari 2022)


class TransformerLayer(nn.Module):
    def __init__(self, d, heads, mlp):
        super().__init__()
        self.n1, self.attn = nn.LayerNorm(d), nn.MultiheadAttention(d, heads, batch_first=True)
        self.n2, self.mlp = nn.LayerNorm(d), nn.Sequential(nn.Linear(d, mlp), nn.SiLU(), nn.Linear(mlp, d))

    def forward(self, x):
        h = self.n1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.n2(x))


class MobileViTBlock(nn.Module):
    """Local 3x3 conv, 2x2 patches unfolded into tokens, transformer layers over patches, folded back, fused."""

    def __init__(self, c, d, depth, heads=2, patch=2):
        super().__init__()
        self.patch = patch
        self.local = nn.Sequential(cbn(c, c, 3, act=nn.SiLU), nn.Conv2d(c, d, 1, bias=False))
        self.transformer = nn.Sequential(*[TransformerLayer(d, heads, 2 * d) for _ in range(depth)], nn.LayerNorm(d))
        self.proj, self.fuse = cbn(d, c, 1, act=nn.SiLU), cbn(2 * c, c, 3, act=nn.SiLU)

    def forward(self, x):
        b, _, h0, w0 = x.shape
        p = self.patch
        y = self.local(x)
        h, w = -(-h0 // p) * p, -(-w0 // p) * p
        if (h, w) != (h0, w0):  # as the paper's code: resize to whole patches, and back after
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        d = y.shape[1]
        # (b, d, h, w) → (b * p * p, h/p * w/p, d): each pixel position inside a patch attends across patches
        t = y.reshape(b, d, h // p, p, w // p, p).permute(0, 3, 5, 2, 4, 1).reshape(b * p * p, (h // p) * (w // p), d)
        t = self.transformer(t)
        y = t.reshape(b, p, p, h // p, w // p, d).permute(0, 5, 3, 1, 4, 2).reshape(b, d, h, w)
        if (h, w) != (h0, w0):
            y = F.interpolate(y, size=(h0, w0), mode="bilinear", align_corners=False)
        return self.fuse(torch.cat((x, self.proj(y)), 1))


def mobilevit_xxs(input_shape, num_classes, width=1.0):
    def ch(c):
        return divisible(c * width, 4)

    layers = [
        cbn(input_shape[0], ch(16), 3, 2, act=nn.SiLU),
        InvertedResidual(ch(16), ch(16), 3, 1, 2, act=nn.SiLU),
        InvertedResidual(ch(16), ch(24), 3, 2, 2, act=nn.SiLU),
        InvertedResidual(ch(24), ch(24), 3, 1, 2, act=nn.SiLU),
        InvertedResidual(ch(24), ch(48), 3, 2, 2, act=nn.SiLU),
        MobileViTBlock(ch(48), ch(64), 2),
        InvertedResidual(ch(48), ch(64), 3, 2, 2, act=nn.SiLU),
        MobileViTBlock(ch(64), ch(80), 4),
        InvertedResidual(ch(64), ch(80), 3, 2, 2, act=nn.SiLU),
        MobileViTBlock(ch(80), ch(96), 3),
        cbn(ch(80), ch(320), 1, act=nn.SiLU),
    ]
    return Classifier(nn.Sequential(*layers), ch(320), num_classes, dropout=0.1)


# ---------------------------------------------------------------- a small encoder-decoder user network (upsampling + concat)


class TinyUNetClassifier(nn.Module):
    """Stride-2 3x3 convs (padding 1), an inverted residual with SE and hard-swish, nearest upsampling and a skip
    concat — the "ordinary user module" whose full-int8 TFLite once stopped at tfl.pad."""

    def __init__(self, cin, num_classes, width=1.0):
        super().__init__()
        c = divisible(16 * width)
        self.down1 = cbn(cin, c, 3, 2, act=nn.Hardswish)
        self.down2 = cbn(c, 2 * c, 3, 2, act=nn.Hardswish)
        self.mid = InvertedResidual(2 * c, 2 * c, 3, 1, 4, se=True, act=nn.Hardswish)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = cbn(3 * c, c, 3, act=nn.Hardswish)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x):
        a = self.down1(x)
        b = self.mid(self.down2(a))
        return self.head(self.fuse(torch.cat((a, self.up(b)), 1)))


def tiny_unet(input_shape, num_classes, width=1.0):
    return TinyUNetClassifier(input_shape[0], num_classes, width)


BUILDERS = {
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3_small": mobilenet_v3_small,
    "shufflenet_v2": shufflenet_v2,
    "squeezenet": squeezenet,
    "lcnet": lcnet,
    "ghostnet": ghostnet,
    "efficientnet_lite": efficientnet_lite,
    "mobilevit_xxs": mobilevit_xxs,
    "tiny_unet": tiny_unet,
}


def build(input_shape, num_classes, *, family: str, width: float = 1.0):
    if family not in BUILDERS:
        from ..errors import EdgekitError

        raise EdgekitError(f"unknown mobile architecture '{family}'", f"use one of {', '.join(BUILDERS)}")
    return BUILDERS[family](tuple(input_shape), num_classes, width=width)
