"""Reconstruction (autoencoders): MSE of the output against the input, lower is better."""

from __future__ import annotations

import numpy as np

from ..device.quality import Reconstruction
from .base import DEGENERATE_SPREAD, Task, centred_cosine, check, output_spread, per_sample

MIN_COSINE = {"fp32": 0.99999, "fp16": 0.999, "int8": 0.98, "dynamic": 0.98}
MAX_REL_DIFF = {"fp32": 1e-3, "fp16": 0.02}  # per-sample reconstruction error vs the reference; int8 uses the floor


class ReconstructionTask(Task):
    name = "reconstruction"
    quality = "mse"
    higher_is_better = False
    has_classes = False
    stratify = False
    unit = "percent of the parent's error"
    device = Reconstruction

    def loss(self, output, x, y, label_smoothing=0.0):
        import torch.nn.functional as F

        return F.mse_loss(output.float(), x.reshape(output.shape).float())

    def errors(self, outputs, x, groups=None) -> np.ndarray:
        o, i = outputs.reshape(len(outputs), -1).astype(np.float64), x.reshape(len(x), -1).astype(np.float64)
        return per_sample(((o - i) ** 2).mean(axis=1), groups)

    def score(self, outputs, x, y, groups=None):
        mse = float(self.errors(outputs, x).mean()) if len(x) else None
        return {"mse": mse, "loss": mse}

    def validation_key(self, scores):
        return (-scores["loss"],)

    def drop(self, parent, child):
        return (child["mse"] / max(parent["mse"], 1e-12) - 1) * 100

    def fmt(self, scores):
        return f"{scores['mse']:.5f}"

    def reference_values(self, reference, x, groups):
        return self.errors(reference, x, groups)

    def _fidelity(self, outputs, reference, x, groups) -> dict:
        o, r = outputs.reshape(len(outputs), -1).astype(np.float64), reference.reshape(len(reference), -1).astype(np.float64)
        diff = np.abs(o - r)
        return {
            "samples": int(len(o)),
            "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            "cosine": centred_cosine(o, r),
            "output_spread": output_spread(r),
        }

    def parity(self, outputs, reference, x, y, groups, *, precision, floor):
        res = self._fidelity(outputs, reference, x, groups)
        res |= Reconstruction.score(self.errors(outputs, x, groups), self.errors(reference, x, groups), y)
        need = MIN_COSINE[precision]
        if res["output_spread"] < DEGENERATE_SPREAD:
            res["passed"], res["rule"] = False, "degenerate"
            res["degenerate"] = f"the model's outputs hardly change across inputs (spread {res['output_spread']:.1e})"
        else:
            res["passed"], res["rule"] = res["cosine"] >= need, f"centred cosine ≥ {need}"
        return res

    def budget_checks(self, quality, budgets, precision, floor, on_target):
        checks = []
        if budgets.max_mse is not None:
            checks.append(check("reconstruction mse", quality.get("mse"), budgets.max_mse, "max"))
        limit = MAX_REL_DIFF.get(precision, 1 - floor)
        checks.append(check("error vs host reference (relative)", quality.get("max_rel_diff"), limit, "max"))
        return checks

    def columns(self):
        return [("mse", "mse", "{:.5f}"), ("Δ vs host", "max_rel_diff", "{:.1e}")]


TASK = ReconstructionTask()
