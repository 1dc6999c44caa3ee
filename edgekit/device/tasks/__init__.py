"""The device half of each task: post-processing (e.g. decode + NMS), one raw sample's value, its label, the score.

Shipped to devices inside the device package (Python 3.8, numpy only). Export's parity check calls these same
objects on the host, so the parity figures and the device's figures come from one piece of code. A new task = one
module here holding a module-level TASK (a base.DeviceTask) + one TASKS line.
"""

import importlib

# task name (deploy.json's "task") -> its module in this package
TASKS = {"classification": "classification", "reconstruction": "reconstruction", "anomaly": "anomaly",
         "detection": "detection", "centroids": "centroids"}


def get(name):
    """The device task for deploy.json's "task"; ValueError for a name this package does not know (a received file
    chooses only among these modules, never a module of its own)."""
    module = TASKS.get(name) if isinstance(name, str) else None
    if module is None:
        raise ValueError("unknown task %r (known: %s)" % (name, ", ".join(sorted(TASKS))))
    return importlib.import_module("." + module, __name__).TASK
