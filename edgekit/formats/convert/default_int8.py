"""The runtime's own default int8 recipe as a second candidate, so an edgekit int8 artifact is never less accurate
than what a user gets without edgekit (issue 24; benchmarks/results/baselines.md).

edgekit's int8 schemes are chosen for speed and size (onnxruntime: NNCF with int8 weight initializers and fused
QLinear kernels; LiteRT: per-channel weights on folded batch-norm), and on most models they are also the most
accurate; on some (MobileNetV1 x0.25 trained on digits: 0.6148 vs onnxruntime quantize_static's 0.6407) the
runtime's default was. Which one wins depends on the model, so both are measured: when the export judges int8 on
the validation split, the default is built too, both run in the real runtime on that split, and the task's parity
rule judges each. The default ships only where it passes the floor and edgekit's does not, or both pass and the
default scores higher on the validation labels, or the labels tie and its outputs are closer to fp32's (mean squared
error: a split of a few hundred samples often ties on accuracy); a full tie keeps edgekit's. It competes only when it
is as integer as edgekit's in the runtime (no more float compute) and, in LiteRT, runs in no more XNNPACK partitions
(litert-torch's default keeps int8 HARD_SWISH, which XNNPACK does not take: 5.8x slower on LCNet on x86-64,
where edgekit writes it out; benchmarks/results/hardswish_forms.md), so choosing it never trades speed for accuracy.
The quantizer line and deploy.json's extras.int8_choice say what was compared and what each scored; the test split,
which parity then judges, is never looked at.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np


def runtime_outputs(folder: Path, files: list[str], runtime: str, options: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    """The artifact's outputs in its runtime, as parity runs it."""
    from ..in_runtime import run_artifact

    return run_artifact(folder, {"artifact": {"files": files}, "runtime": {"name": runtime, "options": options}}, x)[1]


def better(ours: dict, theirs: dict) -> bool:
    """Whether the default's validation verdict beats edgekit's: passing the floor first, then the task's score,
    then (labels tied) the outputs' mean squared error to fp32's; a full tie keeps edgekit's."""

    def key(v: dict):
        score = v.get("score") if v.get("score") is not None else -np.inf
        return (bool(v.get("passed")), score, -v["error"] if v.get("error") is not None else -np.inf)

    return key(theirs) > key(ours)


def describe(verdict: dict) -> str:
    quality = (verdict.get("quality") or "no score").replace("validation ", "")
    if verdict.get("error") is not None:
        quality += f", output MSE to fp32 {verdict['error']:.3g}"
    return quality if verdict.get("passed") else f"{quality}, below the floor"


def choose(job, built, path: Path, runtime: str, name: str, make_default: Callable[[Path], str]) -> bool:
    """Build the runtime's default int8 (`name`, in words) of `job.float_model` beside `path` (edgekit's, already
    written and finished) with `make_default(candidate_path)` → its quantizer line, judge both on the validation
    split in `runtime`, and move the default over `path` when it is better. Records the comparison on `built`;
    returns whether the default ships."""
    validation = job.validation
    if validation is None:
        return False
    side = job.folder / ".default-int8"  # inside the staged export folder: nothing half-written reaches `out`
    side.mkdir()
    try:
        candidate = side / path.name
        job.say(f"building {name} to compare on the validation split")
        try:
            with quiet_logging():
                line = make_default(candidate)
        except Exception as e:  # the default cannot take this model, or is no like-for-like rival: edgekit's ships
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            first = first.replace(str(job.folder), "<export folder>")[:160]  # deploy.json holds no host paths
            built.notes.append(f"{name} was not compared ({first}); edgekit's int8 ships")
            built.extras["int8_choice"] = {"chosen": "edgekit", "default": {"quantizer": name, "failed": first}}
            return False
        ours = validation.judge(runtime_outputs(path.parent, [path.name], runtime, built.runtime_options, validation.x))
        theirs = validation.judge(runtime_outputs(side, [candidate.name], runtime, built.runtime_options, validation.x))
        won = better(ours, theirs)
        built.extras["int8_choice"] = {
            "chosen": "default" if won else "edgekit",
            "edgekit": {"quantizer": built.quantizer, **_figures(ours)},
            "default": {"quantizer": line, **_figures(theirs)},
        }
        if won:
            os.replace(candidate, path)
            built.quantizer = (
                f"{line}; chosen over edgekit's {built.quantizer} on the validation split ({describe(theirs)} vs {describe(ours)})"
            )
        else:
            built.quantizer = f"{built.quantizer}; kept over {name} on the validation split ({describe(ours)} vs {describe(theirs)})"
        return won
    finally:
        shutil.rmtree(side, ignore_errors=True)


def _figures(verdict: dict) -> dict:
    return {"validation": verdict.get("quality"), "output_mse": verdict.get("error"), "passed": bool(verdict.get("passed"))}


@contextlib.contextmanager
def quiet_logging():
    """onnxruntime's quantizer logs advice ("consider pre-processing") on the root logger at WARNING."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
