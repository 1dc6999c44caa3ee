"""The protocol every device shares — make a private folder, copy a tree of files in (relative path → local file
or bytes), run a command, remove the folder — so local, SSH and emulated boards run the same code path."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ....errors import EdgekitError


class DeviceUnreachable(EdgekitError):
    """The device itself cannot be used (no route, refused key, unknown host key): no artifact can run there."""


# What put() copies: a relative POSIX path inside the private folder → the local file, or the bytes, to put there.
Layout = dict[str, "Path | bytes"]


def _checked(rel: str) -> str:
    """Layout paths are edgekit's own (fixed names, validated plain names, generated names): never absolute or up."""
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad layout path {rel!r}")
    return rel


def write_layout(layout: Layout, root: Path) -> None:
    """Lay `layout` out under `root` as copies: the private folder of a local device, or the tree scp sends."""
    for rel, src in layout.items():
        dst = Path(root) / _checked(rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            dst.write_bytes(src)
        else:
            shutil.copyfile(src, dst)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


class Transport:
    name: str
    python: str  # how the device's Python is named in messages (and run, unless python_argv says otherwise)
    caveat: str | None = None
    on_target: bool = False  # True when latency and memory measured here are the target's own

    def is_target(self, target) -> bool:
        """Whether figures measured through this transport are the target's (budgets apply)."""
        return self.on_target

    @property
    def python_argv(self) -> list[str]:
        return [self.python]

    def install_hint(self, package: str) -> str:
        return f"install it there: {self.python} -m pip install {package}"

    def mkdtemp(self) -> str: ...
    def put(self, layout: Layout, remote_dir: str) -> None: ...
    def run(self, argv: list[str], timeout: float, cwd: str | None = None) -> Completed: ...
    def stop(self, remote_dir: str) -> None:
        """Stop what run() started there (Ctrl-C): local children die with subprocess.run."""

    def annotate(self, result: dict) -> dict:
        """Add what the transport itself measured (an emulated board's instruction counts)."""
        return result

    def remove(self, remote_dir: str) -> None: ...
