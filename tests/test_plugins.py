"""Formats and tasks are plug-ins: every registered format, at each of its precisions, for every task, goes
through export (parity in its real runtime) and bench (the device runner from raw input) — the proof that a
new plug-in is wired everywhere. And the CLI stays instant: importing it imports neither torch nor sklearn."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
from conftest import export, train


def test_every_format_and_task_is_registered_consistently():
    from edgekit.device.quality import TASKS as DEVICE_TASKS
    from edgekit.device.runtimes import ADAPTERS, RUNTIMES
    from edgekit.formats import FORMATS, get_format
    from edgekit.tasks import TASKS, get_task

    for name in FORMATS:
        f = get_format(name)
        assert f.name == name and f.runtime in RUNTIMES and f.runtime in ADAPTERS and f.precisions
    for name in TASKS:
        t = get_task(name)
        assert t.name == name and DEVICE_TASKS[name] is t.device and t.quality


def test_an_unknown_format_or_task_is_an_error_never_a_fallback():
    from edgekit.errors import EdgekitError
    from edgekit.formats import get_format
    from edgekit.tasks import get_task

    with pytest.raises(EdgekitError, match="unknown format 'gguf'"):
        get_format("gguf")
    with pytest.raises(EdgekitError, match="unknown task 'segmentation'"):
        get_task("segmentation")


@pytest.fixture(scope="module")
def anomaly_run(tmp_path_factory):
    from edgekit.synth.machines import make_machine_sounds

    root = tmp_path_factory.mktemp("machines")
    make_machine_sounds(root / "m", train_normal=60, test_normal=20, test_anomaly=20, seconds=1.0)
    return train("fc-autoencoder", f"machines:{root / 'm'}", out=root / "ad", epochs=12)


TARGET_FOR = {
    "onnx": "x86-64",
    "tflite": "x86-64",
    "micro": "cortex-m7",
    "edgetpu": "coral",
    "ncnn": "rpi5",
    "executorch": "rpi5",
    "tensorrt": "jetson",
}
NO_RUNTIME_HERE = {"tensorrt"}  # needs an NVIDIA GPU: its row must fail cleanly, naming the package


def test_every_format_precision_and_task_exports_and_benches_from_raw_input(digits_run, anomaly_run, tmp_path, run_cli):
    from edgekit.formats import FORMATS, get_format

    folders = []
    for task, run in (("classification", digits_run), ("anomaly", anomaly_run)):
        for name in FORMATS:
            f = get_format(name)
            for precision in {p for p in f.precisions if p in ("fp32", "int8")}:
                out, deploy = export(
                    run, target=TARGET_FOR[name], fmt=name, precision=precision, out=tmp_path / f"{task}-{name}-{precision}"
                )
                assert deploy["task"] == task and deploy["artifact"]["format"] == name and deploy["eval"]["raw"]
                folders.append(out)
    result = run_cli("bench", *folders, "--min-queries", "20", "--min-seconds", "0", "--warmup", "2", "--report", tmp_path / "r.html")
    assert result.code == 2 and "could not be measured" in result.err, result.err  # the tensorrt rows, nothing else
    rep = json.loads((tmp_path / "r.json").read_text())
    assert len(rep["entries"]) == len(folders)
    for e in rep["entries"]:
        if e["format"] in NO_RUNTIME_HERE:
            assert e["status"] == "failed" and "lacks the Python package tensorrt" in e["error"]
            continue
        q, parity = e["result"]["quality"], e["export_parity"]
        key = "accuracy" if e["task"] == "classification" else "auc"
        assert e["status"] == "ok" and q[key] == pytest.approx(parity[key], abs=1e-9), (e["folder"], q, parity)
        assert any(c["check"] in ("accuracy", "ROC AUC") for c in e["checks"])  # the task's quality budget is judged


def test_importing_the_cli_imports_neither_torch_nor_sklearn():
    code = (
        "import sys, edgekit, edgekit.cli.main; "
        "print(sorted(m for m in ('torch', 'sklearn', 'nncf', 'litert_torch', 'onnx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("command", [["--help"], ["targets"], ["models"], ["datasets"]])
def test_listing_commands_import_no_torch(command):
    code = (
        "import sys; from edgekit.cli.main import cli; "
        f"cli.main({command!r}, standalone_mode=False); "
        "import sys; print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "NO-TORCH" in out.stderr, out.stderr


def test_the_notebook_api_names_stay_functions_after_their_modules_load():
    import edgekit as ek

    importlib.import_module("edgekit.stages.train")
    importlib.import_module("edgekit.stages.export")
    for name in ek.__all__:
        assert callable(getattr(ek, name)) and not isinstance(getattr(ek, name), type(ek)), name
