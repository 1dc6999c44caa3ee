"""Atomic file and folder writes: a crash, Ctrl-C or kill -9 never leaves a half-written result behind.

Temporary names are `.ek-<pid>-<random><suffix>` beside the target: short, so any name legal for the target is
legal for its temporary too (a 240-byte --out name once failed on its longer temporary name), and carrying the
writer's PID, so the next writer in that folder removes what a dead process left (a live one's is left alone).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import EdgekitError, from_os_error


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


TEMP_PREFIX = ".ek-"


def temp_prefix() -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-"


def remove_stale(parent: Path, name: str, suffix: str) -> None:
    """Remove `.ek-<pid>-<random><suffix>` entries (and the older `.NAME.<pid>.<random><suffix>` form) whose
    writer process is gone."""
    legacy = f".{name}."
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return
    for p in entries:
        if not p.name.endswith(suffix):
            continue
        if p.name.startswith(TEMP_PREFIX):
            pid = p.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        elif p.name.startswith(legacy):
            pid = p.name[len(legacy) :].split(".", 1)[0]
        else:
            continue
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name, ".tmp")
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def json_text(obj: Any) -> str:
    # allow_nan=False: a NaN in a result is a bug to surface, not a file other tools cannot parse.
    return json.dumps(obj, indent=2, allow_nan=False) + "\n"


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json_text(obj))


def write_set(files: dict[Path, bytes]) -> None:
    """Write several files as one set: all go to temporary names first, then each is renamed into place.
    The last one named is the set's marker (readers check it): it is renamed last."""
    staged = []
    try:
        for path, data in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale(path.parent, path.name, ".tmp")
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


MAX_DEPTH = 64  # far deeper than any file edgekit writes; a nesting bomb is refused instead of recursing


class BadData(ValueError):
    """A JSON/TOML file that parses (or would) but holds what no edgekit file holds: NaN or infinite numbers,
    absurd nesting. The message names the key; readers add the file and the fix."""

    def about(self, path) -> str:
        text = str(self)
        return f"{path} {text}" if text.startswith("is ") else f"{path}: {text}"


def check_data(data: Any) -> Any:
    """Refuse non-finite numbers (naming the key) and nesting deeper than MAX_DEPTH, without recursing."""
    stack = [(data, (), 0)]
    while stack:
        value, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadData(f"is nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(value, float) and not math.isfinite(value):
            raise BadData(f"key '{'.'.join(map(str, key)) or '(top level)'}' is {value}, not a finite number")
        if isinstance(value, dict):
            stack.extend((v, (*key, k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*key, i), depth + 1) for i, v in enumerate(value))
    return data


def read_json(path: Path) -> Any:
    """Parse a JSON file; BadData (a ValueError) for NaN/Infinity or a nesting bomb, so no reader trips on them later."""
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except RecursionError:
        raise BadData(f"is nested too deeply (more than {MAX_DEPTH} levels)") from None
    return check_data(data)


def check_out_folder(out: Path, *, flag: str = "--out") -> Path:
    """An output folder must not exist yet (nothing of the user's is overwritten)."""
    out = Path(out)
    if out.is_file():
        raise EdgekitError(f"{out} is a file, not a folder", f"choose another {flag}")
    if out.exists():
        raise EdgekitError(f"output folder {out} already exists", f"choose another {flag} or remove it")
    return out


@contextmanager
def staged_dir(final: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it becomes `final` in one rename."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(final.parent, final.name, ".partial")
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(), suffix=".partial", dir=final.parent))
    except OSError as e:
        raise from_os_error(e) from None
    try:
        yield tmp
        if final.exists():
            if not replace:
                raise EdgekitError(f"output folder {final} appeared while this ran", "choose another --out")
            old = tmp.with_name(f"{tmp.name[: -len('.partial')]}-old.partial")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_toml(path: Path, what: str, fix: str = "check the path") -> dict:
    """Parse a TOML file the user named; a missing file, a folder or bad syntax is a one-line EdgekitError."""
    import tomllib

    path = Path(path)
    if path.is_dir():
        raise EdgekitError(f"{what} {path} is a folder, not a TOML file", fix)
    try:
        return check_data(tomllib.loads(path.read_text()))
    except RecursionError:
        raise EdgekitError(f"{path} is nested too deeply (more than {MAX_DEPTH} levels)", fix) from None
    except BadData as e:
        raise EdgekitError(e.about(path), "write a finite number there" if "finite" in str(e) else fix) from None
    except FileNotFoundError:
        raise EdgekitError(f"{what} not found: {path}", fix) from None
    except UnicodeDecodeError:
        raise EdgekitError(f"{path} is not a text file", "pass a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise EdgekitError(f"{path} is not valid TOML: {e}", "fix the syntax") from None
    except OSError as e:
        raise from_os_error(e, str(path)) from None
