"""TFLite Micro's Python interpreter (on the host: a microcontroller has no Python), sized with the tensor arena
export measured. Tensors are named and ordered as for LiteRT (tflite_file) and fed by their position."""

import os

from .base import Adapter, MissingRuntime, tensor_spec
from .tflite_file import io_tensors

ARENA_MARGIN = 1.1  # headroom over the measured tensor arena: alignment and platform allocations differ on boards


def _spec(name, detail):
    q = detail["quantization_parameters"]
    scale = q["scales"][0] if len(q["scales"]) else None
    return tensor_spec(name, detail["shape"], detail["dtype"], scale, q["zero_points"][0] if scale else None)


class MicroAdapter(Adapter):
    runtime = "tflite-micro"

    def __init__(self, folder, files, options, threads):
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError as e:
            raise MissingRuntime(str(e)) from None
        self.version = "tflite-micro"
        arena = options.get("arena_bytes")
        path = os.path.join(folder, files[0])
        ins, outs = io_tensors(path)
        self.it = (runtime.Interpreter.from_file(path, arena_size=int(arena * ARENA_MARGIN) + 1024) if arena
                   else runtime.Interpreter.from_file(path))
        self.inputs = [_spec(name, self.it.get_input_details(pos)) for name, _, pos in ins]
        self.outputs = [_spec(name, self.it.get_output_details(pos)) for name, _, pos in outs]
        self._in = [(name, pos) for name, _, pos in ins]
        self._out = [(name, pos) for name, _, pos in outs]
        self.arena = arena

    def result_extras(self, result):
        return {"micro": {"arena_bytes": self.arena, "flash_bytes": result["artifact"]["bytes"],
                          "note": "tflite-micro ran on this host: arena, flash and accuracy are the board's; latency is not"}}

    def set_inputs(self, feeds):
        for name, pos in self._in:
            self.it.set_input(feeds[name], pos)

    def invoke(self):
        self.it.invoke()

    def get_outputs(self):
        return dict((name, self.it.get_output(pos)) for name, pos in self._out)


ADAPTER = MicroAdapter
