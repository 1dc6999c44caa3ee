"""PT2E int8, shared by the formats that quantize with it (TFLite via LiteRT, ExecuTorch via XNNPACK): calibration,
the extra annotations for users' constructs, the quantizers by name, and layers left float. One module, so no
format imports another.

Calibration: observers see CALIBRATION_BATCH samples per call (3.2x faster than one at a time,
benchmarks/results/calibration.md); a model whose graph fixes the batch is calibrated one sample at a time.

Annotations — full-int8 TFLite for the constructs users' networks are made of, beyond what LiteRT's PT2E
quantizer annotates (conv, linear, add, mul, cat, pools, fixed-range activations).

Left unannotated, a nearest upsampling, a hard-swish or a residual add stays float between dequantize/quantize
pairs, or breaks the converter: a stride-2 3x3 convolution with padding 1 (which TFLite pads explicitly) fed
from a tensor that also went into an unannotated concat got two scales, and the converter's PAD stopped at
"'tfl.pad' op quantization parameters violate the same scale constraint". Here:
- hard-sigmoid and SiLU are rewritten into ops with int8 kernels (relu6(x + 3) / 6, x * sigmoid(x)), exact in
  float (tested), so the int8 artifact is compared against the same float model;
- for LiteRT on x86-64, hard-swish too (x * relu6(x + 3) / 6, `writes_hardswish_out`);
- data-movement ops (pad, upsample-nearest, reshape, transpose, slice, chunk) share their input's scale, and
  every input of a concat shares one, as TFLite's int8 kernels require;
- hard-swish, ReLU, residual adds, x + constant and x * y get their own output observers.
(An explicit ZeroPad2d before such convolutions also converted, but made the converter keep NCHW around them:
resnet8 went from 1 to 7 TRANSPOSE ops and 0.080 → 0.098 ms, MobileNetV2 0.140 → 0.218 ms; not done.)

Mixed precision — when full int8 misses the target's floor, the layers int8 hurts most stay float: convert/mixed.py
ranks them and searches; here they are left unannotated (`leaving_float`), and XNNPACK and LiteRT run them in fp32
between quantize/dequantize pairs.

QAT — the same quantizers with fake-quantize modules (`is_qat`), so a QAT run trains the ranges the artifact
carries (stages/compress/pt2e_qat.py).
"""

from __future__ import annotations

import copy
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...util.progress import progress_bar, status
from .mixed import FloatLayers, Validation, record, verdict_text  # noqa: F401  (formats import them from here)

aten = torch.ops.aten
CALIBRATION_BATCH = 8  # observers see 8 samples per call: 3.2x faster than one at a time (benchmarks/results/calibration.md)


# ---------------------------------------------------------------- calibration


def calibrate(graph, calibration: np.ndarray, *, progress: bool, batch: int = CALIBRATION_BATCH) -> None:
    with torch.no_grad(), progress_bar("calibrating int8 ranges", len(calibration), progress) as advance:
        for i in range(0, len(calibration), batch):
            chunk = calibration[i : i + batch]
            graph(torch.from_numpy(chunk))
            advance(len(chunk))


# ---------------------------------------------------------------- annotations (LiteRT's int8 scheme)


class HardsigmoidInt8(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) * (1.0 / 6.0)


