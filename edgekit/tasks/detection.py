"""Box detection: labels are boxes in raw pixels (data/boxlabels.py), the model decodes boxes and per-class
scores as two output tensors, the device task thresholds, runs NMS and maps boxes back to raw pixels, and the
score is COCO mAP50-95 by the field's library (coco_eval.py) on those raw-pixel boxes.

Parity (int8 that cannot silently collapse): the artifact's mAP50-95 within the target's floor of the reference's,
in mAP points ([budgets.quality] map_drop_points, default 3), AND no class whose AP falls to ~0 while the
reference's is not (a score tensor rounded to zero for one class hides inside a fine mean).
"""

from __future__ import annotations

import numpy as np

from ..device.preprocess import boxes_to_input, boxes_to_raw, find_letterbox, letterbox_geometry
from ..device.tasks import detection as device_detection
from ..device.tasks import ragged
from ..errors import EdgekitError
from ..records import Quality
from .base import Task, check, fidelity
from .coco_eval import evaluate

MAX_DROP = {"fp32": 0.2, "fp16": 1.0}  # mAP points; int8 and dynamic: the target's floor
DEFAULT_MAX_DROP = 3.0  # mAP points, when the target sets no map_drop_points
COLLAPSED_AP = 0.01  # a class at or below this AP50 has collapsed...
ALIVE_AP = 0.1  # ...when the reference's AP50 for it is at least this


def _num_classes(labels: list, values: list) -> int:
    seen = [int(c.max()) + 1 for c in [*(lab["classes"] for lab in labels), *(v["classes"] for v in values)] if len(c)]
    return max(seen, default=1)


