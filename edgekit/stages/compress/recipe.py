"""Compression recipes: a TOML file with an ordered list of [[step]] tables, e.g.

    [[step]]
    kind = "distill"      # distill | prune | qat | ptq
    student = "digits-cnn"
    width = 0.5

Each kind's keys are typed: a wrong type or an unknown key names the step and the key before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import Field

from ...contracts import check_plain_name
from ...errors import EdgekitError
from ...schema import Strict, parse
from ...util.fsutil import read_toml
from .prune_step import DEFAULT_IMPORTANCE, DEFAULT_REG, DEFAULT_SPARSITY_EPOCHS, DEFAULT_STEPS
from .steps import DistillStep, PruneStep, QuantStep


class PruneSpec(Strict):
    kind: Literal["prune"]
    ratio: Optional[float] = None
    finetune: int = 10
    unstructured: bool = False
    importance: str = DEFAULT_IMPORTANCE
    global_pruning: bool = False
    layer_ratios: dict[str, float] = Field(default_factory=dict)
    target_macs: Optional[float] = None
    target_latency_ms: Optional[float] = None
    target: Optional[str] = None  # a built-in target's name (a recipe is data: it names no file)
    iterative_steps: int = DEFAULT_STEPS
    sparsity_epochs: int = DEFAULT_SPARSITY_EPOCHS
    reg: float = DEFAULT_REG
    distill_from_parent: Optional[bool] = None  # None: when the task can be distilled


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
    qat_for: Optional[str] = None  # the format whose int8 quantizer QAT trains (as `compress --qat-for`)
    distill_from_parent: Optional[bool] = None  # None: the labels alone (QuantStep says why)


class PtqSpec(Strict):
    kind: Literal["ptq"]
    calib: int = 300
    force_calib: bool = False


SPECS = {"prune": PruneSpec, "distill": DistillSpec, "qat": QatSpec, "ptq": PtqSpec}


def step_from_table(table: dict, where: str, target: str | None = None):
    """`target`: the board a pipeline exports for (its preferred format is what a qat step trains for by default)."""
    if not isinstance(table, dict):
        raise EdgekitError(f"{where} must be a table, not {type(table).__name__}", "write [[step]] tables with kind = ...")
    kind = table.get("kind")
    if kind not in SPECS:
        raise EdgekitError(f"{where} has unknown kind '{kind}'", f"use one of {', '.join(SPECS)}")
    spec = parse(SPECS[kind], table, f"{where} ({kind})", f"allowed keys: {', '.join(SPECS[kind].model_fields)}")
    args = spec.model_dump(exclude={"kind"})
    if kind == "prune":
        if args["target"] is not None:  # a board by name only: a path in a received file could point anywhere
            try:
                check_plain_name(args["target"], "target")
                if args["target"].endswith(".toml"):
                    raise ValueError(f"target {args['target']!r} names a file")
            except ValueError as e:
                raise EdgekitError(f"{where} (prune): {e}", "name a built-in target (see `edgekit targets`)") from None
        return PruneStep(**args)
    if kind == "distill":
        return DistillStep(**args, named_by=where)  # a file names this student: the trust rule applies
    if kind == "qat":
        try:  # the format is looked up in edgekit's own table: an unknown name is one line naming the step
            return QuantStep(method=kind, **args, target=target)
        except EdgekitError as e:
            raise EdgekitError(f"{where} (qat): {e.problem}", e.fix) from None
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
