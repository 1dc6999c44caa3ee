"""Quantization-aware training in the quantizer the artifact is made with: PT2E, with LiteRT's quantizer for TFLite
and XNNPACK's for ExecuTorch (formats/convert/pt2e.py QUANTIZERS), so the ranges QAT trains are the ones the
artifact carries, where re-quantizing the QAT run's float weights at export threw them away (issue 24).

The float model (batch-norm folded, as every edgekit int8 path does) is exported with a dynamic batch axis and
prepared with fake-quantize modules; the ranges start from the post-training export's own (the quantizer's histogram
observers on the calibration samples export uses, as NNCF's QAT starts from its post-training ranges), then the
training loop fine-tunes weights and ranges together and keeps the start unless an epoch beats it on validation.
Started from the per-batch min/max instead, QAT was less accurate than the post-training artifact on MobileNetV2,
MobileNetV3 and EfficientNet-Lite (benchmarks/results/qat_tflite.md).
Frozen (eval), the graph is the int8 model the artifact runs: each fake-quantize uses convert_pt2e's qparams, and
convolution and linear biases are added on the int32 grid the runtimes use (`bias_grid`).
A run folder stores the graph's state (weights and fake-quantize ranges); loading rebuilds the same graph from the
float structure and loads it (`rebuild`): torch.export names the nodes the same way for the same module.
"""

from __future__ import annotations

import contextlib
import copy
import types

import numpy as np
import torch
import torch.nn as nn

from ...errors import EdgekitError
from ...formats.convert.pt2e import COMPUTE

# How the graph holds nn.Hardswish: the op itself, or written out as x * relu6(x + 3) / 6 (LiteRT's post-training
# export for x86-64 does that: formats/convert/pt2e.py writes_hardswish_out). QAT trains the form the export for its
# target makes; a run records it (quantization.hardswish), and runs made before the key hold the op.
HARDSWISH_FORMS = ("op", "written out")
BATCH_MAX = 4096  # the largest batch the QAT graph takes (training and evaluation batches are far smaller)
CALIBRATION_BATCH = 32


class QatGraph(nn.Module):
    """A PT2E QAT graph as a module the training loop can drive. train()/eval() move the exported graph between its
    modes (exported graphs have no nn.Module modes of their own), and eval() also freezes the observers, so that
    evaluating on the validation split never moves the ranges."""

    def __init__(self, graph: torch.fx.GraphModule, quantizer: str, hardswish: str = "op"):
        super().__init__()
        self.graph = graph
        self.quantizer = quantizer
        self.hardswish = hardswish

    def forward(self, x):
        if self.training:
            return self.graph(x)
        # frozen: the biases every int8 runtime adds (convert's graph has them too), and hard-swish as LiteRT's kernel
        with int32_biases(self.graph), runtime_hardswish(self):
            return self.graph(x)

    def float_module(self) -> nn.Module:
        """The float structure with the graph's current weights: what MACs, parameters and bytes are counted on."""
        plain = copy.deepcopy(self._float)
        keys = plain.state_dict().keys()
        plain.load_state_dict({k: v for k, v in float_weights(self).items() if k in keys}, strict=False)
        return plain.eval()

    def train(self, mode: bool = True):
        from torchao.quantization.pt2e import disable_observer, enable_observer, move_exported_model_to_eval, move_exported_model_to_train

        self.training = mode
        (move_exported_model_to_train if mode else move_exported_model_to_eval)(self.graph)
        self.graph.apply(enable_observer if mode else disable_observer)
        for m in self.graph.modules():
            if hasattr(m, "calculate_qparams") and hasattr(m, "fake_quant_enabled"):
                if mode:
                    m.__dict__.pop("forward", None)  # training: the fused observer + fake-quantize op again
                else:
                    m.forward = types.MethodType(_as_converted, m)
                    if _observed(m):  # the saved state holds what ships
                        _write_qparams(m, *m.calculate_qparams())
        return self


def bias_grid(gm: torch.fx.GraphModule):
    """(bias parameter, the bias on the int32 grid) for each convolution and linear layer whose input and weights are
    fake-quantized: TFLite, XNNPACK and onnxruntime's QLinear kernels add the bias as int32 in units of input scale x
    weight scale, where PyTorch's reference int8 graph adds it in float. That half-unit was the whole gap between
    mobilenetv1-025's QAT model and its TFLite artifact (benchmarks/results/int8_references.md)."""
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target not in COMPUTE or len(node.args) < 3:
            continue
        x, w, b = node.args[:3]
        if not all(isinstance(a, torch.fx.Node) for a in (x, w, b)) or b.op != "get_attr":
            continue
        if not all(_is_quantizer(a) for a in (x, w)):
            continue
        fx, fw = gm.get_submodule(x.target), gm.get_submodule(w.target)
        if not all(_observed(f) and int(f.fake_quant_enabled[0]) for f in (fx, fw)):
            continue
        try:
            bias = gm.get_parameter(b.target)
        except AttributeError:  # a constant the export made a buffer
            bias = gm.get_buffer(b.target)
        unit = (fx.calculate_qparams()[0].double() * fw.calculate_qparams()[0].double()).reshape(-1)
        steps = torch.clamp(torch.round(bias.detach().double() / unit), -(2**31), 2**31 - 1)
        yield bias, (steps * unit).to(bias.dtype)


