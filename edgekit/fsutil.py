"""Atomic file and folder writes: a crash, Ctrl-C or kill -9 never leaves a half-written result behind.

Temporary names carry the writer's PID, so the next writer of the same path removes what a dead process
left (a live one's is left alone).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import EdgekitError, from_os_error


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale(parent: Path, name: str, suffix: str) -> None:
    """Remove `.NAME.<pid>.<random><suffix>` siblings whose writer process is gone."""
    prefix = f".{name}."
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return
    for p in entries:
        if not (p.name.startswith(prefix) and p.name.endswith(suffix)):
            continue
        pid = p.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name, ".tmp")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


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
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".partial", dir=final.parent))
    except OSError as e:
        raise from_os_error(e) from None
    try:
        yield tmp
        if final.exists():
            if not replace:
                raise EdgekitError(f"output folder {final} appeared while this ran", "choose another --out")
            old = final.with_name(f".{final.name}.{os.getpid()}.old.partial")
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
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise EdgekitError(f"{what} not found: {path}", fix) from None
    except UnicodeDecodeError:
        raise EdgekitError(f"{path} is not a text file", "pass a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise EdgekitError(f"{path} is not valid TOML: {e}", "fix the syntax") from None
    except OSError as e:
        raise from_os_error(e, str(path)) from None
