"""The run folder, written by every stage and read by the next:

model.safetensors  weights (never pickled)
model.json         ModelSpec: architecture, input, preprocessing, labels, data set and split seed
metrics.json       Metrics: the task's scores, cost, the training history or the compression table
manifest.json      Manifest: stage, parent run, command line, tool versions, git revision, timestamps, status
code/              the user's module source (user architectures only), imported only under --trust-code
model.onnx         an imported ONNX graph (source "onnx"): the architecture, parsed as data (edgekit/onnxgraph/)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from .contracts import Manifest, Metrics, ModelSpec, load_manifest, load_metrics, load_spec
from .errors import EdgekitError, InternalError
from .nn.fold import fold_batchnorm
from .nn.resize import resize_to_shapes
from .nn.weights import check_weights
from .util.fsutil import write_bytes, write_json
from .zoo import build_model

RUN_FILES = ("model.safetensors", "model.json", "metrics.json", "manifest.json")
CHECKPOINT_DIR = ".checkpoint"
CODE_DIR = "code"
GRAPH_FILE = "model.onnx"


@dataclass
class Run:
    path: Path | None
    model: nn.Module
    spec: ModelSpec
    metrics: Metrics
    manifest: Manifest
    trust_code: bool = False  # what the user allowed when it was opened (rebuilding its float model needs the same)


def state_tensors(model: nn.Module) -> dict:
    # clone: NNCF shares one quantizer between the inputs of a concat, and safetensors refuses shared storage
    # (the rebuilt model shares them again, so loading fills both names with the same values).
    return {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}


def write_run_files(
    folder: Path,
    model: nn.Module,
    spec: ModelSpec,
    metrics: Metrics,
    manifest: Manifest,
    *,
    code: bytes | None = None,
    graph: bytes | None = None,
) -> None:
    """Each file lands atomically, the manifest last: a folder is a run only once all four are there. `graph`: the
    imported ONNX graph a source "onnx" model is rebuilt from (graph_bytes(parent) for a derived run)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if code is not None and spec.code is not None:
        write_bytes(folder / CODE_DIR / spec.code.file, code)
    if spec.graph is not None:
        if graph is None:
            raise InternalError(f"writing a run of an imported ONNX graph without its {spec.graph.file}")
        write_bytes(folder / spec.graph.file, graph)
    weights = folder / "model.safetensors"
    tmp = folder / f".model.safetensors.{os.getpid()}.tmp"
    save_file(state_tensors(model), str(tmp), metadata={"format": "edgekit"})
    os.replace(tmp, weights)
    write_json(folder / "model.json", spec.to_json())
    size = len(graph) if spec.runs_in == "onnxruntime" else weights.stat().st_size  # its weights are in the graph
    write_json(folder / "metrics.json", metrics.replace(**{"file_bytes": size}).model_dump(mode="json"))
    from .util.manifest import now

    write_json(folder / "manifest.json", manifest.replace(finished=manifest.finished or now()).model_dump(mode="json"))


def code_bytes(run: Run) -> bytes | None:
    """The user code a run carries, for the runs derived from it."""
    if run.spec.code is None or run.path is None:
        return None
    copy = run.path / CODE_DIR / run.spec.code.file
    return copy.read_bytes() if copy.is_file() else None


def graph_bytes(run: Run) -> bytes | None:
    """The imported ONNX graph a run carries, for the runs derived from it."""
    if run.spec.graph is None or run.path is None:
        return None
    from .onnxgraph.build import graph_bytes as checked

    return checked(run.path, run.spec.graph)


def is_run(path: Path) -> bool:
    return all((Path(path) / f).is_file() for f in RUN_FILES)


def refuse_links(path: Path) -> None:
    """A run folder holds its own files: a symbolic link among them (a received folder's `.checkpoint` pointing
    elsewhere, a `model.json` linking to another file) is refused, never followed. The folder itself may be a link:
    the user named it."""
    path = Path(path)
    entries = [path / name for name in (*RUN_FILES, CHECKPOINT_DIR, CODE_DIR, GRAPH_FILE)]
    for sub in (CHECKPOINT_DIR, CODE_DIR):
        if (path / sub).is_dir() and not (path / sub).is_symlink():
            entries += sorted((path / sub).iterdir())
    for entry in entries:
        if entry.is_symlink():
            raise EdgekitError(
                f"{entry} is a symbolic link, and a run folder must hold its own files",
                "replace the link with a copy of the file it points to, or re-create the run folder",
            )


def check_run_folder(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"run folder not found: {path}", "pass a folder written by `edgekit train` or `edgekit compress`")
    if not path.is_dir():
        raise EdgekitError(f"{path} is a file, not a run folder", "pass a folder written by `edgekit train` or `edgekit compress`")
    refuse_links(path)
    if is_run(path):
        return path
    start_over = f"or start over: remove it (rm -r {path}) and train again"
    if (path / "manifest.json").is_file():
        m = load_manifest(path / "manifest.json")
        if m.status == "failed":
            raise EdgekitError(
                f"{path} is a training run that failed ({m.failure})", f"fix the cause, then `edgekit train --resume {path}`, {start_over}"
            )
    if (path / CHECKPOINT_DIR).is_dir():
        raise EdgekitError(f"{path} is an unfinished training run", f"finish it with `edgekit train --resume {path}`, {start_over}")
    missing = [f for f in RUN_FILES if not (path / f).is_file()]
    raise EdgekitError(
        f"{path} is not a run folder (missing {', '.join(missing)})", "pass a folder written by `edgekit train` or `edgekit compress`"
    )


def rebuild_structure(
    spec: ModelSpec, *, run_path: Path | None = None, trust_code: bool = False, module: nn.Module | None = None
) -> nn.Module:
    """The module a spec describes, with pruned shapes, folded batch-norm and quantizers, before weights load.
    `module`: the architecture as an nn.Module the caller built (a notebook class that lives in no file)."""
    model = module if module is not None else build_model(spec, run_path=run_path, trust_code=trust_code)
    if spec.resized_layers:
        resize_to_shapes(model, spec.resized_layers)
    if spec.bn_folded:
        fold_batchnorm(model)
    if spec.quantization:  # by the quantizer the run trained (NNCF's or PT2E's): stages/compress/quantizers.py
        from .stages.compress.quantizers import rebuild_quantized

        model = rebuild_quantized(model, spec)
    return model


def load_run(path: Path, *, trust_code: bool = False, module: nn.Module | None = None) -> Run:
    """Read and validate a run folder, rebuild its model. Never unpickles; imports user code only when trusted."""
    from safetensors.torch import load_file

    path = check_run_folder(path)
    spec, metrics, manifest = load_spec(path / "model.json"), load_metrics(path / "metrics.json"), load_manifest(path / "manifest.json")
    try:
        state = load_file(str(path / "model.safetensors"))
    except Exception as e:
        raise EdgekitError(
            f"run folder {path} is corrupt: model.safetensors: {type(e).__name__}: {str(e)[:120]}", "re-create it with `edgekit train`"
        ) from None
    model = rebuild_structure(spec, run_path=path, trust_code=trust_code, module=module)
    check_weights(state, model, path / "model.safetensors")  # no silent cast, no NaN weights (edgekit/nn/weights.py)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0:2]
        raise EdgekitError(f"weights in {path} do not fit its model.json: {' '.join(first)}", "re-create the run folder") from None
    return Run(path=path, model=model.eval(), spec=spec, metrics=metrics, manifest=manifest, trust_code=trust_code)
