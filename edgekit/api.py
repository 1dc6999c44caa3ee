"""The notebook API: one function per verb, consistently named, accepting an nn.Module and numpy arrays as
well as the CLI's strings, and returning the typed objects the stages hand each other (Run, Artifact,
BenchReport). Unlike the CLI, bench returns its report even when a budget fails: check `report.passed`."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .api_types import ArtifactRef, ModelRef, RunRef, edge
from .errors import EdgekitError


def _data_spec(data) -> str | None:
    """A data-set spec for `data`: a spec string, or (x, y) / {"x", "y", "labels"} arrays saved once, by content."""
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data = {"x": data[0], "y": data[1]}
    if not isinstance(data, dict) or "x" not in data or "y" not in data:
        raise EdgekitError("data must be a spec string, (x, y) arrays or a dict with x, y (and labels)", "see `edgekit datasets`")
    from .util.cache import cache_root
    from .util.fsutil import write_bytes

    arrays = {k: np.asarray(v) for k, v in data.items() if k in ("x", "y", "labels")}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    blob = buf.getvalue()
    path = cache_root() / "data" / f"{hashlib.sha256(blob).hexdigest()[:20]}.npz"
    if not path.is_file():
        write_bytes(path, blob)
    return f"npz:{path}"


@edge
def train(
    model: ModelRef = "digits-cnn",
    data: str | tuple | list | dict | None = None,
    *,
    out: str | Path | None = None,
    input_shape: Sequence[int] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    seed: int = 0,
    device: str = "auto",
    model_args: dict | None = None,
    progress: bool = True,
    trust_code: bool = False,
    weights: str | Path | None = None,
    weights_key: str | None = None,
    freeze: bool | int = False,
    preprocess: str | Path | dict | None = None,
    labels: list[str] | None = None,
):
    """Train a zoo name, recipe, `file.py:Class`, `package.module:factory`, `timm:NAME` or an nn.Module instance.
    Returns the Run (path, model, spec, metrics, manifest). `trust_code`: allow the user code a recipe names.
    `weights`: fine-tune from this weights file (read as tensors only; another class count re-initialises the
    classifier), `freeze`: train the classifier alone (True: every epoch, N: the first N); `preprocess`: a
    deploy.json-style pipeline (file or dict) instead of the data set's; `labels`: the class order of the outputs."""
    from .stages.train import train_run

    return train_run(
        model,
        _data_spec(data),
        out=out,
        input_shape=input_shape,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        device=device,
        model_args=model_args,
        progress=progress,
        trust_code=trust_code,
        weights=weights,
        weights_key=weights_key,
        freeze=freeze,
        preprocess=preprocess,
        labels=labels,
    )


@edge
def adopt(
    model: ModelRef,
    weights: dict | str | Path | None = None,
    data: str | tuple | list | dict | None = None,
    *,
    preprocess: str | Path | dict | None = None,
    labels: list[str] | None = None,
    input_shape: Sequence[int] | None = None,
    task: str | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    model_args: dict | None = None,
    trust_code: bool = False,
    weights_key: str | None = None,
):
    """Adopt a model trained elsewhere (`edgekit import`): an nn.Module holding its weights, or a zoo name /
    `file.py:Class` / `package.module:factory` / `timm:NAME` with `weights` — its state dict, or a weights file
    (.safetensors; .pt/.pth/.bin/.ckpt read with torch.load(weights_only=True) only; `weights_key`: the training
    checkpoint's entry) — or an ONNX file's path as `model`. Scored on `data`'s test split, it becomes a run folder
    compress, export and bench take like a trained one; nothing is trained. `preprocess`: a deploy.json-style
    pipeline (JSON/TOML file or dict), or the mean, std, scale, resize method or steps it was trained with (else the
    data set's, normalised on its train split); `labels`: its class names in its output order. Returns the Run."""
    if isinstance(model, (str, Path)) and str(model).lower().endswith(".onnx"):  # the same dispatch as `edgekit import`
        from .stages.onnx_import import import_onnx

        return import_onnx(
            Path(model),
            dataset=_data_spec(data),
            preprocess=preprocess,
            labels=labels,
            out=Path(out) if out is not None else None,
            say=lambda message: None,
        )
    from .stages.adopt import adopt_run

    return adopt_run(
        model,
        weights,
        _data_spec(data),
        preprocess=preprocess,
        labels=labels,
        input_shape=input_shape,
        task=task,
        out=Path(out) if out is not None else None,
        seed=seed,
        model_args=model_args,
        trust_code=trust_code,
        weights_key=weights_key,
    )


