"""One writer per output folder: `.NAME.lock` beside the folder, holding the writer's pid, while it writes.

The lock is an flock on that file rather than the file's existence: the kernel drops it when its process dies
(kill -9 included), so a dead writer's lock is simply taken over, with no pid guessing and no race between two
processes both deciding that a lock is stale. The file is removed when the writer is done.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import EdgekitError, from_os_error


def lock_path(folder: Path) -> Path:
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


@contextmanager
def writing(folder: Path, *, flag: str = "--out", wait: bool = False) -> Iterator[None]:
    """Hold the lock of `folder` while the block writes it; a second writer gets one line naming the first, or,
    with `wait`, blocks until the first is done (a shared cache: the second then finds the folder written)."""
    folder = Path(folder)
    path = lock_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, folder, flag, wait)
    except OSError as e:
        raise from_os_error(e) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # before closing: a process that opened it meanwhile sees it gone and retries
        os.close(fd)


def _acquire(path: Path, folder: Path, flag: str, wait: bool = False) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise EdgekitError(
                f"{folder} is being written by process {pid if pid.isdigit() else '(starting)'}", f"wait for it or choose another {flag}"
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # its holder finished and removed it between our open and flock: lock the current file
