"""TensorRT for NVIDIA Jetson boards: the artifact is the fp32 ONNX (plus, for int8, the calibration samples);
the engine is built ON the device by the runner's adapter with the TensorRT Python API the board has (fp16, or
int8 calibrated on those samples), cached there keyed by TensorRT version, GPU and precision, and the bench
report records which precision each layer really ran in.

An engine cannot be built without an NVIDIA GPU, so export's host parity runs the same ONNX in onnxruntime and
says so; the device-side accuracy and agreement from `edgekit bench` are the TensorRT proof. Untested on a GPU
in this project's CI (see the README)."""

from __future__ import annotations

import numpy as np

from .base import BuildJob, Built, Format
from .convert.toolchain import base_toolchain, version


class TensorRTFormat(Format):
    name = "tensorrt"
    runtime = "tensorrt"
    host_runtime = "onnxruntime"  # parity on a machine without a GPU runs the ONNX the engine is built from
    precisions = ("fp16", "int8", "fp32")

    def build(self, job: BuildJob) -> Built:
        from .convert.onnx_finish import finish
        from .onnx import _torch_export

        path = job.folder / "model.onnx"
        _torch_export(job.float_model, job.input_shape, path, dynamic_batch=False)
        info = finish(path, "fp32")
        files = ["model.onnx"]
        quantizer = {"fp16": "TensorRT builder, FP16 flag (on the device)", "fp32": None, "int8": None}[job.precision]
        if job.precision == "int8":
            np.save(job.folder / "calibration.npy", job.calibration.astype(np.float32))
            files.append("calibration.npy")
            quantizer = f"TensorRT IInt8EntropyCalibrator2 on the device, {len(job.calibration)} train samples shipped in calibration.npy"
        built = Built(
            files=files,
            quantizer=quantizer,
            runtime_options={"precision": job.precision},
            toolchain=base_toolchain()
            | {
                "converter": "torch.onnx (TorchScript exporter)",
                "onnx": version("onnx"),
                "opset": info["opset"],
                "engine": "built on the device (TensorRT Python API)",
            },
            extras={"ops": info["ops"]},
        )
        built.notes.append(
            "parity here ran the ONNX in onnxruntime (no GPU on this machine); `edgekit bench --device ssh://jetson` "
            "builds the TensorRT engine there and checks accuracy and agreement on the device"
        )
        return built

    def needs_calibration(self, precision, quantized_run):
        return precision == "int8"


FORMAT = TensorRTFormat()
