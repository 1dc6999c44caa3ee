"""TensorRT on an NVIDIA board: builds the engine on the device from the ONNX (fp16, or int8 calibrated on the
artifact's own calibration samples), caches it keyed by the ONNX's sha256, the TensorRT version, the GPU and the
precision, and runs it with torch CUDA buffers, one per input and output tensor (the engine's I/O names are the
ONNX graph's). Untested without an NVIDIA GPU: see the README."""

import json
import os

import numpy as np

from ..integrity import sha256
from .base import Adapter, MissingRuntime, tensor_spec


class TensorRTAdapter(Adapter):
    runtime = "tensorrt"

    def __init__(self, folder, files, options, threads):
        try:
            import tensorrt as trt
            import torch
        except ImportError as e:
            raise MissingRuntime(str(e)) from None
        if not torch.cuda.is_available():
            raise ValueError("TensorRT needs a CUDA GPU and a CUDA build of torch on the device")
        self.trt, self.torch = trt, torch
        precision = options.get("precision", "fp16")
        gpu = torch.cuda.get_device_name(0)
        self.version = "TensorRT %s on %s" % (trt.__version__, gpu)
        onnx_path = os.path.join(folder, files[0])
        key = "%s-trt%s-%s-%s.plan" % (sha256(onnx_path)[:16], trt.__version__, "".join(c if c.isalnum() else "_" for c in gpu), precision)
        # A fixed folder of the device user's: deploy.json is a received file and never chooses where engines are
        # written or which pre-planted engine is deserialized.
        cache = os.path.join(os.path.expanduser("~"), ".cache", "edgekit", "tensorrt")
        os.makedirs(cache, exist_ok=True)
        plan = os.path.join(cache, key)
        logger = trt.Logger(trt.Logger.WARNING)
        if not os.path.isfile(plan):
            data = self._build(logger, onnx_path, precision, os.path.join(folder, files[1]) if len(files) > 1 else None)
            tmp = plan + ".%d.tmp" % os.getpid()
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, plan)
        with open(plan, "rb") as f:
            self.engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.buffers = {}
        specs = {}
        for name in names:
            shape = [int(d) for d in self.engine.get_tensor_shape(name)]
            if min(shape + [0]) < 0:
                raise ValueError("the engine's tensor %s has a dynamic shape %s; export with a fixed batch" % (name, shape))
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            specs[name] = tensor_spec(name, shape, dtype)
            self.buffers[name] = torch.from_numpy(np.zeros(shape, dtype)).to("cuda")
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        is_input = dict((n, self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT) for n in names)
        self.inputs = [specs[n] for n in names if is_input[n]]
        self.outputs = [specs[n] for n in names if not is_input[n]]
        self.stream = torch.cuda.Stream()
        self.details = {"requested_precision": precision, "layer_precisions": self._layer_precisions()}

    def _build(self, logger, onnx_path, precision, calibration_path):
        trt = self.trt
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
            if network.num_inputs != 1:
                raise ValueError("int8 calibration feeds one input; this network has %d" % network.num_inputs)
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = _calibrator(trt, self.torch, np.load(calibration_path, allow_pickle=False))
        data = builder.build_serialized_network(network, config)
        if data is None:
            raise ValueError("TensorRT could not build an engine (see its log above)")
        return bytes(data)

    def _layer_precisions(self):
        """Which precision each layer really runs in (TensorRT may fall back from int8/fp16 per layer)."""
        try:
            info = json.loads(self.engine.create_engine_inspector().get_engine_information(self.trt.LayerInformationFormat.JSON))
        except (AttributeError, RuntimeError, TypeError, ValueError):
            return {}
        counts = {}
        for layer in info.get("Layers", []):
            for out in layer.get("Outputs", []) if isinstance(layer, dict) else []:
                fmt = str(out.get("Format/Datatype", "?")).split()[0]
                counts[fmt] = counts.get(fmt, 0) + 1
        return counts

    def set_inputs(self, feeds):
        for t in self.inputs:
            self.buffers[t["name"]].copy_(self.torch.from_numpy(np.ascontiguousarray(feeds[t["name"]])))

    def invoke(self):
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()

    def get_outputs(self):
        return dict((t["name"], self.buffers[t["name"]].cpu().numpy()) for t in self.outputs)


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


ADAPTER = TensorRTAdapter
