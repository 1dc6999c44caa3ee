"""onnx2torch where the graph converts: a torch.fx module built from the (normalised) graph, checked against
onnxruntime before it is trusted, on one sample and on a batch (edgekit batches everything; exporters often bake
batch size 1 into a Reshape).

onnx2torch declares torchvision but needs it only for two operators (NonMaxSuppression, RoiAlign); the package index
holds only a CUDA torchvision that does not import beside the CPU torch. Without a working torchvision those two
converter modules are left out, so those operators are "not converted" and everything else still converts.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings

import numpy as np

from ..errors import EdgekitError
from .static import Converted, make_static

NEEDS_TORCHVISION = ("onnx2torch.node_converters.nms", "onnx2torch.node_converters.roialign")
VERIFY_SAMPLES = 4


class NotConverted(Exception):
    """Why a graph stays an onnxruntime graph: the operator, or how the conversion differed. Not an error."""


def onnx2torch_module():
    """The onnx2torch package, imported without torchvision when this machine has none that imports."""
    if "onnx2torch" in sys.modules:
        return sys.modules["onnx2torch"]
    if importlib.util.find_spec("onnx2torch") is None:
        raise NotConverted("onnx2torch is not installed (pip install --no-deps onnx2torch)")
    if importlib.util.find_spec("torchvision") is not None:
        try:
            return importlib.import_module("onnx2torch")
        except Exception:  # noqa: BLE001 - a torchvision that fails to import fails in any way; go on without it
            for name in [n for n in sys.modules if n == "onnx2torch" or n.startswith("onnx2torch.")]:
                del sys.modules[name]
    for name in NEEDS_TORCHVISION:  # empty stand-ins: their operators get no converter
        sys.modules[name] = types.ModuleType(name)
    return importlib.import_module("onnx2torch")


def converter_version() -> str:
    from importlib.metadata import version

    return f"onnx2torch {version('onnx2torch')}"


def first_unsupported(model) -> str | None:
    """The first operator onnx2torch has no converter for, as '<op> (opset N)', or None."""
    onnx2torch_module()
    from onnx2torch.node_converters import get_converter

    opsets = {o.domain: o.version for o in model.opset_import}
    for node in model.graph.node:
        domain = node.domain if node.domain != "ai.onnx" else ""
        if domain not in opsets:
            return f"{node.op_type} (domain {node.domain!r}, not imported by the model)"
        try:
            get_converter(domain=domain, operation_type=node.op_type, version=opsets[domain])
        except NotImplementedError:
            where = f"{domain}:" if domain else ""
            needs = " (needs torchvision)" if node.op_type in ("NonMaxSuppression", "RoiAlign") else ""
            return f"{where}{node.op_type} (opset {opsets[domain]}){needs}"
    return None


def to_torch(model):
    """The graph as an nn.Module (eval mode). NotConverted says why not."""
    missing = first_unsupported(model)
    if missing:
        raise NotConverted(f"onnx2torch does not convert operator {missing}")
    onnx2torch = onnx2torch_module()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = onnx2torch.convert(model).eval()
        make_static(module)
        return Converted(module).eval()
    except CONVERTER_ERRORS as e:
        raise NotConverted(_failing_node(model) or f"onnx2torch failed on the graph: {type(e).__name__}: {str(e).strip()[:120]}") from None


CONVERTER_ERRORS = (NotImplementedError, KeyError, ValueError, RuntimeError, TypeError, AttributeError, IndexError)


def _failing_node(model) -> str | None:
    """The first node whose converter refuses it, named (onnx2torch's own error does not say which node)."""
    from onnx2torch.node_converters import get_converter
    from onnx2torch.onnx_graph import OnnxGraph
    from onnx2torch.utils.safe_shape_inference import safe_shape_inference

    try:
        graph = OnnxGraph(safe_shape_inference(model).graph)
    except CONVERTER_ERRORS:
        return None
    opsets = {o.domain: o.version for o in model.opset_import}
    for i, node in enumerate(graph.nodes.values()):
        try:
            get_converter(domain=node.domain, operation_type=node.operation_type, version=opsets[node.domain])(node, graph)
        except CONVERTER_ERRORS as e:
            said = str(e).strip().splitlines()[0][:100] if str(e).strip() else type(e).__name__
            return f"onnx2torch does not convert operator {node.operation_type} (node {i}, opset {opsets[node.domain]}): {said}"
    return None


def reference(model, x: np.ndarray) -> list[np.ndarray]:
    """onnxruntime's outputs, one sample at a time (the graph may fix its batch to 1)."""
    import onnxruntime as ort

    from .read import graph_inputs

    options = ort.SessionOptions()
    options.log_severity_level = 3  # its notices go to the C-level stderr, past every Python filter
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = graph_inputs(model)[0].name
    outs = [sess.run(None, {name: x[i : i + 1]}) for i in range(len(x))]
    return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]


