"""Compression recipes: a TOML file with an ordered list of [[step]] tables, e.g.

    [[step]]
    kind = "distill"      # distill | prune | qat | ptq
    student = "digits-cnn"
    width = 0.5

Each kind's keys are typed: a wrong type or an unknown key names the step and the key before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ...errors import EdgekitError
from ...schema import Strict, parse
from ...util.fsutil import read_toml
from .steps import DistillStep, PruneStep, QuantStep


class PruneSpec(Strict):
    kind: Literal["prune"]
    ratio: float
    finetune: int = 10
    unstructured: bool = False
    importance: str = "l2"
    global_pruning: bool = False
    layer_ratios: dict[str, float] = Field(default_factory=dict)


class DistillSpec(Strict):
    kind: Literal["distill"]
    student: str
    width: float = 1.0
    epochs: int = 20
    temperature: float = 4.0
    alpha: float = 0.7


class QatSpec(Strict):
    kind: Literal["qat"]
    epochs: int = 5
    calib: int = 300


class PtqSpec(Strict):
    kind: Literal["ptq"]
    calib: int = 300
    force_calib: bool = False


SPECS = {"prune": PruneSpec, "distill": DistillSpec, "qat": QatSpec, "ptq": PtqSpec}


def step_from_table(table: dict, where: str):
    if not isinstance(table, dict):
        raise EdgekitError(f"{where} must be a table, not {type(table).__name__}", "write [[step]] tables with kind = ...")
    kind = table.get("kind")
    if kind not in SPECS:
        raise EdgekitError(f"{where} has unknown kind '{kind}'", f"use one of {', '.join(SPECS)}")
    spec = parse(SPECS[kind], table, f"{where} ({kind})", f"allowed keys: {', '.join(SPECS[kind].model_fields)}")
    args = spec.model_dump(exclude={"kind"})
    if kind == "prune":
        return PruneStep(**args)
    if kind == "distill":
        return DistillStep(**args, named_by=where)  # a file names this student: the trust rule applies
    return QuantStep(method=kind, **args)


def load_recipe_steps(path: Path) -> list:
    path = Path(path)
    data = read_toml(path, "recipe", "check the --recipe path")
    extra = set(data) - {"step", "description"}
    if extra:
        raise EdgekitError(f"{path}: unknown key '{sorted(extra)[0]}'", "a recipe holds [[step]] tables (and a description)")
    tables = data.get("step", [])
    if not isinstance(tables, list):
        raise EdgekitError(f"{path}: 'step' must be a list of [[step]] tables", "write [[step]] tables")
    steps = [step_from_table(t, f"{path}: step {i}") for i, t in enumerate(tables, 1)]
    if not steps:
        raise EdgekitError(f"{path} has no [[step]] tables", "add at least one step")
    return steps
