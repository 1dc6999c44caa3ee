"""Centroid detector runs re-scored on their validation split at each score threshold (issue 23): F1 with classes
and class-blind (does the detector find the objects, whatever it calls them?), blobs per image against objects per
image. The model's heat maps are computed once; the device task's own decode (edgekit/device/tasks/centroids.py)
makes the centroids, placed in raw pixels as the device places them.

    python benchmarks/centroid_thresholds.py RUN [RUN ...]     # e.g. runs of fomo-mobilenet-v2 on made objects

Prints a table and writes results/centroid_thresholds.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from _common import write_results

import edgekit as ek
from edgekit.data.for_spec import load_run_data
from edgekit.data.normalize import apply_normalization
from edgekit.device.preprocess import boxes_to_raw
from edgekit.device.tasks import centroids as dc

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def sweep(run_dir: Path) -> dict:
    run = ek.load_run(run_dir)
    data = load_run_data(run.spec)
    x, y = data.x["val"], data.y["val"]
    if run.spec.normalization:
        x = apply_normalization(x, run.spec.normalization).astype(np.float32)
    model = run.model.eval()
    with torch.no_grad():
        heat = torch.cat([model(torch.from_numpy(x[i : i + 64]))["heatmap"] for i in range(0, len(x), 64)]).numpy()
    labels = y.items()
    blind_labels = [{**lab, "classes": np.zeros_like(lab["classes"])} for lab in labels]
    rows = []
    for th in THRESHOLDS:
        values = []
        for i, h in enumerate(heat):
            p, s, c = dc.blobs(h, th)
            raw = boxes_to_raw(np.concatenate([p, p], 1), y.geometry[i], y.input_hw, y.sizes[i])[:, :2]
            values.append({"points": raw, "scores": s, "classes": c})
        blind = [{**v, "classes": np.zeros_like(v["classes"])} for v in values]
        rows.append(
            {
                "threshold": th,
                **dc.f1_scores(values, labels),
                "class_blind_f1": dc.f1_scores(blind, blind_labels)["f1"],
                "found_per_image": float(np.mean([len(v["points"]) for v in values])),
                "objects_per_image": float(np.mean([len(lab["boxes"]) for lab in labels])),
            }
        )
    kw = run.spec.kwargs
    return {"run": str(run_dir), "model": run.spec.name, "width": kw.get("width"), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    a = ap.parse_args()
    results = {"runs": [sweep(r) for r in a.runs]}
    table = []
    for r in results["runs"]:
        best = max(r["rows"], key=lambda row: row["f1"])
        for row in r["rows"]:
            table.append(
                [
                    f"{r['model']} x{r['width']} ({Path(r['run']).name})",
                    f"{row['threshold']:.1f}" + (" (best)" if row is best else ""),
                    f"{row['f1']:.3f}",
                    f"{row['class_blind_f1']:.3f}",
                    f"{row['found_per_image']:.2f} / {row['objects_per_image']:.2f}",
                ]
            )
    write_results(
        "centroid_thresholds",
        results,
        ["run", "threshold", "F1", "class-blind F1", "centroids / objects per image"],
        table,
        notes=["Validation split of each run, the device task's decode; export picks the best-F1 threshold the same way."],
    )


if __name__ == "__main__":
    main()
