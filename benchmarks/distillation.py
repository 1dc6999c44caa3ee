"""Does distillation help? A student trained from the teacher's soft targets beside the same student trained
on labels alone (alpha = 0: same code path, no teacher term), same epochs, 3 seeds each (issue 3).

ek.compress distils on the parent run's own training split with the parent's seed; the study needs a seed per
student and, for the few-label settings, a labelled subset of that split, so its step (a DistillStep subclass)
sets both before distilling. Everything else is ek.train / ek.compress.

    python benchmarks/distillation.py
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from _common import mean_std, write_results

import edgekit as ek
from edgekit.stages.compress import DistillStep

SEEDS = (0, 1, 2)
# (setting, student width, epochs, labelled training samples or None for all)
SETTINGS = [
    ("digits, all 1,257 labels, student x0.5", 0.5, 10, None),
    ("digits, all labels, tiny student x0.125", 0.125, 10, None),
    ("digits, 60 labels, student x0.5", 0.5, 30, 60),
    ("digits, 60 labels, tiny student x0.125", 0.125, 30, 60),
]
KD_SETTINGS = [(4.0, 0.7), (2.0, 0.3)]  # (temperature, alpha)


@dataclass
class StudyDistill(DistillStep):
    seed: int = 0
    labels: int | None = None  # keep this many training samples (None: all)

    def apply(self, state):
        state.train_config = replace(state.train_config, seed=self.seed)
        if self.labels:
            idx = np.sort(np.random.default_rng(self.seed).permutation(len(state.data.y["train"]))[: self.labels])
            state.data.x = {**state.data.x, "train": state.data.x["train"][idx]}
            state.data.y = {**state.data.y, "train": state.data.y["train"][idx]}
        return super().apply(state)


def main() -> None:
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        teacher = ek.train("digits-cnn", out=tmp / "teacher", progress=False)
        teacher_acc = teacher.metrics.test["accuracy"]

        def student(width, epochs, labels, alpha, seed, temperature=4.0) -> float:
            step = StudyDistill("digits-cnn", width=width, epochs=epochs, alpha=alpha, temperature=temperature, seed=seed, labels=labels)
            out = tmp / f"s{len(list(tmp.iterdir()))}"
            return ek.compress(teacher.path, steps=[step], out=out, progress=False).metrics.test["accuracy"]

        for name, width, epochs, labels in SETTINGS:
            plain = [student(width, epochs, labels, 0.0, s) for s in SEEDS]
            row = [name, epochs, mean_std(plain)]
            entry = {"setting": name, "width": width, "epochs": epochs, "labels": labels, "labels_only": plain, "distilled": {}}
            for temperature, alpha in KD_SETTINGS:
                kd = [student(width, epochs, labels, alpha, s, temperature) for s in SEEDS]
                gain = (statistics.mean(kd) - statistics.mean(plain)) * 100
                entry["distilled"][f"T={temperature:g},alpha={alpha:g}"] = {"accuracy": kd, "gain_points": gain}
                row += [mean_std(kd), f"{gain:+.2f} pt"]
            results.append(entry)
            rows.append(row)
    write_results(
        "distillation",
        {"teacher_accuracy": teacher_acc, "results": results},
        ["setting", "epochs", "labels only (mean ± sd, 3 seeds)", "distilled T=4 α=0.7", "gain", "distilled T=2 α=0.3", "gain"],
        rows,
        [
            f"teacher: digits-cnn x1.0, test accuracy {teacher_acc:.4f}",
            "labelled subsets: the distilled student sees the same samples as the labels-only one (the teacher's soft targets on them)",
        ],
    )


if __name__ == "__main__":
    main()
