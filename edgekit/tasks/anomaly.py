"""Anomaly detection by reconstruction: the autoencoder learns normal sounds; a clip's score is its mean
reconstruction error; quality is ROC AUC (and partial AUC at 10% false positives), as MLPerf Tiny scores it."""

from __future__ import annotations

import numpy as np

from ..device.quality import Anomaly
from .base import check
from .reconstruction import ReconstructionTask

MAX_AUC_DIFF = {"fp32": 0.001, "fp16": 0.005}  # int8: 1 - the target's agreement floor
THRESHOLD_PERCENTILE = 90  # as the DCASE 2020 baseline's decision threshold (0.9 quantile of normal scores)


class AnomalyTask(ReconstructionTask):
    name = "anomaly"
    quality = "auc"
    higher_is_better = True
    unit = "AUC points"
    device = Anomaly

    def score(self, outputs, x, y, groups=None):
        errors = self.errors(outputs, x, groups)
        from ..device.quality import partial_auc, roc_auc

        labelled = len(np.unique(y)) == 2
        return {
            "auc": roc_auc(errors, y) if labelled else None,  # validation holds normal clips only
            "pauc": partial_auc(errors, y) if labelled else None,
            "loss": float(errors[y == 0].mean()) if (y == 0).any() else float(errors.mean()),
        }

    def validation_key(self, scores):
        # Validation holds normal clips only (DCASE: no anomalies to train on): lower error on normals.
        return (-scores["loss"],)

    def drop(self, parent, child):
        return (parent["auc"] - child["auc"]) * 100

    def fmt(self, scores):
        return "—" if scores.get("auc") is None else f"{scores['auc']:.4f}"

    def parity(self, outputs, reference, x, y, groups, *, precision, floor):
        res = self._fidelity(outputs, reference, x, groups)
        res |= Anomaly.score(self.errors(outputs, x, groups), self.errors(reference, x, groups), y)
        limit = MAX_AUC_DIFF.get(precision, 1 - floor)
        if res["output_spread"] < 1e-3:
            res["passed"], res["rule"] = False, "degenerate"
            res["degenerate"] = f"the model's outputs hardly change across inputs (spread {res['output_spread']:.1e})"
        elif res["auc_diff"] is None:  # one class only (a validation split of normal clips): no AUC to compare
            res["passed"], res["rule"] = False, "AUC needs normal and anomalous clips"
        else:
            res["passed"], res["rule"] = res["auc_diff"] <= limit, f"|AUC − reference AUC| ≤ {limit:g}"
        return res

    def options(self, values, y):
        normal = values[y == 0] if (y == 0).any() else values
        return {
            "threshold": float(np.percentile(normal, THRESHOLD_PERCENTILE)),
            "threshold_rule": f"{THRESHOLD_PERCENTILE}th percentile of the validation split's normal clips",
        }

    def budget_checks(self, quality, budgets, precision, floor, on_target):
        checks = []
        if budgets.min_auc is not None:
            checks.append(check("ROC AUC", quality.get("auc"), budgets.min_auc, "min"))
        checks.append(check("AUC vs host reference", quality.get("auc_diff"), MAX_AUC_DIFF.get(precision, 1 - floor), "max"))
        return checks

    def columns(self):
        return [("AUC", "auc", "{:.4f}"), ("pAUC", "pauc", "{:.4f}"), ("ΔAUC", "auc_diff", "{:.4f}")]


TASK = AnomalyTask()
