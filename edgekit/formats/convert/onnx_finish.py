"""What every ONNX file edgekit writes goes through after it is written, whichever way it was made (exported from
PyTorch in formats/onnx.py, an imported graph in formats/onnx_native.py, TensorRT's input in formats/tensorrt.py):
post-processing and checks, and the count of what onnxruntime's optimiser fuses into quantized kernels."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from ...errors import EdgekitError
from .toolchain import base_toolchain, version

STANDARD_DOMAINS = ("", "ai.onnx")
QUANTIZED_OPS = {
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "QGemm",
    "QLinearAdd",
    "QLinearMul",
    "QLinearGlobalAveragePool",
    "QLinearAveragePool",
    "QLinearConcat",
    "QLinearSigmoid",
    "QLinearLeakyRelu",
}
COMPUTE_OPS = {"Conv", "Gemm", "MatMul"}


def nonstandard_ops(model) -> list[str]:
    return sorted({f"{n.domain}:{n.op_type}" for n in model.graph.node if n.domain not in STANDARD_DOMAINS})


def fusion(path: Path) -> dict:
    """What onnxruntime's graph optimiser makes of the model: quantized kernels vs float compute left."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        so.log_severity_level = 3  # the "hardware specific optimizations" warning: this copy is only counted
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        ops = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    quantized = sum(v for k, v in ops.items() if k in QUANTIZED_OPS)
    float_compute = sum(v for k, v in ops.items() if k in COMPUTE_OPS)
    return {
        "quantized_kernels": quantized,
        "float_compute_ops": float_compute,
        "fused": {k: v for k, v in ops.items() if k in QUANTIZED_OPS},
    }


def finish(path: Path, precision: str) -> dict:
    """The written model made standard and small: fp16 conversion (float I/O kept) or int8 weights folded, dead
    Identity nodes dropped, then onnx.checker; a vendor-domain operator is refused (onnxruntime cannot run it)."""
    import onnx

    from .compact import compact_onnx
    from .onnx_graph import fold_weight_quantization, remove_identities, topological_sort

    model = onnx.load(str(path))
    folded = 0
    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(model, keep_io_types=True)
        topological_sort(model)  # the converter appends its input casts at the end of the node list
    elif precision == "int8":
        folded = fold_weight_quantization(model)
    identities = remove_identities(model)
    compact_onnx(model)
    bad = nonstandard_ops(model)
    if bad:
        raise EdgekitError(
            f"the ONNX model holds non-standard operators ({', '.join(bad)}) that onnxruntime cannot run",
            "report this model to edgekit's issues; meanwhile export --format tflite",
        )
    onnx.save(model, str(path))
    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise EdgekitError(
            f"the exported ONNX model is not valid ONNX: {str(e).strip().splitlines()[0][:200]}",
            "report this model to edgekit's issues; meanwhile export --format tflite",
        ) from e
    return {
        "opset": model.opset_import[0].version,
        "ir_version": model.ir_version,
        "ops": sorted({n.op_type for n in model.graph.node}),
        "int8_weights": folded,
        "removed_identities": identities,
    }


def finish_built(built, path: Path, precision: str, converter: str) -> None:
    """finish() the written file, then record on `built` (a Built) what an onnxruntime artifact records whichever way
    its ONNX was made: the operators, for int8 what onnxruntime fuses (and a note when float compute is left beyond
    the layers kept float on purpose), and the toolchain, `converter` naming how the file was made."""
    info = finish(path, precision)
    built.extras["ops"] = info["ops"]
    if precision == "int8":
        fused = fusion(path)
        built.extras["onnxruntime_fusion"] = fused
        floated = built.extras.get("float_layers", {}).get("kept", 0)
        if fused["float_compute_ops"] > floated:  # the layers kept float on purpose are said in their own note
            built.notes.append(
                f"onnxruntime keeps {fused['float_compute_ops']} conv/matmul op(s) in float beside "
                f"{fused['quantized_kernels']} quantized kernel(s): int8 may not be faster than fp32 here"
            )
    built.toolchain = base_toolchain() | {
        "converter": converter,
        "onnx": version("onnx"),
        "opset": info["opset"],
        "ir_version": info["ir_version"],
    }