@contextlib.contextmanager
def int32_biases(gm: torch.fx.GraphModule):
    """The graph with its biases on the int32 grid for the duration (the parameters keep their float values)."""
    saved = []
    with torch.no_grad():
        for bias, rounded in bias_grid(gm):
            saved.append((bias, bias.data))
            bias.data = rounded
    try:
        yield
    finally:
        for bias, data in saved:
            bias.data = data


HARDSWISH_OPS = (torch.ops.aten.hardswish.default, torch.ops.aten.hardswish_.default)


def _hardswish_between_quantizers(gm: torch.fx.GraphModule):
    """(node, input fake-quantize, output fake-quantize) for each hard-swish whose int8 input and output ranges the
    frozen graph knows: the op an int8 runtime runs on int8 values."""
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target not in HARDSWISH_OPS:
            continue
        source, users = node.args[0], list(node.users)
        if not (isinstance(source, torch.fx.Node) and _is_quantizer(source) and len(users) == 1 and _is_quantizer(users[0])):
            continue
        fq_in, fq_out = gm.get_submodule(source.target), gm.get_submodule(users[0].target)
        if all(_observed(f) and int(f.fake_quant_enabled[0]) and not f.is_per_channel for f in (fq_in, fq_out)):
            yield node, fq_in, fq_out


def _table_hardswish(table: np.ndarray, in_scale: float, in_zero: int, out_scale: float, out_zero: int):
    """hard-swish of values on the input's int8 grid by the runtime's table, returned on the output's grid."""
    lookup = torch.from_numpy((table.astype(np.float32) - out_zero) * np.float32(out_scale))  # on the output grid

    def litert_hardswish(x):
        # x is on the input grid already (its fake-quantize ran): dividing by the scale recovers the int8 value
        q = torch.clamp(torch.round(x / in_scale) + in_zero, -128, 127).long() + 128
        return lookup.to(x.device)[q].to(x.dtype)

    return litert_hardswish


def _qparams(fq) -> tuple[float, int]:
    scale, zero_point = fq.calculate_qparams()
    return float(scale.reshape(-1)[0]), int(zero_point.reshape(-1)[0])


@contextlib.contextmanager
def runtime_hardswish(qat: QatGraph):
    """The frozen graph with each int8 hard-swish computed as LiteRT computes it (formats/convert/
    litert_hardswish.py), where the artifact keeps the HARD_SWISH op: LiteRT's quantizer, hard-swish as the op."""
    if qat.quantizer != "pt2e-litert" or qat.hardswish != "op":
        yield
        return
    from ...formats.convert.litert_hardswish import hardswish_tables

    gm = qat.graph
    found = [(node, _qparams(fq_in), _qparams(fq_out)) for node, fq_in, fq_out in _hardswish_between_quantizers(gm)]
    if not found:
        yield
        return
    tables = hardswish_tables([(*qin, *qout) for _, qin, qout in found])
    originals = [(node, node.target) for node, _, _ in found]
    for (node, qin, qout), table in zip(found, tables):
        node.target = _table_hardswish(table, *qin, *qout)
    gm.recompile()
    try:
        yield
    finally:
        for node, target in originals:
            node.target = target
        gm.recompile()


def _is_quantizer(node: torch.fx.Node) -> bool:
    """Whether the node calls an observer or fake-quantize module PT2E inserted."""
    return node.op == "call_module" and node.target.startswith("activation_post_process")


def _observed(fq) -> bool:
    """Whether the module's observer holds a range (not so in an empty graph before its weights load)."""
    lo = getattr(getattr(fq, "activation_post_process", None), "min_val", None)
    return lo is None or (lo.numel() > 0 and bool(torch.isfinite(lo).all()))


def _write_qparams(fq, scale, zero_point) -> None:
    """convert_pt2e's scale and zero point into the module's buffers, so that a state dict saved from the frozen graph
    holds them (the fused op writes its own only when it runs with fake-quantize on)."""
    if bool(torch.isfinite(scale).all()):
        _assign(fq.scale, scale)
        _assign(fq.zero_point, zero_point)


