"""Run an artifact in its real runtime on this machine: onnxruntime, the LiteRT interpreter, tflite-micro.

Inputs are normalised float samples; int8 inputs/outputs are (de)quantized with the tensor's own scale and
zero point, exactly as the device runner does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * scale


def run_onnx(path: Path, x: np.ndarray, threads: int = 1) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    batch = inp.shape[0] if isinstance(inp.shape[0], int) else len(x)
    outs = [sess.run(None, {inp.name: x[i:i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(outs).astype(np.float32)


def open_interpreter(path: Path, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    from ..quiet import captured_fds

    with captured_fds():  # "INFO: Created TensorFlow Lite XNNPACK delegate" on the C-level stderr
        return Interpreter(model_path=str(path), num_threads=threads)


def tflite_io(path: Path) -> tuple[dict, dict]:
    it = open_interpreter(path)
    return it.get_input_details()[0], it.get_output_details()[0]


def run_tflite(path: Path, x: np.ndarray, threads: int = 1) -> np.ndarray:
    it = open_interpreter(path, threads)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    results = []
    for i in range(len(x)):
        sample = x[i:i + 1].astype(np.float32)
        if inp["dtype"] in (np.int8, np.uint8):
            sample = quantize(sample, *inp["quantization"], inp["dtype"])
        it.set_tensor(inp["index"], sample)
        it.invoke()
        y = it.get_tensor(out["index"])
        results.append(dequantize(y, *out["quantization"]) if out["dtype"] in (np.int8, np.uint8) else y.astype(np.float32))
    return np.concatenate(results)


def run_micro(path: Path, x: np.ndarray, arena_bytes: int | None = None) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(path), arena_size=arena_bytes) if arena_bytes else runtime.Interpreter.from_file(str(path))
    inp, out = interp.get_input_details(0), interp.get_output_details(0)
    in_scale, in_zp = inp["quantization_parameters"]["scales"][0], inp["quantization_parameters"]["zero_points"][0]
    out_scale, out_zp = out["quantization_parameters"]["scales"][0], out["quantization_parameters"]["zero_points"][0]
    results = []
    for i in range(len(x)):
        interp.set_input(quantize(x[i:i + 1], in_scale, int(in_zp), inp["dtype"]), 0)
        interp.invoke()
        results.append(dequantize(interp.get_output(0), out_scale, int(out_zp)))
    return np.concatenate(results)
