"""manifest.json: which stage made a run, from what, with which tools, when."""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime

from .._version import __version__


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def tool_versions() -> dict:
    import torch

    return {"edgekit": __version__, "torch": torch.__version__, "python": platform.python_version()}


def new_manifest(stage: str, *, parent: str | None = None, lineage: list | None = None, started: str | None = None, **extra):
    from ..contracts import Manifest

    return Manifest(
        stage=stage,
        parent=parent,
        lineage=lineage or [],
        command=shlex.join(["edgekit", *sys.argv[1:]]) if sys.argv and "edgekit" in sys.argv[0] else None,
        versions=tool_versions(),
        git_revision=git_revision(),
        started=started or now(),
        **extra,
    )
