"""The Task protocol: everything edgekit does differently per task, so generic code names no task and picks no
metric by name.

A task owns its labels (how they batch for training, how eval.npz stores them without pickle), its model's outputs
(the check every stage runs, the loss, a distillation loss or none), its score (→ Quality) and direction, its
parity rule (→ Parity), the metrics a target may budget, the report and parity columns, and its device half
(edgekit/device/tasks/<device_task>.py: post-processing, per-sample value, label, score), which export's parity
check and the device runner both run.

Model outputs on the host are what `nn.evaluate.predict` returns: one array for a one-tensor model, a tuple or dict
of arrays for a model giving several. In export's parity check both sides are dicts by output name (`Compared`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import EdgekitError
from ..records import Parity, Quality

# A model is degenerate when its outputs hardly move across inputs: parity on it proves nothing.
DEGENERATE_SPREAD = 1e-3


def flat(outputs) -> np.ndarray:
    """Every output of each row side by side, float64 (an array, a tuple/list or a dict of arrays)."""
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (tuple, list)):
        return np.concatenate([flat(o) for o in outputs], axis=1) if outputs else np.zeros((0, 0))
    return np.asarray(outputs).reshape(len(outputs), -1).astype(np.float64)


def output_spread(reference) -> float:
    """How much the reference outputs vary across samples, relative to their size (0 = constant)."""
    r = flat(reference)
    if len(r) < 2:
        return float("inf")
    return float(r.std(axis=0).max() / (np.abs(r).mean() + 1e-6))


def centred_cosine(o: np.ndarray, r: np.ndarray) -> float:
    """Cosine after removing the reference's per-output mean: a constant bias no longer reads as agreement."""
    o, r = flat(o), flat(r)
    mu = r.mean(axis=0, keepdims=True)
    o, r = o - mu, r - mu
    return float((o * r).sum() / (np.linalg.norm(o) * np.linalg.norm(r) + 1e-12))


def fidelity(outputs, reference) -> dict:
    """How close the artifact's raw outputs are to the reference's, over every output tensor."""
    o, r = flat(outputs), flat(reference)
    diff = np.abs(o - r)
    return {
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "cosine": centred_cosine(o, r),
        "output_spread": output_spread(r),
    }


