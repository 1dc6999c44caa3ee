"""Model recipes: models/*.toml (or a user's TOML by path) name an architecture, its input and training defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import EdgekitError
from .fsutil import read_toml
from .resources import data_dir
from .spec import TASKS

_TOP_KEYS = {"name", "description", "task", "arch", "input_shape", "dataset", "kwargs", "train", "reference"}
TRAIN_DEFAULTS = {"epochs": 20, "batch_size": 64, "lr": 3e-3, "weight_decay": 1e-4, "label_smoothing": 0.0}


@dataclass(frozen=True)
class Recipe:
    name: str
    arch: str
    input_shape: tuple[int, ...]
    task: str = "classification"
    description: str = ""
    dataset: str = "digits"
    kwargs: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    path: Path | None = None


def _check(cond: bool, path: Path, key: str, expected: str) -> None:
    if not cond:
        raise EdgekitError(f"{path}: key '{key}' must be {expected}", "fix that key in the recipe")


def load_recipe(path: Path) -> Recipe:
    path = Path(path)
    data = read_toml(path, "recipe")
    for key in data:
        if key not in _TOP_KEYS:
            raise EdgekitError(f"{path}: unknown key '{key}'", f"allowed keys: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("name", "arch", "input_shape"):
        _check(key in data, path, key, "present")
    _check(isinstance(data["input_shape"], list) and all(isinstance(d, int) and d > 0 for d in data["input_shape"]),
           path, "input_shape", "a list of positive integers")
    task = data.get("task", "classification")
    _check(task in TASKS, path, "task", f"one of {', '.join(TASKS)}")
    train = dict(data.get("train", {}))
    for key, value in train.items():
        if key not in TRAIN_DEFAULTS:
            raise EdgekitError(f"{path}: unknown key 'train.{key}'", f"allowed: {', '.join(TRAIN_DEFAULTS)}")
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), path, f"train.{key}", "a number")
    return Recipe(name=data["name"], arch=data["arch"], input_shape=tuple(data["input_shape"]), task=task,
                  description=data.get("description", ""), dataset=data.get("dataset", "digits"),
                  kwargs=dict(data.get("kwargs", {})), train={**TRAIN_DEFAULTS, **train}, path=path)


def zoo_recipes() -> dict[str, Recipe]:
    recipes = (load_recipe(p) for p in sorted(data_dir("models").glob("*.toml")))
    return {r.name: r for r in recipes}


def find_recipe(name_or_path: str) -> Recipe:
    if name_or_path.endswith(".toml"):
        return load_recipe(Path(name_or_path))
    recipes = zoo_recipes()
    if name_or_path not in recipes:
        raise EdgekitError(f"unknown model '{name_or_path}'",
                           f"choose one of {', '.join(recipes)} (see `edgekit models`), a recipe.toml, or file.py:Class")
    return recipes[name_or_path]
