"""Export's parity check, task-neutral: PyTorch runs once per model and split, both sides' outputs go through the
device task (postprocess + reduce per raw sample, exactly as the runner does on the device), and the task judges.
"""

from __future__ import annotations

import itertools

import numpy as np

from ...data import Splits
from ...errors import EdgekitError
from ...nn.evaluate import predict
from ...tasks.base import Compared


def named(outputs, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Model outputs by name, in the model's order: `names` (the artifact's output tensors) when given, else the
    model's own dict keys, else output / output_0, output_1, ..."""
    if isinstance(outputs, dict):
        keys, arrays = list(outputs), list(outputs.values())
    elif isinstance(outputs, (tuple, list)):
        keys, arrays = [f"output_{i}" for i in range(len(outputs))], list(outputs)
    else:
        keys, arrays = ["output"], [outputs]
    if names is not None:
        if len(names) != len(arrays):
            raise EdgekitError(
                f"the artifact gives {len(names)} output tensor(s) in its runtime ({', '.join(names)}), the model {len(arrays)}",
                "return one tensor, or a flat tuple or dict of tensors, from the model's forward()",
            )
        keys = list(names)
    return dict(zip(keys, arrays))


def sample_slices(rows: int, samples: int, groups: np.ndarray | None) -> list[slice]:
    """The rows of x (model inputs) each raw sample made, in order (an audio clip makes several)."""
    if groups is None:
        return [slice(i, i + 1) for i in range(rows)]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(groups, minlength=samples))])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def sample_values(device_task, x: np.ndarray, outputs: dict, samples: int, groups, options: dict, *, shapes: list, pipeline: dict) -> list:
    """One value per raw sample, made by the device task from that sample's rows and placed in its raw frame
    (`shapes`: each raw sample's shape; `pipeline`: the recorded preprocessing), as the runner makes it."""
    values = []
    for i, s in enumerate(sample_slices(len(x), samples, groups)):
        final = device_task.postprocess({k: v[s] for k, v in outputs.items()}, options)
        values.append(device_task.place(device_task.reduce(x[s], final), shapes[i], pipeline))
    return values


def compare(task, outputs: dict, reference: dict, x: np.ndarray, y, groups, options: dict, *, shapes: list, pipeline: dict) -> Compared:
    """Both sides through the device task; labels and reference values scored as eval.npz ships them (stored by the
    task, loaded by the device task: the float32 reference, ragged labels as the device reads them)."""
    dtask = task.device
    values = task.as_shipped(sample_values(dtask, x, outputs, len(y), groups, options, shapes=shapes, pipeline=pipeline))
    ref_values = sample_values(dtask, x, reference, len(y), groups, options, shapes=shapes, pipeline=pipeline)
    shipped = dtask.load_reference(task.store_reference(ref_values))
    labels = dtask.load_labels(task.store_labels(y))
    return Compared(
        outputs=outputs,
        reference=reference,
        labels=labels,
        samples=len(values),
        quality=task.device_score(values, shipped, labels),
        reference_quality=task.device_score(ref_values, shipped, labels),
    )


class Predictions:
    """PyTorch outputs of each model on each split, computed at most once per export (by name: the model's order)."""

    def __init__(self, models: dict, splits: Splits):
        self.models, self.splits, self.done = models, splits, {}

    def __call__(self, model: str, split: str) -> dict[str, np.ndarray]:
        if (model, split) not in self.done:
            self.done[model, split] = named(predict(self.models[model], self.splits.x[split]))
        return self.done[model, split]


class Options:
    """The device task's options (task_options) from one model's validation-split values, once per model."""

    def __init__(self, task, predictions: Predictions, splits: Splits, pipeline: dict):
        self.task, self.predictions, self.splits, self.pipeline, self.done = task, predictions, splits, pipeline, {}

    def __call__(self, model: str) -> dict:
        if model not in self.done:
            s, base = self.splits, self.task.postprocess_options()
            ref = self.predictions(model, "val")

            def values_with(options: dict) -> list:
                return sample_values(
                    self.task.device,
                    s.x["val"],
                    ref,
                    len(s.y["val"]),
                    s.groups["val"],
                    options,
                    shapes=s.shapes["val"],
                    pipeline=self.pipeline,
                )

            tuned, values = self._tuned(values_with, base)
            base = {**base, **tuned}
            self.done[model] = {**base, **self.task.options(values if tuned else values_with(base), s.y["val"])}
        return self.done[model]

    def _tuned(self, values_with, base: dict) -> tuple[dict, list | None]:
        """The task's tuned options at their best validation score (ties: the first candidate) with the rule, and
        the validation values made with them (not made again by the caller)."""
        grid = self.task.tuned_options()
        if not grid:
            return {}, None
        labels = self.task.device.load_labels(self.task.store_labels(self.splits.y["val"]))
        key, best = self.task.quality, None
        for combo in itertools.product(*grid.values()):
            chosen = dict(zip(grid, combo))
            values = values_with({**base, **chosen})
            q = self.task.device_score(values, values, labels).get(key)
            if q is not None and (best is None or (q > best[0] if self.task.higher_is_better else q < best[0])):
                best = (q, chosen, values)
        if best is None:
            return {}, None
        rule = "; ".join(f"{k} of {', '.join(f'{c:g}' for c in v)}" for k, v in grid.items())
        return {**best[1], "tuned": f"best validation {key} ({best[0]:.4f}) over {rule}"}, best[2]
