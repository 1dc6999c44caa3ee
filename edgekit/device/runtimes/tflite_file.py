"""The input and output tensors of a .tflite model, named and ordered from its flatbuffer: the signature's names
(litert-torch writes args_0 ... and output_0, output_1, ... in the model's order) where the model has a signature for
its main subgraph, else the subgraph's own tensor names. LiteRT and TFLite Micro both name tensors from here, so
deploy.json says the same for both. A few lines of flatbuffer reading (field numbers from TFLite's schema.fbs)
instead of an API that differs between ai-edge-litert, tflite-runtime and tflite-micro."""

import os
import struct

from .base import numbered

_MODEL_SUBGRAPHS, _MODEL_SIGNATURES = 2, 7          # table Model
_SUBGRAPH_TENSORS, _SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS = 0, 1, 2   # table SubGraph
_TENSOR_NAME = 3                                     # table Tensor
_SIG_INPUTS, _SIG_OUTPUTS, _SIG_SUBGRAPH = 0, 1, 4  # table SignatureDef
_MAP_NAME, _MAP_INDEX = 0, 1                         # table TensorMap


class _Flatbuffer(object):
    def __init__(self, data):
        self.b = data

    def u32(self, at):
        return struct.unpack_from("<I", self.b, at)[0]

    def deref(self, at):
        """Follow the offset stored at `at` (tables, vectors and strings are reached this way)."""
        return at + self.u32(at)

    def field(self, table, i):
        vtable = table - struct.unpack_from("<i", self.b, table)[0]
        if 4 + 2 * i >= struct.unpack_from("<H", self.b, vtable)[0]:
            return None
        offset = struct.unpack_from("<H", self.b, vtable + 4 + 2 * i)[0]
        return table + offset if offset else None

    def vector(self, table, i):
        """Positions of a vector field's 4-byte elements (offsets to tables, or int32 values)."""
        at = self.field(table, i)
        if at is None:
            return []
        v = self.deref(at)
        n = self.u32(v)
        if v + 4 + 4 * n > len(self.b):  # a length the file cannot hold: refused before a list of that size is made
            raise ValueError("a vector of %d elements runs past the end of the file" % n)
        return [v + 4 + 4 * k for k in range(n)]

    def tables(self, table, i):
        return [self.deref(p) for p in self.vector(table, i)]

    def ints(self, table, i):
        return [struct.unpack_from("<i", self.b, p)[0] for p in self.vector(table, i)]

    def string(self, table, i):
        at = self.field(table, i)
        if at is None:
            return ""
        s = self.deref(at)
        return self.b[s + 4:s + 4 + self.u32(s)].decode("utf-8")

    def uint(self, table, i):
        at = self.field(table, i)
        return 0 if at is None else self.u32(at)


def io_tensors(path):
    """([(name, tensor index, position among the subgraph's inputs)], the same for outputs), in the model's order."""
    with open(path, "rb") as f:
        fb = _Flatbuffer(f.read())
    try:
        return _io(fb)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as e:
        raise ValueError("%s is not a TFLite model edgekit can read (%s)" % (os.path.basename(path), e)) from None


def _io(fb):
    model = fb.deref(0)
    subgraphs = fb.tables(model, _MODEL_SUBGRAPHS)
    if not subgraphs:
        raise ValueError("it holds no subgraph")
    main = subgraphs[0]
    tensors = fb.tables(main, _SUBGRAPH_TENSORS)
    signed = None
    for sig in fb.tables(model, _MODEL_SIGNATURES):
        if fb.uint(sig, _SIG_SUBGRAPH) == 0:
            signed = [[(fb.string(m, _MAP_NAME), fb.uint(m, _MAP_INDEX)) for m in fb.tables(sig, k)]
                      for k in (_SIG_INPUTS, _SIG_OUTPUTS)]
            break
    result = []
    for kind, field in enumerate((_SUBGRAPH_INPUTS, _SUBGRAPH_OUTPUTS)):
        indices = fb.ints(main, field)
        if signed is not None and sorted(i for _, i in signed[kind]) == sorted(indices):
            by_name = dict(signed[kind])
            pairs = [(name, by_name[name]) for name in numbered([n for n, _ in signed[kind]])]
        else:
            pairs = [(fb.string(tensors[i], _TENSOR_NAME), i) for i in indices]
        if len(set(name for name, _ in pairs)) != len(pairs):
            raise ValueError("two of its %s tensors have the same name" % ("input", "output")[kind])
        result.append([(name, index, indices.index(index)) for name, index in pairs])
    return result[0], result[1]
