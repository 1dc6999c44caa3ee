"""Reconstruction (autoencoders): MSE of the output against the input, lower is better."""

from __future__ import annotations

import numpy as np

from ..errors import EdgekitError
from ..records import Quality
from .base import Task, check, fidelity, only_output, per_sample, per_sample_size

MIN_COSINE = {"fp32": 0.99999, "fp16": 0.999, "int8": 0.98, "dynamic": 0.98}
MAX_REL_DIFF = {"fp32": 1e-3, "fp16": 0.02}  # per-sample reconstruction error vs the reference; int8 uses the floor


class ReconstructionTask(Task):
    name = "reconstruction"
    quality = "mse"
    higher_is_better = False
    has_classes = False
    stratify = False
    unit = "percent of the parent's error"
    device_task = "reconstruction"
    budget_metrics = {"mse": "max"}
    metric_names = {"mse": "reconstruction mse"}

    def check_output(self, out, spec):
        out = only_output(out, self.name)
        if tuple(out.shape[1:]) not in (tuple(spec.input_shape), (int(np.prod(spec.input_shape)),)):
            raise EdgekitError(
                f"model {spec.name} outputs shape {tuple(out.shape[1:])}; a {self.name} model reproduces its input "
                f"{tuple(spec.input_shape)} (one output of that shape, or flattened)",
                "make the model output its input's shape",
            )

    def loss(self, output, x, y, label_smoothing=0.0):
        import torch.nn.functional as F

        output = only_output(output, self.name)
        return F.mse_loss(output.float(), x.reshape(output.shape).float())

    def errors(self, outputs, x, groups=None) -> np.ndarray:
        outputs = only_output(outputs, self.name)
        o, i = outputs.reshape(len(outputs), -1).astype(np.float64), x.reshape(len(x), -1).astype(np.float64)
        return per_sample(((o - i) ** 2).mean(axis=1), groups)

    def score(self, outputs, x, y, groups=None):
        mse = float(self.errors(outputs, x).mean()) if len(x) else None
        return Quality({"mse": mse, "loss": mse}, self.quality, self.higher_is_better)

    def validation_key(self, scores):
        return (-scores["loss"],)

    def drop(self, parent, child):
        return (child["mse"] / max(parent["mse"], 1e-12) - 1) * 100

    def fmt(self, scores):
        return f"{scores['mse']:.5f}"

    def parity(self, c, *, precision, floor):
        need = MIN_COSINE[precision]
        metrics = {**fidelity(c.outputs, c.reference), **c.quality}
        return self.parity_record(c, metrics, metrics["cosine"] >= need, f"centred cosine ≥ {need}")

    def parity_summary(self):
        return ["cosine", "max_rel_diff", "max_abs_diff"]

    def parity_columns(self):
        return [("reconstruction mse (runtime / reference)", "{mse:.5f} / {reference_mse:.5f}"), *super().parity_columns()]

    def reference_checks(self, quality, precision, floor):
        limit = MAX_REL_DIFF.get(precision, 1 - floor)
        return [check("error vs host reference (relative)", quality.get("max_rel_diff"), limit, "max")]

    def columns(self):
        return [("mse", "mse", "{:.5f}"), ("Δ vs host", "max_rel_diff", "{:.1e}")]

    def check_eval(self, deploy, labels, reference):
        if len(deploy.outputs) != 1 or len(deploy.inputs) != 1:
            return f"it lists {len(deploy.inputs)} input and {len(deploy.outputs)} output tensors; a {self.name} model has one of each"
        out, inp = deploy.outputs[0].shape, deploy.inputs[0].shape
        per_out, per_in = per_sample_size(out), per_sample_size(inp)
        if per_out is not None and per_in is not None and per_out != per_in:
            return f"its output shape {out} is not its input shape {inp} ({deploy.task} scores how well the model reconstructs its input)"
        per_ref = int(np.prod(reference.shape[1:]))
        if per_ref != 1:
            return f"the eval reference holds {per_ref} values per sample, not one score"
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.dtype.kind not in "biu":
            return f"the eval labels (y) are {labels.dtype} of shape {list(labels.shape)}, not a 1-D array of integer labels"
        return None


TASK = ReconstructionTask()
