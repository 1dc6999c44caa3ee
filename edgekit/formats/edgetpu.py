"""Edge TPU (Coral): the full-int8 TFLite model, and which of its operators the Edge TPU compiler maps.

The mapping is predicted from Coral's published table of supported operations (coral.ai/docs/edgetpu/models-intro);
the compiler itself (edgetpu_compiler) runs only on the machine it is installed on, so run it there to get the
final, compiled model. Ops after the first unsupported one also run on the CPU (the compiler cuts the graph once).
"""

from __future__ import annotations

from .base import BuildJob, Built, Format
from .tflite import tflite_ops, tflite_toolchain, write_tflite

EDGETPU_OPS = {
    "ADD",
    "AVERAGE_POOL_2D",
    "CONCATENATION",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "EXP",
    "FLOOR",
    "FULLY_CONNECTED",
    "GREATER",
    "GREATER_EQUAL",
    "HARD_SWISH",
    "L2_NORMALIZATION",
    "LESS",
    "LESS_EQUAL",
    "LOGISTIC",
    "LSTM",
    "MAX_POOL_2D",
    "MAXIMUM",
    "MEAN",
    "MINIMUM",
    "MUL",
    "PACK",
    "PAD",
    "PRELU",
    "QUANTIZE",
    "DEQUANTIZE",
    "REDUCE_MAX",
    "REDUCE_MIN",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR",
    "RSQRT",
    "SLICE",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SPLIT",
    "SQUARED_DIFFERENCE",
    "SQUEEZE",
    "STRIDED_SLICE",
    "SUB",
    "SUM",
    "TANH",
    "TRANSPOSE",
    "TRANSPOSE_CONV",
    "UNPACK",
}


def op_mapping(ops_in_order: list[str]) -> dict:
    """ops_in_order: the model's operators in execution order."""
    mapped, cpu, cut = [], [], False
    for op in ops_in_order:
        if not cut and op in EDGETPU_OPS:
            mapped.append(op)
        else:
            cut = True
            cpu.append(op)
    return {
        "edgetpu": mapped,
        "cpu": cpu,
        "fully_mapped": not cpu,
        "source": "predicted from Coral's supported-ops table; confirm with edgetpu_compiler",
    }


class EdgeTpuFormat(Format):
    name = "edgetpu"
    runtime = "litert"
    precisions = ("int8",)
    int8_quantizer = "pt2e-litert"  # its TFLite is written by formats/tflite.py, QAT runs included

    def build(self, job: BuildJob) -> Built:
        path = job.folder / "model.tflite"
        info = write_tflite(job, path)
        mapping = op_mapping(tflite_ops(path, ordered=True))
        built = Built(
            files=["model.tflite"],
            quantizer=info["quantizer"],
            toolchain=tflite_toolchain(),
            extras={"ops": info["ops"], "edgetpu": mapping},
            reference=info["reference"],  # "run": a QAT run's own int8 graph shipped
        )
        built.notes.append(
            f"Edge TPU: {len(mapping['edgetpu'])} ops mapped, {len(mapping['cpu'])} on the CPU {mapping['cpu'] or ''} ({mapping['source']})"
        )
        return built


FORMAT = EdgeTpuFormat()