class SiLUInt8(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class HardswishInt8(nn.Module):
    def forward(self, x):
        return x * F.relu6(x + 3.0) * (1.0 / 6.0)


def writes_hardswish_out(target) -> bool:
    """Whether LiteRT int8 for `target` (a Target, or None) holds hard-swish written out as ADD and MUL rather than
    TFLite's HARD_SWISH op. XNNPACK, LiteRT's CPU delegate, takes no int8 HARD_SWISH, so the op runs in LiteRT's own
    kernel between XNNPACK partitions (29 in LCNet). On x86-64 that kernel is scalar: written out, LCNet's artifact is
    5.8x faster, MobileNetV3-Small's 2.9x. On ARM its NEON kernel does the op in 3-9% fewer guest instructions than
    the ops written out (emulated Cortex-A72), so boards keep the op. Written out, LiteRT computes it exactly (the op
    is fixed point, a step off on 0.4% of outputs): benchmarks/results/hardswish_forms.md, int8_references.md."""
    return target is not None and target.kind == "linux-x86_64"


def prepare_for_int8(model: nn.Module, *, hardswish: bool = False) -> nn.Module:
    """A copy with the float-exact rewrites above applied; `hardswish`: hard-swish written out too."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Hardsigmoid):
                setattr(parent, name, HardsigmoidInt8())
            elif isinstance(child, nn.SiLU):
                setattr(parent, name, SiLUInt8())
            elif hardswish and isinstance(child, nn.Hardswish):
                setattr(parent, name, HardswishInt8())
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
# TFLite's int8 SOFTMAX and LOGISTIC refuse any output scale but 1/256 (zero point -128). LiteRT fixes it only when
# the op's input was annotated in its own pass; after a reshape or transpose (annotated here, later) the op fell
# to its consumer's plain observer and the converted model failed to load (a detector's DFL softmax: "scale not
# near 1.f / 256").
FIXED_RANGE = {aten._softmax.default, aten.softmax.int, aten.sigmoid.default}


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
        if target in SHARED and _fixed_output(inp):
            # moving a softmax's or sigmoid's output keeps its fixed 1/256 scale on both sides (an observer of its
            # own on the way in made a requantizing transpose, which TFLite's same-scale rule refuses)
            fixed = inp.meta["quantization_annotation"].output_qspec
            node.meta["quantization_annotation"] = QuantizationAnnotation(input_qspec_map={inp: fixed}, output_qspec=fixed, _annotated=True)
        elif target in SHARED:
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={inp: act}, output_qspec=SharedQuantizationSpec((inp, node)), _annotated=True
            )
        elif target in FIXED_RANGE:
            node.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map={inp: act}, output_qspec=_fixed_range(), _annotated=True
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


def _fixed_output(node) -> bool:
    from torchao.quantization.pt2e.quantizer import FixedQParamsQuantizationSpec

    a = node.meta.get("quantization_annotation")
    return bool(a and a._annotated and isinstance(a.output_qspec, FixedQParamsQuantizationSpec))


def _fixed_range():
    from torchao.quantization.pt2e.quantizer import FixedQParamsQuantizationSpec

    return FixedQParamsQuantizationSpec(
        dtype=torch.int8, scale=1 / 256, zero_point=-128, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine
    )


def litert_quantizer(per_channel: bool = True, qat: bool = False):
    """LiteRT's PT2E quantizer, plus the annotations above."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

    class EdgekitPT2EQuantizer(PT2EQuantizer):
        # LiteRT's QAT-only conv+batch-norm annotators trace their patterns with torch.export on a plain function,
        # which torch 2.13 refuses; edgekit folds batch-norm before quantizing, so there is nothing for them to match.
        STATIC_QAT_ONLY_OPS = []

        def annotate(self, model):
            model = super().annotate(model)
            annotate_more(model, self.global_config)
            return model

    config = get_symmetric_quantization_config(is_per_channel=per_channel, is_qat=qat, is_dynamic=False)
    return EdgekitPT2EQuantizer().set_global(config)


def xnnpack_quantizer(qat: bool = False):
    """ExecuTorch's XNNPACK quantizer: per-channel symmetric int8 weights, per-tensor int8 activations."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=qat))


# The quantizers a QAT run can train, by the name model.json records (formats declare theirs: Format.int8_quantizer).
QUANTIZERS = {"pt2e-litert": litert_quantizer, "pt2e-xnnpack": xnnpack_quantizer}


# ---------------------------------------------------------------- layers left float (mixed precision)

COMPUTE = {aten.conv1d.default, aten.conv2d.default, aten.linear.default}


def layer_segments(gm: torch.fx.GraphModule) -> list[list[torch.fx.Node]]:
    """The graph cut at each conv/linear: a layer is its compute op and the ops up to the next one."""
    segments: list[list[torch.fx.Node]] = []
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target in COMPUTE:
            segments.append([node])
        elif segments:
            segments[-1].append(node)
    return segments


def _macs(node: torch.fx.Node) -> int:
    out, weight = node.meta.get("val"), node.args[1].meta.get("val") if isinstance(node.args[1], torch.fx.Node) else None
    if not isinstance(out, torch.Tensor) or not isinstance(weight, torch.Tensor):
        return 0
    per_output = int(np.prod(weight.shape[1:]))  # in/groups x kernel for a conv, in-features for a linear
    try:
        return int(np.prod([int(d) for d in out.shape[1:]])) * per_output  # per sample: the batch may be symbolic
    except TypeError:  # a symbolic size besides the batch
        return 0


def _module_path(node: torch.fx.Node) -> str:
    """The layer's name in the user's module (features.0.0), else the graph's node name."""
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else node.name


def float_layers(gm: torch.fx.GraphModule, kept: int | Iterable[str]) -> tuple[set[str], FloatLayers]:
    """Names of the nodes to leave unannotated, and what that amounts to: for the first `kept` layers (a number), or
    for the layers named by their module paths (as nn.sensitivity names them)."""
    segments = layer_segments(gm)
    macs = [_macs(s[0]) for s in segments]
    if isinstance(kept, int):
        chosen = list(range(min(kept, len(segments))))
    else:
        wanted = set(kept)
        chosen = [i for i, s in enumerate(segments) if _module_path(s[0]) in wanted]
    names = {n.name for i in chosen for n in segments[i]}
    share = sum(macs[i] for i in chosen) / sum(macs) if sum(macs) else 0.0
    paths = [_module_path(segments[i][0]) for i in chosen]
    info = FloatLayers(kept=len(chosen), layers=len(segments), macs_in_float=share, names=paths)
    return names, info


def leaving_float(quantizer, names: set[str]):
    """`quantizer` with the named nodes' annotations removed after it annotates (their ops then run in float)."""
    if not names:
        return quantizer
    inner_annotate = quantizer.annotate

    def annotate(model):
        model = inner_annotate(model)
        for node in model.graph.nodes:
            if node.name in names:
                node.meta.pop("quantization_annotation", None)
        return model

    quantizer.annotate = annotate
    return quantizer


def outputs(graph, x: np.ndarray, batch: int):
    """The graph's outputs on x in its own structure: one array, or a dict of arrays (a detector's boxes and scores)."""
    with torch.no_grad():
        outs = [graph(torch.from_numpy(x[i : i + batch])) for i in range(0, len(x), batch)]
    if outs and isinstance(outs[0], dict):
        return {k: np.concatenate([o[k].numpy() for o in outs]) for k in outs[0]}
    return np.concatenate([o.numpy() for o in outs])


def calibrated(model, calibration: np.ndarray, sample, quantizer, kept, *, progress: bool):
    """A PT2E graph prepared with `quantizer` (layers `kept` float: the first k, or module paths) whose observers have
    seen the calibration samples → (graph, calibration batch, FloatLayers). A dynamic batch axis lets the observers
    see several samples per call; the artifact keeps batch 1. QAT starts its ranges from this graph too
    (stages/compress/pt2e_qat.py), so that its start is the post-training export."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    try:
        dims = ({0: torch.export.Dim("batch", min=1, max=max(2, CALIBRATION_BATCH))},)
        example = torch.from_numpy(calibration[: min(CALIBRATION_BATCH, len(calibration))])
        exported, batch = torch.export.export(model.eval(), (example,), dynamic_shapes=dims), CALIBRATION_BATCH
    except Exception:  # a model whose graph fixes the batch (e.g. a reshape to 1): calibrate one at a time
        exported, batch = torch.export.export(model.eval(), (sample,)), 1
    gm = exported.module()
    names, info = float_layers(gm, kept)
    graph = prepare_pt2e(gm, leaving_float(quantizer, names))
    calibrate(graph, calibration, progress=progress, batch=batch)
    return graph, batch, info


def pt2e_quantize(model, calibration: np.ndarray, sample, quantizer, kept, *, progress: bool, fold_quantize: bool = True):
    """One PT2E pass with layers left float (`kept`: the first k, or module paths) → (converted graph, calibration
    batch, FloatLayers)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    graph, batch, info = calibrated(model, calibration, sample, quantizer, kept, progress=progress)
    with status("converting the calibrated graph", progress):
        converted = convert_pt2e(graph, fold_quantize=fold_quantize)
    return converted, batch, info


def pt2e_search(model, calibration: np.ndarray, sample, make_quantizer, validation, *, progress: bool, say=lambda m: None, keep=(), **kw):
    """Full int8, or the fewest MACs left float that reach the floor on the validation split, or the user's `keep`
    (convert/mixed.py): → (converted graph, FloatLayers, the quantizer that made it: the converter may need it)."""
    from ...nn.sensitivity import Int8Simulation
    from .mixed import search

    made = {}

    def quantize(names: tuple):
        made[names] = make_quantizer()
        graph, batch, _ = pt2e_quantize(model, calibration, sample, made[names], names, progress=progress, **kw)
        return graph, batch

    def run(quantized, x):
        graph, batch = quantized
        return outputs(graph, x, batch)

    (graph, _), info = search(quantize, run, validation, lambda: Int8Simulation(model, calibration, per_channel=True), say, keep)
    return graph, info, made[tuple(info.names)]
