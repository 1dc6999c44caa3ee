"""NCNN: blobs named as the .param file names them (pnnx: in0, out0, out1, ...), one extractor per inference
(ncnn's rule), fp16 storage/packing/arithmetic as deploy.json says (off by default)."""

import os

import numpy as np

from .base import Adapter, MissingRuntime, numbered, tensor_spec


def blobs(path):
    """(input blob names, output blob names) of an ncnn .param file: the tops of its Input layers, and the tops no
    layer reads (numbered names in numeric order)."""
    name = os.path.basename(path)
    with open(path) as f:
        rows = [line.split() for line in f.read().splitlines() if line.strip()]
    if not rows or rows[0] != ["7767517"]:
        raise ValueError("%s is not an ncnn .param file (no 7767517 magic line)" % name)
    inputs, tops, read = [], [], set()
    try:
        for parts in rows[2:2 + int(rows[1][0])]:
            n_bottom, n_top = int(parts[2]), int(parts[3])
            if len(parts) < 4 + n_bottom + n_top:
                raise ValueError(parts[1])
            bottoms, layer_tops = parts[4:4 + n_bottom], parts[4 + n_bottom:4 + n_bottom + n_top]
            read.update(bottoms)
            (inputs if parts[0] == "Input" else tops).extend(layer_tops)
    except (IndexError, ValueError):
        raise ValueError("%s: a layer line does not read as <type> <name> <bottoms> <tops> ..." % name) from None
    outputs = [t for t in tops if t not in read]
    if not inputs or not outputs:
        raise ValueError("%s names no input or no output blob" % name)
    return inputs, numbered(outputs)


class NcnnAdapter(Adapter):
    runtime = "ncnn"

    def __init__(self, folder, files, options, threads):
        try:
            import ncnn
        except ImportError as e:
            raise MissingRuntime(str(e)) from None
        self.ncnn = ncnn
        self.version = "ncnn " + getattr(ncnn, "__version__", "?")
        self.net = ncnn.Net()
        self.net.opt.use_fp16_storage = bool(options.get("fp16_storage", False))
        self.net.opt.use_fp16_packed = bool(options.get("fp16_packed", False))
        self.net.opt.use_fp16_arithmetic = bool(options.get("fp16_arithmetic", False))
        self.net.opt.num_threads = threads
        param, binary = (os.path.join(folder, f) for f in files[:2])
        in_names, self._names = blobs(param)
        if self.net.load_param(param) != 0 or self.net.load_model(binary) != 0:
            raise ValueError("ncnn could not load %s" % ", ".join(files[:2]))
        shape = options.get("input_shape")
        if len(in_names) != 1 or not shape:
            # the .param file has no shapes: deploy.json's runtime options give the one input's
            raise ValueError("%s: %d input blob(s) and input_shape %s in the runtime options; edgekit feeds one input "
                             "of a recorded shape" % (files[0], len(in_names), shape))
        self.inputs = [tensor_spec(in_names[0], shape, "float32")]
        first = self.run({in_names[0]: np.zeros(shape, np.float32)})  # the .param file has no output shapes either
        self.outputs = [tensor_spec(n, [1] + list(first[n].shape[1:]), "float32") for n in self._names]

    def set_inputs(self, feeds):
        # ncnn takes one sample without the batch axis
        self._mats = [(t["name"], self.ncnn.Mat(np.ascontiguousarray(feeds[t["name"]][0]))) for t in self.inputs]

    def invoke(self):
        ex = self.net.create_extractor()
        for name, mat in self._mats:
            ex.input(name, mat)
        out = {}
        for name in self._names:
            ret, mat = ex.extract(name)
            if ret != 0:
                raise RuntimeError("ncnn extract of %s failed (%d)" % (name, ret))
            out[name] = np.array(mat)[None]
        self._out = out

    def get_outputs(self):
        return self._out


ADAPTER = NcnnAdapter
