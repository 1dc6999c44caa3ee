"""Tasks as plug-ins: what a model is trained for and how it is scored, one module each.

Adding a task = one module here (a `TASK` object following `base.Task`), its numpy scoring in
edgekit/device/quality.py (the device runs it too), and one line below.
"""

from __future__ import annotations

import importlib

from ..errors import EdgekitError

TASKS = {
    "classification": "edgekit.tasks.classification",
    "reconstruction": "edgekit.tasks.reconstruction",
    "anomaly": "edgekit.tasks.anomaly",
}


def get_task(name: str):
    if name not in TASKS:
        raise EdgekitError(f"unknown task '{name}'", f"use one of {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name]).TASK
