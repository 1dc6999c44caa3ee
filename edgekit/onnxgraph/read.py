"""An ONNX file read as data: parsed (never loaded by a library that follows the paths it names), its external data
read only from files inside its own folder, checked by onnx.checker, and normalised for the routes after it:

- every tensor inline: the run folder keeps one self-contained `model.onnx`;
- Identity nodes dropped (the TorchScript exporter shares equal weights through them, and onnx2torch wants a
  convolution's weight as an initializer);
- every node renamed `n<index>_<op>`: onnx2torch makes node names the attribute names of the Python source torch.fx
  generates and executes, so a name holding `")` would be code. Names are data here; only these names reach it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgekitError, from_os_error
from ..limits import MAX_MODEL_PARAMS

MAX_ONNX_BYTES = 2 << 30  # protobuf's limit for one message: a larger model keeps its weights in external data
MAX_EXTERNAL_BYTES = MAX_MODEL_PARAMS * 4
REEXPORT = "export it again (torch.onnx.export(model, example, 'model.onnx')) and pass the whole file"


@dataclass
class Graph:
    model: object  # onnx.ModelProto: every tensor inline, nodes renamed
    path: Path  # the file as the user named it (messages, lineage)
    sha256: str  # the file as received (external data not included)

    @property
    def name(self) -> str:
        return self.path.stem

    def data(self) -> bytes:
        return self.model.SerializeToString()

    @property
    def input(self):
        return graph_inputs(self.model)[0]


def graph_inputs(model) -> list:
    """The inputs the caller feeds (older exporters also list every initializer as a graph input)."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def read_onnx(path) -> Graph:
    """The user's ONNX file, checked and normalised. One line for every way it can be wrong."""
    path = Path(path)
    data = _read(path)
    model = parse_onnx(data, path)
    inline_external_data(model, path)
    check_onnx(model, path)
    normalise(model)
    return Graph(model=model, path=path, sha256=hashlib.sha256(data).hexdigest())


def _read(path: Path) -> bytes:
    if not path.exists():
        raise EdgekitError(f"ONNX file not found: {path}", "check the path")
    if not path.is_file():
        raise EdgekitError(f"{path} is not a file", "pass the .onnx file itself")
    size = path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise EdgekitError(f"{path} holds {size:,} bytes, more than one ONNX message can (2 GiB)", "save its weights as external data")
    try:
        return path.read_bytes()
    except OSError as e:
        raise from_os_error(e, str(path)) from None


def parse_onnx(data: bytes, path: Path):
    import onnx
    from google.protobuf.message import DecodeError

    if not data:
        raise EdgekitError(f"{path} is empty", REEXPORT)
    try:
        model = onnx.load_model_from_string(data)  # parses only: external data is read below, by our rule
    except (DecodeError, ValueError, RuntimeError) as e:
        raise EdgekitError(f"{path} is not an ONNX model, or is cut short ({str(e).strip()[:80] or type(e).__name__})", REEXPORT) from None
    # protobuf parses many byte strings without complaint (unknown fields are skipped): a model has a graph
    if model.ir_version < 3 or not any(o.domain in ("", "ai.onnx") for o in model.opset_import) or not model.graph.node:
        raise EdgekitError(f"{path} is not an ONNX model (no graph, IR version or opset in it)", REEXPORT)
    if not graph_inputs(model) or not model.graph.output:
        raise EdgekitError(f"{path}: the ONNX graph has no inputs or no outputs", REEXPORT)
    return model


def tensors(model):
    """Every tensor the model holds: initializers, sparse initializers, node attributes, subgraphs, functions."""

    def of_graph(graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            yield from of_nodes([node])

    def of_nodes(nodes):
        for node in nodes:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("g"):
                    yield from of_graph(attr.g)
                for g in attr.graphs:
                    yield from of_graph(g)

    yield from of_graph(model.graph)
    for function in model.functions:
        yield from of_nodes(function.node)


def inline_external_data(model, path: Path) -> None:
    """Tensors stored in other files are read from files inside the ONNX file's own folder only: a location that
    is absolute, climbs out ('..'), or resolves outside (a link) is refused before anything is opened."""
    from onnx import TensorProto

    folder = path.resolve().parent
    total = 0
    for tensor in tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        where = f"{path}: tensor '{tensor.name[:60]}'"
        fix = "keep its external data files beside the .onnx file, named relative to it (onnx.save(..., location='weights.bin'))"
        parts = Path(location).parts
        if not location or Path(location).is_absolute() or ".." in parts or "\\" in location or "\x00" in location:
            raise EdgekitError(f"{where} names external data at {location!r}, outside the model's folder", fix)
        file = folder / location
        try:
            resolved = file.resolve(strict=True)
        except (OSError, RuntimeError):
            raise EdgekitError(f"{where}: its external data file {location!r} is missing beside {path.name}", fix) from None
        if not resolved.is_relative_to(folder) or not resolved.is_file():
            raise EdgekitError(f"{where} names external data at {location!r}, which leads outside the model's folder", fix)
        try:
            offset, length = int(info.get("offset", 0)), int(info["length"]) if "length" in info else None
        except ValueError:
            raise EdgekitError(f"{where}: its external data offset/length are not numbers", REEXPORT) from None
        size = resolved.stat().st_size
        length = size - offset if length is None else length
        if offset < 0 or length < 0 or offset + length > size:
            raise EdgekitError(f"{where}: its external data lies past the end of {location} ({size:,} bytes)", REEXPORT)
        total += length
        if total > MAX_EXTERNAL_BYTES:
            raise EdgekitError(f"{path}: its external data holds more than {MAX_EXTERNAL_BYTES:,} bytes", "import a smaller model")
        with open(resolved, "rb") as f:
            f.seek(offset)
            tensor.raw_data = f.read(length)
        tensor.data_location = TensorProto.DEFAULT
        del tensor.external_data[:]


def check_onnx(model, path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise EdgekitError(f"{path} is not a valid ONNX model: {first}", REEXPORT) from None


def normalise(model) -> None:
    from ..formats.convert.onnx_graph import remove_identities

    remove_identities(model)
    for i, node in enumerate(model.graph.node):
        node.name = f"n{i}_{re.sub(r'[^A-Za-z0-9]', '', node.op_type)[:32]}"
