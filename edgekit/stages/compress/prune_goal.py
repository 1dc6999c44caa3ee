"""What a target-form prune step prunes towards: MACs (a fraction of the parent's or a count), or a latency — estimated
from a board profile's roofline (no board needed), or measured on this machine when no board is named. A board's
budget is never checked with this machine's latency: naming a board always means its roofline."""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from ...errors import EdgekitError
from ...nn.profile import profile_model
from .prune import structured_prune

MAX_RATIO = 0.9  # channels removed per layer at most when searching a target (torch-pruning keeps >= 1 per layer)
SEARCH_ITERATIONS = 10  # bisection on the ratio: 0.9 / 2**10 < 0.1% of the channels
_BYTES = {"int8": 1, "fp16": 2}
HOST_RUNS, HOST_WARMUP = 30, 5


@dataclass
class Goal:
    quantity: str  # "macs" or "latency_ms"
    limit: float  # the value to reach (at most)
    method: str  # how `measure` gets its number, recorded in the run's metrics
    measure: Callable[[nn.Module], float]

    def describe(self, value: float) -> str:
        return f"{value / 1e6:.2f} M MACs" if self.quantity == "macs" else f"{value:.3f} ms"


def host_latency_ms(model: nn.Module, input_shape) -> float:
    """Median of HOST_RUNS batch-1 forward passes in torch on this machine (after a warm-up)."""
    x = torch.zeros(1, *input_shape)
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(HOST_WARMUP + HOST_RUNS):
            t0 = time.perf_counter()
            model(x)
            if i >= HOST_WARMUP:
                times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def make_goal(model: nn.Module, input_shape, *, target_macs=None, target_latency_ms=None, board=None) -> Goal:
    if target_macs is not None:
        parent = profile_model(model, input_shape).macs
        limit = target_macs * parent if target_macs <= 1 else target_macs
        how = f"{target_macs:g} x the parent's MACs" if target_macs <= 1 else f"{target_macs:,.0f} MACs"
        return Goal("macs", limit, f"MACs counted by edgekit ({how})", lambda m: profile_model(m, input_shape).macs)
    if board is None:
        return Goal(
            "latency_ms",
            target_latency_ms,
            f"latency measured on this machine (torch, batch 1, median of {HOST_RUNS}); name a --target for a board's estimate",
            lambda m: host_latency_ms(m, input_shape),
        )
    from ...targets import find_target
    from ..export.estimate import estimate_latency

    tgt = find_target(board)
    precision = tgt.runtime.preferred_precision

    def roofline(m: nn.Module) -> float:
        cost = profile_model(m, input_shape)
        return estimate_latency(tgt, macs=cost.macs, weight_bytes=cost.params * _BYTES.get(precision, 4), precision=precision)[
            "estimate_ms"
        ]

    return Goal("latency_ms", target_latency_ms, f"latency estimated for {tgt.name} ({precision}) from its profile's roofline", roofline)


def ratio_for(model: nn.Module, input_shape, goal: Goal, *, importance: str, global_pruning: bool, layer_ratios) -> tuple[float, float]:
    """The smallest channel ratio whose one-shot cut meets the goal (bisection on pruned copies; the model is
    untouched), and the value measured there. Refuses a goal the parent already meets or no ratio reaches."""
    start = goal.measure(model)
    if start <= goal.limit:
        raise EdgekitError(
            f"the model already meets the target: {goal.describe(start)} ≤ {goal.describe(goal.limit)} ({goal.method})",
            "lower the target, or compress without pruning",
        )

    def at(ratio: float) -> float:
        pruned, _ = structured_prune(
            copy.deepcopy(model), input_shape, ratio, importance=importance, global_pruning=global_pruning, layer_ratios=layer_ratios
        )
        return goal.measure(pruned)

    best = at(MAX_RATIO)
    if best > goal.limit:
        raise EdgekitError(
            f"the target {goal.describe(goal.limit)} is out of reach: with {MAX_RATIO:.0%} of the channels pruned the model "
            f"still has {goal.describe(best)} ({goal.method})",
            "raise the target, or choose a smaller architecture",
        )
    lo, hi = 0.0, MAX_RATIO
    for _ in range(SEARCH_ITERATIONS):
        mid = (lo + hi) / 2
        value = at(mid)
        if value <= goal.limit:
            hi, best = mid, value
        else:
            lo = mid
    return hi, best
