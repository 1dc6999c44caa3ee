"""PASS/FAIL of one measured artifact against its target's budgets.

Latency and memory are the target's only when measured on it (SSH to the board, or this machine for an x86-64
profile); elsewhere they are shown as "not the target". Quality and agreement hold everywhere.
"""

from __future__ import annotations

from ...contracts import Check, Deploy, RunnerResult
from ...parity import NOT_PROVEN, NOTE, proven
from ...targets import TargetProfile
from ...tasks import get_task
from ...tasks.base import check

FLOAT_AGREEMENT = 0.99


def check_budgets(result: RunnerResult, deploy: Deploy, target: TargetProfile, *, on_target: bool) -> list[Check]:
    b = target.budgets
    checks = []
    if result.micro is not None:  # the arena and the flash image are the board's whatever runs them
        ram, flash = target.hardware.ram_kb, target.hardware.flash_kb
        if ram and result.micro.get("arena_bytes") is not None:
            checks.append(check("tensor arena", result.micro["arena_bytes"], ram * 1024, "max", "B"))
        if flash:
            checks.append(check("flash", result.micro["flash_bytes"], flash * 1024, "max", "B"))
    else:
        why = None if on_target else "measured elsewhere: only the board itself gives this figure"
        checks.append(check("latency p90", result.latency_ms.p90, b.latency_p90_ms, "max", "ms", on_target, why))
        checks.append(check("peak memory", result.peak_rss_mb, b.max_memory_mb, "max", "MiB", on_target, why))
    precision = deploy.artifact.precision
    task = get_task(deploy.task)
    floor = task.parity_floor(b, None) if precision in ("int8", "dynamic") else FLOAT_AGREEMENT
    # [budgets.quality] names metrics of many tasks: this artifact's task judges those it declares
    quality = [
        check(task.metric_name(metric), result.quality.get(metric), limit, task.budget_metrics[metric])
        for metric, limit in b.quality.items()
        if metric in task.budget_metrics
    ]
    quality += task.reference_checks(result.quality, precision, floor)
    if not proven(deploy.parity):  # --no-parity: quality is measured and shown; a FAIL stays, a PASS is not one
        quality = [{**c, "status": NOT_PROVEN, "note": NOTE} if c["status"] == "PASS" else c for c in quality]
    return [Check(**c) for c in checks + quality]
