"""`edgekit models` and `edgekit datasets`: what is available, with params and MACs."""

from __future__ import annotations

import click

from ..data import DATASETS
from ..profile import profile_model
from ..recipes import zoo_recipes
from ..zoo import build_architecture
from .tables import console, human, table


def _default_classes(recipe) -> int | None:
    if recipe.task != "classification":
        return None
    tail = recipe.dataset.rsplit(":", 1)[-1] if recipe.dataset.startswith("synthetic:") else "10"
    return int(tail)


@click.command("models")
def models_cmd() -> None:
    """List the model zoo: task, input shape, params and MACs (counted by edgekit)."""
    rows = []
    for name, recipe in zoo_recipes().items():
        cost = profile_model(build_architecture(recipe.arch, recipe.input_shape, _default_classes(recipe), recipe.kwargs),
                             recipe.input_shape)
        rows.append([name, recipe.task, "x".join(map(str, recipe.input_shape)), f"{cost.params:,}", human(cost.macs),
                     recipe.description])
    console.print(table("edgekit model zoo", ["model", "task", "input", "params", "MACs", "description"], rows))
    console.print("Your own module: --model path/to/file.py:ClassName or package.module:factory (with --input-shape).")


@click.command("datasets")
def datasets_cmd() -> None:
    """List the data-set kinds edgekit reads."""
    console.print(table("edgekit data sets", ["spec", "what it is"], [[k, v] for k, v in DATASETS.items()]))
