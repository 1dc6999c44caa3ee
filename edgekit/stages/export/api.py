"""export_run: one run folder → one artifact folder (artifact files, deploy.json, eval.npz, parity.json), checked.

No format is named here: the format plug-in builds the files, the runtime adapter (the same code the device
runner uses) runs them, and the task plug-in judges the parity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ... import parity as unproven_parity
from ...contracts import ArtifactInfo, Deploy, EvalInfo, RuntimeInfo, TensorInfo
from ...data import Splits, load_run_data
from ...data.calibration import calibration_samples
from ...device import runtimes
from ...device.integrity import sha256
from ...errors import BudgetFailed, EdgekitError
from ...formats.base import BuildJob
from ...formats.convert.pt2e import Validation
from ...formats.in_runtime import run_artifact
from ...nn.profile import profile_model
from ...records import Parity
from ...runs import Run, load_run
from ...targets import find_target
from ...tasks import get_task
from ...util.fsutil import check_out_folder, json_text, staged_dir, write_text
from ...util.manifest import now
from ...util.progress import status
from ..compress.quantizers import reference_name
from . import judge
from . import keep_float as keep_float_option
from .estimate import estimate_latency
from .models import float_model
from .plan import plan_export

DEFAULT_CALIBRATION = 300


@dataclass
class Artifact:
    path: Path
    deploy: Deploy
    parity: Parity
    notes: list[str]


def check_export_args(calib: int, min_agreement: float | None) -> None:
    if calib < 1:
        raise EdgekitError(f"--calib must be ≥ 1, got {calib}", f"pass e.g. --calib {DEFAULT_CALIBRATION}")
    if min_agreement is not None and not (math.isfinite(min_agreement) and 0 <= min_agreement <= 1):
        raise EdgekitError(f"--min-agreement must lie between 0 and 1, got {min_agreement}", "pass e.g. --min-agreement 0.98")


def _raw_arrays(raws: list) -> dict:
    """Raw samples for eval.npz: stacked when they share a shape, else one array each."""
    if raws and len({(r.shape, r.dtype) for r in raws}) == 1:
        return {"raw": np.stack(raws)}
    return {f"raw_{i:05d}": r for i, r in enumerate(raws)}


def _refuse_degenerate(why: str | None) -> None:
    if why:
        raise EdgekitError(f"{why}: a parity check on it would prove nothing", "train it until it learns (see its metrics.json warnings)")


def export_run(
    run,
    *,
    target: str = "x86-64",
    fmt: str | None = None,
    precision: str | None = None,
    out: Path | None = None,
    dynamic_batch: bool = False,
    calib: int = DEFAULT_CALIBRATION,
    force_calib: bool = False,
    min_agreement: float | None = None,
    trust_code: bool = False,
    dataset: str | None = None,
    progress: bool = True,
    say=lambda m: None,
    runtime_options: dict | None = None,
    prove_parity: bool = True,
    keep_float=(),
) -> Artifact:
    """prove_parity=False (--no-parity): a latency/size-only artifact of any network, marked "not proven"
    (edgekit/parity.py); the runtime still runs it on a few samples. keep_float: module paths of conv / linear
    layers an int8 export keeps in float (--keep-float; keep_float.py)."""
    check_export_args(calib, min_agreement)
    tgt = find_target(target)
    run = run if isinstance(run, Run) else load_run(run, trust_code=trust_code)
    why = run.spec.graph.not_converted if run.spec.graph else None
    plan = plan_export(
        tgt,
        quantized_run=bool(run.spec.quantization),
        fmt=fmt,
        precision=precision,
        runs_in=run.spec.runs_in,
        why=why,
        trained=run.spec.quantization,  # a QAT run goes where its trained quantizer's ranges can ship
    )
    f = plan.format
    f.check_available()
    f.check_runtime_options(runtime_options or {})
    if dynamic_batch and not f.dynamic_batch:
        raise EdgekitError(f"a dynamic batch axis is not available for {f.name}", "drop --dynamic-batch or use --format onnx")
    out = check_out_folder(Path(out) if out else Path("dist") / f"{tgt.name}-{f.name}-{plan.precision}")
    task = get_task(run.spec.task)
    read_notes: list[str] = []  # which recorded data file was read, said in the export table
    where = str(run.path / "model.json") if run.path else "the run's model.json"
    data = load_run_data(run.spec, dataset, where=where, say=read_notes.append)
    splits = Splits.of(data, run.spec.normalization)
    x_test, y_test, g_test = splits.x["test"], splits.y["test"], splits.groups["test"]
    needs_calib = f.needs_calibration(plan.precision, run.spec.quantization)  # not where a QAT run's own ranges ship
    calibration = (
        calibration_samples(splits.x["train"], min(calib, len(splits.x["train"])), seed=run.spec.dataset.seed, force=force_calib)
        if needs_calib
        else None
    )
    fp32 = float_model(run)
    keep = keep_float_option.check(
        keep_float_option.parse(keep_float),
        fmt=f,
        precision=plan.precision,
        target=tgt,
        run=run,
        model=fp32,
        calibrated=needs_calib,
    )
    floor = task.parity_floor(tgt.budgets, min_agreement)  # what the task's int8 rule allows (agreement, mAP points)
    x_val = splits.x["val"]
    # PyTorch runs once per model and split; the reference, the task options, the degenerate check and the float
    # fallback's validation all reuse these outputs.
    models = {"fp32": fp32, "run": run.model}
    predictions = judge.Predictions(models, splits)
    pipeline = run.spec.preprocess  # boxes go back to raw pixels through it, as on the device
    options = judge.Options(task, predictions, splits, pipeline)
    if prove_parity:  # before the build: a model that says nothing makes every parity check pass trivially
        _refuse_degenerate(task.degenerate(predictions("fp32", "test"), y_test))
    validation = None
    if calibration is not None and len(x_val):
        # formats that may keep early layers float judge their int8 graph here first (never on the test split)

        def compared(out) -> judge.Compared:
            ref = predictions("fp32", "val")
            return judge.compare(
                task,
                judge.named(out, list(ref)),
                ref,
                x_val,
                splits.y["val"],
                splits.groups["val"],
                options("fp32"),
                shapes=splits.shapes["val"],
                pipeline=pipeline,
            )

        def judged(out) -> Parity:
            return task.parity(compared(out), precision="int8", floor=floor)

        def verdict(out) -> dict:
            c = compared(out)
            p = task.parity(c, precision="int8", floor=floor)
            score = c.quality.get(task.quality)  # the task's headline figure on the validation labels
            # how far the outputs are from fp32's: separates candidates the labels of a small split cannot
            error = float(np.mean([np.mean((np.asarray(c.outputs[k], np.float64) - c.reference[k]) ** 2) for k in c.reference]))
            return {
                "error": error,
                "passed": p.passed,
                "rule": p.brief() or p.rule,
                "score": None if score is None else float(score) if task.higher_is_better else -float(score),
                "quality": None if score is None else f"validation {task.quality} {float(score):.4f}",
            }

        # a split the task cannot judge on (anomaly detection's normal-only validation clips) has no say
        validation = Validation(x_val, verdict) if judged(predictions("fp32", "val")).passed else None
    started = now()
    with staged_dir(out) as folder:
        job = BuildJob(
            run=run,
            float_model=fp32,
            folder=folder,
            precision=plan.precision,
            calibration=calibration,
            samples=x_test[:8],
            target=tgt,
            dynamic_batch=dynamic_batch,
            int8_scheme=plan.int8_scheme,
            runtime_options=runtime_options or {},
            say=say,
            progress=progress,
            validation=validation,
            keep_float=keep,
        )
        built = f.build(job)
        # A format whose runtime needs hardware this machine lacks (TensorRT) names a host stand-in for parity.
        host = getattr(f, "host_runtime", f.runtime)
        partial = {"artifact": {"files": built.files}, "runtime": {"name": host, "options": built.runtime_options}}
        checked = x_test if prove_parity else x_test[: unproven_parity.SMOKE_SAMPLES]
        adapter, outputs = run_artifact(folder, partial, checked, progress=progress)
        role = "run" if built.reference == "run" else "fp32"  # the run's own int8 model, or the float one
        names = [t["name"] for t in adapter.outputs]
        reference = judge.named(predictions(role, "test"), names)
        task_options = options(role)
        if prove_parity:
            c = judge.compare(
                task, outputs, reference, x_test, y_test, g_test, task_options, shapes=splits.shapes["test"], pipeline=pipeline
            )
            parity = task.parity(c, precision=plan.precision, floor=floor)
            _refuse_degenerate(parity.degenerate)
        else:  # no verdict, and no degenerate guard: an untrained network may be looked at for speed
            parity = unproven_parity.unproven(outputs, {k: v[: len(checked)] for k, v in reference.items()}, len(checked))
        versus = {}
        if prove_parity and plan.precision == "int8" and run.spec.quantization and role != "run":
            own = judge.named(predictions("run", "test"), names)
            c = judge.compare(task, outputs, own, x_test, y_test, g_test, task_options, shapes=splits.shapes["test"], pipeline=pipeline)
            versus = {"the run's own int8 model": task.parity(c, precision="int8", floor=0.0).metrics}
        parity = parity.model_copy(
            update={
                "reference": reference_name(run.spec.quantization)
                if role == "run"
                else "PyTorch fp32"
                if run.spec.runs_in == "pytorch"
                else "onnxruntime fp32 (the imported graph)",
                "runtime": adapter.version,
                "versus": versus,
            }
        )
        files = {name: folder / name for name in built.files}
        total_bytes = sum(p.stat().st_size for p in files.values())
        cost = profile_model(fp32, run.spec.input_shape)
        dtask = task.device
        ref_values = judge.sample_values(
            dtask, x_test, reference, len(y_test), g_test, task_options, shapes=splits.shapes["test"], pipeline=pipeline
        )
        eval_arrays = {**task.store_labels(y_test), **task.store_reference(ref_values)}
        np.savez_compressed(folder / "eval.npz", **_raw_arrays(data.raw["test"]), **eval_arrays)
        deploy = Deploy(
            artifact=ArtifactInfo(
                files=built.files,
                format=f.name,
                precision=plan.precision,
                bytes=total_bytes,
                sha256={n: sha256(p) for n, p in files.items()},
            ),
            runtime=RuntimeInfo(
                name=f.runtime, packages=runtimes.packages(f.runtime), threads=tgt.runtime.threads, options=built.runtime_options
            ),
            inputs=[TensorInfo(**t) for t in adapter.inputs],
            outputs=[TensorInfo(**t) for t in adapter.outputs],
            layout=run.spec.layout,
            sample_shape=run.spec.input_shape,
            preprocess=run.spec.preprocess,
            task=run.spec.task,
            task_options=task_options,
            labels=run.spec.labels,
            # names, not host paths: deploy.json travels to boards and colleagues
            source={
                "run": run.path.resolve().name if run.path else None,
                "model": run.spec.name,
                "stage": run.manifest.stage,
                "lineage": [Path(p).name for p in run.manifest.lineage] + ([run.path.resolve().name] if run.path else []),
            },
            target=tgt.profile,
            toolchain={**built.toolchain, "quantizer": built.quantizer},
            calibration=(
                {"split": "train", "samples": int(len(calibration)), "weights": plan.int8_scheme.get("weights")}
                if calibration is not None
                else run.spec.quantization.get("calibration")
                if plan.precision == "int8"
                else None
            ),
            eval=EvalInfo(
                file="eval.npz",
                samples=int(len(y_test)),
                raw=True,
                contents=f"raw: the test split as the sensor delivers it (apply `preprocess`); {', '.join(eval_arrays)}: "
                "the labels and the host PyTorch reference's per-sample values, as the task stores them",
                sha256=sha256(folder / "eval.npz"),
            ),
            parity=parity,
            estimate=estimate_latency(tgt, macs=cost.macs, weight_bytes=total_bytes, precision=plan.precision),
            extras={
                **built.extras,
                "int8_scheme": plan.int8_scheme or None,
                "reasons": list(plan.reasons),
                **({"sidecar": {n: sha256(folder / n) for n in built.sidecar}} if built.sidecar else {}),
            },
            created=started,
        )
        write_text(folder / "parity.json", json_text(parity.model_dump(mode="json")))
        write_text(folder / "deploy.json", json_text(deploy.model_dump(mode="json")))
        if prove_parity and not parity.passed:
            tried = built.extras.get("float_layers")
            hint = ""
            if validation is not None and not tried and f.float_layers and not tgt.runtime.full_int8_only:
                # full int8 passed on validation, so nothing was ranked: rank now, for the user to choose
                with status("int8 missed the floor on the test split: ranking layers by int8 sensitivity for the advice", progress):
                    hint = keep_float_option.suggestion(
                        fp32, calibration, x_val, per_channel=plan.int8_scheme.get("weights", "per-channel") == "per-channel"
                    )
            raise BudgetFailed(
                f"parity check failed: {f.name} {plan.precision} in {adapter.runtime} misses {parity.rule} ({parity.brief()})"
                + (
                    f"; with {tried['tried_up_to']} of its {tried['layers']} layers float it missed on the validation split too"
                    if tried and not tried["kept"]
                    else ""
                ),
                "nothing was written; try another --precision or --format, QAT (edgekit compress --qat), "
                + (
                    f"lower --min-agreement deliberately, or keep the layers int8 hurts most (ranked on the validation split) in float: {hint}"
                    if hint
                    else "or lower --min-agreement deliberately"
                ),
            )
    return Artifact(path=out, deploy=deploy, parity=parity, notes=[*read_notes, *plan.reasons, *built.notes])
