"""deploy.json: all a device runner needs, without edgekit or torch."""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

DEPLOY_FORMAT = "edgekit.deploy/1"
RUNTIME_PACKAGES = {"onnxruntime": ["onnxruntime"], "litert": ["ai-edge-litert", "tflite-runtime"], "tflite-micro": ["tflite-micro"]}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def toolchain(fmt: str, quantizer: str | None, onnx_info: dict | None) -> dict:
    import torch

    from .. import __version__

    info = {"edgekit": __version__, "torch": torch.__version__, "quantizer": quantizer}
    if fmt == "onnx":
        info |= {"converter": f"torch.onnx (TorchScript exporter) {torch.__version__}", "onnx": version("onnx"),
                 "opset": onnx_info["opset"], "ir_version": onnx_info["ir_version"]}
    else:
        info |= {"converter": f"litert-torch {version('litert-torch')}", "litert_converter": version("litert-converter")}
    if fmt == "micro":
        info["tflite_micro"] = version("tflite-micro")
    return info


def tensor_entry(name: str, shape, dtype: str, quant: tuple[float, int] | None) -> dict:
    return {"name": name, "shape": [int(d) for d in shape], "dtype": dtype,
            "quantization": {"scale": float(quant[0]), "zero_point": int(quant[1])} if quant else None}
