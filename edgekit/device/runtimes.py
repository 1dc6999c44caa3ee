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
    "ncnn": ["ncnn"],
    "executorch": ["executorch", "torch"],
    "tensorrt": ["tensorrt", "torch"],
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

    def result_extras(self, result):
        """What this runtime adds to the runner's result (a microcontroller's arena and flash)."""
        return {}

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
        self.arena = arena

    def result_extras(self, result):
        return {"micro": {"arena_bytes": self.arena, "flash_bytes": result["artifact"]["bytes"],
                          "note": "tflite-micro ran on this host: arena, flash and accuracy are the board's; latency is not"}}

    def set_input(self, x):
        self.it.set_input(x, 0)

    def invoke(self):
        self.it.invoke()

    def get_output(self):
        return self.it.get_output(0)


class NcnnAdapter(Adapter):
    """One extractor per inference (ncnn's rule); fp16 storage/packing/arithmetic as deploy.json says (off by default)."""

    runtime = "ncnn"

    def __init__(self, folder, files, options, threads):
        try:
            import ncnn
        except ImportError as e:
            raise MissingRuntime(self.runtime, str(e)) from None
        self.ncnn = ncnn
        self.version = "ncnn " + getattr(ncnn, "__version__", "?")
        self.net = ncnn.Net()
        self.net.opt.use_fp16_storage = bool(options.get("fp16_storage", False))
        self.net.opt.use_fp16_packed = bool(options.get("fp16_packed", False))
        self.net.opt.use_fp16_arithmetic = bool(options.get("fp16_arithmetic", False))
        self.net.opt.num_threads = threads
        param, binary = (os.path.join(folder, f) for f in files[:2])
        if self.net.load_param(param) != 0 or self.net.load_model(binary) != 0:
            raise ValueError("ncnn could not load %s" % ", ".join(files[:2]))
        shape = options.get("input_shape") or [1]
        self.input = _tensor("in0", shape, "float32")
        self.set_input(np.zeros(shape, np.float32))
        self.invoke()
        self.output = _tensor("out0", [1] + list(self.get_output().shape[1:]), "float32")

    def set_input(self, x):
        self.x = self.ncnn.Mat(np.ascontiguousarray(x[0]))  # ncnn takes one sample without the batch axis

    def invoke(self):
        ex = self.net.create_extractor()
        ex.input("in0", self.x)
        ret, out = ex.extract("out0")
        if ret != 0:
            raise RuntimeError("ncnn extract failed (%d)" % ret)
        self.out = np.array(out)[None]

    def get_output(self):
        return self.out


class ExecuTorchAdapter(Adapter):
    runtime = "executorch"

    def __init__(self, folder, files, options, threads):
        try:
            import torch
            from executorch.runtime import Runtime
        except ImportError as e:
            raise MissingRuntime(self.runtime, str(e)) from None
        try:  # the XNNPACK thread pool is process-global: size it before the program loads
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(threads)
        except (ImportError, AttributeError):
            pass
        import executorch

        self.torch = torch
        self.version = "executorch " + getattr(executorch, "__version__", "?")
        self.method = Runtime.get().load_program(os.path.join(folder, files[0])).load_method("forward")
        shape = options.get("input_shape") or [1]
        self.input = _tensor("input", shape, "float32")
        self.set_input(np.zeros(shape, np.float32))
        self.invoke()
        self.output = _tensor("output", list(self.get_output().shape), "float32")

    def set_input(self, x):
        self.x = self.torch.from_numpy(np.ascontiguousarray(x))

    def invoke(self):
        self.out = self.method.execute([self.x])[0]

    def get_output(self):
        return self.out.numpy()


