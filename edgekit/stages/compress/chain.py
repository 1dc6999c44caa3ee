"""compress_run: apply steps in order to a run folder's model and write a new run folder naming its parent."""

from __future__ import annotations

import math
import time
from pathlib import Path

from ...contracts import Cost, Metrics, load_spec
from ...errors import BudgetFailed, EdgekitError
from ...runs import Run, check_run_folder, code_bytes, graph_bytes, load_run, write_run_files
from ...tasks import get_task
from ...util.fsutil import check_out_folder, staged_dir
from ...util.manifest import new_manifest, now
from .state import initial_state
from .steps import describe


def check_max_drop(max_drop: float | None) -> None:
    if max_drop is not None and (not math.isfinite(max_drop) or max_drop < 0):
        raise EdgekitError(f"--max-drop must be a number ≥ 0, got {max_drop}", "pass e.g. --max-drop 1.0 (points of the task's score)")


def check_students(steps: list, trust_code: bool) -> None:
    """A student a recipe file names is code that file names: the trust rule decides before any work."""
    from ... import trust
    from ...zoo.user import is_user_ref

    for step in steps:
        student, named_by = getattr(step, "student", None), getattr(step, "named_by", None)
        if named_by is not None and is_user_ref(student):
            trust.check(student, named_by=named_by, trust_code=trust_code)


def check_order(quantized: bool, steps: list, task: str) -> None:
    """Refuse a chain that would fail half-way (pruning or quantizing a quantized model, distilling a task without a
    distillation loss) before any work: the
    quantized parent is known from its model.json, so this costs nothing, where the failing step came after
    loading, measuring and the steps before it."""
    from .steps import DistillStep, PruneStep, QuantStep, check_distillable

    for i, step in enumerate(steps, 1):
        where = f"step {i} ({describe(step)})"
        if isinstance(step, QuantStep) and quantized:
            raise EdgekitError(f"{where}: the model is already quantized", "quantize once, as the last step (start from the float run)")
        if isinstance(step, PruneStep) and quantized:
            raise EdgekitError(f"{where}: cannot prune a quantized model", "prune first, then quantize (start from the float run)")
        quantized = isinstance(step, QuantStep) or (quantized and not isinstance(step, DistillStep))  # a student starts float
        if isinstance(step, DistillStep) or getattr(step, "distill_from_parent", False):
            check_distillable(task)


def compress_run(
    parent,
    steps: list,
    out: Path,
    *,
    max_drop: float | None = None,
    progress: bool = True,
    trust_code: bool = False,
    dataset: str | None = None,
    say=None,
) -> Run:
    """Runs every step; writes `out` atomically. Raises BudgetFailed (exit 1) after writing when the task's
    score fell more than `max_drop` points below the parent's; the run is kept, marked failed."""
    if not steps:
        raise EdgekitError("no compression step given", "pass --prune, --qat, --ptq, --distill-to or --recipe")
    check_max_drop(max_drop)
    check_students(steps, trust_code)
    out = check_out_folder(Path(out))
    parent_spec = parent.spec if isinstance(parent, Run) else load_spec(check_run_folder(Path(parent)) / "model.json")
    check_order(bool(parent_spec.quantization), steps, parent_spec.task)
    if parent_spec.runs_in != "pytorch":
        raise EdgekitError(
            f"compress works on PyTorch models, and {parent_spec.name} is an ONNX graph that runs only in onnxruntime "
            f"({parent_spec.graph.not_converted})",
            "export it with --format onnx (fp32, fp16 or int8 calibrated on the data set) instead",
        )
    started = now()
    run = parent if isinstance(parent, Run) else load_run(parent, trust_code=trust_code)
    task = get_task(run.spec.task)
    state = initial_state(
        run.model,
        run.spec,
        run.metrics.train_config,
        progress=progress,
        dataset=dataset,
        code=code_bytes(run),
        trust_code=trust_code,
        where=str(run.path / "model.json") if run.path else "the run's model.json",
        say=say,
    )
    state.max_drop = max_drop
    parent_row = {"step": "parent", **state.measure()}
    rows = [parent_row]
    for step in steps:
        t0 = time.perf_counter()
        state, details = step.apply(state)
        label = describe(step) + (" (removed nothing)" if details.pop("removed_nothing", False) else "")  # not shown as done
        rows.append({"step": label, **state.measure(), "seconds": round(time.perf_counter() - t0, 2), **details})
    final = rows[-1]
    drop = task.drop(parent_row, final) if parent_row.get(task.quality) is not None and final.get(task.quality) is not None else None
    failed = max_drop is not None and drop is not None and drop > max_drop
    # A prune step that stopped short of its target (validation score past --max-drop, or a target not reached)
    missed = next((r["target_missed"] for r in rows if r.get("target_missed")), None)
    parent_path = str(run.path.resolve()) if run.path else None
    lineage = run.manifest.lineage + ([parent_path] if parent_path else [])
    manifest = new_manifest(
        "compress",
        parent=parent_path,
        lineage=lineage,
        started=started,
        steps=[describe(s) for s in steps],
        status="failed" if failed or missed else "ok",
        # the prune step's own stop says more (where it stopped, what it kept) than the final drop
        failure=missed or (f"{task.quality} dropped {drop:.2f} {task.unit}, more than --max-drop {max_drop}" if failed else None),
    )
    cost_keys = ("params", "nonzero_params", "macs", "size_bytes")
    metrics = Metrics(
        stage="compress",
        task=run.spec.task,
        quality=task.quality,
        higher_is_better=task.higher_is_better,
        test={k: final[k] for k in state.quality_keys},
        cost=Cost(**{k: final[k] for k in cost_keys}),
        steps=rows,
        wall_seconds=sum(r.get("seconds", 0) for r in rows),
        parent={"path": parent_path, task.quality: parent_row[task.quality]},
        drop=drop,
        train_config=state.train_config.to_json(),
        max_drop=max_drop,
    )
    with staged_dir(out) as tmp:
        write_run_files(tmp, state.model.cpu(), state.spec, metrics, manifest, code=state.code, graph=graph_bytes(run))
    result = Run(path=out, model=state.model.cpu().eval(), spec=state.spec, metrics=metrics, manifest=manifest)
    if failed or missed:
        fix = "fine-tune longer, compress less, or raise --max-drop"
        error = BudgetFailed(
            f"{out}: {manifest.failure} (result kept, marked failed)",
            fix if not missed else "fine-tune longer (--finetune, --distill-from-parent), or ask for a less aggressive target",
        )
        error.run = result
        raise error
    return result
