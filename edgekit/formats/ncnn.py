"""NCNN (Tencent's mobile runtime, often the fastest CPU runtime on a Raspberry Pi): pnnx traces the float
model into `.param` + `.bin`. Precisions: fp32, and fp16 weights (storage). ncnn turns fp16 storage, packing
and arithmetic on by default on ARMv8.2 cores (Pi 5): on an emulated Cortex-A76 that moved outputs by 1.5e-2
and cost 2.5% agreement, so edgekit switches all three off unless asked (`--runtime-option fp16_arithmetic=true`).
No int8 path is reachable from pip (no ncnn2table / ncnn2int8 in the wheels)."""

from __future__ import annotations

import os

import torch

from ..errors import EdgekitError
from ..util.progress import status
from ..util.quiet import captured_fds
from .base import BuildJob, Built, Format
from .convert.toolchain import base_toolchain, version

FILES = ["model.ncnn.param", "model.ncnn.bin"]


class _Flat(torch.nn.Module):
    """A dict of outputs (a detector's boxes and scores) as a tuple in the same order: pnnx's tracer refuses dicts."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return tuple(out.values()) if isinstance(out, dict) else out


class NcnnFormat(Format):
    name = "ncnn"
    runtime = "ncnn"
    precisions = ("fp32", "fp16")
    requires = (("pnnx", "ncnn"), ("ncnn", "ncnn"))
    runtime_option_keys = {"fp16_arithmetic": bool}

    def build(self, job: BuildJob) -> Built:
        import pnnx

        fp16 = job.precision == "fp16"
        example = torch.zeros(1, *job.input_shape)
        with status(f"converting to NCNN {job.precision} (pnnx)", job.progress):
            try:
                with captured_fds() as log:
                    pnnx.export(_Flat(job.float_model.eval()), str(job.folder / "model.pt"), inputs=example, fp16=fp16)
            except Exception as e:
                raise EdgekitError(
                    f"NCNN conversion (pnnx) failed: {str(e).splitlines()[0][:160] if str(e) else type(e).__name__}",
                    "replace that layer, or try --format onnx / tflite",
                ) from e
        if not all((job.folder / f).is_file() for f in FILES):
            raise EdgekitError(f"pnnx wrote no NCNN model ({log()[-200:].strip()})", "try --format onnx / tflite")
        for extra in os.listdir(job.folder):  # pnnx's intermediate files: the TorchScript trace, pnnx IR, Python
            if extra not in FILES:
                (job.folder / extra).unlink()
        options = {
            "fp16_storage": fp16,
            "fp16_packed": fp16,
            "fp16_arithmetic": bool(job.runtime_options.get("fp16_arithmetic", False)),
            "input_shape": [1, *job.input_shape],
        }
        built = Built(
            files=list(FILES),
            runtime_options=options,
            quantizer="pnnx fp16 weights (storage); fp16 arithmetic " + ("on" if options["fp16_arithmetic"] else "off") if fp16 else None,
            toolchain=base_toolchain() | {"converter": f"pnnx {version('pnnx')}", "ncnn": version("ncnn")},
        )
        if options["fp16_arithmetic"]:
            built.notes.append("fp16 arithmetic is on: ARMv8.2 boards (Pi 5) compute in half precision; parity here ran on this CPU")
        return built


FORMAT = NcnnFormat()
