"""`edgekit bench`: the runner in real runtimes, locally and over a real OpenSSH server on 127.0.0.1."""

from __future__ import annotations

import glob
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, export, require_tool
from sshd import start_sshd

QUICK = ["--min-queries", "200", "--min-seconds", "0.5", "--warmup", "10"]


@pytest.fixture(scope="module")
def artifacts(digits_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    fp32, _ = export(digits_run, fmt="tflite", precision="fp32", out=root / "tflite-fp32")
    int8, _ = export(digits_run, target="rpi4", out=root / "rpi4")
    onnx, _ = export(digits_run, fmt="onnx", precision="fp32", out=root / "onnx-fp32")
    micro, _ = export(digits_run, target="cortex-m7", out=root / "m7")
    return {"fp32": fp32, "int8": int8, "onnx": onnx, "micro": micro}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    require_tool("sshd", "openssh-server", "/usr/sbin/sshd")
    require_tool("ssh", "openssh-client")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def _leftovers() -> set[str]:
    return set(glob.glob("/tmp/edgekit-bench.*"))


@pytest.mark.slow
def test_local_bench_of_several_artifacts_writes_the_reports(artifacts, tmp_path, run_cli):
    before = _leftovers()
    report = tmp_path / "r" / "report.html"
    result = run_cli("bench", artifacts["fp32"], artifacts["int8"], artifacts["onnx"], artifacts["micro"], *QUICK, "--report", report)
    assert result.code == 0, result.err
    assert "speed-up" in result.out and "not on cortex-m7, rpi4" in result.out.replace("\n", " ")
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["schema"] == "edgekit.report/2" and rep["passed"] and len(rep["entries"]) == 4
    for e in rep["entries"]:
        r = e["result"]
        # The runner starts from the raw digits (0..16 pixels) and applies deploy.json's preprocessing on its own:
        # its accuracy equals export parity's, which ran on the host loader's tensors.
        assert r["raw_input"] and r["quality"]["accuracy"] == pytest.approx(e["export_parity"]["metrics"]["accuracy"])
        assert r["quality"]["agreement"] >= 0.98 and r["frontend_ms"]["p50"] > 0
        assert r["queries"] >= 200 and r["seconds"] >= 0.5 and r["latency_ms"]["p50"] <= r["latency_ms"]["p90"] <= r["latency_ms"]["p99"]
        assert r["peak_rss_mb"] > 0 and r["load_ms"] > 0 and r["env"]["cores"] and r["env"]["python"]
    micro = rep["entries"][3]["result"]["micro"]
    assert micro["arena_bytes"] > 0 and micro["flash_bytes"] > 0
    # Latency of rpi4 / cortex-m7 artifacts measured on x86 is not judged; the x86-64 ones are.
    status = {(e["target"], c["check"]): c["status"] for e in rep["entries"] for c in e["checks"]}
    assert status[("rpi4", "latency p90")] == "not the target" and status[("x86-64", "latency p90")] == "PASS"
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 4 and "PASS" in html
    md = (tmp_path / "r" / "report.md").read_text()
    assert "| artifact | model | format | precision |" in md and "speed-up vs fp32" in md
    assert _leftovers() == before


def test_runner_needs_only_numpy_and_the_runtime(artifacts, tmp_path):
    """The device never has edgekit or torch: run the runner with both made unimportable."""
    from edgekit.contracts import load_deploy
    from edgekit.stages.bench.harness import device_layout
    from edgekit.stages.bench.transports import write_layout

    device = tmp_path / "device"
    write_layout(device_layout(artifacts["int8"], load_deploy(artifacts["int8"] / "deploy.json")), device)
    blocker = tmp_path / "block"
    blocker.mkdir()
    for name in ("torch", "edgekit", "pydantic", "sklearn"):
        (blocker / name).mkdir()
        (blocker / name / "__init__.py").write_text("raise ImportError('not on the device')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit_device", str(device / "data"), *QUICK[:4]],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(blocker), "PATH": "/usr/bin:/bin"},
        cwd=device / "code",
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok" and result["quality"]["accuracy"] > 0.95, result


def test_ssh_bench_gives_the_local_accuracy_exactly_and_cleans_up(artifacts, sshd, tmp_path, run_cli):
    before = _leftovers()
    cfg = sshd.client_config("good")
    remote = run_cli(
        "bench",
        artifacts["int8"],
        *QUICK,
        "--device",
        sshd.url,
        "--ssh-config",
        cfg,
        "--python",
        sys.executable,
        "--report",
        tmp_path / "ssh.html",
    )
    assert remote.code == 0, remote.err
    local = run_cli("bench", artifacts["int8"], *QUICK, "--report", tmp_path / "local.html")
    assert local.code == 0, local.err
    r_ssh = json.loads((tmp_path / "ssh.json").read_text())["entries"][0]["result"]
    r_local = json.loads((tmp_path / "local.json").read_text())["entries"][0]["result"]
    assert r_ssh["quality"] == r_local["quality"]
    # Over SSH the board is the target: its latency budget is judged (PASS/FAIL), not "not the target".
    checks = json.loads((tmp_path / "ssh.json").read_text())["entries"][0]["checks"]
    assert {c["check"]: c["status"] for c in checks}["latency p90"] in ("PASS", "FAIL")
    assert json.loads((tmp_path / "ssh.json").read_text())["device"]["name"] == sshd.url
    assert _leftovers() == before


def test_ssh_unreachable_host(artifacts, run_cli, tmp_path):
    require_tool("ssh", "openssh-client")  # the client tries, and names the unreachable host
    result = run_cli("bench", artifacts["int8"], *QUICK, "--device", "ssh://127.0.0.1:1", "--report", tmp_path / "r.html")
    assert_one_line_error(result, "cannot reach ssh://127.0.0.1:1", "sshd runs")
    assert not (tmp_path / "r.html").exists()


