"""Option types shared by several commands."""

from __future__ import annotations

import json
from pathlib import Path

import click


class ShapeType(click.ParamType):
    name = "C,H,W"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            shape = tuple(int(v) for v in str(value).replace("x", ",").split(","))
            if not shape or any(d <= 0 for d in shape):
                raise ValueError
            return shape
        except ValueError:
            self.fail(f"'{value}' is not a shape; write positive integers like 3,32,32", param, ctx)


SHAPE = ShapeType()


def model_args(values, flag: str = "--model-arg") -> dict:
    """KEY=VALUE pairs; VALUE is read as JSON (3, 0.5, true, "text", [1, 2]) and otherwise kept as text."""
    from ..limits import check_model_arg

    out = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"'{item}' is not KEY=VALUE", param_hint=flag)
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        try:  # the rule a run folder's recorded arguments follow (edgekit/limits.py): no objects, no NaN
            out[key] = check_model_arg(key, value)
        except ValueError:
            raise click.BadParameter(
                f"'{item}': values are numbers, strings, booleans or lists of them (at most two levels deep)", param_hint=flag
            ) from None
    return out


def class_names(text: str | None) -> list[str] | None:
    """--labels A,B,...: the class names in the model's output order."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise click.BadParameter(f"'{text}' has an empty name: write the class names separated by commas", param_hint="--labels")
    return names


trust_code_option = click.option(
    "--trust-code",
    is_flag=True,
    help="Allow importing the user code a run folder, recipe, pipeline or interrupted run names (read it first). "
    "Never needed for zoo models.",
)
dataset_option = click.option(
    "--dataset", "dataset", default=None, help="The run's data set at another place (a run folder from another machine)."
)


def model_arg_option(example: str):
    """--model-arg KEY=VALUE (repeatable), read by model_args(); `example` is the help's example argument."""
    return click.option(
        "--model-arg", "margs", multiple=True, metavar="KEY=VALUE", help=f"Constructor argument (repeatable), e.g. {example}."
    )


# The options train and import share: the same flag means the same thing in both.
input_shape_option = click.option(
    "--input-shape", type=SHAPE, default=None, help="Model input C,H,W (default: the recipe's, else the data set's)."
)
weights_key_option = click.option(
    "--weights-key", default=None, metavar="ENTRY", help="The training checkpoint's entry holding the weights (default: found)."
)
run_out_option = click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Run folder (default: runs/<model>).")