def _flat(out) -> list[np.ndarray]:
    import torch

    if isinstance(out, torch.Tensor):
        return [out.detach().numpy()]
    values = out.values() if isinstance(out, dict) else out
    return [v.detach().numpy() for v in values]


def max_difference(module, model, x: np.ndarray) -> float:
    """max |Δ| between the module and onnxruntime: on each sample alone and on the batch. NotConverted when the
    module fails or its outputs do not match in shape."""
    import torch

    ref = reference(model, x)
    worst = 0.0
    with torch.no_grad():
        for batch in ([x[:1]], [x]):
            try:
                got = [np.concatenate(o) for o in zip(*[_flat(module(torch.from_numpy(b))) for b in batch])]
            except Exception as e:  # noqa: BLE001 - any failure of the converted module means: not converted
                size = "a batch of " + str(len(batch[0])) if len(batch[0]) > 1 else "one sample"
                raise NotConverted(f"the converted module fails on {size}: {type(e).__name__}: {str(e).strip()[:100]}") from None
            want = [r[: len(batch[0])] for r in ref]
            if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
                shapes = [tuple(g.shape) for g in got], [tuple(w.shape) for w in want]
                raise NotConverted(f"the converted module's outputs have shapes {shapes[0]}, onnxruntime's {shapes[1]}")
            worst = max(worst, *(float(np.abs(g.astype(np.float64) - w).max()) if g.size else 0.0 for g, w in zip(got, want)))
    return worst


def tolerance(model, x: np.ndarray) -> float:
    scale = max(1.0, *(float(np.abs(r).max()) if r.size else 0.0 for r in reference(model, x[:1])))
    return 1e-4 * scale


def check_converted(module, model, x: np.ndarray) -> float:
    """max |Δ| of a converted module that agrees with onnxruntime; NotConverted when it does not."""
    diff = max_difference(module, model, x)
    limit = tolerance(model, x)
    if not np.isfinite(diff) or diff > limit:
        raise NotConverted(f"the converted module differs from onnxruntime by up to {diff:.3g} (more than {limit:.1g})")
    return diff


def refuse_unavailable() -> None:
    """For a run folder whose graph was converted where onnx2torch was installed."""
    try:
        onnx2torch_module()
    except NotConverted as e:
        raise EdgekitError(f"this run's model.onnx is rebuilt with onnx2torch, and {e}", "pip install --no-deps onnx2torch") from None


