"""Classification: cross-entropy, accuracy, top-1 agreement with the reference, distillation by softened logits."""

from __future__ import annotations

import numpy as np

from ..errors import EdgekitError
from ..records import Quality
from .base import Task, check, fidelity, flat, only_output, per_sample_size

FP32_TOL = 1e-3  # max |Δ output| relative to the reference's largest magnitude (bar: ≤ 1e-4 measured)
FP16_MIN_AGREEMENT = 0.99


class ClassificationTask(Task):
    name = "classification"
    quality = "accuracy"
    higher_is_better = True
    has_classes = True
    min_classes = 2
    stratify = True
    unit = "accuracy points"
    device_task = "classification"
    budget_metrics = {"accuracy": "min"}

    def check_output(self, out, spec):
        out = only_output(out, self.name)
        if out.ndim != 2 or out.shape[1] != spec.num_classes:
            raise EdgekitError(
                f"model {spec.name} outputs shape {tuple(out.shape[1:])} but the data set has {spec.num_classes} classes "
                f"(a classification model outputs one logit per class: shape ({spec.num_classes},))",
                "make it output one logit per class: a factory taking num_classes (or **kwargs) gets it; "
                "otherwise pass --model-arg num_classes=N or your constructor's own name for it",
            )

    def loss(self, output, x, y, label_smoothing=0.0):
        import torch.nn.functional as F

        return F.cross_entropy(only_output(output, self.name).float(), y, label_smoothing=label_smoothing)

    def distill_loss(self, student_out, teacher_out, temperature):
        """Hinton et al.: T² · KL(teacher_T || student_T) on the softened logits."""
        import torch.nn.functional as F

        soft = F.softmax(only_output(teacher_out, self.name).float() / temperature, dim=1)
        log_student = F.log_softmax(only_output(student_out, self.name).float() / temperature, dim=1)
        return F.kl_div(log_student, soft, reduction="batchmean") * temperature**2

    def batch_metrics(self, output, y):
        return {"train_accuracy": float((only_output(output, self.name).detach().argmax(1) == y).sum())}

    def score(self, outputs, x, y, groups=None):
        import torch

        if not len(y):
            return Quality({"accuracy": None, "loss": None}, self.quality, self.higher_is_better)
        outputs = only_output(outputs, self.name)
        loss = float(self.loss(torch.from_numpy(outputs), None, torch.from_numpy(y)))
        return Quality({"accuracy": float((outputs.argmax(1) == y).mean()), "loss": loss}, self.quality, self.higher_is_better)

    def validation_key(self, scores):
        return (scores["accuracy"], -scores["loss"])

    def warnings(self, spec, scores):
        if not spec.num_classes or scores.get("accuracy") is None:
            return []
        chance = 1 / spec.num_classes
        if scores["accuracy"] <= chance + 0.1 * (1 - chance):
            return [f"test accuracy {scores['accuracy']:.3f} is near chance ({chance:.3f} for {spec.num_classes} classes)"]
        return []

    def degenerate(self, reference, y):
        why = super().degenerate(reference, y)
        top = flat(reference).argmax(1)
        if why is None and len(np.unique(top)) == 1 and len(np.unique(y)) > 1:
            # logits that move but always pick one class: 100% top-1 agreement would be trivially true
            why = f"the model predicts class {int(top[0])} for every test input"
        return why

    def parity(self, c, *, precision, floor):
        f = fidelity(c.outputs, c.reference)
        r = flat(c.reference)
        peak = float(np.abs(r).max()) if r.size else 1.0
        mse = float(((flat(c.outputs) - r) ** 2).mean()) if r.size else 0.0
        q, rq = c.quality, c.reference_quality
        metrics = {
            **f,
            "psnr_db": float(10 * np.log10((peak or 1.0) ** 2 / mse)) if mse > 0 else None,
            "top1_agreement": q["agreement"],
            "accuracy": q["accuracy"],
            "reference_accuracy": rq["accuracy"],
            "accuracy_drop_points": (rq["accuracy"] - q["accuracy"]) * 100,
        }
        if precision == "fp32":
            tol = FP32_TOL * max(1.0, peak)
            passed, rule = f["max_abs_diff"] <= tol and q["agreement"] >= 0.999, f"max |Δ| ≤ {tol:.1e} and agreement ≥ 99.9%"
        elif precision == "fp16":
            passed, rule = q["agreement"] >= FP16_MIN_AGREEMENT, f"agreement ≥ {FP16_MIN_AGREEMENT:.0%}"
        else:
            passed, rule = q["agreement"] >= floor, f"agreement ≥ {floor:.1%} (target floor; --min-agreement to change)"
        return self.parity_record(c, metrics, passed, rule)

    def parity_summary(self):
        return ["top1_agreement", "accuracy", "max_abs_diff"]

    def parity_columns(self):
        return [
            ("top-1 agreement", "{top1_agreement:.2%}"),
            ("accuracy (runtime / reference)", "{accuracy:.4f} / {reference_accuracy:.4f}"),
            *super().parity_columns(),
        ]

    def reference_checks(self, quality, precision, floor):
        return [check("agreement with host reference", quality.get("agreement"), floor, "min")]

    def columns(self):
        return [("accuracy", "accuracy", "{:.4f}"), ("agreement", "agreement", "{:.2%}")]

    def check_eval(self, deploy, labels, reference):
        if len(deploy.outputs) != 1:
            return f"it lists {len(deploy.outputs)} output tensors; a {self.name} model gives one"
        shape = deploy.outputs[0].shape
        per_out, per_ref = per_sample_size(shape), int(np.prod(reference.shape[1:]))
        if per_out is not None and per_out < 2:
            return f"its output shape {shape} holds no class scores"
        if per_out is not None and per_ref != per_out:
            return f"its output holds {per_out} class scores and the eval reference {per_ref} values per sample"
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.dtype.kind not in "biu":
            return f"the eval labels (y) are {labels.dtype} of shape {list(labels.shape)}, not a 1-D array of integer labels"
        if len(labels) and (labels.min() < 0 or labels.max() >= per_ref):
            return f"the eval labels (y) run {labels.min()}..{labels.max()}, outside its {per_ref} classes"
        return None


TASK = ClassificationTask()
