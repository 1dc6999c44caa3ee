"""Quantization-aware training in the quantizer the artifact is made with: PT2E, with LiteRT's quantizer for TFLite
and XNNPACK's for ExecuTorch (formats/convert/pt2e.py QUANTIZERS), so the ranges QAT trains are the ones the
artifact carries, where re-quantizing the QAT run's float weights at export threw them away (issue 24).

The float model (batch-norm folded, as every edgekit int8 path does) is exported with a dynamic batch axis and
prepared with fake-quantize modules; the ranges start from the calibration samples (the per-batch min/max averaged,
as NNCF's QAT starts from its post-training ranges), then the training loop fine-tunes weights and ranges together.
A run folder stores the graph's state (weights and fake-quantize ranges); loading rebuilds the same graph from the
float structure and loads it (`rebuild`): torch.export names the nodes the same way for the same module.
"""

from __future__ import annotations

import copy
import types

import numpy as np
import torch
import torch.nn as nn

from ...errors import EdgekitError

BATCH_MAX = 4096  # the largest batch the QAT graph takes (training and evaluation batches are far smaller)
CALIBRATION_BATCH = 32


class QatGraph(nn.Module):
    """A PT2E QAT graph as a module the training loop can drive. train()/eval() move the exported graph between its
    modes (exported graphs have no nn.Module modes of their own), and eval() also freezes the observers, so that
    evaluating on the validation split never moves the ranges."""

    def __init__(self, graph: torch.fx.GraphModule, quantizer: str):
        super().__init__()
        self.graph = graph
        self.quantizer = quantizer

    def forward(self, x):
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


def _observed(fq) -> bool:
    """Whether the module's observer holds a range (not so in an empty graph before its weights load)."""
    lo = getattr(getattr(fq, "activation_post_process", None), "min_val", None)
    return lo is None or (lo.numel() > 0 and bool(torch.isfinite(lo).all()))


def _write_qparams(fq, scale, zero_point) -> None:
    """convert_pt2e's scale and zero point into the module's buffers, so that a state dict saved from the frozen graph
    holds them (the fused op writes its own only when it runs with fake-quantize on)."""
    if bool(torch.isfinite(scale).all()):
        with torch.no_grad():
            if fq.scale.shape != scale.shape:
                fq.scale.resize_(scale.shape)
                fq.zero_point.resize_(zero_point.shape)
            fq.scale.copy_(scale)
            fq.zero_point.copy_(zero_point.to(fq.zero_point.dtype))


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


def prepare(model: nn.Module, quantizer: str, input_shape) -> QatGraph:
    """The QAT graph of a float model whose batch-norm is already folded (no weights change here)."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    from ...formats.convert.pt2e import QUANTIZERS, prepare_for_int8

    model = prepare_for_int8(copy.deepcopy(model).eval())
    example = torch.zeros(2, *input_shape)
    try:
        exported = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=BATCH_MAX)},))
    except Exception as e:  # torch.export's failures (data-dependent control flow, a fixed batch) come as many types
        raise EdgekitError(
            f"QAT through PT2E ({quantizer}) needs a model torch.export traces with any batch size: {_first_line(e)}",
            "use NNCF's QAT instead (edgekit compress --qat --qat-for onnx), or make the model's forward() batch-independent",
        ) from None
    qat = QatGraph(prepare_qat_pt2e(exported.module(), QUANTIZERS[quantizer](qat=True)), quantizer)
    object.__setattr__(qat, "_float", model)  # not a submodule: kept out of the state dict
    return qat


def initialize_ranges(qat: QatGraph, calibration: np.ndarray) -> None:
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
    return convert_pt2e(graph, fold_quantize=fold_quantize)


def rebuild(model: nn.Module, quantizer: str, input_shape) -> QatGraph:
    """The empty QAT graph a run folder's weights load into (`model`: the float structure, batch-norm folded)."""
    return prepare(model, quantizer, input_shape).eval()


def float_weights(qat: QatGraph) -> dict[str, torch.Tensor]:
    """The graph's float weights by the float model's names (the fake-quantize state dropped)."""
    return {k.removeprefix("graph."): v for k, v in qat.state_dict().items() if "activation_post_process" not in k}
