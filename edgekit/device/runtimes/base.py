"""What every runtime adapter is: tensors described as TensorSpec dicts, fed and read by name, in the model's order.

    inputs / outputs   [{"name", "shape", "dtype", "quantization": {"scale", "zero_point"} | None}, ...]
    set_inputs(feeds)  name -> array already in the tensor's dtype;  invoke() the timed region;
    get_outputs()      name -> raw array (the runtime's dtype), in the model's output order
    run(feeds)         the three above;  infer(floats) float32 in and out (int8 tensors by their scale)

Names are the runtime's own (what it is fed and read by); the ORDER is the model's, and a model with one input and
one output is the special case of these lists. Python 3.8, numpy only: shipped to devices.
"""

import numpy as np


class MissingRuntime(Exception):
    """The runtime's Python package is not installed here (`package`: what to install; open_artifact fills it)."""

    def __init__(self, detail, package=None):
        super().__init__(detail)
        self.detail = detail
        self.package = package


def quantize(x, quant, dtype):
    info = np.iinfo(dtype)
    return np.clip(np.round(x / quant["scale"] + quant["zero_point"]), info.min, info.max).astype(dtype)


def encode(x, tensor):
    """Model-space float values -> what the runtime's tensor takes (int8 tensors use their scale and zero point)."""
    dtype = np.dtype(tensor["dtype"])
    if tensor.get("quantization") and dtype.kind in "iu":
        return quantize(np.asarray(x), tensor["quantization"], dtype)
    return np.ascontiguousarray(x, dtype=dtype)


def decode(y, tensor):
    """A runtime's output -> model-space values: float32 for float and quantized tensors; other integer tensors
    (class indices, counts) keep their values and dtype. Always a copy: a runtime may reuse its output buffer."""
    y = np.asarray(y)
    q = tensor.get("quantization")
    kind = np.dtype(tensor["dtype"]).kind
    if q and kind in "iu":
        return (y.astype(np.float32) - q["zero_point"]) * q["scale"]
    return y.astype(np.float32) if kind == "f" else y.copy()


def tensor_spec(name, shape, dtype, scale=None, zero_point=None):
    """A TensorSpec dict; unknown dimensions (None, symbolic, negative) become -1, a scale of 0 means not quantized."""
    quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    dims = [int(d) if isinstance(d, (int, np.integer)) and d >= 0 else -1 for d in shape]
    return {"name": str(name), "shape": dims, "dtype": np.dtype(dtype).name, "quantization": quant}


def default_names(prefix, count):
    """Names for a runtime that has none: `output` for one tensor, output_0, output_1, ... for several."""
    return [prefix] if count == 1 else ["%s_%d" % (prefix, i) for i in range(count)]


def numbered(names):
    """Names like output_0 ... output_11 in numeric order (a file may list them sorted as text); others as given."""
    def number(name):
        digits = name[len(name.rstrip("0123456789")):]
        return int(digits) if digits else None

    prefixes = set(n.rstrip("0123456789") for n in names)
    if names and len(prefixes) == 1 and all(number(n) is not None for n in names):
        return sorted(names, key=number)
    return list(names)


class Adapter(object):
    runtime = ""
    version = "?"
    inputs = ()
    outputs = ()

    def set_inputs(self, feeds):
        raise NotImplementedError

    def invoke(self):
        raise NotImplementedError

    def get_outputs(self):
        raise NotImplementedError

    def run(self, feeds):
        self.set_inputs(feeds)
        self.invoke()
        return self.get_outputs()

    def infer(self, floats):
        """{input name: float array with its batch axis} -> {output name: float32 array}, in the model's order."""
        missing = [t["name"] for t in self.inputs if t["name"] not in floats]
        if missing:
            raise ValueError("no value given for input tensor(s) %s (the model takes %s)"
                             % (", ".join(missing), ", ".join(t["name"] for t in self.inputs)))
        return self.run_decoded(dict((t["name"], encode(floats[t["name"]], t)) for t in self.inputs))

    def run_decoded(self, feeds):
        """Encoded feeds -> {output name: model-space copy}, decoded at once: a runtime may hand out its own
        buffers, which the next inference overwrites (OpenVINO does: an audio clip's rows all read as its last)."""
        raw = self.run(feeds)
        return dict((t["name"], decode(raw[t["name"]], t)) for t in self.outputs)

    def result_extras(self, result):
        """What this runtime adds to the runner's result (a microcontroller's arena and flash)."""
        return {}
