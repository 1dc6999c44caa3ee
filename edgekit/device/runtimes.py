"""Run an artifact in its own runtime: one adapter per runtime, needing only numpy and that runtime.

Export's parity check (on the host) and the device runner (copied to the board) both use this file, so the
parity figure and the device figure come from the same code. Adding a runtime = one adapter class + one
RUNTIMES line. Python 3.8+, no edgekit or torch imports: this file is copied to the device.
"""

from __future__ import annotations

import os

import numpy as np

# runtime name → the pip package a device needs for it (the first one that imports wins).
RUNTIMES = {
    "onnxruntime": ["onnxruntime"],
    "litert": ["ai-edge-litert", "tflite-runtime"],
    "tflite-micro": ["tflite-micro"],
}
ARENA_MARGIN = 1.1  # headroom over the measured tensor arena: alignment and platform allocations differ on boards


class MissingRuntime(Exception):
    def __init__(self, runtime, detail):
        super().__init__(detail)
        self.package = RUNTIMES.get(runtime, [runtime])[0]
        self.detail = detail


def quantize(x, quant, dtype):
    info = np.iinfo(dtype)
    return np.clip(np.round(x / quant["scale"] + quant["zero_point"]), info.min, info.max).astype(dtype)


def encode(x, tensor):
    """Model-space float input → what the runtime's input tensor takes (int8 inputs use the tensor's scale)."""
    dtype = np.dtype(tensor["dtype"])
    if tensor.get("quantization") and dtype.kind in "iu":
        return quantize(x, tensor["quantization"], dtype)
    return np.ascontiguousarray(x, dtype=dtype)


def decode(y, tensor):
    q = tensor.get("quantization")
    if q and np.dtype(tensor["dtype"]).kind in "iu":
        return (y.astype(np.float32) - q["zero_point"]) * q["scale"]
    return y.astype(np.float32)


def _tensor(name, shape, dtype, scale=None, zero_point=None):
    quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    return {"name": str(name), "shape": [int(d) if isinstance(d, (int, np.integer)) and d >= 0 else -1 for d in shape],
            "dtype": np.dtype(dtype).name, "quantization": quant}


class Adapter:
    """load, set input, invoke, read output. `inputs`/`outputs` describe tensor 0 of each."""

    runtime = ""
    version = "?"

    def set_input(self, x):
        raise NotImplementedError

    def invoke(self):
        raise NotImplementedError

    def get_output(self):
        raise NotImplementedError

    def infer(self, x):
        """One float sample (with its batch axis) in, the float output out."""
        self.set_input(encode(x, self.input))
        self.invoke()
        return decode(np.array(self.get_output()), self.output)


class OnnxRuntimeAdapter(Adapter):
    runtime = "onnxruntime"

    def __init__(self, folder, files, options, threads):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise MissingRuntime(self.runtime, str(e)) from None
        self.version = "onnxruntime " + ort.__version__
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(os.path.join(folder, files[0]), opts, providers=["CPUExecutionProvider"])
        i, o = self.sess.get_inputs()[0], self.sess.get_outputs()[0]
        types = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}
        self.input = _tensor(i.name, [d if isinstance(d, int) else -1 for d in i.shape], types.get(i.type, "float32"))
        self.output = _tensor(o.name, [d if isinstance(d, int) else -1 for d in o.shape], types.get(o.type, "float32"))
        self.feed, self.out = None, None

    def set_input(self, x):
        self.feed = {self.input["name"]: x}

    def invoke(self):
        self.out = self.sess.run(None, self.feed)[0]

    def get_output(self):
        return self.out


def _tflite_interpreter():
    try:
        from ai_edge_litert import interpreter as tfl
        import ai_edge_litert

        return tfl, "ai-edge-litert " + getattr(ai_edge_litert, "__version__", "?")
    except ImportError:
        pass
    try:  # boards that still carry the frozen tflite-runtime (2.14)
        from tflite_runtime import interpreter as tfl
        import tflite_runtime

        return tfl, "tflite-runtime " + getattr(tflite_runtime, "__version__", "?")
    except ImportError as e:
        raise MissingRuntime("litert", str(e)) from None


class LiteRTAdapter(Adapter):
    runtime = "litert"

    def __init__(self, folder, files, options, threads):
        tfl, self.version = _tflite_interpreter()
        self.it = tfl.Interpreter(model_path=os.path.join(folder, files[0]), num_threads=threads)
        self.it.allocate_tensors()
        i, o = self.it.get_input_details()[0], self.it.get_output_details()[0]
        self.input = _tensor(i["name"], i["shape"], i["dtype"], *(i["quantization"] if np.dtype(i["dtype"]).kind in "iu" else ()))
        self.output = _tensor(o["name"], o["shape"], o["dtype"], *(o["quantization"] if np.dtype(o["dtype"]).kind in "iu" else ()))
        self._in, self._out = i["index"], o["index"]

    def set_input(self, x):
        self.it.set_tensor(self._in, x)

    def invoke(self):
        self.it.invoke()

    def get_output(self):
        return self.it.get_tensor(self._out)


class MicroAdapter(Adapter):
    runtime = "tflite-micro"

    def __init__(self, folder, files, options, threads):
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError as e:
            raise MissingRuntime(self.runtime, str(e)) from None
        self.version = "tflite-micro"
        arena = options.get("arena_bytes")
        path = os.path.join(folder, files[0])
        self.it = (runtime.Interpreter.from_file(path, arena_size=int(arena * ARENA_MARGIN) + 1024) if arena
                   else runtime.Interpreter.from_file(path))

        def info(d):
            q = d["quantization_parameters"]
            scale = q["scales"][0] if len(q["scales"]) else None
            return _tensor(d.get("name", "t"), d["shape"], d["dtype"], scale, q["zero_points"][0] if scale else None)

        self.input, self.output = info(self.it.get_input_details(0)), info(self.it.get_output_details(0))

    def set_input(self, x):
        self.it.set_input(x, 0)

    def invoke(self):
        self.it.invoke()

    def get_output(self):
        return self.it.get_output(0)


ADAPTERS = {"onnxruntime": OnnxRuntimeAdapter, "litert": LiteRTAdapter, "tflite-micro": MicroAdapter}


def open_artifact(folder, deploy, threads=1):
    """The adapter for deploy["runtime"]["name"]; raises MissingRuntime when the runtime is not installed."""
    name = deploy["runtime"]["name"]
    if name not in ADAPTERS:
        raise ValueError("unknown runtime '%s' (this runner knows %s)" % (name, ", ".join(ADAPTERS)))
    return ADAPTERS[name](folder, deploy["artifact"]["files"], deploy["runtime"].get("options") or {}, threads)
