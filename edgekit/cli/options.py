"""Option types shared by several commands."""

from __future__ import annotations

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
