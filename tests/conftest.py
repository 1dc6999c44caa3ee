"""Shared fixtures: run the real CLI in-process, and one trained digits run for the whole session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> None:
    """Skip a test whose system tool is missing, naming what to install — unless EDGEKIT_REQUIRE_SYSTEM_TOOLS is set
    (.ci/run sets it: CI installs every tool, so there a missing one is a failure, never a silent skip)."""
    if os.environ.get("EDGEKIT_REQUIRE_SYSTEM_TOOLS"):
        pytest.fail(f"{reason} (EDGEKIT_REQUIRE_SYSTEM_TOOLS is set)")
    pytest.skip(reason)


def require_tool(command: str, package: str, *also: str) -> None:
    """Skip (or, in CI, fail) unless `command` is on PATH (or at one of the paths in `also`)."""
    if shutil.which(command) or any(Path(p).exists() for p in also):
        return
    unavailable(f"needs {command}: install the {package} package (e.g. sudo apt-get install {package})")


def emulated_board(board: str, *extras: str) -> Path:
    """The emulated board's rootfs with `extras` (edgekit.emulate.build_rootfs, cached in ~/.cache/edgekit); skips, or
    fails in CI, without qemu-user-static or apt."""
    from edgekit.emulate import build_rootfs

    require_tool("qemu-aarch64-static", "qemu-user-static")
    require_tool("apt-get", "apt")
    return build_rootfs(board, say=lambda m: None, extras=extras)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@dataclass
class BadInput:
    """One row of a table of bad inputs: the edgekit arguments to run, what its one-line error must say, its exit
    code, and the paths under the test's folder that must not exist afterwards (nothing half-written). A test file
    with more to check subclasses it."""

    name: str
    make: Callable[[Path, dict], list]  # (tmp folder, shared fixtures) → edgekit arguments
    fragments: tuple[str, ...]
    code: int = 2
    absent: tuple[str, ...] = ("out",)


# Fixtures that alone take more than a few seconds: every test that needs one (directly or through another fixture)
# is marked slow, so `pytest -m "not slow"` (the quick check) never pays for them. Tests slow in their own right
# carry @pytest.mark.slow where they are defined.
SLOW_FIXTURES = {"digits_run", "tiny_detector_run"}  # the 30-epoch digits-cnn training; the tiny detector's


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """Every test runs in its own folder: default outputs (runs/, dist/, reports/) never land in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Invoke `edgekit ARGS...` through its real entry point, returning exit code and output."""
    from edgekit.cli.main import main

    def run(*args) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["edgekit", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_subprocess(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    """`python -m edgekit ARGS...` in a fresh process (for kill, torchrun and exit-code tests)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kw.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, **kw
    )


def digits_preprocess(mean: float, std: float) -> str:
    """A user's --preprocess file (TOML) for digits-like grey images: pixels / 16, resized to 8x8, CHW, then the
    user's own normalisation (not edgekit's statistics of the train split)."""
    return textwrap.dedent(f"""
        version = 1
        [input]
        kind = "image"
        channels = "L"
        [[steps]]
        op = "scale"
        factor = 0.0625
        [[steps]]
        op = "resize"
        size = [8, 8]
        [[steps]]
        op = "layout"
        to = "CHW"
        [[steps]]
        op = "normalize"
        mean = {mean}
        std = {std}
    """)


def assert_one_line_error(result, *fragments, code=2):
    assert result.code == code, (result.code, result.out, result.err)
    lines = [line for line in result.err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """digits-cnn trained on digits with the recipe's defaults: the parent of later stages' tests."""
    from edgekit.stages.train import train_run

    out = tmp_path_factory.mktemp("runs") / "digits"
    return train_run("digits-cnn", out=out, progress=False).path


def export(run, **kw):
    """export_run for tests: (artifact folder, deploy.json as a dict)."""
    from edgekit.stages.export import export_run

    art = export_run(run, progress=False, **kw)
    return art.path, art.deploy.model_dump(mode="json")


def compress(run, steps, out, **kw):
    from edgekit.stages.compress import compress_run

    return compress_run(run, steps, out, progress=False, **kw).path


def train(*a, **kw):
    from edgekit.stages.train import train_run

    return train_run(*a, progress=False, **kw).path


@pytest.fixture(scope="session")
def objects_data(tmp_path_factory) -> Path:
    """120 made scenes of shapes at about 64 px (COCO layout): the detection tests' data set, drawn once."""
    from edgekit.synth.objects import make_objects

    root = tmp_path_factory.mktemp("objects") / "objects"
    make_objects(root, images=120, size=64, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_detector_run(objects_data, tmp_path_factory) -> Path:
    """detector-tiny trained with its recipe on objects_data: the detector the format walks export."""
    return train("detector-tiny", f"coco:{objects_data}", out=tmp_path_factory.mktemp("runs") / "detector")
