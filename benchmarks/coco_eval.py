"""Which COCO evaluation library scores detection (issue 23): pycocotools (the reference implementation) vs
faster-coco-eval (a C++ re-implementation of COCOeval), on the SAME detections through edgekit's adapter
(edgekit/tasks/coco_eval.py): agreement of mAP50-95, mAP50, mAP75 and every per-class AP, and the time of one
full evaluation (build the index, evaluate, accumulate, summarise), interleaved rounds.

Ground truth: the boxes of `edgekit datasets make objects` scenes (made here). Detections: the true boxes
jittered by a few pixels, some missed, plus false positives, with scores that rank true boxes higher — at three
quality levels (a good, a middling and a poor detector) and two sizes (500 and 5000 images).

    python benchmarks/coco_eval.py
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_results

from edgekit.synth.objects import make_objects
from edgekit.tasks.coco_eval import evaluate

LIBRARIES = ("pycocotools", "faster-coco-eval")
ROUNDS = 5
LEVELS = {"good": (1.5, 0.05, 1), "middling": (4.0, 0.2, 5), "poor": (9.0, 0.4, 15)}  # jitter px, miss rate, false positives


def ground_truth(images: int) -> tuple[list[dict], int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "objects"
        made = make_objects(out, images=images, size=160, seed=7)
        coco = json.loads((out / "annotations" / "instances.json").read_text())
    labels = [{"boxes": [], "classes": []} for _ in coco["images"]]
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        labels[a["image_id"] - 1]["boxes"].append([x, y, x + w, y + h])
        labels[a["image_id"] - 1]["classes"].append(a["category_id"] - 1)
    return [
        {"boxes": np.asarray(v["boxes"], np.float64).reshape(-1, 4), "classes": np.asarray(v["classes"], np.int64)} for v in labels
    ], len(made["classes"])


def detections(labels: list[dict], classes: int, jitter: float, miss: float, false: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for lab in labels:
        keep = rng.random(len(lab["boxes"])) >= miss
        b = lab["boxes"][keep] + rng.normal(0, jitter, (int(keep.sum()), 4))
        k = int(rng.integers(0, false + 1))
        xy = rng.uniform(0, 160, (k, 2))
        fb = np.c_[xy, xy + rng.uniform(6, 50, (k, 2))]
        boxes = np.r_[b, fb]
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        scores = np.r_[rng.uniform(0.4, 1.0, len(b)), rng.uniform(0.0, 0.6, k)]
        out.append({"boxes": boxes, "scores": scores, "classes": np.r_[lab["classes"][keep], rng.integers(0, classes, k)]})
    return out


def flat(r: dict) -> np.ndarray:
    per_class = [np.nan if v is None else v for v in r["class_ap"] + r["class_ap50"]]
    return np.asarray([r["map50_95"], r["map50"], r["map75"], *per_class], np.float64)


def main() -> None:
    rows, records = [], []
    base, classes = ground_truth(500)
    for images in (500, 5000):
        labels = (base * (images // len(base)))[:images]
        for level, (jitter, miss, false) in LEVELS.items():
            dets = detections(labels, classes, jitter, miss, false, seed=images)
            times = {lib: [] for lib in LIBRARIES}
            results = {}
            for _ in range(ROUNDS):  # interleaved: both libraries see the same machine load
                for lib in LIBRARIES:
                    t0 = time.perf_counter()
                    results[lib] = evaluate(dets, labels, classes, library=lib)
                    times[lib].append((time.perf_counter() - t0) * 1e3)
            a, b = flat(results["pycocotools"]), flat(results["faster-coco-eval"])
            diff = float(np.nanmax(np.abs(a - b)))
            p50 = {lib: float(np.median(t)) for lib, t in times.items()}
            n_dets = sum(len(d["scores"]) for d in dets)
            records.append(
                {
                    "images": images,
                    "detections": n_dets,
                    "level": level,
                    "map50_95": results["pycocotools"]["map50_95"],
                    "map50": results["pycocotools"]["map50"],
                    "max_abs_diff": diff,
                    "p50_ms": p50,
                    "times_ms": times,
                }
            )
            rows.append(
                [
                    images,
                    f"{n_dets:,}",
                    level,
                    f"{results['pycocotools']['map50_95']:.4f}",
                    f"{results['faster-coco-eval']['map50_95']:.4f}",
                    f"{diff:.1e}",
                    f"{p50['pycocotools']:.0f}",
                    f"{p50['faster-coco-eval']:.0f}",
                    f"{p50['pycocotools'] / p50['faster-coco-eval']:.1f}x",
                ]
            )
    speedups = [r["p50_ms"]["pycocotools"] / r["p50_ms"]["faster-coco-eval"] for r in records]
    worst = max(r["max_abs_diff"] for r in records)
    write_results(
        "coco_eval",
        {"rounds": ROUNDS, "records": records, "chosen": "faster-coco-eval", "max_abs_diff": worst},
        [
            "images",
            "detections",
            "detector",
            "mAP50-95 pycocotools",
            "mAP50-95 faster-coco-eval",
            "max |Δ| any AP",
            "pycocotools p50 ms",
            "faster-coco-eval p50 ms",
            "speed-up",
        ],
        rows,
        [
            f"Agreement: the largest difference over mAP50-95, mAP50, mAP75 and every per-class AP50-95 / AP50 is {worst:.1e}.",
            f"Speed: faster-coco-eval is {min(speedups):.1f}x to {max(speedups):.1f}x faster (p50 of {ROUNDS} interleaved rounds, "
            "one full evaluation each: index, evaluate, accumulate, summarise).",
            "Chosen: faster-coco-eval (edgekit/tasks/coco_eval.py LIBRARY): the same figures, faster. pycocotools stays "
            "selectable through the adapter's `library` argument for this comparison.",
        ],
    )


if __name__ == "__main__":
    main()
