"""Silence converters that print progress straight to the C-level stdout/stderr (litert-torch, MLIR)."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager

_depth = {"quiet": 0}


def silenced() -> bool:
    """True inside captured_fds: what a library says there was meant to be swallowed (the CLI's warning
    holder, edgekit/cli/noise.py, drops it rather than showing it later)."""
    return _depth["quiet"] > 0


@contextmanager
def captured_fds():
    """Redirect file descriptors 1 and 2 to a temporary file; yields a callable returning what was written."""
    _depth["quiet"] += 1
    try:
        with _captured() as read:
            yield read
    finally:
        _depth["quiet"] -= 1


@contextmanager
def _captured():
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        text = {"value": ""}

        def read() -> str:
            return text["value"]

        try:
            yield read
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            text["value"] = sink.read().decode(errors="replace")


def quiet_import(module: str):
    """Import a module whose import prints log lines (TensorFlow's C++ logging, torchao's pytree notices)."""
    import importlib
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    torch_log = logging.getLogger("torch.utils._pytree")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        with captured_fds():
            return importlib.import_module(module)
    finally:
        torch_log.setLevel(level)
