"""The model of a run made from an ONNX file, rebuilt from the graph its folder holds: the file named in model.json,
whose sha256 must be the recorded one, parsed as data (inline tensors only: a received folder's graph names no other
file), then converted by onnx2torch or opened in onnxruntime, as recorded. Weights load from model.safetensors
afterwards, as for every run."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import EdgekitError

RECREATE = "re-create the run folder with `edgekit import MODEL.onnx`"


def graph_bytes(run_path: Path, record) -> bytes:
    """The run folder's graph file, checked against model.json before anything parses it."""
    path = Path(run_path) / record.file
    if path.is_symlink() or not path.is_file():
        raise EdgekitError(f"{path} is missing or not a plain file, and the run's model is rebuilt from it", RECREATE)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != record.sha256:
        raise EdgekitError(f"{path} is not the graph model.json records (its sha256 differs)", RECREATE)
    return data


def build_from_run(spec, run_path: Path | None):
    from onnx import TensorProto

    from .read import parse_onnx, tensors

    if run_path is None:
        raise EdgekitError(f"the model of {spec.name} is an imported ONNX graph, rebuilt only from its run folder", "pass the run folder")
    record = spec.graph
    data = graph_bytes(run_path, record)
    where = Path(run_path) / record.file
    model = parse_onnx(data, where)
    if any(t.data_location == TensorProto.EXTERNAL for t in tensors(model)):
        raise EdgekitError(f"{where} names external data, and a run folder's graph holds its tensors inline", RECREATE)
    if record.runs_in == "onnxruntime":
        from .runtime import OnnxRuntimeModule

        return OnnxRuntimeModule(data)
    from .convert import NotConverted, refuse_unavailable, to_torch

    refuse_unavailable()
    try:
        return to_torch(model)
    except NotConverted as e:
        raise EdgekitError(f"{where} no longer converts to PyTorch here: {e}", "install the onnx2torch version model.json names") from None
