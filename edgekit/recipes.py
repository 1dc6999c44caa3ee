"""Model recipes: models/*.toml (or a user's TOML by path) name an architecture, its input and training defaults.

`arch` is a zoo architecture key, or a user module (file.py:Class, package.module:factory, timm:NAME) whose
constructor gets the recipe's [kwargs]. [counted] holds the params and MACs edgekit counted for the recipe's
defaults (tested against the built model), so listing the zoo needs no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

from pydantic import Field, field_validator

from .contracts import KwargValue, check_plain_name
from .errors import EdgekitError
from .limits import check_shape
from .schema import Strict, parse
from .util.fsutil import read_toml
from .util.resources import data_dir

TRAIN_DEFAULTS = {
    "epochs": 20,
    "batch_size": 64,
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "label_smoothing": 0.0,
    "warmup_epochs": 0,
    "ema": False,
}


class TrainDefaults(Strict):
    # The ranges TrainConfig enforces, checked when the recipe is read (before any data is), naming the key.
    epochs: Optional[Annotated[int, Field(ge=1)]] = None
    batch_size: Optional[Annotated[int, Field(ge=1)]] = None
    lr: Optional[Annotated[float, Field(gt=0)]] = None
    weight_decay: Optional[Annotated[float, Field(ge=0)]] = None
    label_smoothing: Optional[Annotated[float, Field(ge=0, lt=1)]] = None
    warmup_epochs: Optional[Annotated[int, Field(ge=0)]] = None
    ema: Optional[bool] = None


class Counted(Strict):
    params: int
    macs: int
    num_classes: Optional[int] = None


class Recipe(Strict):
    name: str
    arch: str
    input_shape: list[int]
    task: str = "classification"
    description: str = ""
    dataset: str = "digits"
    kwargs: dict[str, KwargValue] = Field(default_factory=dict)
    train: TrainDefaults = Field(default_factory=TrainDefaults)
    counted: Optional[Counted] = None
    path: Optional[str] = None

    _shape = field_validator("input_shape")(check_shape)  # edgekit/limits.py: sizes refused before allocating

    @field_validator("name")
    @classmethod
    def _name(cls, v):  # the default output folder is runs/<name>: '..' would be the working folder
        return check_plain_name(v, "the recipe name")

    @field_validator("task")
    @classmethod
    def _task(cls, v):
        from .tasks import TASKS

        if v not in TASKS:
            raise ValueError(f"must be one of {', '.join(TASKS)}")
        return v

    @property
    def train_settings(self) -> dict:
        return {**TRAIN_DEFAULTS, **{k: v for k, v in self.train.model_dump().items() if v is not None}}


def load_recipe(path: Path) -> Recipe:
    path = Path(path)
    data = read_toml(path, "recipe")
    return parse(Recipe, {**data, "path": str(path)}, str(path), "fix that key in the recipe (see models/resnet8.toml)")


def zoo_recipes() -> dict[str, Recipe]:
    recipes = (load_recipe(p) for p in sorted(data_dir("models").glob("*.toml")))
    return {r.name: r for r in recipes}


def find_recipe(name_or_path: str) -> Recipe:
    if name_or_path.endswith(".toml"):
        return load_recipe(Path(name_or_path))
    recipes = zoo_recipes()
    if name_or_path not in recipes:
        raise EdgekitError(
            f"unknown model '{name_or_path}'",
            f"choose one of {', '.join(recipes)} (see `edgekit models`), a recipe.toml, file.py:Class, package.module:factory or timm:NAME",
        )
    return recipes[name_or_path]
