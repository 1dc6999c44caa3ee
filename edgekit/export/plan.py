"""Which format and precision an export produces: the target's preference, the run's quantization, the flags."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EdgekitError
from ..targets import FORMATS, Target

RUNTIME_OF = {"onnx": "onnxruntime", "tflite": "litert", "edgetpu": "litert", "micro": "tflite-micro"}
PRECISIONS_OF = {"onnx": ("fp32", "fp16", "int8"), "tflite": ("fp32", "fp16", "dynamic", "int8"),
                 "micro": ("int8",), "edgetpu": ("int8",)}
ARTIFACT_OF = {"onnx": "model.onnx", "tflite": "model.tflite", "edgetpu": "model.tflite", "micro": "model.tflite"}


@dataclass(frozen=True)
class ExportPlan:
    format: str
    precision: str
    runtime: str
    artifact: str


def plan_export(target: Target, *, quantized_run: bool, fmt: str | None, precision: str | None) -> ExportPlan:
    fmt = fmt or target.runtime["preferred_format"]
    if fmt not in FORMATS:
        raise EdgekitError(f"unknown format '{fmt}'", f"use one of {', '.join(FORMATS)}")
    runtime = RUNTIME_OF[fmt]
    if runtime not in target.runtime["runtimes"]:
        raise EdgekitError(f"{target.name} does not run {fmt} ({runtime}); it runs {', '.join(target.runtime['runtimes'])}",
                           "drop --format, or pick another --target (see `edgekit targets`)")
    if precision is None:
        precision = "int8" if quantized_run or target.runtime["full_int8_only"] else target.runtime["preferred_precision"]
        if precision not in PRECISIONS_OF[fmt]:
            precision = "int8" if "int8" in PRECISIONS_OF[fmt] and quantized_run else PRECISIONS_OF[fmt][0]
    if target.runtime["full_int8_only"] and precision != "int8":
        raise EdgekitError(f"{target.name} runs full-integer int8 models only, not {precision}", "drop --precision, or pass --precision int8")
    if precision not in PRECISIONS_OF[fmt]:
        raise EdgekitError(f"{fmt} export has no precision '{precision}'", f"use one of {', '.join(PRECISIONS_OF[fmt])}")
    return ExportPlan(fmt, precision, runtime, ARTIFACT_OF[fmt])