@edge
def load_run(path: str | Path, *, trust_code: bool = False, model: Any = None):
    """Open a run folder. `model`: the nn.Module architecture for runs trained from a notebook class."""
    from .runs import load_run as _load

    return _load(Path(path), trust_code=trust_code, module=model)


def _out(base: str, suffix: str) -> Path:
    candidate, n = Path("runs") / f"{base}-{suffix}", 2
    while candidate.exists():
        candidate, n = Path("runs") / f"{base}-{suffix}-{n}", n + 1
    return candidate


@edge
def compress(
    run: RunRef,
    *,
    prune: float | None = None,
    unstructured: bool = False,
    finetune: int = 10,
    qat: bool = False,
    qat_for: str | None = None,
    ptq: bool = False,
    epochs: int | None = None,
    calib: int = 300,
    distill_to: str | None = None,
    width: float = 1.0,
    distill_from_parent: bool | None = None,
    steps: list | None = None,
    out: str | Path | None = None,
    max_drop: float | None = None,
    trust_code: bool = False,
    progress: bool = True,
):
    """Chain steps (distill → prune → qat/ptq, or `steps`) on a Run or run folder; returns the new Run.
    `qat_for`: the format whose int8 quantizer QAT trains (tflite, executorch, onnx, ...; default onnx).
    `distill_from_parent`: pruning's fine-tune (None: when the task can be distilled) and QAT (None: no) learn the
    outputs of the float model they start from."""
    from .stages.compress import DistillStep, PruneStep, QuantStep, compress_run

    chain = list(steps or [])
    if not chain:
        if distill_to:
            chain.append(DistillStep(distill_to, width=width, **({"epochs": epochs} if epochs else {})))
        if prune is not None:
            chain.append(PruneStep(prune, finetune=finetune, unstructured=unstructured, distill_from_parent=distill_from_parent))
        if qat or ptq:
            chain.append(
                QuantStep(
                    "qat" if qat else "ptq",
                    calib=calib,
                    qat_for=qat_for,
                    distill_from_parent=distill_from_parent if qat else None,
                    **({"epochs": epochs} if qat and epochs else {}),
                )
            )
    name = run.spec.name if hasattr(run, "spec") else Path(run).name
    return compress_run(
        run, chain, Path(out) if out else _out(name, "compressed"), max_drop=max_drop, trust_code=trust_code, progress=progress
    )


@edge
def export(
    run: RunRef,
    target: str = "x86-64",
    *,
    format: str | None = None,
    precision: str | None = None,
    out: str | Path | None = None,
    calib: int = 300,
    force_calib: bool = False,
    min_agreement: float | None = None,
    trust_code: bool = False,
    runtime_options: dict | None = None,
    parity: bool = True,
    progress: bool = True,
    keep_float: list[str] | tuple[str, ...] = (),
):
    """Export a Run or run folder for a target; returns the Artifact (path, deploy, parity, notes).
    parity=False: a latency/size-only artifact of any network, marked "not proven" (as `edgekit export --no-parity`).
    keep_float: int8 keeps these conv/linear layers (module paths) in float instead of searching (`--keep-float`)."""
    from .stages.export import export_run

    return export_run(
        run,
        target=target,
        fmt=format,
        precision=precision,
        out=out,
        calib=calib,
        force_calib=force_calib,
        min_agreement=min_agreement,
        trust_code=trust_code,
        runtime_options=runtime_options,
        prove_parity=parity,
        progress=progress,
        keep_float=keep_float,
    )


