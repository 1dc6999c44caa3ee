"""One trial: a shared parent (trained once per width × input size) → compress → export → bench on a leased board.

Every trial is folders with lineage: <out>/trials/<number>/run (when it compresses; its metrics name the parent),
<out>/trials/<number>/artifact (deploy.json names the run it came from) and its bench report. Parents live in
<out>/parents/<width>x<size>, written under edgekit/util/lock.py's folder lock, so two workers wanting the same
parent train it once: the second waits, then finds it finished.

Objectives, all from the device where one measured: the task's score on the device, p90 latency (ms; under `emu:`
the guest instructions per inference instead, which qemu makes deterministic), peak memory (MiB) and the artifact's
bytes. Each trial records its latency source: "measured", "emu instruction count" or, only when the artifact could
not be measured, "roofline estimate" (export's estimate from MACs and the target's peak figures).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...errors import EdgekitError
from ...runs import CHECKPOINT_DIR, is_run
from ...util.fsutil import write_text
from ...util.lock import writing
from .space import Space


@dataclass(frozen=True)
class Job:
    """What every trial of one search shares."""

    model: str
    dataset: str | None
    target: str
    out: Path
    space: Space
    seed: int = 0
    trust_code: bool = False
    min_queries: int = 100
    min_seconds: float = 0.3
    warmup: int = 10
    count_instructions: int = 20  # emu: boards: inferences counted
    ssh_config: str | None = None
    python: str | None = None
    say: Callable[[str], None] = field(default=lambda m: None, compare=False)


def sample(trial, space: Space) -> dict:
    p = {
        "width": trial.suggest_categorical("width", space.width),
        "prune": trial.suggest_categorical("prune", space.prune),
        "precision": trial.suggest_categorical("precision", space.precision),
        "format": trial.suggest_categorical("format", space.format),
    }
    if space.input_size:
        p["input_size"] = trial.suggest_categorical("input_size", space.input_size)
    if p["precision"] == "int8":  # QAT vs PTQ only means something for an int8 artifact
        p["quant"] = trial.suggest_categorical("quant", space.quant)
    return p


def parent(job: Job, params: dict, input_shape: list[int]) -> Path:
    """The trained parent for this width × input size: trained once, shared by every trial and worker."""
    from ..train import train_run

    size = params.get("input_size")
    shape = [input_shape[0], size, size] if size else list(input_shape)
    folder = job.out / "parents" / (f"w{params['width']:g}" + (f"-s{size}" if size else ""))
    # train_run locks the folder itself, so the parent's cache lock is a name of its own beside it; the second
    # worker waits here, then finds the run finished
    with writing(folder.with_name(folder.name + ".parent"), flag="--out", wait=True):
        if is_run(folder):
            return folder
        if (folder / CHECKPOINT_DIR).is_dir():  # a worker died mid-training: continue from its last epoch
            return train_run(resume=folder, progress=False, trust_code=job.trust_code).path
        job.say(f"training the parent {folder.name} (width {params['width']:g}, input {shape})")
        return train_run(
            job.model,
            job.dataset,
            out=folder,
            input_shape=shape,
            epochs=job.space.schedule.epochs,
            seed=job.seed,
            model_args={"width": params["width"]},
            progress=False,
            trust_code=job.trust_code,
        ).path


def build(job: Job, params: dict, folder: Path, input_shape: list[int]):
    """Parent → compressed run (if any step) → artifact. Returns the Artifact."""
    from ..compress import PruneStep, QuantStep, compress_run
    from ..export import export_run

    run = parent(job, params, input_shape)
    steps = []
    if params["prune"] > 0:
        steps.append(PruneStep(params["prune"], finetune=job.space.schedule.finetune))
    if params.get("quant") == "qat":
        steps.append(QuantStep("qat", qat_for=params["format"], target=job.target, epochs=job.space.schedule.qat_epochs))
    if steps and not is_run(folder / "run"):
        run = compress_run(run, steps, folder / "run", trust_code=job.trust_code, progress=False).path
    elif steps:
        run = folder / "run"
    art = folder / "artifact"
    if (art / "deploy.json").is_file():
        return art
    # no agreement floor at export: every trial yields an artifact to measure, and the target's floor is one of
    # the study's constraints (a low-agreement artifact is measured and found infeasible, not lost)
    return export_run(
        run,
        target=job.target,
        fmt=params["format"],
        precision=params["precision"],
        out=art,
        min_agreement=0.0,
        trust_code=job.trust_code,
        prove_parity=True,
        progress=False,
    ).path


def measure(job: Job, artifact: Path, device: str, folder: Path):
    """Bench on the leased board; DeviceUnreachable propagates (the caller marks the board)."""
    from ..bench import Measurement, bench

    emu = device.startswith("emu:")
    m = Measurement(
        min_queries=job.min_queries,
        min_seconds=job.min_seconds,
        warmup=job.warmup,
        threads=1 if emu else None,
        count_instructions=job.count_instructions if emu else 0,
    )
    try:
        rep, _ = bench(
            [artifact], device=device, measurement=m, report=folder / "bench" / "report.html", python=job.python, ssh_config=job.ssh_config
        )
    except EdgekitError as e:  # as ek.bench: a failed row or a budget miss still comes with its report
        if getattr(e, "report", None) is None:
            raise
        rep = e.report
    return rep


def objectives(entry, deploy, device: str, quality_key: str) -> dict:
    """The four objective values, their sources and the budget checks as Optuna constraints (≤ 0 feasible)."""
    r = entry.result if entry.status == "ok" else None
    if r is not None and device.startswith("emu:") and r.instructions and r.instructions.get("per_inference"):
        latency, source = float(r.instructions["per_inference"]), "emu instruction count"
    elif r is not None and r.latency_ms is not None:
        elsewhere = any(c.check == "latency p90" and c.status == "not the target" for c in entry.checks)
        latency, source = float(r.latency_ms.p90), "measured, not on the target" if elsewhere else "measured"
    else:
        from ..export.estimate import estimate_latency

        macs = int(deploy.source.get("macs") or 0)
        est = deploy.estimate or estimate_latency(
            deploy.target, macs=macs, weight_bytes=deploy.artifact.bytes, precision=deploy.artifact.precision
        )
        latency, source = float(est["estimate_ms"]), "roofline estimate"
    quality = (r.quality if r is not None else deploy.parity.metrics).get(quality_key)
    if quality is None:
        raise EdgekitError(f"the artifact reports no '{quality_key}'", "its task must score it")
    memory = r.peak_rss_mb if r is not None and r.peak_rss_mb is not None else None
    mem_source = "measured" if memory is not None else "artifact bytes (not measured)"
    qemu_rss = None
    if device.startswith("emu:"):
        # qemu's RSS is qemu's, not the board's, and wobbles by MiB from run to run: the sampler gets the artifact's
        # bytes instead, so an emulated search repeats exactly; the RSS is kept in trial.json
        qemu_rss, memory, mem_source = memory, None, "artifact bytes (qemu's RSS is not the board's)"
    if memory is None:
        memory = deploy.artifact.bytes / 2**20
    skip = ("latency p90", "peak memory") if not source.startswith("measured") else ()
    checks = [c for c in entry.checks if c.value is not None and c.check not in skip]
    # Optuna's convention: ≤ 0 feasible; relative to the limit so no one budget's unit dominates
    cons = {c.check: (c.value - c.limit if c.direction == "max" else c.limit - c.value) / max(abs(c.limit), 1e-9) for c in checks}
    return {
        "values": [float(quality), latency, float(memory), float(deploy.artifact.bytes)],
        "latency_source": source,
        "memory_source": mem_source,
        "qemu_peak_rss_mb": qemu_rss,
        "constraints": cons,
        "checks": {c.check: c.status for c in checks},
        "error": entry.error,
    }


def record(folder: Path, data: dict) -> None:
    write_text(folder / "trial.json", json.dumps(data, indent=2, default=str) + "\n")
