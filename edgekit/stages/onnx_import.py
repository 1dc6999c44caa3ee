"""import_onnx: an ONNX file trained and exported elsewhere becomes a run folder (the adopt stage with the graph as
its architecture). Two routes, decided by the graph and recorded in model.json's `graph`:

- onnx2torch converts it and the module agrees with onnxruntime (one sample and a batch): a PyTorch run like any
  other — compress, every format. The run folder keeps the normalised graph (`model.onnx`, sha256 in model.json)
  and rebuilds the module from it with onnx2torch on load; the weights are model.safetensors, as for every run.
- it does not (an operator onnx2torch lacks, a conversion that differs): an ONNX-native run that onnxruntime runs.
  It exports to ONNX only (fp32, fp16, int8 through NNCF's ONNX backend), benches and predicts like any artifact;
  other formats and compress are refused in one line naming the operator.

The file is data: parsed, its external data read only from its own folder (edgekit/onnxgraph/read.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from ..limits import check_shape
from ..onnxgraph.convert import VERIFY_SAMPLES, NotConverted, convert, converter_version
from ..onnxgraph.read import Graph, graph_inputs, read_onnx
from ..onnxgraph.runtime import OnnxRuntimeModule, ort_errors
from ..origins import OnnxGraph, WeightsSource
from ..runs import GRAPH_FILE, Run

ONE_INPUT_FIX = "export a model whose forward() takes one tensor (edgekit's preprocessing makes one model input)"
SHAPE_FIX = "import it with a data set whose samples have that shape, or a --preprocess whose steps make it (a resize, a reshape)"
FLOAT_TYPES = {1: "float32"}


@dataclass
class ImportedGraph:
    """What the adopt stage records for an imported graph: the spec fields, the file's provenance, the bytes."""

    record: OnnxGraph
    data: bytes
    path: Path
    sha256: str

    def spec_fields(self) -> dict:
        return {"name": self.path.stem, "source": "onnx", "arch": self.record.file, "graph": self.record.model_dump()}

    def weights(self) -> WeightsSource:
        return WeightsSource(file=str(self.path), sha256=self.sha256)


def import_onnx(
    path,
    dataset: str | None = None,
    *,
    preprocess=None,
    labels: list[str] | None = None,
    task: str | None = None,
    out: Path | None = None,
    seed: int = 0,
    convert_to_torch: bool = True,
    say=None,
) -> Run:
    """`path`: the .onnx file; `dataset`, `preprocess`, `labels`, `task`, `seed`: as for adopt_run (the graph fixes
    the input shape). `convert_to_torch=False` keeps the graph in onnxruntime even where onnx2torch converts it."""
    from .adopt import adopt_run

    say = say or (lambda message: None)
    graph = read_onnx(path)
    name, shape = _check_input(graph, dataset)
    module, model, runs_in, why, diff, note = _route(graph, shape, convert_to_torch)
    data = model.SerializeToString()
    record = OnnxGraph(
        file=GRAPH_FILE,
        sha256=hashlib.sha256(data).hexdigest(),
        origin=graph.path.name,
        runs_in=runs_in,
        converter=converter_version() if runs_in == "pytorch" else None,
        not_converted=why,
        max_difference=diff,
    )
    if runs_in == "pytorch":
        say(f"{graph.path.name} converted to PyTorch by {record.converter} (max |Δ| {diff:.2g} vs onnxruntime): every format is open")
    else:
        say(f"{graph.path.name} runs in onnxruntime only ({why}); it exports to ONNX fp32, fp16 and int8")
    if note:
        say(f"{graph.path.name}: {note}")
    imported = ImportedGraph(record=record, data=data, path=graph.path, sha256=graph.sha256)
    try:
        return adopt_run(
            module,
            None,
            dataset,
            preprocess=preprocess,
            labels=labels,
            input_shape=shape,
            task=task,
            out=out,
            seed=seed,
            say=say,
            graph=imported,
        )
    except EdgekitError as e:
        if "input-shape" in (e.fix or "") or "input_shape" in (e.fix or ""):  # the graph fixes it: no flag changes it
            raise EdgekitError(f"{graph.path.name} takes input '{name}' of shape {tuple(shape)}, and {e.problem}", SHAPE_FIX) from None
        raise


def _check_input(graph: Graph, dataset: str | None) -> tuple[str, list[int]]:
    """The one model input and its shape without the batch axis (symbolic sizes: the data set's)."""
    path = graph.path
    inputs = graph_inputs(graph.model)
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs[:4])
        raise EdgekitError(
            f"{path} takes {len(inputs)} input tensors ({names}); edgekit's pipelines make one model input today", ONE_INPUT_FIX
        )
    inp = inputs[0]
    if not inp.type.HasField("tensor_type") or inp.type.tensor_type.elem_type not in FLOAT_TYPES:
        raise EdgekitError(f"{path}: its input '{inp.name}' is not a float32 tensor", "export the model with a float32 input")
    dims = list(inp.type.tensor_type.shape.dim)
    if len(dims) < 2:
        raise EdgekitError(
            f"{path}: its input '{inp.name}' has {len(dims)} axes, not a batch axis and a sample's", "export it with a batch axis"
        )
    if not dims[0].dim_param and dims[0].dim_value > 1:
        raise EdgekitError(
            f"{path}: its input '{inp.name}' fixes the batch size to {dims[0].dim_value}",
            "export it with batch size 1 or a dynamic batch axis",
        )
    shape = [d.dim_value if not d.dim_param and d.dim_value > 0 else None for d in dims[1:]]
    if None in shape:
        from ..data.loaders import input_shape_of

        data_shape = input_shape_of(dataset or "digits")
        if data_shape is None or len(data_shape) != len(shape):
            raise EdgekitError(
                f"{path}: its input '{inp.name}' has free sizes {['?' if d is None else d for d in shape]}, and the data set fixes none that fit",
                "export it with a fixed input shape (an example input of the size it runs at)",
            )
        shape = [d if d is not None else int(s) for d, s in zip(shape, data_shape)]
    try:
        return inp.name, check_shape(shape)
    except ValueError as e:
        raise EdgekitError(f"{path}: its input '{inp.name}' of shape {tuple(shape)} {e}", "import a smaller model") from None


def _route(graph: Graph, shape: list[int], convert_to_torch: bool):
    """(module, graph kept, runs_in, why not PyTorch, max |Δ|, note). onnxruntime must run the graph either way:
    route A is checked against it, route B runs in it."""
    x = np.random.default_rng(0).standard_normal((VERIFY_SAMPLES, *shape)).astype(np.float32)
    model = graph.model
    try:
        reference = OnnxRuntimeModule(model.SerializeToString())
        import torch

        reference(torch.from_numpy(x[:1]))
    except ort_errors() as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise EdgekitError(
            f"onnxruntime cannot run {graph.path}: {first}", "export it again at an opset onnxruntime supports (13 to 21)"
        ) from None
    if not convert_to_torch:
        return reference, model, "onnxruntime", "kept in onnxruntime as asked (not converted to PyTorch)", None, None
    try:
        module, kept, diff, note = convert(model, x)
    except NotConverted as e:
        return reference, model, "onnxruntime", str(e), None, None
    return module, kept, "pytorch", None, diff, note
