"""Values validated before work (issue 20's value rows): nesting bombs, NaN/inf and out-of-range numbers in every
file edgekit reads, absurd sizes refused before anything is allocated, training and compression settings, the
Python API's argument types — each one line naming the file and the key (or the flag), no traceback, no stray
library warning before it, nothing written. Then `export --no-parity`, and the CLI's warning holding."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import REPO, BadInput, assert_one_line_error, export, run_subprocess, train

QUICK = ["--min-queries", "5", "--min-seconds", "0", "--warmup", "0"]
FP32 = ["--format", "onnx", "--precision", "fp32"]


@dataclass
class Case(BadInput):
    absent: tuple[str, ...] = ("out", "r.html")
    never: tuple[str, ...] = ()  # text the line must not hold (a wrong fix, a blamed layer)
    env: Callable[[Path], dict] = lambda tmp: {}


def _copy(tmp: Path, src: Path, name: str) -> Path:
    dst = tmp / name
    shutil.copytree(src, dst)
    return dst


def _run(tmp: Path, c: dict, edit: Callable[[dict], None] = lambda d: None, file: str = "model.json") -> Path:
    run = _copy(tmp, c["run"], "run")
    data = json.loads((run / file).read_text())
    edit(data)
    (run / file).write_text(json.dumps(data))  # allow_nan: Python writes NaN as the JSON token NaN
    return run


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _target(tmp: Path, key: str, value: str) -> Path:
    lines = (REPO / "targets" / "x86-64.toml").read_text().splitlines()
    assert any(line.startswith(f"{key} = ") for line in lines), key
    return _write(tmp / "board.toml", "\n".join(f"{key} = {value}" if line.startswith(f"{key} = ") else line for line in lines))


def _weights(tmp: Path, c: dict, change: Callable[[dict], dict]) -> Path:
    from safetensors.torch import load_file, save_file

    run = _copy(tmp, c["run"], "run")
    state = change(load_file(str(run / "model.safetensors")))
    save_file(state, str(run / "model.safetensors"), metadata={"format": "edgekit"})
    return run


def _as_int8(state: dict) -> dict:
    import torch

    return {k: (v * 100).to(torch.int8) if v.is_floating_point() else v for k, v in state.items()}


def _nan_bias(state: dict) -> dict:
    state["classifier.bias"][1] = float("nan")
    return state


def _npz(tmp: Path, **arrays) -> str:
    np.savez(tmp / "d.npz", **arrays)
    return f"npz:{tmp / 'd.npz'}"


def _quantized(tmp: Path, c: dict) -> Path:
    # A run whose model.json records int8 quantization: the chain is refused from model.json alone, before the run
    # is loaded (a real NNCF run took 39 s and printed 5 torch._dynamo lines first).
    return _run(tmp, c, lambda d: d.update(quantization={"tool": "nncf", "method": "ptq", "bits": 8, "config": {}}))


def _cache_file(tmp: Path) -> dict:
    return {"EDGEKIT_CACHE": str(_write(tmp / "cache-file", "not a folder"))}


def _metrics_bomb(tmp: Path, c: dict) -> Path:
    run = _run(tmp, c)
    (run / "metrics.json").write_text("[" * DEEP + "]" * DEEP)
    return run


DEEP = 100_000  # far past Python's recursion limit: these crashed json/tomllib with a RecursionError


CASES = [
    # --- nesting bombs: one line naming the file, whatever reads it
    Case(
        "J1 metrics.json nested 100000 deep",
        lambda t, c: ["export", _metrics_bomb(t, c), *FP32],
        ("run/metrics.json is nested too deeply",),
    ),
    Case(
        "J2 deploy.json nested 100000 deep",
        lambda t, c: ["bench", _deploy_bomb(t, c), *QUICK, "--report", t / "r.html"],
        ("art/deploy.json is nested too deeply", "re-export it"),
    ),
    Case(
        "J3 target TOML nested 100000 deep",
        lambda t, c: ["export", c["run"], "--target", _write(t / "b.toml", "x = " + "[" * DEEP + "]" * DEEP)],
        ("b.toml is nested too deeply",),
    ),
    # --- target numbers: finite, positive, shares in 0..1
    Case("T1 target cores = 0", lambda t, c: ["export", c["run"], "--target", _target(t, "cores", "0"), *FP32], ("key 'hardware.cores'",)),
    Case(
        "T2 target bandwidth nan",
        lambda t, c: ["export", c["run"], "--target", _target(t, "memory_bandwidth_gbs", "nan"), *FP32],
        ("board.toml: key 'hardware.memory_bandwidth_gbs' is nan", "finite number"),
    ),
    Case(
        "T3 target agreement floor -1",
        lambda t, c: ["export", c["run"], "--target", _target(t, "min_int8_agreement", "-1.0"), *FP32],
        ("key 'budgets.min_int8_agreement'",),
    ),
    # --- model.json values
    Case(
        "M1 model.json dataset null",
        lambda t, c: ["export", _run(t, c, lambda d: d.update(dataset=None)), *FP32],
        ("key 'dataset' is null",),
    ),
    Case(
        "M2 model.json split seed -5",
        lambda t, c: ["export", _run(t, c, lambda d: d["dataset"].update(seed=-5)), *FP32],
        ("run/model.json: key 'dataset.seed'", "0..4294967295"),
    ),
    Case(
        "M3 model.json fractions 0,0,1",
        lambda t, c: ["export", _run(t, c, lambda d: d["dataset"].update(fractions=[0, 0, 1])), *FP32],
        ("key 'dataset.fractions'", "summing to 1"),
    ),
    Case(
        "M6 model.json num_classes 0", lambda t, c: ["export", _run(t, c, lambda d: d.update(num_classes=0)), *FP32], ("key 'num_classes'",)
    ),
    Case(
        "M7 model.json one label for 3 classes",
        lambda t, c: ["export", _run(t, c, lambda d: d.update(labels=["only-one"])), *FP32],
        ("key 'labels'", "num_classes is 3"),
    ),
    Case(
        "M8 model.json input shape 1x100000x100000",
        lambda t, c: ["export", _run(t, c, lambda d: d.update(input_shape=[1, 100000, 100000])), *FP32],
        ("run/model.json: key 'input_shape'", "too large"),
        never=("--input-shape",),  # export has no such flag
    ),
    Case(
        "M9 model.json negative resized layer",
        lambda t, c: ["export", _run(t, c, lambda d: d.update(resized_layers={"features.0.0": [-4, 1, 3, 3]})), *FP32],
        ("key 'resized_layers'", "layer 'features.0.0' must be 1 to 5 positive integers"),
    ),
    Case(
        "M11 model.json layer of 10^10 channels",
        lambda t, c: ["export", _run(t, c, lambda d: d.update(resized_layers={"features.0.0": [10**10, 1, 3, 3]})), *FP32],
        ("key 'resized_layers'", "too large"),
    ),
    Case(
        "J4 model.json std of 2 values for 1 channel",
        lambda t, c: ["export", _run(t, c, lambda d: d["normalization"].update(std=[1.0, 1.0])), *FP32],
        ("run/model.json: key 'normalization'", "takes 1 value"),
        never=("forward",),
    ),
    Case(
        "J5 model.json NaN std",
        lambda t, c: ["export", _run(t, c, lambda d: d["normalization"].update(std=[float("nan")])), *FP32],
        ("key 'normalization.std.0' is nan",),
        never=("train it until it learns",),
    ),
    Case(
        "W1 weights re-saved as int8",
        lambda t, c: ["export", _weights(t, c, _as_int8), *FP32],
        ("run/model.safetensors: tensor", "is int8, the model's is float32"),
    ),
    Case(
        "W2 NaN in a weight tensor",
        lambda t, c: ["export", _weights(t, c, _nan_bias), *FP32],
        ("tensor 'classifier.bias' holds NaN or infinite values",),
        never=("train it until it learns",),
    ),
    # --- training settings and data
    Case(
        "C1 --seed -1", lambda t, c: ["train", "--dataset", c["spec"], "--epochs", "1", "--seed", "-1"], ("seed -1 must be a whole number",)
    ),
    Case(
        "C2 --model-arg width=1e7",
        lambda t, c: ["train", "--dataset", c["spec"], "--epochs", "1", "--model-arg", "width=1e7"],
        ("would have", "parameters", "at most 1,073,741,824"),
    ),
    Case(
        "C3 --model-arg width=-1",
        lambda t, c: ["train", "--dataset", c["spec"], "--epochs", "1", "--model-arg", "width=-1"],
        ("width=-1", "must be a finite number > 0"),
    ),
    Case(
        "C10 --model-arg with an object in a list",
        lambda t, c: ["train", "--dataset", c["spec"], "--epochs", "1", "--model-arg", 'width=[1,{"a":2}]'],
        ("--model-arg", "lists of them"),
    ),
    Case(
        "C13 --input-shape 3,100000,100000",
        lambda t, c: ["train", "--epochs", "1", "--input-shape", "3,100000,100000"],
        ("input shape 3,100000,100000 is too large",),
    ),
    Case(
        "C13 a recipe's input shape 1x100000x100000",
        lambda t, c: ["train", "--model", _write(t / "r.toml", 'name = "r"\narch = "digits_cnn"\ninput_shape = [1, 100000, 100000]\n')],
        ("r.toml: key 'input_shape'", "too large"),
    ),
    Case(
        "N-big npz of 1e300 (overflow warning dropped)",
        lambda t, c: ["train", "--dataset", _npz(t, x=np.full((60, 1, 8, 8), 1e300), y=np.arange(60) % 3)],
        ("holds NaN or infinite values",),
    ),
    Case(
        "N-zerodim npz samples of shape (0,)",
        lambda t, c: ["train", "--dataset", _npz(t, x=np.zeros((60, 0)), y=np.arange(60) % 3)],
        ("d.npz: x has shape (60, 0)", "at least one value"),
        never=("--input-shape",),
    ),
    Case(
        "E8 export a 3-class run with --dataset digits",
        lambda t, c: ["export", c["run"], *FP32, "--dataset", "digits"],
        ("has 10 classes, the run 3",),
        never=("train it until it learns",),
    ),
    # --- compression settings: checked before any work
    Case(
        "K7 --width nan",
        lambda t, c: ["compress", c["run"], "--distill-to", "digits-cnn", "--width", "nan", "--epochs", "1"],
        ("width=nan", "width > 0"),
    ),
    Case(
        "K9 --temperature nan",
        lambda t, c: ["compress", c["run"], "--distill-to", "digits-cnn", "--width", "0.5", "--temperature", "nan", "--epochs", "1"],
        ("T=nan", "temperature > 0"),
        never=("--lr",),
    ),
    Case("K12 QAT of a quantized run", lambda t, c: ["compress", _quantized(t, c), "--qat", "--epochs", "1"], ("already quantized",)),
    Case(
        "K13 pruning a quantized run",
        lambda t, c: ["compress", _quantized(t, c), "--prune", "0.5", "--finetune", "0"],
        ("cannot prune a quantized model",),
    ),
    Case("K17 --calib -5", lambda t, c: ["compress", c["run"], "--ptq", "--calib", "-5"], ("--calib must be ≥ 1",), never=("force",)),
    Case(
        "K17b --calib -5 --force-calib",
        lambda t, c: ["compress", c["run"], "--ptq", "--calib", "-5", "--force-calib"],
        ("--calib must be ≥ 1",),
        never=("force",),
    ),
    # --- messages
    Case(
        "X14 EDGEKIT_CACHE is a file",
        lambda t, c: ["device", "emulate", "rpi4"],
        ("EDGEKIT_CACHE=", "point EDGEKIT_CACHE at a folder"),
        env=_cache_file,
    ),
]


def _deploy_bomb(tmp: Path, c: dict) -> Path:
    art = _copy(tmp, c["artifact"], "art")
    (art / "deploy.json").write_text('{"a":' * DEEP + "1" + "}" * DEEP)
    return art


def _print_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = tmp_path_factory.mktemp("values")
    spec = "synthetic:1,8,8:3:200"
    run = train("digits-cnn", spec, out=root / "run", epochs=3)
    art, _ = export(run, fmt="onnx", precision="fp32", out=root / "art")
    return {"run": run, "artifact": art, "spec": spec}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_values_are_one_line_before_any_work(case, ctx, tmp_path, run_cli, monkeypatch):
    for key, value in case.env(tmp_path).items():
        monkeypatch.setenv(key, value)
    args = [str(a) for a in case.make(tmp_path, ctx)]
    if args[0] in ("train", "export", "compress") and "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    with warnings.catch_warnings():  # warnings print as Python prints them (pytest would record them instead):
        warnings.simplefilter("default")  # the CLI must hold them back itself
        warnings.showwarning = _print_warning
        result = run_cli(*args)
    assert_one_line_error(result, *case.fragments, code=case.code)
    line = result.err.strip()
    for text in case.never:
        assert text not in line, line
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), rel
    for default in ("runs", "dist", "reports"):
        assert not (tmp_path / default).exists(), default
    assert not list(tmp_path.glob(".*.partial")) and not list(tmp_path.glob("**/.*.tmp"))


# ---------------------------------------------------------------- the Python API's edge


@pytest.mark.parametrize(
    "call, fragment",
    [
        ("API2", "argument 'model' must be a zoo name"),
        ("API3", "argument 'epochs' must be int | None, got str '3'"),
        ("API8", "argument 'prune' must be float | None, got str 'half'"),
        ("API10", "argument 'target' must be str, got int 123"),
    ],
)
def test_the_api_names_the_argument_and_the_type_it_expected(call, fragment, ctx, tmp_path):
    import edgekit as ek
    from edgekit.errors import EdgekitError

    calls = {
        "API2": lambda: ek.train(123, epochs=1, out=tmp_path / "out"),
        "API3": lambda: ek.train("digits-cnn", ctx["spec"], epochs="3", out=tmp_path / "out"),
        "API8": lambda: ek.compress(ctx["run"], prune="half", finetune=0, out=tmp_path / "out"),
        "API10": lambda: ek.export(ctx["run"], target=123, out=tmp_path / "out"),
    }
    with pytest.raises(EdgekitError) as e:
        calls[call]()
    assert e.value.message.startswith("ek.") and fragment in e.value.message, e.value.message
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_the_api_still_takes_what_it_took(ctx, tmp_path):
    """Strict, not narrower: paths as str or Path, a Run object, lists for shapes, ints where floats go."""
    import edgekit as ek

    run = ek.load_run(Path(ctx["run"]))
    art = ek.export(run, target="x86-64", format="onnx", precision="fp32", out=str(tmp_path / "a"), min_agreement=1, progress=False)
    assert (art.path / "deploy.json").is_file()


# ---------------------------------------------------------------- silently accepted, now said


def test_K11_prune_steps_that_remove_nothing_say_so(ctx, tmp_path, run_cli):
    one_cut = "iterative_steps = 1\n"  # each step one cut, so the last 90% finds the floor the one before reached
    steps = "".join(f'[[step]]\nkind = "prune"\nratio = {r}\nfinetune = 0\n{one_cut}' for r in (0.5, 0.5, 0.5, 0.9, 0.9))
    recipe = _write(tmp_path / "k11.toml", steps)
    result = run_cli("compress", ctx["run"], "--recipe", recipe, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    rows = json.loads((tmp_path / "out" / "metrics.json").read_text())["steps"]
    labels = [r["step"] for r in rows[1:]]
    assert labels[-1] == "prune 90% structured (removed nothing)", labels
    assert not labels[0].endswith("(removed nothing)")  # the first halving does remove channels
    assert rows[-1]["params"] == rows[-2]["params"]
    assert "removed nothing" in result.out and "note: prune 90% removed nothing" in result.out


def test_X4c_a_legal_240_byte_out_name_works(ctx, tmp_path, run_cli):
    name = "b" * 240  # legal (≤ 255 bytes); the old temporary name `.<name>.<pid>.<random>.partial` was not
    result = run_cli("export", ctx["run"], *FP32, "--out", tmp_path / name)
    assert result.code == 0, result.err
    assert (tmp_path / name / "deploy.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary left beside it


def test_temporaries_of_dead_writers_are_removed_in_both_name_forms(tmp_path):
    import subprocess
    import sys

    from edgekit.util.fsutil import write_text

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    new_form, old_form = tmp_path / f".ek-{dead}-abc123.tmp", tmp_path / f".f.json.{dead}.abc123.tmp"
    new_form.write_text("x")
    old_form.write_text("x")
    write_text(tmp_path / "f.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]


# ---------------------------------------------------------------- export --no-parity


@pytest.fixture
def untrained(ctx, tmp_path) -> Path:
    """The run with its classifier zeroed: an untrained network's constant outputs (the degenerate guard's case)."""

    def zero(state):
        state["classifier.weight"].zero_()
        return state

    return _weights(tmp_path, ctx, zero)


def test_no_parity_exports_any_network_and_every_report_says_not_proven(untrained, tmp_path, run_cli):
    refused = run_cli("export", untrained, *FP32, "--out", tmp_path / "checked")
    assert_one_line_error(refused, "a parity check on it would prove nothing")

    art = tmp_path / "art"
    result = run_cli("export", untrained, *FP32, "--out", art, "--no-parity")
    assert result.code == 0, result.err
    assert "NOT PROVEN" in result.out and "PASS" not in result.out and "no-parity" in result.out
    parity = json.loads((art / "deploy.json").read_text())["parity"]
    assert parity["passed"] is False and parity["rule"] == "not proven" and "--no-parity" in parity["note"]

    # no accuracy budget in this profile, so nothing but the missing proof keeps the artifact from passing
    lenient = _write(tmp_path / "t.toml", (REPO / "targets" / "x86-64.toml").read_text().replace("accuracy = 0.90\n", ""))
    bench = run_cli("bench", art, *QUICK, "--target", lenient, "--report", tmp_path / "r" / "report.html")
    assert_one_line_error(bench, "parity not proven", "--no-parity", code=1)
    assert "NOT PROVEN" in bench.out and "parity not proven" in bench.out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    entry = report["entries"][0]
    assert report["passed"] is False and any("parity not proven" in f for f in entry["flags"])
    quality = [c for c in entry["checks"] if c["check"] not in ("latency p90", "peak memory")]
    assert quality and all(c["status"] == "not proven" for c in quality)  # never a PASS
    md, html = ((tmp_path / "r" / f"report.{x}").read_text() for x in ("md", "html"))
    assert "Overall: **NOT PROVEN**" in md and "parity not proven" in md
    assert "NOT PROVEN" in html and "parity not proven" in html


def test_no_parity_from_the_api_and_a_failing_budget_stays_failed(untrained, tmp_path):
    import edgekit as ek

    art = ek.export(untrained, format="onnx", precision="fp32", out=tmp_path / "art", parity=False, progress=False)
    assert art.deploy.parity.rule == "not proven" and not art.deploy.parity.proven
    report = ek.bench(art, min_queries=5, min_seconds=0, warmup=0, report=tmp_path / "r.html")
    checks = {c.check: c.status for c in report.entries[0].checks}
    assert checks["accuracy"] == "FAIL"  # chance accuracy under a 0.9 floor: measured, and failed
    assert checks["agreement with host reference"] == "not proven"  # constant outputs agree trivially: no PASS
    assert not report.passed


# ---------------------------------------------------------------- library warnings held by the CLI


def test_library_warnings_are_held_dropped_on_error_and_shown_once_on_success(capfd):
    import torch  # noqa: F401  (installs torch's own stream handlers on its loggers, as a command would)

    from edgekit.cli.noise import held_warnings
    from edgekit.util.quiet import captured_fds

    with held_warnings() as held:
        for _ in range(3):
            warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=1)
        logging.getLogger("torch._dynamo.convert_frame").warning("torch._dynamo hit config.recompile_limit (8)")
        logging.getLogger("torch._dynamo.convert_frame").warning("   function: 'forward' (reference.py:82)")
        logging.getLogger("nncf").warning("something a user may want to know")
        with captured_fds():  # a block edgekit silences on purpose stays silent
            warnings.warn("said inside a quiet block", UserWarning, stacklevel=1)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # nothing reached the terminal while the command ran
    assert held.shown() == ["UserWarning: Initializing zero-element tensors is a no-op", "something a user may want to know"]


@pytest.mark.slow
def test_in_a_real_process_the_error_line_comes_alone_and_debug_shows_what_was_held(tmp_path):
    """N-big end to end: numpy's overflow RuntimeWarning, printed before the line before, is held (fd 2 included);
    --debug shows it with the traceback."""
    np.savez(tmp_path / "d.npz", x=np.full((60, 1, 8, 8), 1e300), y=np.arange(60) % 3)
    args = ["train", "--dataset", f"npz:{tmp_path / 'd.npz'}", "--epochs", "1", "--out", tmp_path / "out"]
    proc = run_subprocess(*args, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "NaN or infinite" in lines[0], proc.stderr
    debug = run_subprocess("--debug", *args, timeout=120)
    assert debug.returncode == 2 and "warning: RuntimeWarning: overflow encountered" in debug.stderr and "Traceback" in debug.stderr
