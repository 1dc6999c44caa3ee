"""The run folder, written by every stage and read by the next:

    model.safetensors  weights (never pickled)
    model.json         ModelSpec: architecture, input, normalisation, labels, data set and split seed
    metrics.json       accuracy, loss curve, params, MACs, size, wall time
    manifest.json      stage, parent run, command line, tool versions, git revision, timestamps
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn
from safetensors.torch import load_file, save_file

from .errors import EdgekitError
from .fold import fold_batchnorm
from .fsutil import read_json, staged_dir, write_json
from .manifest import now
from .resize import resize_to_shapes
from .spec import ModelSpec
from .zoo import build_model

RUN_FILES = ("model.safetensors", "model.json", "metrics.json", "manifest.json")
CHECKPOINT_DIR = ".checkpoint"


@dataclass
class Run:
    path: Path
    model: nn.Module
    spec: ModelSpec
    metrics: dict
    manifest: dict


def state_tensors(model: nn.Module) -> dict:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def write_run_files(folder: Path, model: nn.Module, spec: ModelSpec, metrics: dict, manifest: dict) -> None:
    """Each file lands atomically, the manifest last: a folder is a run only once all four are there."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "model.safetensors"
    tmp = folder / ".model.safetensors.writing"
    save_file(state_tensors(model), str(tmp), metadata={"format": "edgekit"})
    os.replace(tmp, weights)
    write_json(folder / "model.json", spec.to_json())
    write_json(folder / "metrics.json", {**metrics, "file_bytes": weights.stat().st_size})
    write_json(folder / "manifest.json", {**manifest, "finished": manifest.get("finished") or now()})


def save_run(out: Path, model: nn.Module, spec: ModelSpec, metrics: dict, manifest: dict, *, replace: bool = False) -> Path:
    """Write a complete run folder in one step: staged beside `out`, then renamed into place."""
    with staged_dir(Path(out), replace=replace) as tmp:
        write_run_files(tmp, model, spec, metrics, manifest)
    return Path(out)


def is_run(path: Path) -> bool:
    return all((Path(path) / f).is_file() for f in RUN_FILES)


def check_run_folder(path: Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise EdgekitError(f"run folder not found: {path}", "pass a folder written by `edgekit train` or `edgekit compress`")
    if not is_run(path):
        if (path / CHECKPOINT_DIR).is_dir():
            raise EdgekitError(f"{path} is an unfinished training run", f"finish it with `edgekit train --resume {path}`")
        missing = [f for f in RUN_FILES if not (path / f).is_file()]
        raise EdgekitError(f"{path} is not a run folder (missing {', '.join(missing)})",
                           "pass a folder written by `edgekit train` or `edgekit compress`")
    return path


def rebuild_structure(spec: ModelSpec) -> nn.Module:
    """The module a spec describes, with pruned shapes, folded batch-norm and quantizers, before weights load."""
    model = build_model(spec)
    if spec.resized_layers:
        resize_to_shapes(model, spec.resized_layers)
    if spec.bn_folded:
        fold_batchnorm(model)
    if spec.quantization:
        from .nncf_env import import_nncf

        nncf = import_nncf()
        model = nncf.torch.load_from_config(model.eval(), spec.quantization["config"])
    return model


def load_run(path: Path) -> Run:
    path = check_run_folder(path)
    try:
        spec = ModelSpec.from_json(read_json(path / "model.json"))
        metrics, manifest = read_json(path / "metrics.json"), read_json(path / "manifest.json")
        state = load_file(str(path / "model.safetensors"))
    except EdgekitError:
        raise
    except Exception as e:
        raise EdgekitError(f"run folder {path} is corrupt: {type(e).__name__}: {e}", "re-create it with `edgekit train`") from None
    model = rebuild_structure(spec)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0:2]
        raise EdgekitError(f"weights in {path} do not fit its model.json: {' '.join(first)}", "re-create the run folder") from None
    return Run(path=path, model=model.eval(), spec=spec, metrics=metrics, manifest=manifest)
