"""A box detector for Linux boards: anchor-free, three scales (strides 8, 16, 32), decoupled heads, on the zoo's
mobile backbones, with width and input size as knobs. Which paper each part follows:

- backbone: YOLOv8's CSP-Darknet (`csp`, C2f blocks of dense 3x3 convs, ReLU) or a zoo mobile network
  (edgekit/zoo/mobile.py: MobileNetV2, PP-LCNet, ShuffleNetV2, ...), tapped at its last layer of each stride, its
  classifier and final 1x1 expansion dropped;
- neck: NanoDet's PAN (Lyu 2020, after PANet, Liu et al. 2018): 1x1 laterals to one width, a top-down and a
  bottom-up pass of adds, made int8-friendly as PicoDet's CSP-PAN does: nearest upsampling and stride-2 depthwise
  convolutions instead of bilinear resizing, then a depthwise-separable conv per level;
- head: YOLOv8's decoupled head (Jocher et al. 2023; YOLOX, Ge et al. 2021) with depthwise-separable convs: a class
  branch (sigmoid scores) and a box branch giving a distribution over 0..reg_max-1 stride units for each distance to
  the box's sides (GFL's Distribution Focal Loss, Li et al. 2020), decoded as its expectation (a fixed 1x1 conv);
- decoding in the model: distances around each cell centre → x1, y1, x2, y2 normalised to 0..1 of the model input,
  so boxes and scores leave as two tensors whose int8 scales each fit their own range (ultralytics#1695: pixel
  boxes and 0..1 scores sharing one scale round the scores to 0).

Assignment and loss (TOOD's task-aligned assignment as YOLOv8 uses it, BCE, CIoU, DFL): edgekit/tasks/detection_loss.py.
In training mode the outputs also carry what the loss needs (logits, the distributions, cell centres and strides).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import mobile
from .mobile import cbn, divisible

STRIDES = (8, 16, 32)


def dw_separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(cbn(cin, cin, 3, stride, groups=cin), cbn(cin, cout, 1))


# ---------------------------------------------------------------- backbones


def tiny_layers(cin: int, width: float) -> list[nn.Module]:
    """A few thousand parameters: the tests' detector (seconds to train), strides 2, 4, 8, 16, 32."""
    c = [divisible(v * width, 4) for v in (8, 12, 16, 24, 32)]
    layers = [cbn(cin, c[0], 3, 2)]
    for a, b in zip(c, c[1:]):
        layers.append(dw_separable(a, b, 2))
    return layers


