"""What a data set's files held when a run was trained on them (recorded in model.json's dataset record).

A run folder from elsewhere names its data by path; export and compress read that path again only when it still
holds this data, so a received model.json cannot make edgekit read another file (and copy its samples into
eval.npz). The readers read every data file through `read_bytes` / `open_hashed`; inside `recording(root)` each
file's name relative to the data set, size and sha256 are collected as it is read, not in a second pass.

The digest is the sha256 of a lone file (npz), or, for a folder, the sha256 of the sorted "name size sha256" lines
of the files its reader read (so renaming a class folder or adding a clip changes it too).
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO, Iterator

_reading: ContextVar[Reading | None] = ContextVar("edgekit_data_reading", default=None)


class Reading:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.files: dict[str, tuple[int, str]] = {}

    def add(self, path: Path, size: int, digest: str) -> None:
        self.files[os.path.relpath(path, self.root) if self.root.is_dir() else ""] = (size, digest)

    def digest(self) -> str | None:
        if not self.files:
            return None
        if not self.root.is_dir():
            return next(iter(self.files.values()))[1]
        lines = "".join(f"{name}\t{size}\t{digest}\n" for name, (size, digest) in sorted(self.files.items()))
        return hashlib.sha256(lines.encode()).hexdigest()


@contextmanager
def recording(root: Path) -> Iterator[Reading]:
    reading = Reading(root)
    token = _reading.set(reading)
    try:
        yield reading
    finally:
        _reading.reset(token)


def _record(path: Path, size: int, digest: str) -> None:
    reading = _reading.get()
    if reading is not None:
        reading.add(Path(path), size, digest)


def read_bytes(path: Path) -> bytes:
    """A data file's bytes, recorded when a data set is being fingerprinted."""
    data = Path(path).read_bytes()
    _record(path, len(data), hashlib.sha256(data).hexdigest())
    return data


@contextmanager
def open_hashed(path: Path) -> Iterator[BinaryIO]:
    """An open data file, hashed first (chunks, no copy in memory) and rewound for its parser."""
    with open(path, "rb") as f:
        h, size = hashlib.sha256(), 0
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
        f.seek(0)
        _record(path, size, h.hexdigest())
        yield f
