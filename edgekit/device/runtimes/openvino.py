"""OpenVINO on the CPU (x86, and ARM through its ARM CPU plugin): the IR (model.xml + model.bin), every input and
output by the names the IR gives them (edgekit's export names them as the ONNX export does), in the model's order.

Inference precision is f32 unless deploy.json asks for f16 arithmetic: OpenVINO's ARM CPU plugin otherwise computes
in f16 on ARMv8.2 cores (Pi 5) and the answer would change silently. The precision the plugin really chose is read
back from the compiled model and named in the adapter's version, so a report says which one ran."""

import os

from .base import Adapter, MissingRuntime, default_names, tensor_spec

TYPES = {"f32": "float32", "f16": "float16", "f64": "float64", "i8": "int8", "u8": "uint8", "i16": "int16",
         "u16": "uint16", "i32": "int32", "i64": "int64", "boolean": "bool"}


def _import():
    try:
        from openvino import Core, Tensor
    except ImportError:
        try:  # releases before 2023.1 (boards with older Pythons) keep them here
            from openvino.runtime import Core, Tensor
        except ImportError as e:
            raise MissingRuntime(str(e)) from None
    return Core, Tensor


def _core():
    # openvino's first import in a process reports usage to Intel (a client id under ~/intel, events) unless it runs
    # in CI: the board's user did not ask for that, so the import declines as CI does (and only the import)
    before = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        Core, Tensor = _import()
    finally:
        if before is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = before
    import openvino

    return Core(), Tensor, "openvino " + str(getattr(openvino, "__version__", "?")).split("-")[0]


def _specs(ports, prefix):
    specs = []
    for port, default in zip(ports, default_names(prefix, len(ports))):
        kind = port.get_element_type().get_type_name()
        if kind not in TYPES:
            raise ValueError("the model's %s %s is %s, which edgekit does not feed or read" % (prefix, default, kind))
        names = sorted(port.get_names())
        dims = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
        specs.append(tensor_spec(names[0] if names else default, dims, TYPES[kind]))
    return specs


class OpenVINOAdapter(Adapter):
    runtime = "openvino"

    def __init__(self, folder, files, options, threads):
        core, self._tensor, version = _core()
        xml, weights = (os.path.join(folder, f) for f in files[:2])
        config = {
            "INFERENCE_PRECISION_HINT": "f16" if options.get("fp16_arithmetic") else "f32",
            "INFERENCE_NUM_THREADS": int(threads),
            "NUM_STREAMS": 1,  # one request at a time, as the runner times it
            "PERFORMANCE_HINT": "LATENCY",
        }
        self.compiled = core.compile_model(core.read_model(xml, weights), "CPU", config)
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # f16 asked on a CPU without it: f32
        self.version = "%s (CPU, %s inference)" % (version, getattr(ran, "get_type_name", lambda: ran)())
        self.request = self.compiled.create_infer_request()
        self.inputs = _specs(self.compiled.inputs, "input")
        self.outputs = _specs(self.compiled.outputs, "output")

    def set_inputs(self, feeds):
        for i, t in enumerate(self.inputs):
            self.request.set_input_tensor(i, self._tensor(feeds[t["name"]]))

    def invoke(self):
        self.request.infer()

    def get_outputs(self):
        # the request's own buffers: decode() copies them before the next inference reuses them
        return dict((t["name"], self.request.get_output_tensor(i).data) for i, t in enumerate(self.outputs))


ADAPTER = OpenVINOAdapter
