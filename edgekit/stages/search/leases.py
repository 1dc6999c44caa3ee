"""Boards as leased resources: each --device is measuring for one trial at a time, whichever worker runs it.

A lease is a lock that dies with its holder, so a worker killed mid-measurement never holds a board forever:
- an flock on <out>/.leases/<hash of the URL>.lock for a board only this machine reaches (local, emu:) and, with
  the journal storage (one machine), for SSH boards too; the kernel drops it when the process dies;
- a PostgreSQL session advisory lock for SSH boards when --storage is PostgreSQL (workers on several machines):
  the server drops it when the holder's connection ends, which a killed process's does.
Before each lease the board's health is checked (reached, a scratch folder made and removed); a board that fails
it, or fails while measuring, is marked and skipped by this worker from then on, and the trial moves to another.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ...errors import EdgekitError

POLL_S = 0.2


class NoBoards(EdgekitError):
    """Every --device failed: the search stops (exit 2) rather than failing trial after trial."""


def _key(url: str) -> int:
    return int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big", signed=True)


def machine_local(url: str) -> bool:
    return not url.startswith("ssh://")


class FileLock:
    def __init__(self, folder: Path, url: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{_key(url) & 0xFFFFFFFFFFFF:012x}.lock"
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class AdvisoryLock:
    """pg_try_advisory_lock on a connection of its own: the lock lives exactly as long as that session."""

    def __init__(self, dsn: str, url: str):
        self.dsn, self.key, self.conn = dsn, _key(url), None

    def try_acquire(self) -> bool:
        import psycopg2

        if self.conn is None:
            try:
                self.conn = psycopg2.connect(self.dsn)
            except psycopg2.Error as e:
                raise EdgekitError(f"cannot reach the lease server: {str(e).strip()[:120]}", "check --storage") from None
            self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
            return bool(cur.fetchone()[0])

    def release(self) -> None:
        import psycopg2

        if self.conn is None:
            return
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except psycopg2.Error:  # the session is gone, and its lock with it: reconnect on the next lease
            self.conn.close()
            self.conn = None


def libpq_dsn(url: str) -> str:
    """SQLAlchemy's postgresql+psycopg2:// → the libpq URL psycopg2 takes."""
    return "postgresql://" + url.partition("://")[2]


class Boards:
    def __init__(self, urls: list[str], out: Path, *, storage: str | None, transport_for: Callable, say: Callable = print):
        self.urls, self.transport_for, self.say = list(urls), transport_for, say
        self.failed: dict[str, str] = {}
        folder = out / ".leases"
        self.locks = {
            u: FileLock(folder, u) if storage is None or machine_local(u) else AdvisoryLock(libpq_dsn(storage), u) for u in self.urls
        }
        self._start = os.getpid() % max(1, len(self.urls))  # workers start their scan at different boards

    def check_all(self) -> None:
        """Before the search: every --device must answer, else one line naming it (a typo, a board that is off)."""
        for u in self.urls:
            problem = self.health(u)
            if problem:
                raise EdgekitError(f"device {u} is unreachable: {problem}", "check the --device URL and that the board is up")

    def health(self, url: str) -> str | None:
        try:
            t = self.transport_for(url)
            folder = t.mkdtemp()
            t.remove(folder)
        except (EdgekitError, OSError, TimeoutError) as e:
            return getattr(e, "message", None) or str(e)
        return None

    def mark(self, url: str, why: str) -> None:
        self.failed[url] = why
        self.say(f"device {url} marked failed: {why}")

    @contextmanager
    def lease(self) -> Iterator[str]:
        """Wait for a healthy free board and hold it for the block."""
        n = len(self.urls)
        while True:
            alive = [self.urls[(self._start + i) % n] for i in range(n) if self.urls[(self._start + i) % n] not in self.failed]
            if not alive:
                raise NoBoards(
                    "every --device failed: " + "; ".join(f"{u}: {w}" for u, w in self.failed.items()), "check the boards and re-run"
                )
            for url in alive:
                lock = self.locks[url]
                if not lock.try_acquire():
                    continue
                try:
                    problem = self.health(url)
                    if problem:
                        self.mark(url, problem)
                        continue
                    yield url
                    return
                finally:
                    lock.release()
            time.sleep(POLL_S)
