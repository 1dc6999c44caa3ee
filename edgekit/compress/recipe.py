"""Compression recipes: a TOML file with an ordered list of [[step]] tables, e.g.

    [[step]]
    kind = "distill"      # distill | prune | qat | ptq
    student = "digits-cnn"
    width = 0.5
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EdgekitError
from ..fsutil import read_toml
from .steps import DistillStep, PruneStep, QuantStep

_KEYS = {
    "prune": {"ratio", "finetune", "unstructured", "importance", "global_pruning", "layer_ratios"},
    "distill": {"student", "width", "epochs", "temperature", "alpha"},
    "qat": {"epochs", "calib"},
    "ptq": {"calib", "force_calib"},
}


def load_recipe_steps(path: Path) -> list:
    path = Path(path)
    data = read_toml(path, "recipe", "check the --recipe path")
    extra = set(data) - {"step", "description"}
    if extra:
        raise EdgekitError(f"{path}: unknown key '{sorted(extra)[0]}'", "a recipe holds [[step]] tables (and a description)")
    steps = load_recipe_steps_from_tables(data.get("step", []), where=str(path))
    if not steps:
        raise EdgekitError(f"{path} has no [[step]] tables", "add at least one step")
    return steps


def load_recipe_steps_from_tables(tables: list[dict], *, where: str) -> list:
    """Step objects from [[step]]-style tables; errors name `where` and the offending step and key."""
    steps = []
    for i, table in enumerate(tables, 1):
        kind = table.get("kind")
        if kind not in _KEYS:
            raise EdgekitError(f"{where}: step {i} has unknown kind '{kind}'", f"use one of {', '.join(_KEYS)}")
        unknown = set(table) - _KEYS[kind] - {"kind"}
        if unknown:
            raise EdgekitError(f"{where}: step {i} ({kind}) has unknown key '{sorted(unknown)[0]}'",
                               f"allowed: {', '.join(sorted(_KEYS[kind]))}")
        args = {k: v for k, v in table.items() if k != "kind"}
        try:
            if kind == "prune":
                steps.append(PruneStep(**args))
            elif kind == "distill":
                steps.append(DistillStep(**args))
            else:
                steps.append(QuantStep(method=kind, **args))
        except TypeError as e:
            raise EdgekitError(f"{where}: step {i} ({kind}): {e}", "check the step's keys") from None
    return steps
