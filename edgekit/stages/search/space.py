"""The search space: which choices a trial makes. A default per target and model, or a TOML file read as data.

Every dimension is a list of choices (categorical): the values that matter on a board are few and discrete
(widths that keep channel counts round, input sizes the data set resizes to, the formats the target runs), and a
categorical space makes a trial's parameters exactly reproducible. `quant` (QAT vs PTQ) only matters for int8, so
a trial samples it only when its precision is int8.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator, model_validator

from ...errors import EdgekitError
from ...schema import Strict, parse
from ...util.fsutil import read_toml

Width = Annotated[float, Field(gt=0, le=4)]
Size = Annotated[int, Field(ge=4, le=1024)]
Ratio = Annotated[float, Field(ge=0, lt=1)]


def _distinct(v: list) -> list:
    if not v or len(set(v)) != len(v):
        raise ValueError("must list at least one choice, each once")
    return v


class SpaceFile(Strict):
    """[space] of a --space TOML file; a key left out keeps the target's default."""

    width: Optional[list[Width]] = None
    input_size: Optional[list[Size]] = None
    prune: Optional[list[Ratio]] = None
    quant: Optional[list[Literal["ptq", "qat"]]] = None
    precision: Optional[list[Literal["fp32", "fp16", "int8", "dynamic"]]] = None
    format: Optional[list[str]] = None

    _lists = field_validator("width", "input_size", "prune", "quant", "precision", "format")(lambda v: v if v is None else _distinct(v))

    @field_validator("format")
    @classmethod
    def _formats(cls, v):
        from ...formats import FORMATS

        unknown = [f for f in v or [] if f not in FORMATS]
        if unknown:
            raise ValueError(f"unknown format '{unknown[0]}' (use {', '.join(FORMATS)})")
        return v


class Schedule(Strict):
    """[train] of a --space file: how long parents train and children fine-tune."""

    epochs: Optional[Annotated[int, Field(ge=1, le=10000)]] = None  # parents; None: the recipe's
    # The README main job's schedule (pipelines/digits.toml: 10 epochs after pruning, 5 of QAT), so that a study's
    # anchor trials (study.anchors) are what the defaults ship: with 3 and 2, the same configuration scored lower
    # and the 20-trial front on rpi4 held nothing as good as the main job's artifact (benchmarks/results/search.md).
    finetune: Annotated[int, Field(ge=0, le=1000)] = 10  # epochs after pruning
    qat_epochs: Annotated[int, Field(ge=1, le=1000)] = 5


class SearchFile(Strict):
    space: SpaceFile = Field(default_factory=SpaceFile)
    train: Schedule = Field(default_factory=Schedule)

    @model_validator(mode="before")
    @classmethod
    def _tables(cls, data):
        if isinstance(data, dict) and not set(data) <= {"space", "train"}:
            extra = sorted(set(data) - {"space", "train"})[0]
            raise ValueError(f"unknown table '{extra}' (a space file holds [space] and [train])")
        return data


class Space(Strict):
    """The resolved space: every dimension filled, every format one the target runs."""

    width: list[float]
    input_size: list[int]
    prune: list[float]
    quant: list[str]
    precision: list[str]
    format: list[str]
    schedule: Schedule

    def digest(self) -> str:
        """Names the study: another space is another study, never mixed into this one's trials."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


def target_formats(target) -> list[str]:
    """The formats whose runtime the target runs, its preferred one first; micro/edgetpu only for their kinds."""
    from ...formats import FORMATS, get_format

    runs = set(target.profile.runtime.runtimes)
    preferred = target.profile.runtime.preferred_format
    names = [preferred] + [f for f in FORMATS if f != preferred]
    return [f for f in names if get_format(f).runtime in runs]


def default_space(target, input_shape: list[int]) -> Space:
    """Width 0.5/0.75/1, the native input size and three quarters of it, pruning 0/25/50 %, PTQ and QAT, fp32 and
    the target's int8, every format the target runs."""
    side = input_shape[-1] if len(input_shape) == 3 else None
    sizes = sorted({max(4, round(side * 0.75)), side}) if side else []
    precisions = ["int8", "fp32"] if target.profile.runtime.preferred_precision in ("int8", "auto") else ["fp32"]
    return Space(
        width=[0.5, 0.75, 1.0],
        input_size=sizes,
        prune=[0.0, 0.25, 0.5],
        quant=["ptq", "qat"],
        precision=precisions,
        format=target_formats(target),
        schedule=Schedule(),
    )


def load_space(path: Path | None, target, input_shape: list[int]) -> Space:
    """The target's default space, overridden key by key by the file's [space] (validated as data)."""
    base = default_space(target, input_shape)
    if path is None:
        return base
    fix = "see `edgekit search --help` for the keys: [space] width, input_size, prune, quant, precision, format; [train]"
    file = parse(SearchFile, read_toml(Path(path), "space file", fix), str(path), fix)
    given = {k: v for k, v in file.space.model_dump().items() if v is not None}
    space = base.replace(**given, schedule=file.train)
    runs = target_formats(target)
    foreign = [f for f in space.format if f not in runs]
    if foreign:
        raise EdgekitError(
            f"{path}: format '{foreign[0]}' does not run on {target.name} (it runs {', '.join(runs)})",
            "list only formats the target's runtimes run",
        )
    if space.input_size and len(input_shape) != 3:
        raise EdgekitError(f"{path}: input_size needs an image model (C, H, W), not input shape {input_shape}", "remove input_size")
    return space
