"""ExecuTorch (its Python runtime links torch): every input and output of the program's `forward`, described by
its method meta; ExecuTorch has no tensor names, so they are input / output (input_0, output_0, ... for several)."""

import os

import numpy as np

from .base import Adapter, MissingRuntime, default_names, tensor_spec

# c10 ScalarType codes of the method meta
SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32", 7: "float64",
                11: "bool"}


def _specs(prefix, count, meta_of):
    specs = []
    for name, i in zip(default_names(prefix, count), range(count)):
        meta = meta_of(i)
        code = int(meta.dtype())
        if code not in SCALAR_TYPES:
            raise ValueError("the program's %s %d has scalar type %d, which edgekit does not feed or read" % (prefix, i, code))
        specs.append(tensor_spec(name, list(meta.sizes()), SCALAR_TYPES[code]))
    return specs


class ExecuTorchAdapter(Adapter):
    runtime = "executorch"

    def __init__(self, folder, files, options, threads):
        try:
            import torch
            from executorch.runtime import Runtime
        except ImportError as e:
            raise MissingRuntime(str(e)) from None
        try:  # the XNNPACK thread pool is process-global: size it before the program loads
            from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

            _unsafe_reset_threadpool(threads)
        except (ImportError, AttributeError):
            pass
        import executorch

        self.torch = torch
        self.version = "executorch " + getattr(executorch, "__version__", "?")
        self.method = Runtime.get().load_program(os.path.join(folder, files[0])).load_method("forward")
        meta = self.method.metadata
        self.inputs = _specs("input", meta.num_inputs(), meta.input_tensor_meta)
        self.outputs = _specs("output", meta.num_outputs(), meta.output_tensor_meta)
        self._x, self._out = [], []

    def set_inputs(self, feeds):
        self._x = [self.torch.from_numpy(np.ascontiguousarray(feeds[t["name"]])) for t in self.inputs]

    def invoke(self):
        self._out = self.method.execute(self._x)

    def get_outputs(self):
        return dict((t["name"], y.numpy()) for t, y in zip(self.outputs, self._out))


ADAPTER = ExecuTorchAdapter