def per_sample(values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Mean of per-vector values per sample (anomaly clips are several vectors each)."""
    if groups is None:
        return values
    return np.bincount(groups, weights=values) / np.maximum(np.bincount(groups), 1)


def check(name: str, value, limit: float, direction: str, unit: str = "", on_target: bool = True, note: str | None = None) -> dict:
    ok = value is not None and (value <= limit if direction == "max" else value >= limit)
    status = "not the target" if not on_target else ("PASS" if ok else "FAIL")
    return {
        "check": name,
        "value": None if value is None else float(value),
        "limit": float(limit),
        "unit": unit,
        "direction": direction,
        "status": status,
        "note": note,
    }


@dataclass
class Compared:
    """What export's parity check hands the task: both sides' raw outputs by output name (one row per model input),
    the labels, and the device task's scores of the artifact's and the reference's per-sample values (post-processed
    and reduced by the device task, exactly as on the device)."""

    outputs: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    labels: Any
    samples: int
    quality: dict  # device task score: artifact values against the reference values
    reference_quality: dict  # device task score: reference values against themselves


class Task:
    name: str
    quality: str  # headline metric key of `score`
    higher_is_better: bool
    has_classes: bool  # the model tells named classes apart: model.json records num_classes and the label names
    min_classes: int = 0  # classes a data set must hold for this task (a classifier: 2)
    stratify: bool  # stratified splits by label
    unit: str  # what --max-drop counts in
    device_task: str  # key of edgekit.device.tasks.TASKS
    budget_metrics: dict[str, str] = {}  # metric of the device's quality → "min" | "max": what [budgets.quality] may set
    metric_names: dict[str, str] = {}  # how checks and tables name a metric key (default: the key)
    distill_loss = None  # a method (student_out, teacher_out, temperature) -> loss, or None: no distillation

    @property
    def device(self):
        """The device half (edgekit/device/tasks/), as export's parity check and the runner use it."""
        from ..device import tasks

        return tasks.get(self.device_task)

    def metric_name(self, key: str) -> str:
        return self.metric_names.get(key, key)

    # ---------------------------------------------------------------- labels

    def labels_for(self, y, pipeline: dict):
        """A split's labels as this task trains and scores on them, once the preprocessing is known (a detector's
        boxes placed in the model input's frame); as they are by default."""
        return y

    def collate(self, labels, index: np.ndarray, device):
        """A training batch's labels (rows `index` of the split's per-row labels) on `device`."""
        import torch

        return torch.from_numpy(np.asarray(labels)[index]).to(device, non_blocking=True)

    def augment(self, xb, yb, progress: float):
        """A training batch changed by chance (torch's generator, seeded per epoch by the loop); `progress` is the
        share of training done. Unchanged by default: only detection augments so far (its boxes move with the pixels)."""
        return xb, yb

    def store_labels(self, y) -> dict:
        """eval.npz entries for the labels (plain arrays; ragged data as a flat array plus `<key>_offsets`),
        read back on the device by the device task's load_labels."""
        return {"y": np.asarray(y)}

    def store_reference(self, values: list) -> dict:
        """eval.npz entries for the host reference's per-sample values, read back by the device task's load_reference."""
        return {"reference": np.stack(values).astype(np.float32)}

    # ---------------------------------------------------------------- outputs, loss, score

    def check_output(self, out, spec) -> None:
        """Raise EdgekitError when `out` (the model's output for a batch of 2 zeros) is not what this task scores,
        naming what it expects."""

    def loss(self, output, x, y, label_smoothing: float = 0.0): ...

    def batch_metrics(self, output, y) -> dict[str, float]:
        """Sums over one training batch, shown per epoch as averages (e.g. train_accuracy)."""
        return {}

    def score(self, outputs, x: np.ndarray, y, groups: np.ndarray | None = None) -> Quality: ...

    def validation_key(self, scores: dict) -> tuple: ...

    def drop(self, parent: dict, child: dict) -> float:
        """Quality lost from parent to child in this task's points (positive = worse)."""
        sign = 1 if self.higher_is_better else -1
        return sign * (parent[self.quality] - child[self.quality]) * 100

    def fmt(self, scores: dict) -> str:
        return f"{scores[self.quality]:.4f}"

    def warnings(self, spec, scores: dict) -> list[str]:
        """What a training run should say about its test scores (a classifier near chance)."""
        return []

    # ---------------------------------------------------------------- export and the device

    def degenerate(self, reference, y) -> str | None:
        """Why a parity check against these reference outputs would prove nothing, or None."""
        spread = output_spread(reference)
        if spread < DEGENERATE_SPREAD:
            return f"the model's outputs hardly change across inputs (spread {spread:.1e})"
        return None

    def postprocess_options(self) -> dict:
        """Fixed settings of the device task's postprocess (e.g. NMS thresholds); recorded in task_options."""
        return {}

    def options(self, values: list, y) -> dict:
        """What the device needs beyond the model to label a sample, from the reference's per-sample values on the
        validation split (the anomaly threshold)."""
        return {}

    def tuned_options(self) -> dict[str, list]:
        """Post-processing settings export chooses on the validation split: candidates per key; the combination with
        the best validation score is shipped in task_options (a centroid detector's score threshold)."""
        return {}

    def parity(self, c: Compared, *, precision: str, floor: float) -> Parity: ...

    def parity_floor(self, budgets, override: float | None) -> float:
        """What `floor` is in this task's int8 parity rule, from the target's budgets: its top-1 agreement floor,
        or the user's --min-agreement."""
        return override if override is not None else budgets.min_int8_agreement

    def device_score(self, values: list, reference, labels) -> dict:
        """The device's figures from per-sample values: the device task's score, which a task may complete with a
        library the board lacks (COCO mAP). Export's parity and bench's result both come from this."""
        return self.device.score(values, reference, labels)

    def as_shipped(self, values: list) -> list:
        """Per-sample values as the host receives them from a device (the device task's `ship`, over JSON, read
        back): export's parity scores these, so its figure is the one bench computes from the same outputs."""
        return values

    def finish(self, result, folder, deploy):
        """A runner result completed on the host from the values the device shipped (RunnerResult.values), with
        `details` for the report; unchanged when the device's score is complete. ValueError when they do not fit."""
        return result

    def report_sections(self, entry) -> list[tuple[str, str, str]]:
        """(title, Markdown, HTML) sections this task adds to the report for one measured artifact."""
        return []

    def predict_row(self, row: dict) -> dict:
        """predict --json's entry for one file (the runner's row without timings)."""
        return {"file": row["file"], "label": row["label"], "index": row.get("index"), "score": row["score"]}

    def draw(self, image, row: dict):
        """predict --save: the image (a Pillow image of the raw file) with the prediction drawn, or None when this
        task draws nothing."""
        return None

    def parity_record(self, c: Compared, metrics: dict, passed: bool, rule: str) -> Parity:
        """A Parity with this task's summary keys; refused as degenerate when the reference says nothing."""
        why = self.degenerate(c.reference, c.labels)
        if why:
            passed, rule = False, "degenerate"
        return Parity(passed=passed, rule=rule, samples=c.samples, metrics=metrics, summary=self.parity_summary(), degenerate=why)

    def parity_summary(self) -> list[str]:
        """Metric keys a one-line verdict quotes (export's failure message, the float-fallback tries)."""
        return ["max_abs_diff"]

    def parity_columns(self) -> list[tuple[str, str]]:
        """The export table's parity rows: (label, template over the metrics, e.g. "{accuracy:.4f}")."""
        return [("max |Δ output|", "{max_abs_diff:.2e}"), ("centred cosine", "{cosine:.6f}")]

    # ---------------------------------------------------------------- bench

    def reference_checks(self, quality: dict, precision: str, floor: float) -> list[dict]:
        """Checks of the device's figures against the host reference shipped in eval.npz (held everywhere)."""
        return []

    def columns(self) -> list[tuple[str, str, str]]:
        """Report columns: (header, key in the device quality dict, format)."""
        ...

    def check_eval(self, deploy, labels, reference) -> str | None:
        """What is wrong between a received deploy.json's tensors and its eval file's labels and reference (or
        None): said after "deploy.json says task '...' but"."""
        return None


def only_output(out, task: str):
    """The output tensor of a one-output model; an EdgekitError naming what the task expects otherwise."""
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        if len(out) != 1:
            raise EdgekitError(
                f"the model gives {len(out)} outputs; a {task} model gives one tensor", "make forward() return a single tensor"
            )
        out = out[0]
    return out


def per_sample_size(shape: list[int]) -> int | None:
    """Values per sample of a tensor shape (batch axis first); None when a dimension is dynamic."""
    dims = shape[1:]
    return int(np.prod(dims)) if all(d > 0 for d in dims) else None