def _assign(buffer: torch.Tensor, value: torch.Tensor) -> None:
    """`value` into a module's buffer in place (resized when its shape differs: per-channel buffers start empty)."""
    with torch.no_grad():
        if buffer.shape != value.shape:
            buffer.resize_(value.shape)
        buffer.copy_(value.reshape(buffer.shape).to(buffer.dtype))


def _as_converted(fq, x):
    """A frozen fake-quantize module's forward: the scale and zero point convert_pt2e computes from the observed range
    (calculate_qparams), so that the frozen QAT graph is the int8 graph export ships. The fused training op derives
    its own from the same range, over 255 levels where calculate_qparams takes the 254 of [-127, 127] for symmetric
    weights: 0.4% apart, enough to round weights a step apart, and mobilenetv1-025's QAT model agreed only 98.89%
    with its own convert_pt2e graph (benchmarks/results/int8_references.md)."""
    if not int(fq.fake_quant_enabled[0]):
        return x
    if not _observed(fq):  # nothing to convert from: the training op, as before
        return type(fq).forward(fq, x)
    scale, zero_point = fq.calculate_qparams()
    scale, zero_point = scale.to(torch.float32), zero_point.to(torch.int32)
    if fq.is_per_channel:
        return torch.fake_quantize_per_channel_affine(x, scale, zero_point, fq.ch_axis, fq.quant_min, fq.quant_max)
    return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, fq.quant_min, fq.quant_max)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__


def prepare(model: nn.Module, quantizer: str, input_shape, *, hardswish: str) -> QatGraph:
    """The QAT graph of a float model whose batch-norm is already folded (no weights change here). `hardswish`: as
    the quantizer's post-training export writes it (`hardswish_form`), or as a run folder records it."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    from ...formats.convert.pt2e import QUANTIZERS, prepare_for_int8

    model = prepare_for_int8(copy.deepcopy(model).eval(), hardswish=hardswish == "written out")
    example = torch.zeros(2, *input_shape)
    try:
        exported = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=BATCH_MAX)},))
    except Exception as e:  # torch.export's failures (data-dependent control flow, a fixed batch) come as many types
        raise EdgekitError(
            f"QAT through PT2E ({quantizer}) needs a model torch.export traces with any batch size: {_first_line(e)}",
            "use NNCF's QAT instead (edgekit compress --qat --qat-for onnx), or make the model's forward() batch-independent",
        ) from None
    qat = QatGraph(prepare_qat_pt2e(exported.module(), QUANTIZERS[quantizer](qat=True)), quantizer, hardswish)
    object.__setattr__(qat, "_float", model)  # not a submodule: kept out of the state dict
    return qat


def initialize_ranges(qat: QatGraph, calibration: np.ndarray, *, progress: bool = False) -> str:
    """The ranges QAT starts from: the post-training export's own (the quantizer's post-training observers, histogram
    ranges for activations, calibrated as export calibrates), so that QAT's start, kept when no epoch beats it on
    validation, is the artifact a post-training export makes. → how the ranges started (the run records it).
    Where the two graphs' observers do not pair up, the mean of the per-batch min/max (`_moving_average_start`)."""
    from ...formats.convert.pt2e import QUANTIZERS, calibrated

    sample = torch.from_numpy(calibration[:1])
    ptq, _, _ = calibrated(qat._float, calibration, sample, QUANTIZERS[qat.quantizer](), 0, progress=progress)
    pairs = _pairs(ptq, qat.graph)
    if pairs is None:
        _moving_average_start(qat, calibration)
        return "calibration min/max (mean over batches)"
    for observer, fq in pairs:
        _take_range(observer, fq)
    qat.eval()
    return "post-training ranges"


def _observer_nodes(gm: torch.fx.GraphModule) -> dict[tuple, nn.Module]:
    """Each observer (or fake-quantize) module by where it sits: the node it observes and the nodes that read it."""
    found = {}
    for node in gm.graph.nodes:
        if _is_quantizer(node):
            key = (node.args[0].name, tuple(sorted(u.name for u in node.users)))
            found[key] = gm.get_submodule(node.target)
    return found


def _pairs(ptq: torch.fx.GraphModule, qat: torch.fx.GraphModule):
    """The post-training graph's observers beside the QAT graph's fake-quantize modules at the same places (both are
    exported from the same float model, so nodes share names), or None where the graphs differ."""
    a, b = _observer_nodes(ptq), _observer_nodes(qat)
    if not a or a.keys() != b.keys():
        return None
    return [(a[k], b[k]) for k in a]


