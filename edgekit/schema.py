"""Typed validation of every file edgekit reads (pydantic, strict): a wrong type or an unknown key is one line
naming the file and the key, raised before any work starts."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import EdgekitError

M = TypeVar("M", bound=BaseModel)
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def check_plain_name(name: str, what: str = "file name") -> str:
    """A name that stays inside its folder: no separators, no '..', not hidden, not absolute. Every name a received
    file holds goes through it (callers import it from contracts)."""
    if not isinstance(name, str) or not _PLAIN.match(name) or name in (".", "..") or ".." in name.split("."):
        raise ValueError(f"{what} {name!r} must be a plain name inside its folder (letters, digits, _ . + -)")
    return name


class Strict(BaseModel):
    """No coercion ("3" is not 3), no unknown keys, no NaN or infinite numbers (TOML and Python's JSON allow them;
    no edgekit file needs them, and one would surface much later as a wrong result or an unwritable JSON)."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=False, allow_inf_nan=False)

    def replace(self, **changes):
        """A validated copy with some fields changed (model_copy would skip validation)."""
        return type(self).model_validate({**self.model_dump(by_alias=True), **changes})


class Loose(Strict):
    """Strict types, but keys this edgekit does not know are kept (data written by a newer minor version)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


def describe(e: ValidationError) -> str:
    """The first problem, as "unknown key 'a.b'", "missing key 'a.b'" or "key 'a.b': what is wrong (got ...)"."""
    err = e.errors()[0]
    key = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-")) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    if err["type"] == "missing":
        return f"missing key '{key}'"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    shown = "" if isinstance(got, dict) else f" (got {type(got).__name__} {str(got)[:40]!r})"
    return f"key '{key}': {msg[0].lower()}{msg[1:]}{shown}"


def parse(model: type[M], data: Any, where: str, fix: str) -> M:
    """Validate `data` (parsed JSON/TOML) as `model`; errors name `where` and the key."""
    if not isinstance(data, dict):
        raise EdgekitError(f"{where} must hold a table/object, not {type(data).__name__}", fix)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise EdgekitError(f"{where}: {describe(e)}", fix) from None


def dump(obj: BaseModel) -> dict:
    return obj.model_dump(mode="json", exclude_none=False)
