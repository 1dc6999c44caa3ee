"""A throwaway PostgreSQL server for the search tests: its own data folder, a unix socket only (no TCP port),
trust authentication for one role. initdb and postgres refuse to run as root, so as root it runs as `nobody`."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def pg_bin(name: str) -> str | None:
    """The newest installed /usr/lib/postgresql/<version>/bin/<name> (Debian keeps them off PATH), else PATH's."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    return found[-1] if found else shutil.which(name)


@dataclass
class PgServer:
    folder: Path
    user: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@/edgekit?host={self.folder}"

    def stop(self) -> None:
        subprocess.run(self._as_owner([pg_bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _as_owner(argv: list) -> list:
        return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else argv


def start_postgres() -> PgServer:
    # /tmp itself, not pytest's 0700 tmp folder: the server's user must reach its data and socket folder
    folder = Path(tempfile.mkdtemp(prefix="edgekit-pg."))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        os.chown(folder, 65534, 65534)
    server = PgServer(folder, "edgekit")
    run = lambda argv: subprocess.run(server._as_owner(argv), capture_output=True, text=True, timeout=120)  # noqa: E731
    p = run([pg_bin("initdb"), "-D", str(folder / "data"), "-U", "edgekit", "-A", "trust", "--no-sync", "-E", "UTF8"])
    if p.returncode:
        raise RuntimeError(f"initdb failed: {p.stderr[-400:]}")
    opts = f"-k {folder} -c listen_addresses='' -c fsync=off -c max_connections=50"
    p = run([pg_bin("pg_ctl"), "-D", str(folder / "data"), "-o", opts, "-l", str(folder / "log"), "-w", "-t", "60", "start"])
    if p.returncode:
        raise RuntimeError(f"postgres did not start: {p.stderr[-400:]}")
    p = run([pg_bin("createdb"), "-h", str(folder), "-U", "edgekit", "edgekit"])
    if p.returncode:
        raise RuntimeError(f"createdb failed: {p.stderr[-400:]}")
    time.sleep(0.1)
    return server
