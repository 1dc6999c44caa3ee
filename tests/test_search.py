"""`edgekit search`: real studies on tiny-cnn (one epoch, onnx fp32), real worker processes sharing a journal or a
real PostgreSQL server, boards leased on a real OpenSSH server, a worker killed with -9."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, require_tool, unavailable
from sshd import start_sshd

# The cheapest real trial: tiny-cnn trained one epoch, exported as onnx fp32, measured briefly. Two widths: two parents.
SPACE = """
[space]
width = [0.5, 1.0]
input_size = [8]
prune = [0.0]
precision = ["fp32"]
format = ["onnx"]
[train]
epochs = 1
"""
QUICK = {"min_queries": 10, "min_seconds": 0.0, "warmup": 1}
QUICK_ARGS = ["--min-queries", "10", "--min-seconds", "0"]


@pytest.fixture
def space(tmp_path) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    return path


def _search(space, out, *extra) -> list[str]:
    return [
        sys.executable,
        "-m",
        "edgekit",
        "search",
        "-m",
        "tiny-cnn",
        "-t",
        "x86-64",
        "--space",
        str(space),
        "--out",
        str(out),
        *QUICK_ARGS,
        *extra,
    ]


def _workers(argvs, timeout=400) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for a in argvs]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def _trials(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "trials").glob("*/trial.json"))]


def _load(out: Path, storage=None):
    import optuna

    from edgekit.stages.search.study import check_storage, open_storage

    s = open_storage(check_storage(storage), out, heartbeat_s=2)
    (summary,) = optuna.get_all_study_summaries(s)
    return optuna.load_study(study_name=summary.study_name, storage=s)


# ---------------------------------------------------------------- bad input: one line, exit 2, before any training


def test_unknown_space_key_is_one_line(tmp_path, run_cli):
    bad = tmp_path / "bad.toml"
    bad.write_text("[space]\nwidths = [0.5]\n")
    assert_one_line_error(run_cli("search", "-m", "tiny-cnn", "--space", bad, "--out", tmp_path / "s"), "unknown key 'space.widths'")
    assert not (tmp_path / "s").exists()


def test_format_the_target_does_not_run_is_refused(tmp_path, run_cli):
    bad = tmp_path / "bad.toml"
    bad.write_text('[space]\nformat = ["micro"]\n')
    assert_one_line_error(run_cli("search", "-m", "tiny-cnn", "-t", "rpi4", "--space", bad), "format 'micro' does not run on rpi4")


def test_bad_storage_url_is_one_line(run_cli):
    assert_one_line_error(run_cli("search", "-m", "tiny-cnn", "--storage", "sqlite:///x.db"), "not a PostgreSQL URL")
    result = run_cli("search", "-m", "tiny-cnn", "--storage", "postgresql://nobody@/nodb?host=/nonexistent", "--out", "s")
    assert_one_line_error(result, "cannot open --storage")


def test_unreachable_device_is_one_line(run_cli):
    require_tool("ssh", "openssh-client")
    result = run_cli("search", "-m", "tiny-cnn", "--device", "ssh://127.0.0.1:1", "--out", "s")
    assert_one_line_error(result, "device ssh://127.0.0.1:1 is unreachable")


def test_default_space_follows_the_target():
    from edgekit.stages.search.space import default_space
    from edgekit.targets import find_target

    rpi4 = default_space(find_target("rpi4"), [1, 8, 8])
    assert rpi4.format[0] == "tflite" and "onnx" in rpi4.format and "openvino" not in rpi4.format  # rpi4 runs no openvino
    assert "openvino" in default_space(find_target("rpi5"), [1, 8, 8]).format
    assert rpi4.input_size == [6, 8] and rpi4.precision == ["int8", "fp32"] and rpi4.quant == ["ptq", "qat"]


def test_a_new_study_first_tries_what_the_defaults_would_ship():
    from edgekit.stages.search.space import default_space
    from edgekit.stages.search.study import anchors
    from edgekit.targets import find_target

    space = default_space(find_target("rpi4"), [1, 8, 8])
    assert anchors(space, "tflite") == [
        {"width": 1.0, "precision": "int8", "format": "tflite", "input_size": 8, "prune": 0.0, "quant": "ptq"},
        {"width": 1.0, "precision": "int8", "format": "tflite", "input_size": 8, "prune": 0.5, "quant": "qat"},
    ]
    fp32 = space.replace(precision=["fp32"], prune=[0.25], format=["onnx"], input_size=[])
    assert anchors(fp32, "tflite") == [{"width": 1.0, "precision": "fp32", "format": "onnx", "prune": 0.25}]  # one, in the space


def test_pareto_front_and_best_answer():
    from edgekit.stages.search.front import best, pareto

    def row(n, q, lat, size, ok=True):
        return {"number": n, "quality": q, "latency": lat, "size": size, "feasible": ok}

    items = [row(0, 0.9, 2.0, 100), row(1, 0.8, 1.0, 100), row(2, 0.8, 3.0, 200), row(3, 0.95, 0.5, 50, ok=False)]
    assert [r["number"] for r in pareto(items)] == [3]  # 3 dominates all: the front ignores budgets
    assert [r["number"] for r in pareto(items[:3])] == [0, 1]
    assert best(items)["number"] == 0  # the best within budgets: 3 breaks one


# ---------------------------------------------------------------- real studies


@pytest.mark.slow
def test_small_study_end_to_end_then_resumes(space, tmp_path):
    import edgekit as ek

    out = tmp_path / "s"
    result = ek.search("tiny-cnn", target="x86-64", space=space, trials=2, out=out, **QUICK)
    assert result["ran_here"] == 2 and len(result["trials"]) == 2
    for t in _trials(out):
        assert t["latency_source"] == "measured" and t["device"] == "local" and t["memory_source"] == "measured"
        quality, p90, memory, size = t["values"]
        assert (
            0 <= quality <= 1
            and p90 > 0
            and memory > 0
            and size == json.loads((Path(t["artifact"]) / "deploy.json").read_text())["artifact"]["bytes"]
        )
        assert t["lineage"][0].startswith(f"w{t['params']['width']:g}")  # the artifact names its shared parent
        assert set(t["constraints"]) >= {"latency p90", "peak memory", "accuracy"}
    assert result["front"] and all(Path(p, "deploy.json").is_file() for p in result["exported"])
    html = Path(result["report"]).read_text()
    assert "Pareto front" in html and "data:image/png;base64," in html and result["answer"] in html
    # the same command again: the study is found finished, nothing is trained or measured
    again = ek.search("tiny-cnn", target="x86-64", space=space, trials=2, out=out, **QUICK)
    assert again["ran_here"] == 0 and len(again["trials"]) == 2
    # asked for more, it continues the same study, reusing the parents
    more = ek.search("tiny-cnn", target="x86-64", space=space, trials=3, out=out, **QUICK)
    assert more["ran_here"] == 1 and len(more["trials"]) == 3
    assert len([p for p in (out / "parents").iterdir() if p.is_dir()]) <= 2


@pytest.mark.slow
def test_two_workers_on_one_journal_split_the_trials(space, tmp_path):
    out = tmp_path / "s"
    a, b = _workers([_search(space, out, "--trials", "3"), _search(space, out, "--trials", "3")])
    assert a.returncode == 0 and b.returncode == 0, (a.stderr[-2000:], b.stderr[-2000:])
    study = _load(out)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert 3 <= len(done) <= 4  # both may ask for the last one at the same moment: at most one more
    # both did some: each worker prints its own trials as they finish
    assert "trial " in a.stdout and "trial " in b.stdout
    parents = [p for p in (out / "parents").iterdir() if p.is_dir()]
    assert len(parents) == len({t.params["width"] for t in done})  # one training per width, shared by both


@pytest.fixture(scope="module")
def postgres():
    from postgres import pg_bin, start_postgres

    if not pg_bin("initdb") or not pg_bin("pg_ctl"):
        unavailable("needs PostgreSQL's initdb and pg_ctl: install the postgresql package (e.g. sudo apt-get install postgresql)")
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def two_sshd(tmp_path_factory):
    require_tool("sshd", "openssh-server", "/usr/sbin/sshd")
    require_tool("ssh", "openssh-client")
    servers = [start_sshd(tmp_path_factory.mktemp(f"sshd{i}")) for i in range(2)]
    folder = tmp_path_factory.mktemp("ssh-both")
    known = " ".join(str(s.folder / "known_hosts") for s in servers)
    config = folder / "ssh_config"
    config.write_text(
        "Host 127.0.0.1\n"
        + "".join(f"  IdentityFile {s.folder / 'client'}\n" for s in servers)
        + f"  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  GlobalKnownHostsFile /dev/null\n"
    )
    yield servers, config
    for s in servers:
        if s.process.poll() is None:
            s.process.terminate()
            s.process.wait(timeout=10)


@pytest.mark.slow
def test_two_workers_share_a_postgres_study_and_lease_two_ssh_boards(space, tmp_path, postgres, two_sshd):
    """Workers as if on two machines: the study in PostgreSQL, the boards leased by its advisory locks."""
    servers, config = two_sshd
    out_a, out_b = tmp_path / "a", tmp_path / "b"  # separate folders: nothing shared but the server
    boards = [f"--device={s.url}" for s in servers] + ["--ssh-config", str(config), "--python", sys.executable]
    common = ["--trials", "3", "--storage", postgres.url, *boards]
    a, b = _workers([_search(space, out_a, *common), _search(space, out_b, *common)])
    assert a.returncode == 0 and b.returncode == 0, (a.stderr[-2000:], b.stderr[-2000:])
    study = _load(tmp_path / "x", postgres.url)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    said = f"worker a: {a.stdout[-1500:]}\nworker b: {b.stdout[-1500:]}"
    assert 3 <= len(done) <= 4, ([t.state.name for t in study.trials], said)
    trials = _trials(out_a) + _trials(out_b)
    # every completed trial was run by one of the two, from the one study (which did how many depends on the load:
    # the split itself is asserted on the journal above)
    assert sorted(t["number"] for t in trials) == sorted(t.number for t in done), said
    assert {t["device"] for t in trials} <= {s.url for s in servers}
    for device in {t["device"] for t in trials}:  # a board served one trial at a time
        spans = sorted(t["lease"] for t in trials if t["device"] == device)
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), spans


@pytest.mark.slow
def test_a_board_that_fails_its_health_check_is_marked_and_skipped(two_sshd, tmp_path):
    from edgekit.stages.bench.transports import parse_device
    from edgekit.stages.search.leases import Boards

    servers, config = two_sshd
    spare = start_sshd(tmp_path / "spare")  # its own server: stopped below without touching the shared ones
    cfg = tmp_path / "cfg"
    cfg.write_text(config.read_text().replace("IdentitiesOnly", f"IdentityFile {spare.folder / 'client'}\n  IdentitiesOnly"))
    cfg.write_text(cfg.read_text().replace("UserKnownHostsFile ", f"UserKnownHostsFile {spare.folder / 'known_hosts'} "))
    said = []
    boards = Boards(
        [spare.url, servers[0].url], tmp_path, storage=None, transport_for=lambda u: parse_device(u, ssh_config=str(cfg)), say=said.append
    )
    boards._start = 0  # the spare first
    boards.check_all()
    spare.process.terminate()
    spare.process.wait(timeout=10)
    with boards.lease() as device:
        assert device == servers[0].url
    assert spare.url in boards.failed and any("marked failed" in s for s in said)


def _held(folder: Path) -> bool:
    """Whether another process holds one of the lease locks in `folder`."""
    for lock in folder.glob("*.lock") if folder.is_dir() else []:
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
    return False


@pytest.mark.slow
def test_a_worker_killed_mid_trial_frees_its_lease_and_the_study_recovers(space, tmp_path):
    out = tmp_path / "s"
    argv = _search(space, out, "--trials", "2")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not _held(out / ".leases"):  # kill it while it holds the board
        time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not _held(out / ".leases")  # the kernel dropped its lease with it
    assert [t.state.name for t in _load(out).trials] == ["RUNNING"]  # what the killed worker left
    (done,) = _workers([argv])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "its worker died; re-queued" in done.stdout
    states = [t.state.name for t in _load(out).trials]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 2, states


def test_workers_on_one_machine_divide_its_cores(tmp_path, monkeypatch):
    """A second live worker (a real process holding its lock) halves this one's torch threads; once it is killed,
    the next trial takes them back and its lock file is swept. A user's OMP_NUM_THREADS is left alone."""
    import torch

    from edgekit.stages.search import cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cores, "machine_cores", lambda: 4)
    before = torch.get_num_threads()
    folder = tmp_path / ".workers"
    folder.mkdir()
    hold = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(os.path.join(sys.argv[1], f'{os.getpid()}.lock'), os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)\n"
    )
    (folder / "9.lock").symlink_to("/etc/hostname")  # a received folder's link: skipped, not opened, not counted
    other = subprocess.Popen([sys.executable, "-c", hold, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        with cores.sharing_cores(tmp_path) as rebalance:
            assert rebalance() == 2 and torch.get_num_threads() == 2
            other.kill()
            other.wait(timeout=10)
            assert rebalance() == 4 and torch.get_num_threads() == 4
            assert sorted(p.name for p in folder.iterdir()) == sorted([f"{os.getpid()}.lock", "9.lock"])
        assert torch.get_num_threads() == before and [p.name for p in folder.iterdir()] == ["9.lock"]
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        with cores.sharing_cores(tmp_path) as rebalance:
            assert rebalance() == 1
    finally:
        other.kill()
        torch.set_num_threads(before)