def _take_range(observer, fq) -> None:
    """Set the fake-quantize's observed range so that its qparams are the post-training observer's: a min/max
    observer's range is copied, a histogram observer's chosen scale and zero point are turned back into the range
    that gives them (its own min/max are the raw range, wider than what it chose)."""
    target = getattr(fq, "activation_post_process", None)
    if not hasattr(observer, "min_val") or not hasattr(target, "min_val"):
        return  # a fixed range (softmax, sigmoid: 1/256) is the same on both sides
    if not hasattr(observer, "histogram"):
        _set_range(target, observer.min_val, observer.max_val)
    else:
        scale, zero_point = observer.calculate_qparams()
        lo = (observer.quant_min - zero_point.float()) * scale
        hi = (observer.quant_max - zero_point.float()) * scale
        # float32 rounding may put the recomputed scale a unit in the last place off (every activation scale a unit up
        # moves LCNet's logits by up to 0.48: benchmarks/results/int8_references.md): the ends are nudged a few units
        # until the qparams are the same bits
        for lo_, hi_ in _nudged(lo, hi):
            _set_range(target, lo_, hi_)
            got_scale, got_zero = target.calculate_qparams()
            if torch.equal(got_scale, scale) and torch.equal(got_zero.long(), zero_point.long()):
                break
    _write_qparams(fq, *fq.calculate_qparams())


def _nudged(lo: torch.Tensor, hi: torch.Tensor, units: int = 4):
    """(lo, hi), then the pairs a few float32 units from it, nearest first."""

    def steps(v):
        up, down, out = v, v, [v]
        for _ in range(units):
            up, down = torch.nextafter(up, torch.full_like(up, float("inf"))), torch.nextafter(down, torch.full_like(down, float("-inf")))
            out += [up, down]
        return out

    pairs = [(i + j, a, b) for i, a in enumerate(steps(lo)) for j, b in enumerate(steps(hi))]
    return [(a, b) for _, a, b in sorted(pairs, key=lambda p: p[0])]


def _set_range(observer, lo: torch.Tensor, hi: torch.Tensor) -> None:
    _assign(observer.min_val, lo)
    _assign(observer.max_val, hi)


def _moving_average_start(qat: QatGraph, calibration: np.ndarray) -> None:
    """Observe the calibration samples with fake quantization off: each range becomes the mean of the per-batch
    min/max (the moving average's constant set to 1/(k+1) for batch k), not the first batch's alone."""
    from torchao.quantization.pt2e import disable_fake_quant, enable_fake_quant, enable_observer, move_exported_model_to_eval

    graph = qat.graph
    move_exported_model_to_eval(graph)  # dropout off; the observers still run
    graph.apply(enable_observer)
    graph.apply(disable_fake_quant)
    observers = [m for m in graph.modules() if hasattr(m, "averaging_constant")]
    constants = [m.averaging_constant for m in observers]
    with torch.no_grad():
        for k, i in enumerate(range(0, len(calibration), CALIBRATION_BATCH)):
            for m in observers:
                m.averaging_constant = 1.0 / (k + 1)
            graph(torch.from_numpy(calibration[i : i + CALIBRATION_BATCH]))
    for m, c in zip(observers, constants):
        m.averaging_constant = c
    graph.apply(enable_fake_quant)
    qat.eval()


def converted(qat: QatGraph, *, fold_quantize: bool = True) -> torch.fx.GraphModule:
    """The trained QAT graph as an int8 graph (quantize/dequantize ops with the trained ranges), for a converter."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    graph = copy.deepcopy(qat.graph)
    move_exported_model_to_eval(graph)
    with torch.no_grad():
        for bias, rounded in list(bias_grid(graph)):  # as the frozen QAT model adds them (the converter's rounding is then exact)
            bias.data = rounded
    return convert_pt2e(graph, fold_quantize=fold_quantize)


def hardswish_form(quantizer: str, target: str | None) -> str:
    """The hard-swish form the quantizer's post-training export for `target` (a name or profile path; None: not
    known, a board) makes: formats/convert/pt2e.py writes_hardswish_out."""
    from ...formats.convert.pt2e import writes_hardswish_out
    from ...targets import find_target

    if quantizer != "pt2e-litert" or target is None:
        return "op"
    return "written out" if writes_hardswish_out(find_target(target)) else "op"


def rebuild(model: nn.Module, quantizer: str, input_shape, hardswish: str) -> QatGraph:
    """The empty QAT graph a run folder's weights load into (`model`: the float structure, batch-norm folded)."""
    return prepare(model, quantizer, input_shape, hardswish=hardswish).eval()


def float_weights(qat: QatGraph) -> dict[str, torch.Tensor]:
    """The graph's float weights by the float model's names (the fake-quantize state dropped)."""
    return {k.removeprefix("graph."): v for k, v in qat.state_dict().items() if "activation_post_process" not in k}
