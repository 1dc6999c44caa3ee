"""Centroid detection (FOMO, Edge Impulse's "Faster Objects, More Objects"): where objects are and what they are,
without their size — a heat map at 1/8 of the input, small enough for a microcontroller. Labels are the same
boxes as detection's (an object's centroid must land inside its box); the score is F1 by centroid matching
(edgekit/device/tasks/centroids.py), computed the same way on the host, in export's parity and on the device.
"""

from __future__ import annotations

import numpy as np

from ..device.preprocess import boxes_to_raw
from ..device.tasks import centroids as device_centroids
from ..device.tasks import ragged
from ..errors import EdgekitError
from ..records import Quality
from .base import Task, fidelity
from .detection import DetectionTask

MAX_DROP = {"fp32": 0.5, "fp16": 1.0}  # F1 points; int8 and dynamic: the target's floor
DEFAULT_MAX_DROP = 3.0  # F1 points, when the target sets no f1_drop_points


class CentroidsTask(DetectionTask):
    name = "centroids"
    quality = "f1"
    unit = "F1 points"
    device_task = "centroids"
    budget_metrics = {"f1": "min", "f1_drop_points": "max"}
    metric_names = {"f1": "centroid F1", "f1_drop_points": "F1 drop vs host reference (points)"}

    def store_reference(self, values):
        return {
            **ragged.store("reference_points", [v["points"] for v in values], np.float32),
            **ragged.store("reference_scores", [v["scores"] for v in values], np.float32),
            **ragged.store("reference_classes", [v["classes"] for v in values], np.int64),
        }

    def check_output(self, out, spec):
        fix = "return {'heatmap': (N, classes + 1, H/8, W/8)} softmax probabilities (channel 0 = background) from forward()"
        heat = out.get("heatmap") if isinstance(out, dict) else None
        if heat is None or heat.ndim != 4:
            raise EdgekitError(f"model {spec.name} gives no 4-D 'heatmap' output; a centroid model does", fix)
        if spec.num_classes and heat.shape[1] != spec.num_classes + 1:
            raise EdgekitError(
                f"model {spec.name}'s heat map has {heat.shape[1]} channels, the data set {spec.num_classes} classes + background", fix
            )

    def loss(self, output, x, y, label_smoothing=0.0):
        from .centroid_loss import loss

        total, _ = loss(output, y, tuple(x.shape[-2:]))
        return total

    def values(self, outputs, y) -> list:
        dtask = self.device
        found = dtask.postprocess({"heatmap": outputs["heatmap"]}, self.postprocess_options())
        out = []
        for i in range(len(y)):
            v = dtask.reduce(None, {k: [found[k][i]] for k in found})
            p = np.asarray(v["points"], np.float32).reshape(-1, 2)
            v["points"] = boxes_to_raw(np.concatenate([p, p], axis=1), y.geometry[i], y.input_hw, y.sizes[i])[:, :2]
            out.append(v)
        return out

    def score(self, outputs, x, y, groups=None):
        if not len(y):
            return Quality({"f1": None, "loss": None}, self.quality, self.higher_is_better)
        got = device_centroids.f1_scores(self.values(outputs, y), y.items())
        return Quality({**got, "loss": 1 - got["f1"]}, self.quality, self.higher_is_better)

    def validation_key(self, scores):
        return (scores.get("f1") or 0.0, scores.get("recall") or 0.0)

    def fmt(self, scores):
        return "—" if scores.get("f1") is None else f"{scores['f1']:.4f}"

    def warnings(self, spec, scores):
        f1 = scores.get("f1")
        return [f"test F1 {f1:.3f}: the detector finds almost nothing"] if f1 is not None and f1 < 0.1 else []

    def device_score(self, values, reference, labels):
        return Task.device_score(self, values, reference, labels)

    def postprocess_options(self):
        return dict(device_centroids.DEFAULTS)

    def tuned_options(self):
        # the heat map's calibration varies with training (object weight, epochs): the threshold is chosen on the
        # validation split at export, as a user tunes Edge Impulse's FOMO threshold, and shipped in deploy.json
        return {"score_threshold": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]}

    def parity_floor(self, budgets, override):
        if override is not None:  # --min-agreement a: allow (1 - a) x 100 F1 points
            return (1 - override) * 100
        return float(budgets.quality.get("f1_drop_points", DEFAULT_MAX_DROP))

    def parity(self, c, *, precision, floor):
        metrics = {**fidelity(c.outputs, c.reference), **c.quality}
        limit = MAX_DROP.get(precision, floor)
        return self.parity_record(c, metrics, metrics["f1_drop_points"] <= limit, f"centroid F1 drop ≤ {limit:g} points")

    def parity_summary(self):
        return ["f1_drop_points", "f1", "max_abs_diff"]

    def parity_columns(self):
        return [("centroid F1 (runtime / reference)", "{f1:.4f} / {reference_f1:.4f}"), *Task.parity_columns(self)]

    def reference_checks(self, quality, precision, floor):
        return []

    def columns(self):
        return [("F1", "f1", "{:.4f}"), ("ΔF1 pt", "f1_drop_points", "{:.2f}")]

    def check_eval(self, deploy, labels, reference):
        names = [t.name for t in deploy.outputs]
        if len(names) != 1:
            return f"it lists output tensors {names}; a centroid model gives 'heatmap'"
        n = len(deploy.labels or [])
        for i, item in enumerate(labels):
            c = item["classes"]
            if len(c) and (c.min() < 0 or (n and c.max() >= n)):
                return f"the eval labels of sample {i} hold class ids outside its {n} classes"
        return None

    def finish(self, result, folder, deploy):
        return result

    def report_sections(self, entry):
        return []

    def predict_row(self, row):
        return {"file": row["file"], "centroids": row.get("centroids", [])}

    def draw(self, image, row):
        from PIL import ImageDraw

        img = image.convert("RGB")
        draw = ImageDraw.Draw(img)
        r = max(2, round(min(img.size) / 60))
        for d in row.get("centroids", []):
            draw.ellipse([d["x"] - r, d["y"] - r, d["x"] + r, d["y"] + r], outline="#e6194b", width=max(1, r // 2))
            draw.text((d["x"] + r + 1, d["y"] - r), f"{d['label']} {d['score']:.2f}", fill="#e6194b")
        return img


TASK = CentroidsTask()
