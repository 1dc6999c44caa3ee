"""Tasks as plug-ins: what a model is trained for, how it is scored and judged, one module each.

A new task = a module here (a `TASK` following `base.Task`), its device half in edgekit/device/tasks/ (post-process,
per-sample value, label, score: the device runs it, and export's parity check runs the same code), and one line
in each TASKS table. Generic code (train, compress, export, bench, report) names no task.
"""

from __future__ import annotations

import importlib

from ..errors import EdgekitError

TASKS = {
    "classification": "edgekit.tasks.classification",
    "reconstruction": "edgekit.tasks.reconstruction",
    "anomaly": "edgekit.tasks.anomaly",
    "detection": "edgekit.tasks.detection",
    "centroids": "edgekit.tasks.centroids",
}


def get_task(name: str):
    if name not in TASKS:
        raise EdgekitError(f"unknown task '{name}'", f"use one of {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name]).TASK


def budget_metrics() -> dict[str, str]:
    """Every metric a target's [budgets.quality] may set, across the registered tasks → "min" | "max"."""
    known: dict[str, str] = {}
    for name in TASKS:
        known.update(get_task(name).budget_metrics)
    return known
