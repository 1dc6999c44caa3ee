"""Small ONNX graph passes: int8 weight initializers, dead Identity nodes, topological order."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def fold_weight_quantization(model: onnx.ModelProto) -> int:
    """QuantizeLinear(float initializer) → an int8 initializer feeding its DequantizeLinear directly.

    The exporter keeps fake-quantized weights as float + Q + DQ, so the "int8" file would be as large as
    fp32; onnxruntime runs both forms the same way. Returns how many weights were folded."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    produced_by_constant = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}

    def const(name):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        node = produced_by_constant.get(name)
        return numpy_helper.to_array(node.attribute[0].t) if node is not None else None

    folded, keep, zero_points = 0, [], {}
    for node in graph.node:
        if node.op_type == "QuantizeLinear":
            w, scale, zp = const(node.input[0]), const(node.input[1]), const(node.input[2]) if len(node.input) > 2 else None
            if w is not None and scale is not None and w.dtype == np.float32:
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                zp = np.zeros_like(scale, dtype=np.int8) if zp is None else zp
                shape = [1] * w.ndim
                if scale.ndim:
                    shape[axis] = -1
                info = np.iinfo(zp.dtype)
                q = np.clip(np.round(w / scale.reshape(shape)) + zp.astype(np.int32).reshape(shape), info.min, info.max).astype(zp.dtype)
                graph.initializer.append(numpy_helper.from_array(q, node.output[0]))
                zero_points[node.output[0]] = zp
                folded += 1
                continue
        keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    # The TorchScript exporter can merge an int8 and a uint8 all-zero zero-point into one initializer (seen on
    # MobileViT: int8 weights dequantized with a uint8 zero point, which onnx.checker rejects): each folded
    # weight's DequantizeLinear gets the zero point it was quantized with.
    own = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in zero_points and len(node.input) > 2:
            if node.input[0] not in own:
                own[node.input[0]] = f"{node.input[0]}_zero_point"
                graph.initializer.append(numpy_helper.from_array(zero_points[node.input[0]], own[node.input[0]]))
            node.input[2] = own[node.input[0]]
    used = {i for n in graph.node for i in n.input}
    unused = [i for i in graph.initializer if i.name not in used and i.name not in {o.name for o in graph.output}]
    for i in unused:
        graph.initializer.remove(i)
    return folded


def topological_sort(model: onnx.ModelProto) -> None:
    graph = model.graph
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        progress = [n for n in pending if all(i in ready for i in n.input)]
        if not progress:
            raise ValueError("ONNX graph has a cycle or a missing input")
        for n in progress:
            ordered.append(n)
            ready.update(n.output)
        pending = [n for n in pending if n not in progress]
    del graph.node[:]
    graph.node.extend(ordered)


def remove_identities(model: onnx.ModelProto) -> int:
    """Drop Identity nodes (the exporter leaves them around quantized weights): rewire their consumers."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    alias: dict[str, str] = {}
    keep = []
    for node in graph.node:
        if node.op_type == "Identity" and node.output[0] not in outputs:
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
            continue
        keep.append(node)
    for node in keep:
        node.input[:] = [alias.get(i, i) for i in node.input]
    removed = len(graph.node) - len(keep)
    del graph.node[:]
    graph.node.extend(keep)
    return removed