class Bottleneck(nn.Module):
    """YOLOv8's bottleneck: two 3x3 convs and a residual add."""

    def __init__(self, c: int):
        super().__init__()
        self.cv1, self.cv2 = cbn(c, c, 3), cbn(c, c, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class C2f(nn.Module):
    """YOLOv8's CSP block (CSPNet, Wang et al. 2020, as YOLOv8 lays it out): a 1x1 conv split in two halves, bottlenecks
    on the second, every intermediate concatenated and fused by a 1x1 conv."""

    def __init__(self, cin: int, cout: int, n: int):
        super().__init__()
        self.c = cout // 2
        self.cv1 = cbn(cin, 2 * self.c, 1)
        self.m = nn.ModuleList(Bottleneck(self.c) for _ in range(n))
        self.cv2 = cbn((2 + n) * self.c, cout, 1)

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


CSP_DEPTHS = (1, 2, 2, 1)  # YOLOv8n's bottlenecks per stage (3, 6, 6, 3 x depth 0.33)


def csp_layers(cin: int, width: float) -> list[nn.Module]:
    """YOLOv8's CSP-Darknet backbone (no SPPF: at 128 px the stride-32 map is 4x4, its field already the image) with
    ReLU for int8: dense 3x3 convs, which train 4x more MACs per second than depthwise ones on a CPU. Width 0.25 is
    YOLOv8n's 16-32-64-128-256 channels."""
    c = [divisible(v * width, 8) for v in (64, 128, 256, 512, 1024)]
    layers: list[nn.Module] = [cbn(cin, c[0], 3, 2)]
    for a, b, n in zip(c, c[1:], CSP_DEPTHS):
        layers += [cbn(a, b, 3, 2), C2f(b, b, n)]
    return layers


def mobile_layers(family: str, cin: int, width: float) -> list[nn.Module]:
    """The zoo network's feature layers without its final 1x1 expansion (1280 channels for MobileNetV2): a
    classifier's pooling input, not a detector's."""
    if family not in mobile.BUILDERS or family in ("mobilevit_xxs", "squeezenet", "tiny_unet"):
        raise TypeError(f"unknown detector backbone {family!r} (tiny, {', '.join(BACKBONES)})")
    layers = list(mobile.BUILDERS[family]((cin, 64, 64), 1, width=width).features)
    last = layers[-1]
    if isinstance(last, nn.Sequential) and isinstance(last[0], nn.Conv2d) and last[0].kernel_size == (1, 1):
        if last[0].out_channels > last[0].in_channels:
            layers = layers[:-1]
    return layers


BACKBONES = ("csp", "mobilenet_v2", "lcnet", "shufflenet_v2", "mobilenet_v3_small", "ghostnet", "efficientnet_lite")


class Backbone(nn.Module):
    """Feature layers run in order; the outputs of the last layer at each stride of STRIDES are kept."""

    def __init__(self, layers: list[nn.Module], cin: int):
        super().__init__()
        # find the taps on a 64x64 probe (shapes only; on the meta device when the zoo counts parameters)
        x, taps, channels = torch.zeros(1, cin, 64, 64), {}, {}
        with torch.no_grad():
            for i, layer in enumerate(layers):
                was = layer.training
                x = layer.eval()(x)
                layer.train(was)
                stride = 64 // x.shape[-1]
                if stride in STRIDES:
                    taps[stride], channels[stride] = i, x.shape[1]
        if set(taps) != set(STRIDES):
            raise TypeError(f"the backbone reaches strides {sorted(taps)}, a detector needs {list(STRIDES)}")
        self.taps = tuple(taps[s] for s in STRIDES)
        self.channels = tuple(int(channels[s]) for s in STRIDES)
        self.layers = nn.ModuleList(layers[: self.taps[-1] + 1])

    def forward(self, x):
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.taps:
                outs.append(x)
        return outs


# ---------------------------------------------------------------- neck and head


class PanLite(nn.Module):
    """NanoDet's PAN with nearest upsampling and stride-2 depthwise convs (see the module docstring)."""

    def __init__(self, channels: tuple[int, ...], c: int):
        super().__init__()
        self.lateral = nn.ModuleList(cbn(ci, c, 1) for ci in channels)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.down = nn.ModuleList(cbn(c, c, 3, 2, groups=c, act=None) for _ in range(2))
        self.out = nn.ModuleList(dw_separable(c, c) for _ in range(3))

    def forward(self, feats):
        l3, l4, l5 = (lat(f) for lat, f in zip(self.lateral, feats))
        p4 = l4 + self.up(l5)
        p3 = l3 + self.up(p4)
        n3 = self.out[0](p3)
        n4 = self.out[1](p4 + self.down[0](n3))
        n5 = self.out[2](l5 + self.down[1](n4))
        return [n3, n4, n5]


def branch(c: int, cout: int, bias: float) -> nn.Sequential:
    last = nn.Conv2d(c, cout, 1)
    nn.init.constant_(last.bias, bias)
    return nn.Sequential(dw_separable(c, c), dw_separable(c, c), last)


class Detector(nn.Module):
    def __init__(self, layers: list[nn.Module], cin: int, num_classes: int, input_hw: tuple[int, int], neck: int, reg_max: int):
        super().__init__()
        h, w = input_hw
        self.num_classes, self.reg_max, self.input_hw = num_classes, reg_max, (h, w)
        self.backbone = Backbone(layers, cin)
        self.neck = PanLite(self.backbone.channels, neck)
        # YOLOv8's prior: about 5 objects per image spread over the cells of a level; box logits start at 1
        self.cls = nn.ModuleList(branch(neck, num_classes, math.log(5 / num_classes / (h * w / s**2))) for s in STRIDES)
        self.reg = nn.ModuleList(branch(neck, 4 * reg_max, 1.0) for _ in STRIDES)
        # the expectation of each distance distribution: a fixed 1x1 conv over its bins (as YOLOv8 exports it)
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1)
        centres, scales = [], []
        for s in STRIDES:
            gy, gx = torch.meshgrid(torch.arange(h // s) + 0.5, torch.arange(w // s) + 0.5, indexing="ij")
            centres.append(torch.stack((gx.flatten() * s / w, gy.flatten() * s / h)))
            scales.append(torch.tensor([s / w, s / h]).view(2, 1).expand(2, (h // s) * (w // s)))
        # cell centres and strides, normalised to the input: (1, 2, A); made from input_hw, so not saved
        self.register_buffer("centres", torch.cat(centres, 1)[None], persistent=False)
        self.register_buffer("scales", torch.cat(scales, 1)[None].contiguous(), persistent=False)
        self._init_weights()

    def _init_weights(self):
        """He initialisation (fan-out, as torchvision's MobileNets) for every conv but the fixed DFL one; each
        branch's last conv small (std 0.01) around its prior bias. PyTorch's default init shrinks the signal ~3x a
        layer: through the ~25 convs here the eval-mode outputs started 1e-6 apart across images, and took tens of
        epochs of batch-norm statistics to depend on the input at all (validation mAP ~0 meanwhile)."""
        last = {id(b[-1]) for b in (*self.cls, *self.reg)}
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.dfl:
                if id(m) in last:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def forward(self, x):
        feats = self.neck(self.backbone(x))
        cls = torch.cat([b(f).flatten(2) for b, f in zip(self.cls, feats)], 2)  # (N, C, A)
        reg = torch.cat([b(f).flatten(2) for b, f in zip(self.reg, feats)], 2)  # (N, 4 * reg_max, A)
        n, a = reg.shape[0], reg.shape[2]
        logits = reg.view(n, 4, self.reg_max, a)
        dist = self.dfl(logits.transpose(1, 2).softmax(1)).view(n, 4, a)  # stride units: left, top, right, bottom
        lt, rb = dist[:, :2], dist[:, 2:]
        corners = torch.cat((self.centres - lt * self.scales, self.centres + rb * self.scales), 1)
        out = {"boxes": F.hardtanh(corners, 0.0, 1.0).transpose(1, 2), "scores": cls.sigmoid().transpose(1, 2)}
        if self.training:  # what the loss needs besides the outputs (never exported: export runs in eval mode)
            # unclipped: a side past the image edge still gets the IoU loss's gradient (clipping gives it none)
            out.update(
                boxes=corners.transpose(1, 2),
                cls_logits=cls.transpose(1, 2),
                dist_logits=logits.permute(0, 3, 1, 2),
                centres=self.centres[0].T,
                strides=self.scales[0].T,
            )
        return out


def build(input_shape, num_classes, family: str = "mobilenet_v2", width: float = 0.5, neck: int | None = None, reg_max: int = 16):
    if len(input_shape) != 3:
        raise TypeError(f"a detector takes images (C, H, W), not input shape {tuple(input_shape)}")
    cin, h, w = (int(v) for v in input_shape)
    if h % 32 or w % 32 or h < 32 or w < 32:
        raise TypeError(f"a detector's input height and width must be multiples of 32 (strides 8, 16, 32), got {h}x{w}")
    if not num_classes or num_classes < 1:
        raise TypeError("a detector needs the number of classes (num_classes ≥ 1)")
    if isinstance(reg_max, bool) or not isinstance(reg_max, int) or not 2 <= reg_max <= 64:
        raise TypeError(f"reg_max must be an integer from 2 to 64 (bins per distance), got {reg_max!r}")
    if family == "tiny":
        layers = tiny_layers(cin, width)
    elif family == "csp":
        layers = csp_layers(cin, width)
    else:
        layers = mobile_layers(family, cin, width)
    if neck is None:
        neck = max(16, divisible({"tiny": 16, "csp": 256}.get(family, 128) * width, 8))
    return Detector(layers, cin, num_classes, (h, w), int(neck), reg_max)