def _folders(artifacts) -> list[Path]:
    items = artifacts if isinstance(artifacts, (list, tuple)) else [artifacts]
    return [Path(a.path if hasattr(a, "path") else a) for a in items]


@edge
def bench(
    artifacts: ArtifactRef,
    *,
    device: str = "local",
    threads: int | None = None,
    min_queries: int = 200,
    min_seconds: float = 1.0,
    warmup: int = 20,
    report: str | Path | None = None,
    target: str | None = None,
    count_instructions: int = 0,
    python: str | None = None,
    ssh_config: str | None = None,
):
    """Measure one or more Artifacts / artifact folders on a device; returns the BenchReport (also written to disk).
    count_instructions=N (emulated boards): count the ARM instructions of N inferences, at one thread."""
    from .stages.bench import Measurement
    from .stages.bench import bench as _bench

    m = Measurement(min_queries=min_queries, min_seconds=min_seconds, warmup=warmup, threads=threads, count_instructions=count_instructions)
    try:
        rep, _ = _bench(
            _folders(artifacts), device=device, measurement=m, report=report, target=target, python=python, ssh_config=ssh_config
        )
    except EdgekitError as e:
        if getattr(e, "report", None) is None:
            raise
        rep = e.report
    return rep


@edge
def predict(artifact: ArtifactRef, files: str | Path | Sequence[str | Path], *, device: str = "local") -> list[dict]:
    """Run an artifact on raw files (images, .wav, .npy; one path or a list) on a device: one dict per file."""
    from .stages.bench.predict import predict as _predict

    if isinstance(files, (str, Path)):  # one file: a str is not a list of one-character names
        files = [files]
    return _predict(_folders(artifact)[0], [Path(f) for f in files], device=device)["predictions"]


@edge
def pipeline(
    file: str | Path | None = None,
    *,
    out: str | Path | None = None,
    device: str | None = None,
    progress: bool = True,
    trust_code: bool = False,
    python: str | None = None,
    ssh_config: str | None = None,
):
    """Run (or resume) a pipeline TOML; returns {"folders": {...}, "report": BenchReport}. A pipeline file is data:
    code or programs it names need `trust_code` (or `python` / `ssh_config` given here)."""
    from .stages.pipeline import load_pipeline, run_pipeline

    p = load_pipeline(Path(file) if file else None)
    out = Path(out) if out else Path("runs") / f"pipeline-{p.name}"
    return run_pipeline(
        p, out, device=device, say=lambda m: None, progress=progress, trust_code=trust_code, python=python, ssh_config=ssh_config
    )


@edge
def search(
    model: str = "digits-cnn",
    data: str | None = None,
    *,
    target: str = "x86-64",
    out: str | Path = "runs/search",
    space: str | Path | None = None,
    trials: int = 20,
    devices: Sequence[str] | None = None,
    storage: str | None = None,
    seed: int = 0,
    min_queries: int = 100,
    min_seconds: float = 0.3,
    warmup: int = 10,
    count_instructions: int = 20,
    heartbeat_s: float = 10.0,
    python: str | None = None,
    ssh_config: str | None = None,
    trust_code: bool = False,
) -> dict:
    """Device-in-the-loop multi-objective search (`edgekit search`): Optuna trials of width × input size × pruning
    × QAT/PTQ × precision × format, each trained (parents shared), compressed, exported and measured on a leased
    `devices` board; objectives quality, p90 latency, peak memory, size; the target's budgets as constraints.
    `space`: a TOML file overriding the target's default space; `storage`: a PostgreSQL URL shared by workers on
    several machines (default: a journal file in `out`). Re-running resumes. Returns {"front", "best", "answer",
    "trials", "report", ...}."""
    from .stages.search import run_search

    return run_search(
        model,
        data,
        target,
        Path(out),
        space=Path(space) if space else None,
        trials=trials,
        devices=list(devices) if devices else None,
        storage=storage,
        seed=seed,
        heartbeat_s=heartbeat_s,
        trust_code=trust_code,
        min_queries=min_queries,
        min_seconds=min_seconds,
        warmup=warmup,
        count_instructions=count_instructions,
        python=python,
        ssh_config=ssh_config,
    )
