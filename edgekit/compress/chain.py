"""compress_run: apply steps in order to a run folder's model and write a new run folder naming its parent."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import BudgetFailed, EdgekitError
from ..fsutil import staged_dir
from ..manifest import new_manifest, now
from ..runs import load_run, write_run_files
from .state import initial_state
from .steps import describe


def _quality_key(task: str) -> str:
    return "accuracy" if task == "classification" else "mse"


def compress_run(parent: Path, steps: list, out: Path, *, max_drop: float | None = None, progress: bool = True) -> Path:
    """Runs every step; writes `out` atomically. Raises BudgetFailed (exit 1) after writing when the
    accuracy fell more than `max_drop` points below the parent's; the run is kept, marked failed."""
    if not steps:
        raise EdgekitError("no compression step given", "pass --prune, --qat, --ptq, --distill-to or --recipe")
    out = Path(out)
    if out.exists():
        raise EdgekitError(f"output folder {out} already exists", "choose another --out")
    started = now()
    run = load_run(parent)
    state = initial_state(run.model, run.spec, run.metrics, progress=progress)
    key = _quality_key(run.spec.task)
    parent_row = {"step": "parent", **state.measure()}
    rows = [parent_row]
    for step in steps:
        t0 = time.perf_counter()
        state, details = step.apply(state)
        row = {"step": describe(step), **state.measure(), "seconds": round(time.perf_counter() - t0, 2), **details}
        rows.append(row)
    final = rows[-1]
    drop_points = (parent_row[key] - final[key]) * 100 if key == "accuracy" else None
    failed = max_drop is not None and drop_points is not None and drop_points > max_drop
    lineage = run.manifest.get("lineage", []) + [str(run.path.resolve())]
    manifest = {**new_manifest("compress", parent=str(run.path.resolve()), lineage=lineage, started=started),
                "steps": [describe(s) for s in steps], "status": "failed" if failed else "ok"}
    if failed:
        manifest["failure"] = f"accuracy dropped {drop_points:.2f} points, more than --max-drop {max_drop}"
    metrics = {"task": run.spec.task, "test": {k: final[k] for k in ("loss", key)}, "steps": rows,
               "parent": {"path": str(run.path), key: parent_row[key]}, "drop_points": drop_points,
               "cost": {k: final[k] for k in ("params", "nonzero_params", "macs", "size_bytes")},
               "train_config": state.train_config.to_json(), "max_drop": max_drop}
    with staged_dir(out) as tmp:
        write_run_files(tmp, state.model.cpu(), state.spec, metrics, manifest)
    if failed:
        raise BudgetFailed(f"{out}: {manifest['failure']} (result kept, marked failed)",
                           "fine-tune longer, compress less, or raise --max-drop")
    return out
