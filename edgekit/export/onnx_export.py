"""ONNX: fp32, fp16 (float I/O kept) and int8 QDQ (from NNCF), constant-folded and checked with onnx.checker."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import EdgekitError

OPSET = 17


def _export(model: nn.Module, input_shape, path: Path, dynamic_batch: bool) -> None:
    example = torch.zeros(1, *input_shape)
    axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # The TorchScript exporter (dynamo=False): the dynamo one fails on NNCF-quantized models.
            torch.onnx.export(model.eval(), (example,), str(path), dynamo=False, opset_version=OPSET,
                              input_names=["input"], output_names=["output"], dynamic_axes=axes, do_constant_folding=True)
        except Exception as e:
            msg = str(e).strip().splitlines()[0][:200]
            raise EdgekitError(f"ONNX export failed: {msg}", "replace that layer/op with a supported one, or try --format tflite") from None


def check(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    return {"opset": model.opset_import[0].version, "ir_version": model.ir_version,
            "ops": sorted({n.op_type for n in model.graph.node})}


def export_onnx(model: nn.Module, input_shape, path: Path, *, precision: str, dynamic_batch: bool) -> dict:
    """`model` is the float model for fp32/fp16, the NNCF-quantized model for int8."""
    if precision == "int8":
        from ..nncf_env import import_nncf

        nncf = import_nncf()
        model = nncf.strip(model, strip_format=nncf.StripFormat.NATIVE, example_input=torch.zeros(1, *input_shape))
    _export(model, input_shape, path, dynamic_batch)
    import onnx

    from .compact import compact_onnx
    from .onnx_passes import fold_weight_quantization, topological_sort

    folded = 0
    model_proto = onnx.load(str(path))
    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model_proto = convert_float_to_float16(model_proto, keep_io_types=True)
        topological_sort(model_proto)  # the converter appends its input casts at the end of the node list
    elif precision == "int8":
        folded = fold_weight_quantization(model_proto)
    compact_onnx(model_proto)
    onnx.save(model_proto, str(path))
    info = check(path) | {"int8_weights": folded}
    if precision == "int8" and "QuantizeLinear" not in info["ops"]:
        raise EdgekitError("int8 ONNX export produced no QuantizeLinear nodes", "report this model to edgekit's issues")
    return info
