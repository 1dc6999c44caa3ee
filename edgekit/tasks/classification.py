"""Classification: cross-entropy, accuracy, top-1 agreement with the reference."""

from __future__ import annotations

import numpy as np

from ..device.quality import Classification
from .base import DEGENERATE_SPREAD, Task, centred_cosine, check, output_spread

FP32_TOL = 1e-3  # max |Δ output| relative to the reference's largest magnitude (bar: ≤ 1e-4 measured)
FP16_MIN_AGREEMENT = 0.99


class ClassificationTask(Task):
    name = "classification"
    quality = "accuracy"
    higher_is_better = True
    has_classes = True
    stratify = True
    unit = "accuracy points"
    device = Classification

    def loss(self, output, x, y, label_smoothing=0.0):
        import torch.nn.functional as F

        return F.cross_entropy(output.float(), y, label_smoothing=label_smoothing)

    def score(self, outputs, x, y, groups=None):
        import torch

        if not len(y):
            return {"accuracy": None, "loss": None}
        loss = float(self.loss(torch.from_numpy(outputs), None, torch.from_numpy(y)))
        return {"accuracy": float((outputs.argmax(1) == y).mean()), "loss": loss}

    def validation_key(self, scores):
        return (scores["accuracy"], -scores["loss"])

    def reference_values(self, reference, x, groups):
        return reference.reshape(len(reference), -1)

    def parity(self, outputs, reference, x, y, groups, *, precision, floor):
        o, r = outputs.reshape(len(outputs), -1).astype(np.float64), reference.reshape(len(reference), -1).astype(np.float64)
        diff = np.abs(o - r)
        peak = float(np.abs(r).max()) or 1.0
        mse = float((diff**2).mean())
        res = {
            "samples": int(len(o)),
            "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            "cosine": centred_cosine(o, r),
            "psnr_db": float(10 * np.log10(peak**2 / mse)) if mse > 0 else None,
            "output_spread": output_spread(r),
            **Classification.score(o, r, y),
        }
        res["top1_agreement"] = res.pop("agreement")
        res["reference_accuracy"] = float((r.argmax(1) == y).mean())
        res["accuracy_drop_points"] = (res["reference_accuracy"] - res["accuracy"]) * 100
        if res["output_spread"] < DEGENERATE_SPREAD:
            res["passed"], res["rule"] = False, "degenerate"
            res["degenerate"] = f"the model's outputs hardly change across inputs (spread {res['output_spread']:.1e})"
        elif len(np.unique(r.argmax(1))) == 1 and len(np.unique(y)) > 1:
            # logits that move but always pick one class: 100% top-1 agreement would be trivially true
            res["passed"], res["rule"] = False, "degenerate"
            res["degenerate"] = f"the model predicts class {int(r[0].argmax())} for every test input"
        elif precision == "fp32":
            tol = FP32_TOL * max(1.0, peak)
            res["passed"] = res["max_abs_diff"] <= tol and res["top1_agreement"] >= 0.999
            res["rule"] = f"max |Δ| ≤ {tol:.1e} and agreement ≥ 99.9%"
        elif precision == "fp16":
            res["passed"], res["rule"] = res["top1_agreement"] >= FP16_MIN_AGREEMENT, f"agreement ≥ {FP16_MIN_AGREEMENT:.0%}"
        else:
            res["passed"] = res["top1_agreement"] >= floor
            res["rule"] = f"agreement ≥ {floor:.1%} (target floor; --min-agreement to change)"
        return res

    def budget_checks(self, quality, budgets, precision, floor, on_target):
        checks = []
        if budgets.min_accuracy is not None:
            checks.append(check("accuracy", quality.get("accuracy"), budgets.min_accuracy, "min"))
        checks.append(check("agreement with host reference", quality.get("agreement"), floor, "min"))
        return checks

    def columns(self):
        return [("accuracy", "accuracy", "{:.4f}"), ("agreement", "agreement", "{:.2%}")]


TASK = ClassificationTask()