class DetectionTask(Task):
    name = "detection"
    quality = "map50_95"
    higher_is_better = True
    has_classes = True
    min_classes = 1
    stratify = False
    unit = "mAP points"
    device_task = "detection"
    budget_metrics = {"map50_95": "min", "map50": "min", "map_drop_points": "max"}
    metric_names = {"map50_95": "mAP50-95", "map50": "mAP50", "map_drop_points": "mAP drop vs host reference (points)"}

    # ---------------------------------------------------------------- labels

    def labels_for(self, y, pipeline):
        step = find_letterbox(pipeline)
        if step is None:
            raise EdgekitError(
                "a detector's preprocessing needs a letterbox step (boxes map between the image and the model input through it)",
                "train it on coco:DIR or yolo:DIR data, whose preprocessing letterboxes",
            )
        size = [int(v) for v in step["size"]]
        geometry = [letterbox_geometry(hw, step) for hw in y.sizes]
        frames = [boxes_to_input(b, g, size) for b, g in zip(y.boxes, geometry)]
        return type(y)(boxes=y.boxes, classes=y.classes, sizes=y.sizes, geometry=geometry, frames=frames, input_hw=tuple(size))

    def collate(self, labels, index, device):
        """Targets for the loss: per image, boxes normalised to 0..1 of the model input (x1,y1,x2,y2), classes."""
        import torch

        return [
            {
                "boxes": torch.from_numpy(np.asarray(labels.frames[i], np.float32)).to(device),
                "classes": torch.from_numpy(np.asarray(labels.classes[i], np.int64)).to(device),
            }
            for i in np.asarray(index).reshape(-1)
        ]

    def augment(self, xb, yb, progress):
        from .box_augment import augment  # mosaic, zoom-in crop, flip: a detector stalls on a thousand scenes without

        return augment(xb, yb, progress)

    def store_labels(self, y):
        return {**ragged.store("y_boxes", y.boxes, np.float32), **ragged.store("y_classes", y.classes, np.int64)}

    def store_reference(self, values):
        return {
            **ragged.store("reference_boxes", [v["boxes"] for v in values], np.float32),
            **ragged.store("reference_scores", [v["scores"] for v in values], np.float32),
            **ragged.store("reference_classes", [v["classes"] for v in values], np.int64),
        }

    # ---------------------------------------------------------------- outputs, loss, score

    def check_output(self, out, spec):
        fix = "return {'boxes': (N, anchors, 4) x1,y1,x2,y2 in 0..1 of the input, 'scores': (N, anchors, classes)} from forward()"
        if not isinstance(out, dict) or "boxes" not in out or "scores" not in out:
            raise EdgekitError(f"model {spec.name} gives {type(out).__name__} outputs; a detection model gives 'boxes' and 'scores'", fix)
        b, s = out["boxes"], out["scores"]
        if b.ndim != 3 or b.shape[2] != 4 or s.ndim != 3 or s.shape[:2] != b.shape[:2]:
            raise EdgekitError(f"model {spec.name} gives boxes {tuple(b.shape)} and scores {tuple(s.shape)}", fix)
        if spec.num_classes and s.shape[2] != spec.num_classes:
            raise EdgekitError(
                f"model {spec.name} scores {s.shape[2]} classes but the data set has {spec.num_classes}",
                "build it with num_classes from the data (a factory taking num_classes gets it)",
            )

    def loss(self, output, x, y, label_smoothing=0.0):
        from .detection_loss import loss

        total, _ = loss(output, y, tuple(x.shape[-2:]))
        return total

    def values(self, outputs, y) -> list:
        """Per-sample raw-pixel detections, as the device makes them (postprocess + reduce + place)."""
        dtask, options = self.device, self.postprocess_options()
        found = dtask.postprocess({"boxes": outputs["boxes"], "scores": outputs["scores"]}, options)
        out = []
        for i in range(len(y)):
            v = dtask.reduce(None, {k: [found[k][i]] for k in found})
            v["boxes"] = boxes_to_raw(v["boxes"], y.geometry[i], y.input_hw, y.sizes[i])
            out.append(v)
        return out

    def score(self, outputs, x, y, groups=None):
        if not len(y):
            return Quality({"map50_95": None, "map50": None, "loss": None}, self.quality, self.higher_is_better)
        got = evaluate(self.values(outputs, y), y.items(), int(np.shape(outputs["scores"])[2]))
        metrics = {"map50_95": got["map50_95"], "map50": got["map50"], "map75": got["map75"]}
        metrics["loss"] = None if metrics["map50_95"] is None else 1 - metrics["map50_95"]
        return Quality(metrics, self.quality, self.higher_is_better)

    def validation_key(self, scores):
        return (scores.get("map50_95") or 0.0, scores.get("map50") or 0.0)

    def fmt(self, scores):
        return "—" if scores.get("map50_95") is None else f"{scores['map50_95']:.4f}"

    def warnings(self, spec, scores):
        m = scores.get("map50")
        return [f"test mAP50 {m:.3f}: the detector finds almost nothing"] if m is not None and m < 0.1 else []

    def device_score(self, values, reference, labels):
        n = _num_classes(labels, reference)
        mine, ref = evaluate(values, labels, n), evaluate(reference, labels, n)
        collapsed = [
            k
            for k, (a, r) in enumerate(zip(mine["class_ap50"], ref["class_ap50"]))
            if r is not None and r >= ALIVE_AP and (a or 0.0) <= COLLAPSED_AP
        ]
        drop = None if mine["map50_95"] is None or ref["map50_95"] is None else (ref["map50_95"] - mine["map50_95"]) * 100
        return {
            **self.device.score(values, reference, labels),
            "map50_95": mine["map50_95"],
            "map50": mine["map50"],
            "map75": mine["map75"],
            "reference_map50_95": ref["map50_95"],
            "reference_map50": ref["map50"],
            "map_drop_points": drop,
            "collapsed_classes": float(len(collapsed)),
            **{f"ap50_95_class{k}": a for k, a in enumerate(mine["class_ap"])},
        }

    # ---------------------------------------------------------------- export and the device

    def postprocess_options(self):
        return dict(device_detection.DEFAULTS)

    def parity_floor(self, budgets, override):
        if override is not None:  # --min-agreement a: allow (1 - a) x 100 mAP points
            return (1 - override) * 100
        return float(budgets.quality.get("map_drop_points", DEFAULT_MAX_DROP))

    def parity(self, c, *, precision, floor):
        metrics = {**fidelity(c.outputs, c.reference), **c.quality}
        limit = MAX_DROP.get(precision, floor)
        drop, collapsed = metrics.get("map_drop_points"), metrics.get("collapsed_classes") or 0
        if drop is None:
            return self.parity_record(c, metrics, False, "mAP needs labelled boxes in the test split")
        rule = f"mAP50-95 drop ≤ {limit:g} points and no class's AP collapsed"
        return self.parity_record(c, metrics, drop <= limit and collapsed == 0, rule)

    def parity_summary(self):
        return ["map_drop_points", "map50_95", "collapsed_classes", "agreement"]

    def parity_columns(self):
        return [
            ("mAP50-95 (runtime / reference)", "{map50_95:.4f} / {reference_map50_95:.4f}"),
            ("mAP50 (runtime / reference)", "{map50:.4f} / {reference_map50:.4f}"),
            ("classes collapsed", "{collapsed_classes:.0f}"),
            ("confident boxes found again", "{agreement:.2%}"),
            *super().parity_columns(),
        ]

    def reference_checks(self, quality, precision, floor):
        return [check("classes whose AP collapsed vs host reference", quality.get("collapsed_classes"), 0, "max")]

    def columns(self):
        return [("mAP50-95", "map50_95", "{:.4f}"), ("mAP50", "map50", "{:.4f}"), ("ΔmAP pt", "map_drop_points", "{:.2f}")]

    def check_eval(self, deploy, labels, reference):
        names = [t.name for t in deploy.outputs]
        if len(names) != 2 or (set(names) & {"boxes", "scores"} and sorted(names) != ["boxes", "scores"]):
            # two unnamed tensors (ExecuTorch, NCNN) are boxes and scores in the model's order
            return f"it lists output tensors {names}; a detection model gives 'boxes' and 'scores'"
        n = len(deploy.labels or [])
        for what, items in (("labels", labels), ("reference", reference)):
            for i, item in enumerate(items):
                c = item["classes"]
                if len(c) != len(item["boxes"]) or (len(c) and (c.min() < 0 or (n and c.max() >= n))):
                    return f"the eval {what} of sample {i} hold class ids outside its {n} classes or not one per box"
        return None

    def as_shipped(self, values):
        import json

        from .detection_report import shipped_values

        # the device rounds boxes to 0.01 px and scores to 1e-6 before shipping: a box's IoU moved across a COCO
        # threshold changed a 0.7818 mAP50-95 to 0.7817 between parity and bench (detector-csp, 2026-12-05)
        shipped = self.device.ship(values)
        if shipped is None:  # a device task that ships nothing (centroids: scored on the device) is scored as made
            return values
        return shipped_values(json.loads(json.dumps(shipped)), len(values))

    def finish(self, result, folder, deploy):
        from .detection_report import finish_result

        return finish_result(self, result, folder, deploy)

    def report_sections(self, entry):
        from .detection_report import sections

        return sections(entry)

    def predict_row(self, row):
        return {"file": row["file"], "detections": row.get("detections", [])}

    def draw(self, image, row):
        from .detection_report import draw_boxes

        return draw_boxes(image, [(d["box"], d["label"], d["score"]) for d in row.get("detections", [])], [])


TASK = DetectionTask()
