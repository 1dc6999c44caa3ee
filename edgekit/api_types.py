"""Argument types of the notebook API (edgekit/api.py), checked once at its edge.

`ek.train(123)` or `epochs="3"` used to fail deep inside as an internal TypeError. Each public function is wrapped
by `edge`: pydantic's validate_call checks every argument against the function's own annotations, strictly (as
the file schemas do: "3" is not 3, 1 is not True), before the function runs, and a mismatch is one EdgekitError
naming the argument, the type expected and the value given. pydantic rather than hand-written isinstance checks:
the annotations already say what each argument takes (unions, optional values, sequences of ints), so they stay
the one statement of it; the few arguments that take edgekit objects or paths use the validators below.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, ValidationError, validate_call

from .errors import EdgekitError


def _model_ref(v):
    import torch.nn as nn

    if isinstance(v, (str, nn.Module)):
        return v
    raise ValueError("a zoo name, recipe, file.py:Class / package.module:factory reference, or an nn.Module")


def _run_ref(v):
    from .runs import Run

    if isinstance(v, (str, Path, Run)):
        return v
    raise ValueError("a Run (from ek.train / ek.compress / ek.load_run) or a run folder path")


def _artifact_ref(v):
    def one(a) -> bool:
        from .stages.export import Artifact

        return isinstance(a, (str, Path, Artifact))

    if one(v) or (isinstance(v, (list, tuple)) and all(one(a) for a in v)):
        return v
    raise ValueError("an Artifact (from ek.export) or an artifact folder path, or a list of them")


ModelRef = Annotated[Any, AfterValidator(_model_ref)]
RunRef = Annotated[Any, AfterValidator(_run_ref)]
ArtifactRef = Annotated[Any, AfterValidator(_artifact_ref)]


def _expected(fn, name: str, err: dict) -> str:
    if err["type"] == "value_error":  # one of the validators above: its message says what it takes
        return str(err["msg"]).removeprefix("Value error, ")
    return str(fn.__annotations__.get(name, "another type"))


def edge(fn):
    """Check `fn`'s arguments against its annotations before it runs; a mismatch is one EdgekitError."""

    def arguments(*args, **kwargs):  # validated, never the function itself: its own errors are not argument errors
        return args, kwargs

    functools.update_wrapper(arguments, fn)  # the signature and annotations validate_call reads
    checked = validate_call(config=ConfigDict(strict=True, arbitrary_types_allowed=True))(arguments)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            args, kwargs = checked(*args, **kwargs)
        except ValidationError as e:
            err = e.errors()[0]
            name = err["loc"][0] if err["loc"] else "?"
            if isinstance(name, int):  # a positional argument: pydantic names it by its index
                name = list(inspect.signature(fn).parameters)[name]
            if err["type"] in ("unexpected_keyword_argument", "missing_argument", "unexpected_positional_argument"):
                raise TypeError(f"ek.{fn.__name__}(): {err['msg'].lower()}: {name}") from None  # a call error, as Python says it
            given = _given(fn, name, args, kwargs)
            raise EdgekitError(
                f"ek.{fn.__name__}(): argument '{name}' must be {_expected(fn, name, err)}, got {type(given).__name__} {given!r:.60}",
                f"see help(ek.{fn.__name__})",
            ) from None
        return fn(*args, **kwargs)

    return wrapper


def _given(fn, name: str, args: tuple, kwargs: dict):
    try:
        return inspect.signature(fn).bind_partial(*args, **kwargs).arguments.get(name)
    except TypeError:
        return kwargs.get(name)
