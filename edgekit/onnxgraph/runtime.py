"""A graph onnx2torch does not convert, run by onnxruntime behind nn.Module's call: scoring, predict and export's
float reference take it like any model. Nothing trains, prunes or quantizes it in PyTorch (those stages refuse an
ONNX-native run); its only format is ONNX (edgekit/formats/onnx_native.py)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from .read import graph_inputs

COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


class OnnxRuntimeModule(nn.Module):
    def __init__(self, data: bytes):
        import onnx

        super().__init__()
        self.data = data
        model = onnx.load_model_from_string(data)
        self.input_name = graph_inputs(model)[0].name
        dims = graph_inputs(model)[0].type.tensor_type.shape.dim
        self.fixed_batch = bool(dims) and not dims[0].dim_param and dims[0].dim_value > 0
        self.output_names = [o.name for o in model.graph.output]
        self._session = None

    def _sess(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = max(1, torch.get_num_threads())
            options.log_severity_level = 3
            self._session = ort.InferenceSession(self.data, options, providers=["CPUExecutionProvider"])
        return self._session

    def forward(self, x: torch.Tensor):
        x = x.detach().cpu().numpy().astype(np.float32, copy=False)
        sess = self._sess()
        if self.fixed_batch:
            parts = [sess.run(self.output_names, {self.input_name: x[i : i + 1]}) for i in range(len(x))]
            outs = [np.concatenate([p[k] for p in parts]) for k in range(len(self.output_names))]
        else:
            outs = sess.run(self.output_names, {self.input_name: x})
        tensors = [torch.from_numpy(np.ascontiguousarray(o)) for o in outs]
        return tensors[0] if len(tensors) == 1 else dict(zip(self.output_names, tensors))

    def __getstate__(self):  # a session does not copy: the copy opens its own
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def graph_cost(self, input_shape) -> dict:
        """Parameters (float initializers) and MACs (Conv, ConvTranspose, Gemm, MatMul from inferred shapes) of one
        sample, as edgekit/nn/profile.py counts them for a PyTorch model."""
        return graph_cost(self.data, input_shape)


def graph_cost(data: bytes, input_shape) -> dict:
    import onnx
    from onnx import numpy_helper

    model = onnx.load_model_from_string(data)
    inp = graph_inputs(model)[0].type.tensor_type.shape.dim
    for d, size in zip(inp, [1, *input_shape]):  # one sample
        d.dim_value = size
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except (onnx.shape_inference.InferenceError, ValueError):
        pass
    shapes = {}
    for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = v.type.tensor_type.shape.dim
        if dims and all(d.dim_value > 0 for d in dims):
            shapes[v.name] = [d.dim_value for d in dims]
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    shapes.update(inits)
    floats = [i for i in model.graph.initializer if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)]
    params = sum(math.prod(i.dims) for i in floats)
    nonzero = sum(int(np.count_nonzero(numpy_helper.to_array(i))) for i in floats)
    macs = 0
    for node in model.graph.node:
        if node.op_type not in COMPUTE_OPS or not all(n in shapes for n in node.input[:2]) or node.output[0] not in shapes:
            continue
        out, w = shapes[node.output[0]], shapes[node.input[1]]
        if node.op_type == "Conv":
            macs += math.prod(out) * math.prod(w[1:])  # weight (Cout, Cin / groups, k...): per output value
        elif node.op_type == "ConvTranspose":
            macs += math.prod(shapes[node.input[0]]) * w[1] * math.prod(w[2:])
        else:  # Gemm / MatMul: every output value is a dot product over the shared axis
            a = shapes[node.input[0]]
            transposed = node.op_type == "Gemm" and any(x.name == "transA" and x.i for x in node.attribute)
            macs += math.prod(out) * (a[0] if transposed else a[-1])
    size = sum(math.prod(i.dims) * (2 if i.data_type == onnx.TensorProto.FLOAT16 else 4) for i in floats)
    return {"params": int(params), "nonzero_params": nonzero, "macs": int(macs), "size_bytes": int(size)}


def ort_errors() -> tuple:
    """What onnxruntime raises for a graph it cannot load or run (its own exception types, not Exception)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NotImplemented", "RuntimeException", "EPFail", "NoModel")
    return tuple(getattr(state, n) for n in names if hasattr(state, n))
