"""Run an artifact in its own runtime: one adapter module per runtime, needing only numpy and that runtime.

Export's parity check (on the host) and the device runner both open artifacts here, so the parity figure and the
device figure come from the same code. Adding a runtime = one module here (its adapter class as ADAPTER, a
base.Adapter) + one RUNTIMES line. Python 3.8, numpy only at module level: shipped to devices.
"""

import importlib

from .base import Adapter, MissingRuntime, decode, encode, quantize, tensor_spec

__all__ = ["RUNTIMES", "Adapter", "MissingRuntime", "adapter_class", "decode", "encode", "open_artifact", "packages",
           "quantize", "tensor_spec"]

# runtime name -> (its adapter module in this package, the pip packages a device needs: the first that imports wins)
RUNTIMES = {
    "onnxruntime": ("onnxruntime", ["onnxruntime"]),
    "litert": ("litert", ["ai-edge-litert", "tflite-runtime"]),
    "tflite-micro": ("micro", ["tflite-micro"]),
    "ncnn": ("ncnn", ["ncnn"]),
    "executorch": ("executorch", ["executorch", "torch"]),
    "tensorrt": ("tensorrt", ["tensorrt", "torch"]),
    "openvino": ("openvino", ["openvino"]),
}


def packages(name):
    return list(RUNTIMES[name][1])


def adapter_class(name):
    """The adapter class of a runtime named by deploy.json: only modules of this table are ever imported."""
    if not isinstance(name, str) or name not in RUNTIMES:
        raise ValueError("unknown runtime %r (this runner knows %s)" % (name, ", ".join(RUNTIMES)))
    return importlib.import_module("." + RUNTIMES[name][0], __name__).ADAPTER


def open_artifact(folder, deploy, threads=1):
    """The adapter for deploy["runtime"]["name"]; raises MissingRuntime (naming the package) when the runtime is not
    installed here."""
    name = deploy["runtime"]["name"]
    cls = adapter_class(name)
    try:
        return cls(folder, deploy["artifact"]["files"], deploy["runtime"].get("options") or {}, threads)
    except MissingRuntime as e:
        raise MissingRuntime(e.detail, packages(name)[0]) from None
