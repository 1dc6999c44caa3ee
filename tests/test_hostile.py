"""Bad and hostile input, as a table: every row is one line naming the problem (and the fix), the expected exit
code, no traceback, and nothing left behind. Security cases follow as their own tests: nothing a received file
names runs, or is written outside its folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, export, require_tool, run_subprocess, unavailable


@dataclass
class Case:
    name: str
    make: Callable[[Path, dict], list]  # (tmp folder, shared fixtures) → edgekit arguments
    fragment: str
    code: int = 2
    absent: tuple[str, ...] = ("out",)  # paths under tmp that must not exist afterwards
    not_created: tuple[str, ...] = field(default_factory=tuple)  # absolute marker paths (security)


def _copy_run(tmp: Path, ctx: dict, edit: Callable[[dict], None], file: str = "model.json") -> Path:
    run = tmp / "run"
    shutil.copytree(ctx["run"], run)
    data = json.loads((run / file).read_text())
    edit(data)
    (run / file).write_text(json.dumps(data))
    return run


def _copy_artifact(tmp: Path, ctx: dict, edit: Callable[[dict], None]) -> Path:
    art = tmp / "art"
    shutil.copytree(ctx["artifact"], art)
    data = json.loads((art / "deploy.json").read_text())
    edit(data)
    (art / "deploy.json").write_text(json.dumps(data))
    return art


def _npz(tmp: Path, **arrays) -> str:
    np.savez(tmp / "d.npz", **arrays)
    return f"npz:{tmp / 'd.npz'}"


def _target(tmp: Path, edit: Callable[[str], str], name="board.toml") -> Path:
    from edgekit.util.resources import data_dir

    path = tmp / name
    path.write_text(edit((data_dir("targets") / "rpi4.toml").read_text()))
    return path


def _pipeline(tmp: Path, text: str) -> Path:
    (tmp / "p.toml").write_text(text)
    return tmp / "p.toml"


TRAINS_ONLY_IN_TRAIN_MODE = textwrap.dedent("""
    import torch.nn as nn
    class Flaky(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.fc = nn.Linear(64, num_classes)
        def forward(self, x):
            if self.training:
                raise RuntimeError("only breaks while training")
            return self.fc(x.flatten(1))
""")

PIPE = 'name = "p"\n[train]\nepochs = 1\n[export]\ntarget = "rpi4"\n'

CASES = [
    # --- data that must be refused, not trained on
    Case(
        "npz label below 0",
        lambda t, c: ["train", "--dataset", _npz(t, x=np.random.rand(40, 1, 8, 8), y=np.arange(40) % 3 - 1)],
        "labels must lie in 0..1",
    ),
    Case(
        "npz label past its labels",
        lambda t, c: ["train", "--dataset", _npz(t, x=np.random.rand(40, 1, 8, 8), y=np.arange(40) % 4, labels=np.array(["a", "b", "c"]))],
        "labels must lie in 0..2",
    ),
    Case(
        "NaN in x",
        lambda t, c: [
            "train",
            "--dataset",
            _npz(t, x=np.where(np.arange(40 * 64).reshape(40, 1, 8, 8) == 7, np.nan, 1.0), y=np.arange(40) % 2),
        ],
        "NaN or infinite",
    ),
    Case(
        "inf in x", lambda t, c: ["train", "--dataset", _npz(t, x=np.full((40, 1, 8, 8), np.inf), y=np.arange(40) % 2)], "NaN or infinite"
    ),
    Case(
        "a single class", lambda t, c: ["train", "--dataset", _npz(t, x=np.random.rand(40, 1, 8, 8), y=np.zeros(40, int))], "single class"
    ),
    Case(
        "a pickled npz",
        lambda t, c: ["train", "--dataset", _npz(t, x=np.array([{"a": 1}] * 20, dtype=object), y=np.arange(20) % 2)],
        "no pickled objects",
    ),
    Case("10^11 synthetic samples", lambda t, c: ["train", "--dataset", "synthetic:3,32,32:10:100000000000"], "GiB of memory"),
    Case(
        "decompression bomb", lambda t, c: ["train", "--dataset", f"imagefolder:{_bomb(t)}", "--input-shape", "3,8,8"], "decompression bomb"
    ),
    Case("lr nan", lambda t, c: ["train", "--lr", "nan"], "finite positive learning rate"),
    Case("lr negative", lambda t, c: ["train", "--lr", "-1"], "finite positive learning rate"),
    Case(
        "forward raises only in training",
        lambda t, c: ["train", "--model", f"{_file(t, 'flaky.py', TRAINS_ONLY_IN_TRAIN_MODE)}:Flaky"],
        "failed in training mode",
        absent=(),
    ),
    Case("train --out is a file", lambda t, c: ["train", "--out", _touch(t / "file")], "is a file"),
    Case("export --out is a file", lambda t, c: ["export", c["run"], "--out", _touch(t / "file")], "is a file"),
    Case("compress --out is a file", lambda t, c: ["compress", c["run"], "--prune", "0.5", "--out", _touch(t / "file")], "is a file"),
    Case("--target is a folder", lambda t, c: ["export", c["run"], "--target", str(t)], "is a folder"),
    Case(
        "--out not writable",
        lambda t, c: ["export", c["run"], "--format", "onnx", "--precision", "fp32", "--out", "/sys/edgekit-out"],
        "not accessible",
        absent=(),
    ),
    Case(
        "compress --max-drop -1",
        lambda t, c: ["compress", c["run"], "--prune", "0.5", "--max-drop", "-1"],
        "--max-drop must be a number ≥ 0",
    ),
    Case("export --calib 0", lambda t, c: ["export", c["run"], "--target", "rpi4", "--calib", "0"], "--calib must be ≥ 1"),
    Case("export --min-agreement 2", lambda t, c: ["export", c["run"], "--min-agreement", "2"], "--min-agreement must lie between 0 and 1"),
    Case("bench --threads 0", lambda t, c: ["bench", c["artifact"], "--threads", "0"], "threads ≥ 1", absent=("r.html",)),
    Case("bench --min-queries 0", lambda t, c: ["bench", c["artifact"], "--min-queries", "0"], "min-queries ≥ 1", absent=("r.html",)),
    # --- files edgekit reads, validated before any work starts
    Case(
        "model.json: kwargs hold an object",
        lambda t, c: ["export", _copy_run(t, c, lambda d: d.update(kwargs={"width": {"a": 1}}))],
        "kwargs",
    ),
    Case("model.json: wrong type", lambda t, c: ["export", _copy_run(t, c, lambda d: d.update(input_shape="1,8,8"))], "input_shape"),
    Case(
        "model.json: older format",
        lambda t, c: ["export", _copy_run(t, c, lambda d: d.update(format="edgekit.model/1"))],
        "this edgekit reads edgekit.model/2",
    ),
    Case(
        "model.json: unknown zoo arch",
        lambda t, c: ["export", _copy_run(t, c, lambda d: d.update(arch="os.path:join"))],
        "unknown architecture",
    ),
    Case(
        "model.json: resized layer it lacks",
        lambda t, c: ["export", _copy_run(t, c, lambda d: d.update(resized_layers={"nope": [1, 1]}))],
        "resizes layer 'nope'",
    ),
    Case("metrics.json: not JSON", lambda t, c: ["export", _break(t, c, "metrics.json", b"{not json")], "is not valid JSON"),
    Case(
        "manifest.json: wrong type", lambda t, c: ["export", _copy_run(t, c, lambda d: d.update(lineage="x"), "manifest.json")], "lineage"
    ),
    Case("weights corrupt", lambda t, c: ["export", _break(t, c, "model.safetensors", b"junk")], "is corrupt"),
    Case(
        "deploy.json without sha256",
        lambda t, c: ["bench", _copy_artifact(t, c, lambda d: d["artifact"].pop("sha256"))],
        "missing key 'artifact.sha256'",
        absent=("r.html",),
    ),
    Case(
        "deploy.json without target",
        lambda t, c: ["bench", _copy_artifact(t, c, lambda d: d.pop("target"))],
        "missing key 'target'",
        absent=("r.html",),
    ),
    Case(
        "deploy.json: a budget of the wrong type",
        lambda t, c: ["bench", _copy_artifact(t, c, lambda d: d["target"]["budgets"].update(latency_p90_ms="fast"))],
        "budgets.latency_p90_ms",
        absent=("r.html",),
    ),
    Case(
        "bench --target: budget of the wrong type",
        lambda t, c: [
            "bench",
            c["artifact"],
            "--target",
            _target(t, lambda s: s.replace("latency_p90_ms = 50.0", 'latency_p90_ms = "50"')),
        ],
        "budgets.latency_p90_ms",
        absent=("r.html",),
    ),
    Case(
        "target: unknown runtime",
        lambda t, c: ["export", c["run"], "--target", _target(t, lambda s: s.replace('"litert",', '"tensorflow",'))],
        "unknown runtime 'tensorflow'",
    ),
    Case(
        "recipe: wrong type",
        lambda t, c: [
            "train",
            "--model",
            _file(t, "r.toml", 'name = "r"\narch = "digits_cnn"\ninput_shape = [1, 8, 8]\n[train]\nepochs = "3"\n'),
        ],
        "train.epochs",
    ),
    Case(
        'pipeline: epochs = "three"',
        lambda t, c: ["pipeline", _pipeline(t, PIPE.replace("epochs = 1", 'epochs = "three"')), "--out", t / "out"],
        "train.epochs",
    ),
    Case(
        'pipeline: compress = "prune"',
        lambda t, c: ["pipeline", _pipeline(t, 'compress = "prune"\n' + PIPE), "--out", t / "out"],
        "key 'compress'",
    ),
    Case(
        "pipeline: bench threads a string",
        lambda t, c: ["pipeline", _pipeline(t, PIPE + '[bench]\nthreads = "4"\n'), "--out", t / "out"],
        "bench.threads",
    ),
    Case(
        "pipeline: stage name escapes",
        lambda t, c: [
            "pipeline",
            _pipeline(t, PIPE + '[[compress]]\nname = "../../../tmp/x"\nkind = "prune"\nratio = 0.5\n'),
            "--out",
            t / "out",
        ],
        "plain name",
    ),
    Case(
        "pipeline: stage name hidden",
        lambda t, c: ["pipeline", _pipeline(t, PIPE + '[[compress]]\nname = ".x"\nkind = "prune"\nratio = 0.5\n'), "--out", t / "out"],
        "plain name",
    ),
    # --- devices
    Case(
        "ssh: option as user",
        lambda t, c: ["bench", c["artifact"], "--device", "ssh://-oProxyCommand=touch pwned@x"],
        "bad user",
        absent=("pwned", "r.html"),
    ),
    Case(
        "ssh: option as host", lambda t, c: ["bench", c["artifact"], "--device", "ssh://-oProxyCommand=x"], "bad host", absent=("r.html",)
    ),
    Case("ssh: space in host", lambda t, c: ["bench", c["artifact"], "--device", "ssh://a%20b"], "bad host", absent=("r.html",)),
    Case("unknown device", lambda t, c: ["bench", c["artifact"], "--device", "ftp://board"], "unknown device", absent=("r.html",)),
    Case("unbuilt emulated board", lambda t, c: ["bench", c["artifact"], "--device", "emu:rpi9"], "unknown board", absent=("r.html",)),
    Case(
        "deploy.json names ../../etc/passwd",
        lambda t, c: [
            "bench",
            _copy_artifact(t, c, lambda d: d["artifact"].update(files=["../../etc/passwd"], sha256={"../../etc/passwd": "0"})),
        ],
        "plain name",
        absent=("r.html",),
    ),
    Case(
        "deploy.json names an absolute path",
        lambda t, c: ["bench", _copy_artifact(t, c, lambda d: d["artifact"].update(files=["/etc/passwd"], sha256={"/etc/passwd": "0"}))],
        "plain name",
        absent=("r.html",),
    ),
    Case(
        "deploy.json eval file escapes",
        lambda t, c: ["bench", _copy_artifact(t, c, lambda d: d["eval"].update(file="../x.npz"))],
        "plain name",
        absent=("r.html",),
    ),
    Case("predict: missing input file", lambda t, c: ["predict", c["artifact"], t / "nope.npy"], "input file not found", absent=()),
]


def _touch(path: Path) -> Path:
    path.write_text("mine")
    return path


def _file(tmp: Path, name: str, text: str) -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _break(tmp: Path, ctx: dict, name: str, data: bytes) -> Path:
    run = tmp / "run"
    shutil.copytree(ctx["run"], run)
    (run / name).write_bytes(data)
    return run


def _bomb(tmp: Path) -> Path:
    from PIL import Image

    root = tmp / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (8, 8), i * 20).save(root / c / f"{i}.png")
    Image.new("1", (30000, 30000)).save(root / "a" / "bomb.png", optimize=True)  # 900 megapixels, a few KB on disk
    return root


@pytest.fixture(scope="module")
def ctx(digits_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    art, _ = export(digits_run, target="rpi4", out=root / "rpi4")
    return {"run": digits_run, "artifact": art}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_with_nothing_left_behind(case, ctx, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default output folders (runs/, dist/, reports/) land here, where they are checked
    args = [str(a) for a in case.make(tmp_path, ctx)]
    if args[0] in ("train", "export", "compress") and "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    if args[0] == "bench" and "--report" not in args:
        args += ["--report", str(tmp_path / "r.html")]
    result = run_cli(*args)
    assert_one_line_error(result, case.fragment, code=case.code)
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), rel
    for default in ("runs", "dist", "reports"):
        assert not (tmp_path / default).exists(), default
    assert not list(tmp_path.glob(".*.partial")) and not list(tmp_path.glob("**/.*.tmp"))


# ---------------------------------------------------------------- security: run folders are data


EVIL = textwrap.dedent("""
    import pathlib, torch.nn as nn
    pathlib.Path({marker!r}).write_text("ran")   # module code: runs on import
    class Net(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.fc = nn.Linear(64, num_classes)
        def forward(self, x):
            return self.fc(x.flatten(1))
""")


def test_a_run_folder_naming_os_system_runs_nothing(ctx, tmp_path, run_cli):
    marker = tmp_path / "pwned"

    def evil(d):
        d.update(
            source="user",
            arch="os:system",
            kwargs={"command": f"touch {marker}"},
            code={"file": "os.ref", "sha256": "0" * 64, "origin": "/usr/lib/python3/os.py", "entry": "system", "module": "os"},
        )

    run = _copy_run(tmp_path, ctx, evil)
    for command in (
        ["export", run, "--out", tmp_path / "o"],
        ["compress", run, "--prune", "0.5", "--out", tmp_path / "c"],
        ["export", run, "--out", tmp_path / "o2", "--trust-code"],
    ):
        result = run_cli(*command)
        assert result.code == 2 and "Traceback" not in result.err, result.err
    assert not marker.exists()


def test_a_run_folders_own_code_needs_trust_code_and_then_runs(ctx, tmp_path, run_cli):
    """The copy in the run folder is imported only with --trust-code: proven by its import side effect."""
    from edgekit.device.integrity import sha256

    marker = tmp_path / "imported"
    run = tmp_path / "run"
    shutil.copytree(ctx["run"], run)
    (run / "code").mkdir()
    (run / "code" / "net.py").write_text(EVIL.format(marker=str(marker)))
    spec = json.loads((run / "model.json").read_text())
    spec.update(
        source="user",
        arch="/elsewhere/net.py:Net",
        kwargs={},
        name="Net",
        resized_layers={},
        code={"file": "net.py", "sha256": sha256(run / "code" / "net.py"), "origin": "/elsewhere/net.py", "entry": "Net"},
    )
    (run / "model.json").write_text(json.dumps(spec))
    refused = run_cli("export", run, "--out", tmp_path / "o")
    assert_one_line_error(refused, "would import and run code", "--trust-code")
    assert not marker.exists() and not (tmp_path / "o").exists()
    trusted = run_cli("export", run, "--trust-code", "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "o")
    assert marker.exists()  # the flag does what it says: the code ran
    assert trusted.code == 2 and "do not fit" in trusted.err  # digits-cnn weights do not fit this Net: refused, not crashed


def test_a_file_path_in_model_json_is_never_imported(ctx, tmp_path, run_cli):
    marker = tmp_path / "imported"
    evil = _file(tmp_path, "evil.py", EVIL.format(marker=str(marker)))

    def point(d):
        from edgekit.device.integrity import sha256

        d.update(
            source="user",
            arch=f"{evil}:Net",
            kwargs={},
            code={"file": "evil.py", "sha256": sha256(evil), "origin": str(evil), "entry": "Net"},
        )

    run = _copy_run(tmp_path, ctx, point)
    assert_one_line_error(run_cli("export", run, "--out", tmp_path / "o"), "would import and run code")
    assert not marker.exists()


def test_your_own_module_loads_without_trust_code_on_your_machine(tmp_path, run_cli):
    """Trained here from a file: the same file (same sha256) is the user's own code, no flag needed."""
    (tmp_path / "mine.py").write_text(EVIL.format(marker=str(tmp_path / "side-effect")))
    assert run_cli("train", "--model", f"{tmp_path}/mine.py:Net", "--epochs", "2", "--out", tmp_path / "run").code == 0
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    assert (tmp_path / "run" / "code" / "mine.py").read_text() == (tmp_path / "mine.py").read_text()
    assert spec["code"]["file"] == "mine.py" and len(spec["code"]["sha256"]) == 64
    exported = run_cli("export", tmp_path / "run", "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "o")
    assert exported.code == 0, exported.err
    (tmp_path / "mine.py").write_text((tmp_path / "mine.py").read_text() + "\n# changed\n")
    assert_one_line_error(run_cli("export", tmp_path / "run", "--out", tmp_path / "o2"), "would import and run code", "--trust-code")


def test_a_pipeline_stage_name_cannot_write_outside_the_pipeline_folder(tmp_path, run_cli):
    escape = tmp_path / "escaped"
    text = PIPE + f'[[compress]]\nname = "../../{escape.name}"\nkind = "prune"\nratio = 0.5\n'
    assert_one_line_error(run_cli("pipeline", _pipeline(tmp_path, text), "--out", tmp_path / "a" / "b"), "plain name")
    assert not escape.exists() and not (tmp_path / "a").exists()


# ---------------------------------------------------------------- nothing left behind, nothing blocking


def test_a_crashed_training_is_marked_failed_and_the_message_offers_resume_and_starting_over(tmp_path, run_cli):
    run = tmp_path / "run"
    failed = run_cli("train", "--model", f"{_file(tmp_path, 'flaky.py', TRAINS_ONLY_IN_TRAIN_MODE)}:Flaky", "--out", run)
    assert_one_line_error(failed, "failed in training mode")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "training mode" in manifest["failure"]
    assert_one_line_error(run_cli("export", run, "--out", tmp_path / "o"), "failed", f"--resume {run}", f"rm -r {run}")


def test_stale_partials_of_dead_processes_are_removed_by_the_next_export(ctx, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".out.{dead}.abcd1234.partial"
    (stale / "x").mkdir(parents=True)
    live = tmp_path / f".out.{os.getpid() + 0}.live.partial"  # this process: alive, left alone
    live.mkdir()
    export(ctx["run"], fmt="onnx", precision="fp32", out=tmp_path / "out")
    assert not stale.exists() and live.exists()


def test_a_report_is_written_as_one_set(tmp_path):
    from edgekit.util.fsutil import write_set

    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(OSError):
        write_set({tmp_path / "r.html": b"1", tmp_path / "blocker" / "r.md": b"2", tmp_path / "r.json": b"3"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]  # no r.html without its siblings, no temp files


def test_debug_adds_the_traceback_and_keeps_exit_code_2(tmp_path):
    proc = run_subprocess("--debug", "train", "--model", "nope", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "error: unknown model 'nope'" in proc.stderr


def _namespace_fs(tmp_path: Path, options: str, command: list[str]) -> subprocess.CompletedProcess:
    """Run edgekit with `tmp_path/mnt` as a fresh tmpfs mounted with `options` (real EROFS / ENOSPC, no root)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    require_tool("unshare", "util-linux")
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        unavailable("needs `unshare --user --mount` (util-linux, with unprivileged user namespaces enabled)")
    script = f"mount -t tmpfs -o {options} none {mnt} && exec {sys.executable} -m edgekit " + " ".join(map(str, command))
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_read_only_output_is_one_line(ctx, tmp_path):
    proc = _namespace_fs(tmp_path, "ro", ["export", ctx["run"], "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "mnt" / "o"])
    assert proc.returncode == 2 and "read-only file system" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_full_disk_says_the_disk_is_full_not_replace_a_layer(ctx, tmp_path):
    proc = _namespace_fs(
        tmp_path, "size=24k", ["export", ctx["run"], "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "mnt" / "o"]
    )
    assert proc.returncode == 2 and "disk is full" in proc.stderr and "replace" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
