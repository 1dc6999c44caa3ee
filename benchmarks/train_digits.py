"""Bar (issue 2): digits-cnn reaches ≥ 97% test accuracy on digits in under 60 s of training on 2 CPU cores.

python benchmarks/train_digits.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import write_results

import edgekit as ek

SEEDS = (0, 1, 2)


def main() -> None:
    rows, runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in SEEDS:
            m = ek.train("digits-cnn", out=Path(tmp) / f"s{seed}", seed=seed, progress=False).metrics
            runs.append(
                {
                    "seed": seed,
                    "test_accuracy": m.test["accuracy"],
                    "train_seconds": m.wall_seconds,
                    "epochs": m.epochs,
                    "params": m.cost.params,
                    "macs": m.cost.macs,
                }
            )
            rows.append([seed, f"{m.test['accuracy']:.4f}", f"{m.wall_seconds:.1f}", m.epochs])
    passed = all(r["test_accuracy"] >= 0.97 and r["train_seconds"] < 60 for r in runs)
    write_results(
        "train_digits",
        {"runs": runs, "bar": "test accuracy ≥ 0.97 in < 60 s", "passed": passed},
        ["seed", "test accuracy", "train seconds", "epochs"],
        rows,
        [
            f"bar (≥ 0.97 test accuracy in < 60 s of training): {'PASS' if passed else 'FAIL'}",
            "digits: scikit-learn's 1,797 8x8 images, split 70/15/15 by the seed; recipe defaults (models/digits-cnn.toml)",
        ],
    )


if __name__ == "__main__":
    main()