def test_ssh_wrong_key(artifacts, sshd, run_cli, tmp_path):
    before = _leftovers()
    cfg = sshd.client_config("stranger", key="stranger")
    result = run_cli("bench", artifacts["int8"], *QUICK, "--device", sshd.url, "--ssh-config", cfg)
    assert_one_line_error(result, "refused the ssh key", "ssh-copy-id")
    assert _leftovers() == before


def test_ssh_unknown_host_key_is_refused_not_skipped(artifacts, sshd, run_cli):
    cfg = sshd.client_config("no-known-hosts", known_hosts=False)
    assert_one_line_error(run_cli("bench", artifacts["int8"], *QUICK, "--device", sshd.url, "--ssh-config", cfg), "host key")


def test_ssh_missing_runtime_names_the_pip_command_and_cleans_up(artifacts, sshd, tmp_path, run_cli):
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    before = _leftovers()
    cfg = sshd.client_config("good")
    result = run_cli("bench", artifacts["int8"], *QUICK, "--device", sshd.url, "--ssh-config", cfg, "--python", bare / "bin" / "python")
    assert_one_line_error(result, "lacks the Python package numpy", f"{bare / 'bin' / 'python'} -m pip install numpy")
    assert _leftovers() == before


def test_ssh_run_that_times_out_is_stopped_and_cleaned_up(artifacts, sshd, run_cli):
    before = _leftovers()
    cfg = sshd.client_config("good")
    result = run_cli(
        "bench",
        artifacts["int8"],
        "--min-seconds",
        "60",
        "--timeout",
        "3",
        "--device",
        sshd.url,
        "--ssh-config",
        cfg,
        "--python",
        sys.executable,
    )
    assert_one_line_error(result, "did not finish within 3 s", "--timeout")
    assert _leftovers() == before


def _remote_runners(folder_prefix="/tmp/edgekit-bench.") -> list[str]:
    """The device runners themselves (`python -m edgekit_device <folder>`): not the local ssh client or the remote
    shell, whose command lines name the runner too but exist before the runner does."""
    out = subprocess.run(["pgrep", "-af", f"edgekit_device {folder_prefix}"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if re.match(r"\d+ \S*python\S* -m edgekit_device ", line)]


def _with_default_ctrl_c():
    """In the child before exec: Ctrl-C as in a terminal. A process inherits an ignored or blocked SIGINT (Python
    installs its KeyboardInterrupt handler only where SIGINT is at its default), and a library earlier in the test
    session may leave the pytest process so."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_during_an_ssh_bench_stops_the_remote_runner_and_removes_its_folder(artifacts, sshd, tmp_path):
    import signal
    import time

    # Other edgekit benches on this machine (an emulated board's runner) must not be mistaken for this one's.
    others = set(_remote_runners())
    cfg = sshd.client_config("good")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgekit",
            "bench",
            str(artifacts["int8"]),
            "--min-seconds",
            "120",
            "--device",
            sshd.url,
            "--ssh-config",
            str(cfg),
            "--python",
            sys.executable,
            "--report",
            str(tmp_path / "r.html"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_with_default_ctrl_c,
    )
    deadline = time.time() + 180  # generous: on 2 loaded cores Python and the runtime take long to start
    while not set(_remote_runners()) - others and time.time() < deadline:
        time.sleep(0.2)
    mine = set(_remote_runners()) - others
    assert mine, "the runner never started on the device"
    folders = {re.search(r"/tmp/edgekit-bench\.[^/ ]+", line).group(0) for line in mine}
    # how the bench process takes signals, for the message should it not stop
    signals = [
        line for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt"))
    ]
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"edgekit bench went on for 120 s after Ctrl-C ({', '.join(signals)})")
    assert proc.returncode == 130 and "interrupted" in err
    deadline = time.time() + 30
    while mine & set(_remote_runners()) and time.time() < deadline:
        time.sleep(0.2)
    assert not mine & set(_remote_runners()) and not any(Path(f).exists() for f in folders)


def test_budget_failure_exits_1_and_still_writes_the_report(artifacts, tmp_path, run_cli):
    from edgekit.util.resources import data_dir

    strict = tmp_path / "strict.toml"
    strict.write_text((data_dir("targets") / "x86-64.toml").read_text().replace("latency_p90_ms = 20.0", "latency_p90_ms = 0.000001"))
    result = run_cli("bench", artifacts["fp32"], *QUICK, "--target", strict, "--report", tmp_path / "r.html")
    assert_one_line_error(result, "budget check failed", "latency p90", code=1)
    assert "speed-up" in result.out  # the comparison table is shown even when a budget fails
    rep = json.loads((tmp_path / "r.json").read_text())
    assert not rep["passed"] and any(c["status"] == "FAIL" and c["check"] == "latency p90" for c in rep["entries"][0]["checks"])


def test_bad_artifact_folders(artifacts, tmp_path, run_cli):
    import shutil

    assert_one_line_error(run_cli("bench", tmp_path), "no exported artifact (no deploy.json)")
    tampered = tmp_path / "tampered"
    shutil.copytree(artifacts["int8"], tampered)
    data = bytearray((tampered / "model.tflite").read_bytes())
    data[-1] ^= 0xFF
    (tampered / "model.tflite").write_bytes(bytes(data))
    assert_one_line_error(run_cli("bench", tampered), "not matching the sha256 in deploy.json")
    assert_one_line_error(run_cli("bench", artifacts["int8"], "--device", "ftp://board"), "unknown device 'ftp://board'")
