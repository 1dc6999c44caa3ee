"""onnxruntime on the CPU: every input and output of the session, by the names the ONNX graph gives them."""

import os

from .base import Adapter, MissingRuntime, tensor_spec

TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64", "tensor(int8)": "int8",
         "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(int32)": "int32", "tensor(int64)": "int64",
         "tensor(bool)": "bool"}


def _spec(arg, what):
    if arg.type not in TYPES:
        raise ValueError("the model's %s %r is a %s, which edgekit does not feed or read" % (what, arg.name, arg.type))
    return tensor_spec(arg.name, [d if isinstance(d, int) else -1 for d in arg.shape], TYPES[arg.type])


class OnnxRuntimeAdapter(Adapter):
    runtime = "onnxruntime"

    def __init__(self, folder, files, options, threads):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise MissingRuntime(str(e)) from None
        self.version = "onnxruntime " + ort.__version__
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(os.path.join(folder, files[0]), opts, providers=["CPUExecutionProvider"])
        self.inputs = [_spec(a, "input") for a in self.sess.get_inputs()]
        self.outputs = [_spec(a, "output") for a in self.sess.get_outputs()]
        self._names = [t["name"] for t in self.outputs]
        self._feeds, self._out = {}, []

    def set_inputs(self, feeds):
        self._feeds = feeds

    def invoke(self):
        self._out = self.sess.run(self._names, self._feeds)

    def get_outputs(self):
        return dict(zip(self._names, self._out))


ADAPTER = OnnxRuntimeAdapter
