"""This machine, through the same copy-run-clean cycle as a board."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .base import Completed, Transport, write_layout


class LocalTransport(Transport):
    """This machine, through the same copy-run-clean cycle as a board."""

    def __init__(self, python: str | None = None, env: dict | None = None):
        self.name = "local"
        self.python = python or sys.executable
        self.env = env

    def is_target(self, target) -> bool:
        return target.is_host()

    def mkdtemp(self) -> str:
        return tempfile.mkdtemp(prefix="edgekit-bench.")

    def put(self, layout, remote_dir):
        write_layout(layout, Path(remote_dir))

    def run(self, argv, timeout, cwd=None):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise TimeoutError from None
        return Completed(p.returncode, p.stdout, p.stderr)

    def remove(self, remote_dir):
        shutil.rmtree(remote_dir, ignore_errors=True)


def parse(device: str, *, python: str | None = None, ssh_config: str | None = None) -> Transport:
    return LocalTransport(python)
