"""The prune step: a channel ratio, or a target (MACs, or latency on a board's roofline / this machine) that the ratio
is searched for; structured by a schedule (prune_schedule.py) or unstructured."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...errors import EdgekitError
from ...nn.resize import changed_shapes
from .prune import IMPORTANCE, make_permanent, unstructured_prune, weight_sparsity
from .prune_schedule import Schedule, _fit, run_schedule

# Defaults chosen by benchmarks/pruning.py (results/pruning.md): MobileNetV2 cut to 0.5x MACs with a 10-epoch
# fine-tune lost 10.4 points one shot with group L2, 5.2 in 3 iterative cuts, 2.6 distilled from the parent, and
# gained 0.7 with both; Taylor importance, global ranking and sparse training before the cut did not beat them.
# Hence L2 (DepGraph's group magnitude), 3 cuts, and distillation wherever the task defines it. On four 64 px parents
# at 10 epochs they lose 0-3.3 points where one cut lost 0.4-7.4 (worse on two of them); 60 epochs: within 1 point.
DEFAULT_IMPORTANCE = "l2"
DEFAULT_STEPS = 3
DEFAULT_SPARSITY_EPOCHS = 0
DEFAULT_REG = 1e-4  # torch-pruning's GroupNormPruner default


def _check_ratio(value: float, name: str) -> None:
    if not 0 < value < 1:
        raise EdgekitError(f"{name} must be between 0 and 1 (exclusive), got {value}", f"pass e.g. {name.replace('_', '-')} 0.5")


def _finite_positive(value, flag: str, example: str) -> None:
    if value is not None and not (0 < value < math.inf):
        raise EdgekitError(f"{flag} must be a positive number, got {value}", f"pass e.g. {flag} {example}")


@dataclass
class PruneStep:
    ratio: float | None = None
    finetune: int = 10
    unstructured: bool = False
    importance: str = DEFAULT_IMPORTANCE
    global_pruning: bool = False
    layer_ratios: dict[str, float] = field(default_factory=dict)
    target_macs: float | None = None  # ≤ 1: a fraction of the parent's MACs; > 1: a MAC count
    target_latency_ms: float | None = None
    target: str | None = None  # the board whose roofline estimates the latency (None: measured on this machine)
    iterative_steps: int = DEFAULT_STEPS
    sparsity_epochs: int = DEFAULT_SPARSITY_EPOCHS
    reg: float = DEFAULT_REG
    distill_from_parent: bool | None = None  # None: distil when the task defines a distillation loss (classification)
    kind: str = "prune"

    def __post_init__(self):
        given = [
            n
            for n, v in (("--prune", self.ratio), ("--target-macs", self.target_macs), ("--target-latency", self.target_latency_ms))
            if v is not None
        ]
        if len(given) != 1:
            raise EdgekitError(
                f"prune needs exactly one of --prune, --target-macs, --target-latency (got {', '.join(given) or 'none'})",
                "pass e.g. --prune 0.3 (channel ratio) or --target-macs 0.5 (of the parent's MACs)",
            )
        if self.ratio is not None:
            _check_ratio(self.ratio, "--prune")
        _finite_positive(self.target_macs, "--target-macs", "0.5")
        _finite_positive(self.target_latency_ms, "--target-latency", "5")
        if self.target_macs == 1:
            raise EdgekitError("--target-macs 1 keeps every MAC: nothing to prune", "pass a fraction below 1 (e.g. 0.5) or a MAC count")
        if self.target is not None and self.target_latency_ms is None:
            raise EdgekitError("--target names the board of a --target-latency", "add --target-latency MS, or drop --target")
        if self.target is not None:
            from ...targets import find_target

            find_target(self.target)  # an unknown board fails here, before any work
        for name, r in self.layer_ratios.items():
            _check_ratio(r, f"layer ratio of {name}")
        if self.importance not in IMPORTANCE:
            raise EdgekitError(f"unknown importance '{self.importance}'", f"use one of {', '.join(IMPORTANCE)}")
        if self.finetune < 0 or self.sparsity_epochs < 0:
            raise EdgekitError("--finetune and --sparsity-epochs must be ≥ 0 epochs", "pass e.g. --finetune 10")
        if self.iterative_steps < 1:
            raise EdgekitError(f"--iterative-steps must be ≥ 1, got {self.iterative_steps}", "pass e.g. --iterative-steps 3")
        _finite_positive(self.reg, "--reg", "1e-4")
        if self.unstructured and self.ratio is None:
            raise EdgekitError(
                "--unstructured prunes by --prune RATIO only", "targets (MACs, latency) need structured pruning: drop --unstructured"
            )

    def _distills(self, task_name: str) -> bool:
        if self.distill_from_parent is not None:
            return self.distill_from_parent
        from ...tasks import get_task

        return get_task(task_name).distill_loss is not None

    def describe(self) -> str:
        if self.unstructured:
            return f"prune {self.ratio:.0%} unstructured"
        if self.ratio is not None:
            return f"prune {self.ratio:.0%} structured"
        if self.target_macs is not None:
            goal = f"{self.target_macs:g}x MACs" if self.target_macs <= 1 else f"{self.target_macs:,.0f} MACs"
        else:
            goal = f"{self.target_latency_ms:g} ms on {self.target or 'this machine'}"
        return f"prune to {goal}"

    def apply(self, state) -> tuple:
        if state.spec.quantization:
            raise EdgekitError("cannot prune a quantized model", "prune first, then quantize (put qat/ptq last)")
        if self.unstructured:
            return self._unstructured(state)
        goal, ratio = None, self.ratio
        if ratio is None:
            from .prune_goal import make_goal, ratio_for

            goal = make_goal(
                state.model,
                state.spec.input_shape,
                target_macs=self.target_macs,
                target_latency_ms=self.target_latency_ms,
                board=self.target,
            )
            ratio, _ = ratio_for(
                state.model,
                state.spec.input_shape,
                goal,
                importance=self.importance,
                global_pruning=self.global_pruning,
                layer_ratios=self.layer_ratios,
            )
        original = state.model
        schedule = Schedule(
            ratio=ratio,
            importance=self.importance,
            global_pruning=self.global_pruning,
            layer_ratios=self.layer_ratios,
            steps=self.iterative_steps,
            finetune=self.finetune,
            sparsity_epochs=self.sparsity_epochs,
            reg=self.reg,
            distill_from_parent=self._distills(state.spec.task),
        )
        model, details = run_schedule(state, schedule, goal)
        resized = changed_shapes(original, model)
        state.spec = state.spec.replace(**{"resized_layers": {**state.spec.resized_layers, **resized}})
        state.model = model
        if goal is not None:
            reached = goal.measure(model)
            details["target"] = {goal.quantity: goal.limit, "reached": round(reached, 4), "method": goal.method}
            # MACs and a roofline are exact: a global cut that differs from the searched one-shot cut shows here.
            # This machine's latency is noisy: recorded, not judged.
            judged = goal.quantity == "macs" or self.target is not None
            if judged and reached > goal.limit and "target_missed" not in details:
                details["target_missed"] = f"reached {goal.describe(reached)}, above the target {goal.describe(goal.limit)}"
        if not resized:  # torch-pruning keeps a few channels per layer: a step past that point changes nothing
            details["removed_nothing"] = True
            details["note"] = f"prune {ratio:.0%} removed nothing: every prunable layer is already at the pruner's minimum width"
        if details.get("excluded_layers"):
            details["note"] = f"left unpruned (the pruner cannot follow their channels): {', '.join(details['excluded_layers'])}"
        details["resized_layers"] = len(resized)
        return state, details

    def _unstructured(self, state) -> tuple:
        model = unstructured_prune(state.model, self.ratio)
        state.model = model
        if self.finetune:
            model = _fit(state, model, self.finetune, None, f"fine-tune {self.ratio:.0%} sparse")
        make_permanent(model)
        state.model = model
        note = "unstructured sparsity shrinks the file only once compressed (zip/gzip); dense runtimes run it at the same speed"
        return state, {"sparsity": weight_sparsity(model), "note": note}