def free_batch(model):
    """A copy of a graph exported with batch size 1 whose batch axis is free: the input's and outputs' first axis
    made symbolic, and each constant Reshape target that starts with 1 made to start with 0 ("keep the input's
    first axis"). A guess, checked like every conversion; None when the graph's batch is not a fixed 1."""
    import copy

    from onnx import numpy_helper

    from .read import graph_inputs

    freed = copy.deepcopy(model)
    dims = graph_inputs(freed)[0].type.tensor_type.shape.dim
    if not dims or dims[0].dim_param or dims[0].dim_value != 1:
        return None
    for value in [graph_inputs(freed)[0], *freed.graph.output]:
        first = value.type.tensor_type.shape.dim
        if first and not first[0].dim_param and first[0].dim_value == 1:
            first[0].dim_param = "batch"
    del freed.graph.value_info[:]  # shapes inferred for batch 1
    constants = {i.name: numpy_helper.to_array(i) for i in freed.graph.initializer}
    for node in freed.graph.node:  # the TorchScript exporter writes Reshape targets as Constant nodes
        value = next((a.t for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
        if value is not None:
            constants[node.output[0]] = numpy_helper.to_array(value)
    for node in freed.graph.node:
        allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
        if node.op_type != "Reshape" or allowzero or len(node.input) < 2 or node.input[1] not in constants:
            continue
        shape = constants[node.input[1]]
        if shape.ndim == 1 and len(shape) and shape[0] == 1:
            shape = shape.copy()
            shape[0] = 0
            name = f"{node.input[1]}_batch_free_{node.name}"
            freed.graph.initializer.append(numpy_helper.from_array(shape, name))
            node.input[1] = name
    used = {i for n in freed.graph.node for i in n.input} | {o.name for o in freed.graph.output}
    for node in [n for n in freed.graph.node if n.op_type == "Constant" and n.output[0] not in used]:
        freed.graph.node.remove(node)  # the targets replaced
    return freed


OLDEST_CONVERTED_OPSET = 17  # onnx2torch 1.5 has no converters for opset 18's ReduceMean & co (axes as an input)


def downgrade(model):
    """The graph at opset 17 (onnx.version_converter), for graphs onnx2torch reads only at an older opset (the dynamo
    exporter writes opset 18+). None when it is not newer or does not convert."""
    import onnx

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset <= OLDEST_CONVERTED_OPSET:
        return None
    try:
        older = onnx.version_converter.convert_version(model, OLDEST_CONVERTED_OPSET)
        for node in older.graph.node:  # the converter keeps opset 18's Reduce* attribute; 0 is the older default
            for attr in [a for a in node.attribute if a.name == "noop_with_empty_axes"]:
                if attr.i:
                    return None
                node.attribute.remove(attr)
        onnx.checker.check_model(older)
    except (RuntimeError, ValueError, IndexError, onnx.checker.ValidationError):
        return None
    _clear_allowzero(older)
    return older


def _clear_allowzero(model) -> None:
    """Reshape's allowzero=1 (the dynamo exporter's) means nothing for a constant target without a 0: drop it there
    (onnx2torch refuses the attribute)."""
    from onnx import numpy_helper

    constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    for node in model.graph.node:
        target = constants.get(node.input[1]) if node.op_type == "Reshape" and len(node.input) > 1 else None
        if target is not None and not (target == 0).any():
            for attr in [a for a in node.attribute if a.name == "allowzero"]:
                node.attribute.remove(attr)


def _candidates(model):
    """The graph as given, then the guesses that make more graphs convert, each with what was changed."""
    yield model, None
    freed = free_batch(model)
    if freed is not None:
        yield freed, "the graph fixed batch size 1: its batch axis was freed (Reshape targets keep the input's batch)"
    older = downgrade(model)
    if older is not None:
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        said = f"converted from opset {opset} to {OLDEST_CONVERTED_OPSET} (onnx.version_converter) for onnx2torch"
        yield older, said
        freed = free_batch(older)
        if freed is not None:
            yield freed, said + "; its batch axis freed"


def convert(model, x: np.ndarray):
    """(module, the graph it was built from, max |Δ| vs onnxruntime, a note or None). Every candidate is checked
    against onnxruntime running the graph as given. NotConverted gives the reason found on the graph as given."""
    first = None
    for candidate, note in _candidates(model):
        try:
            module = to_torch(candidate)
            return module, candidate, check_converted(module, model, x), note
        except NotConverted as e:
            first = first or e
    raise first
