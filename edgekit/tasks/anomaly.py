"""Anomaly detection by reconstruction: the autoencoder learns normal sounds; a clip's score is its mean
reconstruction error; quality is ROC AUC (and partial AUC at 10% false positives), as MLPerf Tiny scores it."""

from __future__ import annotations

import numpy as np

from ..device.tasks.metrics import partial_auc, roc_auc
from ..records import Quality
from .base import Task, check, fidelity
from .reconstruction import ReconstructionTask

MAX_AUC_DIFF = {"fp32": 0.001, "fp16": 0.005}  # int8: 1 - the target's agreement floor
THRESHOLD_PERCENTILE = 90  # as the DCASE 2020 baseline's decision threshold (0.9 quantile of normal scores)


class AnomalyTask(ReconstructionTask):
    name = "anomaly"
    quality = "auc"
    higher_is_better = True
    unit = "AUC points"
    device_task = "anomaly"
    budget_metrics = {"auc": "min", "pauc": "min"}
    metric_names = {"auc": "ROC AUC", "pauc": "partial AUC"}

    def score(self, outputs, x, y, groups=None):
        errors = self.errors(outputs, x, groups)
        labelled = len(np.unique(y)) == 2
        metrics = {
            "auc": roc_auc(errors, y) if labelled else None,  # validation holds normal clips only
            "pauc": partial_auc(errors, y) if labelled else None,
            "loss": float(errors[y == 0].mean()) if (y == 0).any() else float(errors.mean()),
        }
        return Quality(metrics, self.quality, self.higher_is_better)

    def warnings(self, spec, scores):
        auc = scores.get("auc")
        if auc is not None and auc <= 0.55:  # as a classifier near chance: the scores do not tell the classes apart
            return [f"test AUC {auc:.3f} is near chance (0.5)"]
        return []

    def validation_key(self, scores):
        # Validation holds normal clips only (DCASE: no anomalies to train on): lower error on normals.
        return (-scores["loss"],)

    def drop(self, parent, child):
        return (parent["auc"] - child["auc"]) * 100

    def fmt(self, scores):
        return "—" if scores.get("auc") is None else f"{scores['auc']:.4f}"

    def parity(self, c, *, precision, floor):
        metrics = {**fidelity(c.outputs, c.reference), **c.quality}
        limit = MAX_AUC_DIFF.get(precision, 1 - floor)
        if metrics["auc_diff"] is None:  # one class only (a validation split of normal clips): no AUC to compare
            return self.parity_record(c, metrics, False, "AUC needs normal and anomalous clips")
        return self.parity_record(c, metrics, metrics["auc_diff"] <= limit, f"|AUC − reference AUC| ≤ {limit:g}")

    def parity_summary(self):
        return ["auc_diff", "auc", "cosine", "max_abs_diff"]

    def parity_columns(self):
        return [("ROC AUC (runtime / reference)", "{auc:.4f} / {reference_auc:.4f}"), *Task.parity_columns(self)]

    def options(self, values, y):
        values = np.concatenate([np.asarray(v).reshape(-1) for v in values])
        normal = values[y == 0] if (y == 0).any() else values
        return {
            "threshold": float(np.percentile(normal, THRESHOLD_PERCENTILE)),
            "threshold_rule": f"{THRESHOLD_PERCENTILE}th percentile of the validation split's normal clips",
        }

    def reference_checks(self, quality, precision, floor):
        return [check("AUC vs host reference", quality.get("auc_diff"), MAX_AUC_DIFF.get(precision, 1 - floor), "max")]

    def columns(self):
        return [("AUC", "auc", "{:.4f}"), ("pAUC", "pauc", "{:.4f}"), ("ΔAUC", "auc_diff", "{:.4f}")]


TASK = AnomalyTask()
