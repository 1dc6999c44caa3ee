"""Guest (ARM) instruction counts under qemu-user: a cost figure that does not move with the host's load.

Needs the dynamic qemu-user (qemu-aarch64, which loads plugins), gcc, apt source access for qemu's plugin
header (fetched once) and the emulated rpi4/rpi5; skipped, naming what to install, unless
EDGEKIT_REQUIRE_SYSTEM_TOOLS is set (then those fail)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import unavailable

from edgekit.emulate.instructions import GUEST_MARKER_CODE, build_plugin, counting_argv, counting_env, read_counts, read_marks, run_counted
from edgekit.errors import EdgekitError

TOOLS = [
    ("qemu-aarch64", "qemu-user"),
    ("qemu-aarch64-static", "qemu-user-static"),
    ("gcc", "gcc"),
    ("setarch", "util-linux"),
    ("apt-get", "apt"),
]

# Guest side: a fixed Python loop between two markers, and two markers back to back (the markers' own cost).
LOOP_SCRIPT = GUEST_MARKER_CODE + textwrap.dedent("""
    mark(1)
    mark(2)
    total = 0
    for i in range(20000):
        total += i * i
    mark(3)
    assert total == sum(i * i for i in range(20000))
""")

# Guest side: LiteRT fp32 at 1 thread, N inferences between markers (after warm-up, as a benchmark runner does).
INFER_SCRIPT = GUEST_MARKER_CODE + textwrap.dedent("""
    import sys
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=sys.argv[1], num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    x = np.random.default_rng(0).standard_normal(inp["shape"]).astype(np.float32)
    for _ in range(3):
        it.set_tensor(inp["index"], x)
        it.invoke()
    n = int(sys.argv[2])
    mark(1)
    for _ in range(n):
        it.set_tensor(inp["index"], x)
        it.invoke()
    mark(2)
    print(float(it.get_tensor(out["index"]).ravel()[0]))
""")

MAKE_MODEL = textwrap.dedent("""
    import sys, torch, litert_torch
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(16, 16, 3, padding=1, stride=2), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10))
    litert_torch.convert(model.eval(), (torch.randn(1, 3, 32, 32),)).export(sys.argv[1])
""")


def _unavailable(reason: str):
    unavailable(reason)


@pytest.fixture(scope="module")
def plugin() -> Path:
    for tool, package in TOOLS:
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed — apt-get install {package}")
    try:
        return build_plugin(say=lambda m: None)
    except EdgekitError as e:  # names the package to install (libglib2.0-dev, dpkg-dev...) or the registry problem
        _unavailable(f"cannot build the instruction-counting plugin: {e.message}")


@pytest.fixture(scope="module")
def boards(plugin) -> dict:
    from edgekit.emulate import build_rootfs

    try:
        return {name: build_rootfs(name, say=lambda m: None) for name in ("rpi4", "rpi5")}
    except EdgekitError as e:
        _unavailable(f"cannot build the emulated boards: {e.message}")


def _run(board: str, root: Path, script: str, *args) -> list[tuple[int, int]]:
    """Run SCRIPT from folder ROOT (its path and file list are part of what the guest executes)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "guest.py").write_text(script)
    outfile = root.parent / f"{root.name}.counts"  # outside the script's folder
    p, marks = run_counted(board, [root / "guest.py", *args], outfile, cwd=root, timeout=300, say=lambda m: None)
    assert p.returncode == 0, p.stderr[-2000:]
    assert marks and [m.tag for m in marks] == sorted(m.tag for m in marks), outfile.read_text()
    assert all(m.vcpus == 1 for m in marks), marks  # one guest thread: the runtime ran at 1 thread
    return read_counts(outfile)


def _deltas(counts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(counts, counts[1:])]


