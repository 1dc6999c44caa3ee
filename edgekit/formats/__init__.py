"""Formats as plug-ins: one module per artifact format, each exposing `FORMAT` (see base.Format).

Adding a format = one module here, one line in FORMATS, a runtime module in edgekit/device/runtimes/ if
it brings a new runtime, and its tests. Nothing else names a format: an unknown one is an error, never a
fallback.
"""

from __future__ import annotations

import importlib

from ..errors import EdgekitError

FORMATS = {
    "onnx": "edgekit.formats.onnx",
    "tflite": "edgekit.formats.tflite",
    "micro": "edgekit.formats.micro",
    "edgetpu": "edgekit.formats.edgetpu",
    "ncnn": "edgekit.formats.ncnn",
    "executorch": "edgekit.formats.executorch",
    "tensorrt": "edgekit.formats.tensorrt",
    "openvino": "edgekit.formats.openvino",
}


def get_format(name: str):
    if name not in FORMATS:
        raise EdgekitError(f"unknown format '{name}'", f"use one of {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[name]).FORMAT
