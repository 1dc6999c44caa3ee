"""`edgekit models` and `edgekit datasets`: what is available (no torch needed to list them)."""

from __future__ import annotations

import click

from .tables import console, human, table


@click.command("models")
def models_cmd() -> None:
    """List the model zoo: task, input shape, params and MACs (counted by edgekit, recorded in each recipe)."""
    from ..recipes import zoo_recipes

    rows = []
    for name, recipe in zoo_recipes().items():
        c = recipe.counted
        rows.append([name, recipe.task, "x".join(map(str, recipe.input_shape)), f"{c.params:,}" if c else "?",
                     human(c.macs) if c else "?", recipe.description])
    console.print(table("edgekit model zoo", ["model", "task", "input", "params", "MACs", "description"], rows))
    console.print("Your own module: --model path/to/file.py:ClassName, package.module:factory or timm:NAME "
                  "(arguments: --model-arg KEY=VALUE).")


@click.command("datasets")
def datasets_cmd() -> None:
    """List the data-set kinds edgekit reads."""
    from ..data import DATASETS

    console.print(table("edgekit data sets", ["spec", "what it is"], [[k, v] for k, v in DATASETS.items()]))