def test_a_python_loop_counts_the_same_in_two_runs(boards, tmp_path):
    first = _run("rpi4", tmp_path / "run1", LOOP_SCRIPT)
    again = _run("rpi4", tmp_path / "run1", LOOP_SCRIPT)
    assert len(first) == 3
    assert first == again  # every running total, from the process's first instruction: deterministic by construction
    # From another folder (same path length) the startup differs by a few instructions (its path's hash and
    # bytes); what runs between the markers does not.
    elsewhere = _run("rpi4", tmp_path / "run2", LOOP_SCRIPT)
    assert _deltas(elsewhere) == _deltas(first)
    (marker, _), (loop, vector) = _deltas(first)
    assert 0 < marker < 50_000, marker  # ctypes' call into the marker syscall and back
    assert 20000 * 20 < loop - marker < 20000 * 5000, loop  # a Python loop step: tens to hundreds of instructions
    assert 0 <= vector < loop


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("insn-model") / "model.tflite"
    p = subprocess.run([sys.executable, "-c", MAKE_MODEL, str(path)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and path.is_file(), p.stderr[-2000:]
    return path


@pytest.mark.slow
def test_litert_fp32_inferences_count_the_same_in_two_runs(boards, fp32_model, tmp_path):
    n = 5
    runs = [_run("rpi4", tmp_path / f"a72-{i}", INFER_SCRIPT, fp32_model, n) for i in (1, 2)]
    deltas = [(end[0] - start[0], end[1] - start[1]) for start, end in runs]
    assert deltas[0] == deltas[1], deltas  # instructions in the timed loop: bit-identical across runs
    total, vector = deltas[0]
    assert 50_000 * n < total < 50_000_000 * n, total  # ~1 M MACs per inference
    assert 0.1 * total < vector < total, (vector, total)  # XNNPACK's NEON kernels: many SIMD instructions

    a76 = _run("rpi5", tmp_path / "a76-1", INFER_SCRIPT, fp32_model, n)
    a76_total = a76[1][0] - a76[0][0]
    assert a76_total > 50_000 * n
    assert a76_total != total, "cortex-a76 ran the very same instructions as cortex-a72: is QEMU_CPU passed?"


def test_the_marker_is_a_no_op_off_the_counter_and_python_38_syntax(monkeypatch):
    ast.parse(GUEST_MARKER_CODE, feature_version=(3, 8))
    monkeypatch.delenv("EDGEKIT_INSN_COUNT", raising=False)
    ns: dict = {}
    exec(GUEST_MARKER_CODE, ns)
    assert ns["mark"](1) is None and "ctypes" not in ns["mark"].__code__.co_names
    monkeypatch.setenv("EDGEKIT_INSN_COUNT", "1")
    ns = {}
    exec(GUEST_MARKER_CODE, ns)
    ns["mark"](7)  # a real kernel answers the unknown syscall with ENOSYS: harmless


def test_counting_env_is_clean_and_explicit():
    env = counting_env("rpi5")
    assert env["QEMU_CPU"] == "cortex-a76" and counting_env("rpi4")["QEMU_CPU"] == "cortex-a72"
    assert env["PYTHONHASHSEED"] == "0" and env["OPENBLAS_NUM_THREADS"] == "1" and env["EDGEKIT_INSN_COUNT"] == "1"
    assert "HOME" not in env and "LD_PRELOAD" not in env
    with pytest.raises(EdgekitError, match="unknown board"):
        counting_env("rpi9")


def test_read_counts_skips_comments(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("# edgekit insn counter v1\n1 100 10 1\n2 250 40 2\n# exit 300 41 2\n")
    assert read_counts(f) == [(100, 10), (250, 40)]
    assert [m.vcpus for m in read_marks(f)] == [1, 2]


def test_counting_argv_shape(plugin, tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr/bin").mkdir(parents=True)
    argv = counting_argv(tmp_path, plugin, tmp_path / "a,b.txt")  # the board folder is accepted too
    assert argv[1:3] == [os.uname().machine, "-R"] and Path(argv[3]).name == "qemu-aarch64"
    assert f"{plugin},outfile={tmp_path}/a,,b.txt" in argv  # qemu's option syntax: a literal comma doubles
    assert argv[-1] == str(rootfs / "usr/bin/python3.11") and argv[argv.index("-L") + 1] == str(rootfs)


@pytest.mark.slow
def test_bench_counts_arm_work_deterministically_and_int8_does_less_on_the_a76(boards, plugin, digits_run, tmp_path, run_cli):
    """`edgekit bench --count-instructions` on the emulated Pi 5: the same artifact twice gives the same LiteRT count
    (by construction, whatever the host's load), and full-int8 runs fewer instructions than fp32 (SDOT kernels)."""
    from conftest import export

    fp32, _ = export(digits_run, fmt="tflite", precision="fp32", out=tmp_path / "fp32")
    int8, _ = export(digits_run, target="rpi5", out=tmp_path / "int8")
    counts = []
    for i in range(2):
        result = run_cli(
            "bench",
            fp32,
            int8,
            "--device",
            "emu:rpi5",
            "--count-instructions",
            "--min-queries",
            "5",
            "--min-seconds",
            "0",
            "--warmup",
            "2",
            "--report",
            tmp_path / f"r{i}.html",
        )
        assert result.code == 0, result.err
        rep = json.loads((tmp_path / f"r{i}.json").read_text())
        counts.append([e["result"]["instructions"]["per_inference"] for e in rep["entries"]])
        assert all(e["result"]["threads"] == 1 for e in rep["entries"]) and "work, not cycles" in rep["caveat"]
    assert counts[0] == counts[1]
    assert counts[0][1] < counts[0][0]  # int8 < fp32 on the A76
    assert rep["entries"][1]["result"]["instructions"]["vs_fp32"] == pytest.approx(counts[0][1] / counts[0][0])
