"""Full-int8 TFLite for the constructs users' networks are made of, beyond what LiteRT's PT2E quantizer
annotates (conv, linear, add, mul, cat, pools, fixed-range activations).

Left unannotated, a nearest upsampling, a hard-swish or a residual add stays float between dequantize/quantize
pairs, or breaks the converter: a stride-2 3x3 convolution with padding 1 (which TFLite pads explicitly) fed
from a tensor that also went into an unannotated concat got two scales, and the converter's PAD stopped at
"'tfl.pad' op quantization parameters violate the same scale constraint". Here:
- hard-sigmoid and SiLU are rewritten into ops with int8 kernels (relu6(x + 3) / 6, x * sigmoid(x)), exact in
  float (tested), so the int8 artifact is compared against the same float model;
- data-movement ops (pad, upsample-nearest, reshape, transpose, slice, chunk) share their input's scale, and
  every input of a concat shares one, as TFLite's int8 kernels require;
- hard-swish, ReLU, residual adds, x + constant and x * y get their own output observers.
(An explicit ZeroPad2d before such convolutions also converted, but made the converter keep NCHW around them:
resnet8 went from 1 to 7 TRANSPOSE ops and 0.080 → 0.098 ms, MobileNetV2 0.140 → 0.218 ms; not done.)
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

aten = torch.ops.aten


class HardsigmoidInt8(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) * (1.0 / 6.0)


class SiLUInt8(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def prepare_for_int8(model: nn.Module) -> nn.Module:
    """A copy with the float-exact rewrites above applied."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Hardsigmoid):
                setattr(parent, name, HardsigmoidInt8())
            elif isinstance(child, nn.SiLU):
                setattr(parent, name, SiLUInt8())
    return model


SHARED = {
    aten.constant_pad_nd.default,
    aten.pad.default,
    aten.upsample_nearest2d.vec,
    aten.upsample_nearest2d.default,
    aten.reshape.default,
    aten.view.default,
    aten.transpose.int,
    aten.permute.default,
    aten.clone.default,
    aten.slice.Tensor,
    aten.split.Tensor,
    aten.split_with_sizes.default,
    aten.chunk.default,
    aten.unsqueeze.default,
    aten.squeeze.dim,
    aten.flatten.using_ints,
    aten.max_pool2d.default,
    aten.hardtanh.default,
    aten.relu6.default,
    aten.alias.default,
    aten.dropout.default,
    aten.unflatten.int,
    aten.select.int,
}
OWN = {aten.hardswish.default, aten.relu.default, aten.relu_.default}


def _annotated(node) -> bool:
    a = node.meta.get("quantization_annotation")
    return bool(a and a._annotated)


def annotate_more(model, config) -> None:
    """Annotate, after LiteRT's own pass, the ops it leaves float (see the module docstring)."""
    import operator

    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec

    act = config.input_activation
    for node in model.graph.nodes:
        if node.op != "call_function" or _annotated(node) or not node.args:
            continue
        target = node.target
        inp = node.args[0][0] if target == aten.cat.default and node.args[0] else node.args[0]
        if not isinstance(inp, torch.fx.Node):
            continue
        if inp.meta.get("val") is None or not isinstance(inp.meta.get("val"), torch.Tensor) or not inp.meta["val"].is_floating_point():
            continue
        if target is operator.getitem:
            continue  # chunk/split outputs: their producer's annotation covers them
        if target in SHARED:
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={inp: act}, output_qspec=SharedQuantizationSpec((inp, node)), _annotated=True
            )
        elif target in OWN or target in (aten.add.Tensor, aten.mul.Tensor):
            # residual adds, x + constant (hard-sigmoid's + 3), x * y: TFLite's int8 ADD/MUL rescale their inputs
            inputs = {a: act for a in node.args[:2] if isinstance(a, torch.fx.Node)}
            node.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map=inputs, output_qspec=act, _annotated=True)
        elif target == aten.cat.default:
            # TFLite's int8 CONCATENATION keeps one scale: every input shares the first one's
            first, rest = node.args[0][0], node.args[0][1:]
            shared = SharedQuantizationSpec((first, node))
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={first: act, **{r: shared for r in rest}}, output_qspec=shared, _annotated=True
            )


def quantizer(per_channel: bool = True):
    """LiteRT's PT2E quantizer, plus the annotations above."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

    class EdgekitPT2EQuantizer(PT2EQuantizer):
        def annotate(self, model):
            model = super().annotate(model)
            annotate_more(model, self.global_config)
            return model

    return EdgekitPT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=False))