class TensorRTAdapter(Adapter):
    """Builds the engine on the device from the ONNX (fp16, or int8 calibrated on the artifact's own calibration
    samples), caches it keyed by the ONNX's sha256, the TensorRT version, the GPU and the precision, and runs it
    with torch CUDA buffers. Untested without an NVIDIA GPU: see the README."""

    runtime = "tensorrt"

    def __init__(self, folder, files, options, threads):
        try:
            import tensorrt as trt
            import torch
        except ImportError as e:
            raise MissingRuntime(self.runtime, str(e)) from None
        if not torch.cuda.is_available():
            raise ValueError("TensorRT needs a CUDA GPU and a CUDA build of torch on the device")
        self.trt, self.torch = trt, torch
        precision = options.get("precision", "fp16")
        gpu = torch.cuda.get_device_name(0)
        self.version = "TensorRT %s on %s" % (trt.__version__, gpu)
        onnx_path = os.path.join(folder, files[0])
        try:
            from . import integrity
        except ImportError:
            import integrity
        key = "%s-trt%s-%s-%s.plan" % (integrity.sha256(onnx_path)[:16], trt.__version__, "".join(c if c.isalnum() else "_" for c in gpu), precision)
        # A fixed folder of the device user's: deploy.json is a received file and never chooses where engines are
        # written or which pre-planted engine is deserialized.
        cache = os.path.join(os.path.expanduser("~"), ".cache", "edgekit", "tensorrt")
        os.makedirs(cache, exist_ok=True)
        plan = os.path.join(cache, key)
        logger = trt.Logger(trt.Logger.WARNING)
        if not os.path.isfile(plan):
            data = self._build(trt, logger, onnx_path, precision, os.path.join(folder, files[1]) if len(files) > 1 else None)
            tmp = plan + ".%d.tmp" % os.getpid()
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, plan)
        with open(plan, "rb") as f:
            self.engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        ins = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.in_name, self.out_name = ins[0], outs[0]
        in_shape, out_shape = list(self.engine.get_tensor_shape(ins[0])), list(self.engine.get_tensor_shape(outs[0]))
        self.input, self.output = _tensor(ins[0], in_shape, "float32"), _tensor(outs[0], out_shape, "float32")
        self.x = torch.zeros(in_shape, dtype=torch.float32, device="cuda")
        self.y = torch.zeros(out_shape, dtype=torch.float32, device="cuda")
        self.context.set_tensor_address(self.in_name, self.x.data_ptr())
        self.context.set_tensor_address(self.out_name, self.y.data_ptr())
        self.stream = torch.cuda.Stream()
        self.details = {"requested_precision": precision, "layer_precisions": self._layer_precisions(trt)}

    def _build(self, trt, logger, onnx_path, precision, calibration_path):
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        with open(onnx_path, "rb") as f:
            if not parser.parse(f.read()):
                raise ValueError("TensorRT cannot parse the ONNX model: %s" % parser.get_error(0))
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 28)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        if precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = _calibrator(trt, self.torch, np.load(calibration_path, allow_pickle=False))
        data = builder.build_serialized_network(network, config)
        if data is None:
            raise ValueError("TensorRT could not build an engine (see its log above)")
        return bytes(data)

    def _layer_precisions(self, trt):
        """Which precision each layer really runs in (TensorRT may fall back from int8/fp16 per layer)."""
        import json

        try:
            info = json.loads(self.engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
        except Exception:
            return {}
        counts = {}
        for layer in info.get("Layers", []):
            for out in layer.get("Outputs", []) if isinstance(layer, dict) else []:
                fmt = str(out.get("Format/Datatype", "?")).split()[0]
                counts[fmt] = counts.get(fmt, 0) + 1
        return counts

    def set_input(self, x):
        self.x.copy_(self.torch.from_numpy(np.ascontiguousarray(x)))

    def invoke(self):
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()

    def get_output(self):
        return self.y.cpu().numpy()


def _calibrator(trt, torch, samples):
    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.i, self.batch = 0, torch.zeros((1,) + samples.shape[1:], dtype=torch.float32, device="cuda")

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            if self.i >= len(samples):
                return None
            self.batch.copy_(torch.from_numpy(samples[self.i:self.i + 1]))
            self.i += 1
            return [self.batch.data_ptr()]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache):
            return None

    return Calibrator()


ADAPTERS = {"onnxruntime": OnnxRuntimeAdapter, "litert": LiteRTAdapter, "tflite-micro": MicroAdapter, "ncnn": NcnnAdapter,
            "executorch": ExecuTorchAdapter, "tensorrt": TensorRTAdapter}


def open_artifact(folder, deploy, threads=1):
    """The adapter for deploy["runtime"]["name"]; raises MissingRuntime when the runtime is not installed."""
    name = deploy["runtime"]["name"]
    if name not in ADAPTERS:
        raise ValueError("unknown runtime '%s' (this runner knows %s)" % (name, ", ".join(ADAPTERS)))
    return ADAPTERS[name](folder, deploy["artifact"]["files"], deploy["runtime"].get("options") or {}, threads)
