"""TFLite through litert-torch (no TensorFlow): fp32, fp16, dynamic-range int8, and full-integer int8
(PT2E, calibrated on the train split) with int8 input and output."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import EdgekitError
from ..fold import fold_batchnorm
from ..quiet import captured_fds, quiet_import
from .compact import compact_tflite


def _op_hint(text: str) -> str:
    m = re.search(r"(aten\.\w+|'tfl\.\w+'|tfl\.\w+|op(?:erator)? '?[\w.:]+'?)", text)
    return m.group(1) if m else text.strip().splitlines()[-1][:160] if text.strip() else "unknown"


def _litert():
    return quiet_import("litert_torch")


def _convert(model, sample, quant_config=None):
    litert_torch = _litert()

    try:
        with captured_fds() as log:
            edge = litert_torch.convert(model, (sample,), quant_config=quant_config) if quant_config else litert_torch.convert(model, (sample,))
    except Exception as e:
        raise EdgekitError(f"TFLite conversion failed at {_op_hint(str(e) + log())}",
                           "replace that layer with a TFLite-supported one, or try --format onnx") from None
    return edge


def _pt2e_int8(model: nn.Module, calibration: np.ndarray, sample: torch.Tensor):
    _litert()
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    fold_batchnorm(model)
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    graph = prepare_pt2e(torch.export.export(model.eval(), (sample,)).module(), quantizer)
    with torch.no_grad():
        for i in range(len(calibration)):  # the exported graph has a fixed batch of one
            graph(torch.from_numpy(calibration[i:i + 1]))
    return convert_pt2e(graph, fold_quantize=False), QuantConfig(pt2e_quantizer=quantizer)


def export_tflite(model: nn.Module, input_shape, path: Path, *, precision: str, calibration: np.ndarray | None) -> dict:
    sample = torch.zeros(1, *input_shape)
    model = model.eval()
    if precision == "fp32":
        edge = _convert(model, sample)
    elif precision in ("fp16", "dynamic"):
        _litert()
        from litert_torch.generative.quantize import quant_recipes

        recipe = quant_recipes.full_fp16_recipe() if precision == "fp16" else quant_recipes.full_dynamic_recipe()
        edge = _convert(model, sample, recipe)
    else:
        graph, config = _pt2e_int8(model, calibration, sample)
        edge = _convert(graph, sample, config)
    with captured_fds():
        edge.export(str(path))
    compact_tflite(path)
    return {"ops": tflite_ops(path)}


def tflite_ops(path: Path) -> list[str]:
    from .host_runtimes import open_interpreter

    it = open_interpreter(path)
    return sorted({op["op_name"] for op in it._get_ops_details()})
