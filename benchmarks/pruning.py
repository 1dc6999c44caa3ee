"""Issue 24: structured pruning that keeps accuracy on mobile networks.

1. Grid on one model (MobileNetV2 x0.5): every criterion right after a one-shot cut to 0.5x MACs (no fine-tune), then
   schedules at the same fine-tune budget: one shot, iterative steps, sparse training (group-norm regulariser) before
   the cut, distillation from the unpruned parent, global ranking — and the old table's setting (ratio 0.5, 3 epochs).
2. The chosen default on every architecture: fp32 and pruned accuracy, MACs ratio, params, epochs, wall time.

Parents are trained once (digits resized to 3xSIZExSIZE, seed 0) and cached under CACHE (not in the repo), as are
finished cells, so a rerun only computes what is missing. One torch thread: the machine is shared.

3. The bar's budget: the schedules of BAR_SCHEDULES on each architecture of the bar (and SqueezeNet) at 64 px.

    python benchmarks/pruning.py [grid|bar|all|ARCH ...]
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import time
from pathlib import Path

import torch
from _common import write_results
from _parents import cache_dir

import edgekit as ek
from edgekit.stages.compress import PruneStep

CACHE = cache_dir() / "pruning"  # $EDGEKIT_BENCH_CACHE (outside the repository), else a temporary folder
# The grid runs at 32 px (a quarter of the work; MobileNetV2 reached 0.948 test / 0.963 validation there); the record
# on every architecture at 64 px, the size of real_architectures.md, where the parents reach >= 95 %.
GRID_SIZE, GRID_EPOCHS = 32, 30
SIZE, PARENT_EPOCHS = 64, 30  # 20 left EfficientNet-Lite at 0.948, under the "good" (>= 95 %)
TARGET = 0.5  # of the parent's MACs: the bar
BUDGET = 10  # fine-tune epochs after the parent, in total, for every schedule of the grid
GRID_MODEL = "mobilenet-v2"
ARCHS = ["mobilenet-v2", "lcnet", "efficientnet-lite", "squeezenet", "mobilenet-v3-small", "ghostnet"]
BAR = ["mobilenet-v2", "lcnet", "efficientnet-lite"]

# (label, PruneStep keyword arguments). Budget-matched: sparse training epochs count against the budget.
GRID = [
    ("old table: ratio 0.5, one shot, 3 ep", {"ratio": 0.5, "finetune": 3}),
    ("one shot, l2", {}),
    ("one shot, taylor", {"importance": "taylor"}),
    ("one shot, l2, global ranking", {"global_pruning": True}),
    ("3 iterative steps, l2", {"iterative_steps": 3}),
    ("sparse 3 ep (reg 1e-4) + one shot", {"sparsity_epochs": 3, "finetune": BUDGET - 3}),
    ("sparse 3 ep (reg 1e-3) + one shot", {"sparsity_epochs": 3, "finetune": BUDGET - 3, "reg": 1e-3}),
    ("one shot, distilled from parent", {"distill_from_parent": True}),
    ("3 iterative steps, distilled", {"iterative_steps": 3, "distill_from_parent": True}),
    ("3 iterative steps, taylor, distilled", {"iterative_steps": 3, "distill_from_parent": True, "importance": "taylor"}),
    ("one shot, l2, 30 ep", {"finetune": 30}),
    ("one shot, distilled, 30 ep", {"finetune": 30, "distill_from_parent": True}),
    ("3 iterative steps, distilled, 30 ep", {"finetune": 30, "iterative_steps": 3, "distill_from_parent": True}),
    ("3 iterative steps, distilled, 60 ep", {"finetune": 60, "iterative_steps": 3, "distill_from_parent": True}),
]
# The bar's budget: schedules the grid's 10-epoch rows point to, on each architecture of the bar at 64 px.
BAR_SCHEDULES = [
    ("one shot, distilled, 30 ep", {"finetune": 30, "distill_from_parent": True}),
    ("3 iterative steps, distilled, 30 ep", {"finetune": 30, "iterative_steps": 3, "distill_from_parent": True}),
    ("3 iterative steps, distilled, 60 ep", {"finetune": 60, "iterative_steps": 3, "distill_from_parent": True}),
]
CRITERIA = ["l2", "l1", "taylor", "fpgm", "lamp", "bn-scale", "random"]


def parent(name: str, size: int = SIZE, epochs: int = PARENT_EPOCHS) -> Path:
    out = CACHE / "parents" / f"{name}-{size}px-e{epochs}"
    if not (out / "metrics.json").is_file():
        t0 = time.perf_counter()
        ek.train(name, input_shape=(3, size, size), epochs=epochs, out=out, progress=False)
        (out.parent / f"{out.name}.seconds").write_text(f"{time.perf_counter() - t0:.1f}\n")
    return out


def cell(key: str, fn) -> dict:
    """A finished measurement from the cache, or fn() stored there."""
    path = CACHE / "cells" / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def compressed(run: Path, step: PruneStep, out: Path) -> dict:
    if out.exists():  # left by an interrupted earlier run (its cell was never written)
        shutil.rmtree(out)
    t0 = time.perf_counter()
    r = ek.compress(run, steps=[step], out=out, progress=False)
    m = r.metrics
    row = m.steps[-1]
    return {
        "accuracy": m.test["accuracy"],
        "parent_accuracy": m.parent["accuracy"],
        "drop": m.drop,
        "macs_ratio": row["macs"] / m.steps[0]["macs"],
        "params": row["params"],
        "parent_params": m.steps[0]["params"],
        "epochs": step.sparsity_epochs + step.finetune,
        "seconds": round(time.perf_counter() - t0, 1),
        "schedule": row.get("schedule"),
        "ratio": row.get("ratio"),
    }


def criteria(run_path: Path) -> list[dict]:
    """Test accuracy right after a one-shot cut to TARGET MACs, no fine-tuning: which channels each criterion keeps."""
    from edgekit.nn.evaluate import predict
    from edgekit.runs import load_run
    from edgekit.stages.compress.prune import _pruner, cut, fixed_layers
    from edgekit.stages.compress.prune_goal import make_goal, ratio_for
    from edgekit.stages.compress.prune_schedule import _accumulate_gradients, recalibrate_batchnorm
    from edgekit.stages.compress.state import initial_state

    run = load_run(run_path)
    state = initial_state(run.model, run.spec, run.metrics.train_config, progress=False)
    x, y = state.data.x["test"], state.data.y["test"]
    out = []
    goal = make_goal(run.model, run.spec.input_shape, target_macs=TARGET)
    ratio, _ = ratio_for(run.model, run.spec.input_shape, goal, importance="l2", global_pruning=False, layer_ratios={})
    example = torch.zeros(1, *run.spec.input_shape)
    for name in CRITERIA:
        model = copy.deepcopy(run.model).eval()
        pruner = _pruner(model, example, ratio, name, False, {}, fixed_layers(model, example))
        if name == "taylor":
            state.model = model
            _accumulate_gradients(state, model)
        before = dict(model.named_modules())
        cut(pruner, model, example, tuple(model(example).shape), before, {m: n for n, m in before.items()})
        acc = float((predict(model, x).argmax(1) == y).mean())
        recalibrate_batchnorm(state, model)
        recalibrated = float((predict(model, x).argmax(1) == y).mean())
        out.append({"criterion": name, "accuracy_no_finetune": acc, "accuracy_bn_recalibrated": recalibrated, "ratio": ratio})
        print(name, acc, recalibrated, flush=True)
    return out


def grid() -> dict:
    run = parent(GRID_MODEL, GRID_SIZE, GRID_EPOCHS)
    no_ft = cell(f"criteria-{GRID_MODEL}-{GRID_SIZE}", lambda: criteria(run))
    rows = {}
    for label, kw in GRID:
        args = {"target_macs": TARGET, "finetune": BUDGET, **kw}
        if "ratio" in kw:
            args.pop("target_macs")
        key = f"grid-{GRID_MODEL}-{GRID_SIZE}-" + "-".join(f"{k}={v}" for k, v in sorted(args.items()))
        rows[label] = cell(key, lambda a=args, k=key: compressed(run, PruneStep(**a), CACHE / "runs" / k))
        print(label, rows[label]["accuracy"], flush=True)
    return {"criteria": no_ft, "schedules": rows}


def default_on(name: str) -> dict:
    run = parent(name)
    step = PruneStep(target_macs=TARGET, finetune=BUDGET)  # everything else: the step's defaults (distillation: auto)
    key = f"default-{name}-{SIZE}-p{PARENT_EPOCHS}-t{TARGET}-ft{BUDGET}-{step.importance}-k{step.iterative_steps}-s{step.sparsity_epochs}-d{step.distill_from_parent}"
    return cell(key, lambda: compressed(run, step, CACHE / "runs" / key))


def previous_default(name: str) -> dict | None:
    """The defaults before this benchmark chose them (one l2 cut, labels only), where this cache measured them."""
    path = CACHE / "cells" / f"default-{name}-{SIZE}-p{PARENT_EPOCHS}-t{TARGET}-ft{BUDGET}-l2-k1-s0-d0.json"
    return json.loads(path.read_text()) if path.is_file() else None


def scheduled_on(name: str, label: str, kw: dict) -> dict:
    run = parent(name)
    args = {"target_macs": TARGET, **kw}
    key = f"bar-{name}-{SIZE}-p{PARENT_EPOCHS}-" + "-".join(f"{k}={v}" for k, v in sorted(args.items()))
    return {**cell(key, lambda: compressed(run, PruneStep(**args), CACHE / "runs" / key)), "label": label}


def main(what: list[str]) -> None:
    torch.set_num_threads(1)
    results = {"size": SIZE, "parent_epochs": PARENT_EPOCHS, "target_macs": TARGET, "budget_epochs": BUDGET}
    if "grid" in what or "all" in what:
        results["grid"] = grid()
    if "bar" in what or "all" in what:
        results["bar"] = {n: [scheduled_on(n, label, kw) for label, kw in BAR_SCHEDULES] for n in BAR + ["squeezenet"]}
    names = ARCHS if "all" in what else [n for n in what if n in ARCHS]
    results["architectures"] = {n: default_on(n) for n in names}
    results["previous_defaults"] = {n: r for n in names if (r := previous_default(n))}
    write(results)


def write(results: dict) -> None:
    rows = []
    g = results.get("grid")
    if g:
        for c in g["criteria"]:
            rows.append(
                [
                    f"{GRID_MODEL} {GRID_SIZE} px: cut only, {c['criterion']} (then batch-norm recalibrated)",
                    "",
                    f"{c['accuracy_no_finetune']:.3f} ({c['accuracy_bn_recalibrated']:.3f})",
                    "",
                    f"{TARGET:.2f}x",
                    "0",
                    "",
                ]
            )
        for label, r in g["schedules"].items():
            rows.append(
                [
                    f"{GRID_MODEL}: {label}",
                    f"{r['parent_accuracy']:.3f}",
                    f"{r['accuracy']:.3f}",
                    f"{-r['drop']:+.2f}",
                    f"{r['macs_ratio']:.2f}x",
                    str(r["epochs"]),
                    f"{r['seconds']}",
                ]
            )
    for name, runs in results.get("bar", {}).items():
        for r in runs:
            rows.append(
                [
                    f"{name}: {r['label']}",
                    f"{r['parent_accuracy']:.3f}",
                    f"{r['accuracy']:.3f}",
                    f"{-r['drop']:+.2f}",
                    f"{r['macs_ratio']:.2f}x ({r['params'] / r['parent_params']:.2f}x params)",
                    str(r["epochs"]),
                    f"{r['seconds']}",
                ]
            )
    for name, r in results.get("previous_defaults", {}).items():
        rows.append(
            [
                f"{name}: previous default (one l2 cut, labels only, {BUDGET} ep)",
                f"{r['parent_accuracy']:.3f}",
                f"{r['accuracy']:.3f}",
                f"{-r['drop']:+.2f}",
                f"{r['macs_ratio']:.2f}x ({r['params'] / r['parent_params']:.2f}x params)",
                str(r["epochs"]),
                f"{r['seconds']}",
            ]
        )
    for name, r in results["architectures"].items():
        rows.append(
            [
                f"{name}: default (3 l2 cuts, distilled, {BUDGET} ep)",
                f"{r['parent_accuracy']:.3f}",
                f"{r['accuracy']:.3f}",
                f"{-r['drop']:+.2f}",
                f"{r['macs_ratio']:.2f}x ({r['params'] / r['parent_params']:.2f}x params)",
                str(r["epochs"]),
                f"{r['seconds']}",
            ]
        )
    write_results(
        "pruning",
        results,
        ["model: schedule", "fp32", "pruned", "Δ (pt)", "MACs", "fine-tune epochs", "wall s"],
        rows,
        [f"digits resized to 3x{SIZE}x{SIZE} (270 test images: one image = 0.37 pt); parents trained {PARENT_EPOCHS} epochs, seed 0"]
        + bar_verdicts(results),
    )


def bar_verdicts(results: dict) -> list[str]:
    """The issue's bar (≤ 0.5x MACs within 1 point) per architecture and budget of BAR_SCHEDULES."""
    out = []
    for label, _ in BAR_SCHEDULES:
        got = {n: r for n, runs in results.get("bar", {}).items() for r in runs if r["label"] == label}
        if got:
            met = all(r["macs_ratio"] <= 0.5 and r["drop"] <= 1.0 for n, r in got.items() if n in BAR)
            squeeze = got.get("squeezenet")
            out.append(
                f"bar, {label}: {'PASS' if met else 'FAIL'} ("
                + ", ".join(f"{n} {-r['drop']:+.2f}" for n, r in got.items())
                + (f"; SqueezeNet keeps {squeeze['accuracy']:.3f}, no collapse" if squeeze and squeeze["accuracy"] > 0.5 else "")
                + ")"
            )
    return out


if __name__ == "__main__":
    main(sys.argv[1:] or ["grid", "all"])
