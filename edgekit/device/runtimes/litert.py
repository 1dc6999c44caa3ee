"""LiteRT (ai-edge-litert, or the frozen tflite-runtime 2.14 some boards still carry): every input and output
tensor, named and ordered as the model's signature says (tflite_file), each with its own int8 scale."""

import os

import numpy as np

from .base import Adapter, MissingRuntime, tensor_spec
from .tflite_file import io_tensors


def interpreter_module():
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
        raise MissingRuntime(str(e)) from None


def _spec(name, detail):
    quant = detail["quantization"] if np.dtype(detail["dtype"]).kind in "iu" else ()
    return tensor_spec(name, detail["shape"], detail["dtype"], *quant)


class LiteRTAdapter(Adapter):
    runtime = "litert"

    def __init__(self, folder, files, options, threads):
        tfl, self.version = interpreter_module()
        path = os.path.join(folder, files[0])
        self.it = tfl.Interpreter(model_path=path, num_threads=threads)
        self.it.allocate_tensors()
        ins, outs = io_tensors(path)
        details = dict((d["index"], d) for d in self.it.get_input_details() + self.it.get_output_details())
        self.inputs = [_spec(name, details[index]) for name, index, _ in ins]
        self.outputs = [_spec(name, details[index]) for name, index, _ in outs]
        self._in = [(name, index) for name, index, _ in ins]
        self._out = [(name, index) for name, index, _ in outs]

    def set_inputs(self, feeds):
        for name, index in self._in:
            self.it.set_tensor(index, feeds[name])

    def invoke(self):
        self.it.invoke()

    def get_outputs(self):
        return dict((name, self.it.get_tensor(index)) for name, index in self._out)


ADAPTER = LiteRTAdapter
