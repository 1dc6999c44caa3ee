"""Find the shipped data folders (targets/, models/) from a checkout or from an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # edgekit/ (this file is edgekit/util/resources.py)


def data_dir(name: str) -> Path:
    """`name` is 'targets' or 'models'. The wheel carries them in edgekit/_data; a checkout at its top."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"edgekit's {name}/ folder is missing from this installation")
