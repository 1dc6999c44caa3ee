"""An emulated Raspberry Pi: the same runner on the ARM builds of the runtimes, under qemu with the board's CPU."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, emulated_board, export, require_tool

QUICK = ["--min-queries", "30", "--min-seconds", "0.1", "--warmup", "3"]


@pytest.fixture(scope="module")
def rpi4_root():
    return emulated_board("rpi4")


@pytest.fixture(scope="module")
def four_artifacts(digits_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("emu-dist")
    return [
        export(digits_run, fmt=fmt, precision=precision, out=root / f"{fmt}-{precision}")[0]
        for fmt, precision in (("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32"), ("onnx", "int8"))
    ]


@pytest.mark.slow
def test_digits_artifacts_under_emulated_rpi4_match_the_x86_run(rpi4_root, four_artifacts, tmp_path, run_cli):
    emu = run_cli("bench", *four_artifacts, *QUICK, "--device", "emu:rpi4", "--report", tmp_path / "emu.html")
    assert emu.code == 0, emu.err
    assert "latency under emulation is NOT a board figure" in emu.out
    local = run_cli("bench", *four_artifacts, *QUICK, "--report", tmp_path / "local.html")
    assert local.code == 0, local.err
    e_rep, l_rep = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("emu", "local"))
    assert e_rep["device"]["name"] == "emu:rpi4" and "NOT a board figure" in e_rep["caveat"]
    for e, x86 in zip(e_rep["entries"], l_rep["entries"]):
        assert e["result"]["quality"]["accuracy"] == x86["result"]["quality"]["accuracy"], (e["format"], e["precision"])
        assert e["result"]["quality"]["agreement"] >= e["export_parity"]["metrics"]["top1_agreement"]
        assert all(c["status"] == "not the target" for c in e["checks"] if c["check"] in ("latency p90", "peak memory"))
        env = e["result"]["env"]
        assert env["machine"] == "aarch64" and env["cpu_core"] == "Cortex-A72" and env["cpu_part"] == "0xd08"
        assert "bookworm" in env["os"] and env["python"].startswith("3.11")


def test_unknown_board(run_cli):
    assert_one_line_error(run_cli("device", "emulate", "rpi9"), "unknown board 'rpi9'", "rpi4, rpi5")


def test_missing_qemu_names_its_install_command(monkeypatch, run_cli):
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "qemu-aarch64-static" else real(name, *a, **k))
    assert_one_line_error(run_cli("device", "emulate", "rpi4"), "qemu-aarch64-static is not installed", "apt-get install qemu-user-static")


def test_an_unbuilt_or_half_built_board_is_never_used(four_artifacts, tmp_path, monkeypatch, run_cli):
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))
    (tmp_path / "emu" / ".rpi4.abc.partial" / "rootfs").mkdir(parents=True)  # what an interrupted build leaves
    (tmp_path / "emu" / "rpi4" / "rootfs").mkdir(parents=True)  # a folder without its ready marker
    result = run_cli("bench", four_artifacts[0], *QUICK, "--device", "emu:rpi4")
    assert_one_line_error(result, "the emulated rpi4 is not built yet", "edgekit device emulate rpi4")


def test_an_interrupted_build_leaves_nothing_behind(tmp_path, monkeypatch):
    from edgekit.emulate import build_rootfs

    require_tool("qemu-aarch64-static", "qemu-user-static")  # checked before the download this test interrupts
    require_tool("apt-get", "apt")
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))

    def interrupt(message):
        if message.startswith("downloading"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_rootfs("rpi4", say=interrupt)
    assert list((tmp_path / "emu").iterdir()) == []


def test_a_runtime_missing_in_the_emulated_root(rpi4_root, four_artifacts, tmp_path, monkeypatch, run_cli):
    """A root whose onnxruntime is gone (symlinks to the real one, minus that package)."""
    fake = tmp_path / "emu" / "rpi4"
    (fake / "rootfs" / "opt" / "pyarm").mkdir(parents=True)
    for entry in (rpi4_root / "rootfs").iterdir():
        if entry.name != "opt":
            (fake / "rootfs" / entry.name).symlink_to(entry)
    for entry in (rpi4_root / "rootfs" / "opt" / "pyarm").iterdir():
        if not entry.name.startswith("onnxruntime"):
            (fake / "rootfs" / "opt" / "pyarm" / entry.name).symlink_to(entry)
    (fake / "ready.json").write_text("{}")
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))
    result = run_cli("bench", four_artifacts[2], *QUICK, "--device", "emu:rpi4", "--report", tmp_path / "r.html")
    assert_one_line_error(result, "lacks the Python package onnxruntime", "edgekit device emulate rpi4 --rebuild")


@pytest.fixture(scope="module")
def rpi5_with_executorch():
    return emulated_board("rpi5", "executorch")


@pytest.mark.slow
def test_ncnn_and_executorch_under_emulated_rpi5_keep_the_x86_answers(rpi5_with_executorch, digits_run, tmp_path, run_cli):
    """The Pi 5's A76 has fp16 arithmetic, which NCNN would use by default: the answer must not change. The board's
    ExecuTorch is an older release than the host's exporter (see emulate/rootfs.py): its programs must still run."""
    arts = [
        export(digits_run, target="rpi5", fmt=fmt, precision=precision, out=tmp_path / f"{fmt}-{precision}")[0]
        for fmt, precision in (("ncnn", "fp32"), ("executorch", "int8"))  # ExecuTorch fp32 runs the same program path
    ]
    result = run_cli("bench", *arts, *QUICK, "--device", "emu:rpi5", "--report", tmp_path / "r.html")
    assert result.code == 0, result.err
    entries = json.loads((tmp_path / "r.json").read_text())["entries"]
    assert [(e["format"], e["precision"]) for e in entries] == [("ncnn", "fp32"), ("executorch", "int8")]
    for e in entries:
        res = e["result"]
        assert res["status"] == "ok" and res["env"]["cpu_core"] == "Cortex-A76", res
        if e["precision"] == "fp32":
            assert res["quality"]["agreement"] == 1.0 and res["quality"]["max_abs_diff"] <= 1e-4, (e["format"], res["quality"])
        else:
            assert res["quality"]["agreement"] >= e["export_parity"]["metrics"]["top1_agreement"] - 0.01, res["quality"]
