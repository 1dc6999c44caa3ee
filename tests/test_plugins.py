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

from edgekit.errors import EdgekitError


def test_every_format_and_task_is_registered_consistently():
    from edgekit.device import tasks as device_tasks
    from edgekit.device.runtimes import RUNTIMES, adapter_class
    from edgekit.formats import FORMATS, get_format
    from edgekit.tasks import TASKS, get_task

    for name in FORMATS:
        f = get_format(name)
        assert f.name == name and f.runtime in RUNTIMES and adapter_class(f.runtime).runtime == f.runtime and f.precisions
    for name in TASKS:
        t = get_task(name)
        assert t.name == name and t.device_task in device_tasks.TASKS and t.device.name == t.device_task and t.quality


def test_an_unknown_format_or_task_is_an_error_never_a_fallback():
    from edgekit.errors import EdgekitError
    from edgekit.formats import get_format
    from edgekit.tasks import get_task

    with pytest.raises(EdgekitError, match="unknown format 'gguf'"):
        get_format("gguf")
    with pytest.raises(EdgekitError, match="unknown task 'segmentation'"):
        get_task("segmentation")


# The tiny registered models (edgekit/zoo/tiny.py) the walk trains, one per task: (model, data set, input shape).
# A task the walk does not know fails test_every_task_has_a_tiny_model_to_walk: a new task adds its line here.
TINY = {
    "classification": ("tiny-cnn", "digits", None),
    "reconstruction": ("tiny-autoencoder", "synthetic:64:1:600", None),
    "anomaly": ("tiny-autoencoder", "machines:{machines}", (640,)),
    "detection": ("detector-tiny", "coco:{objects}", None),
    "centroids": ("fomo-tiny", "coco:{objects}", None),
}
PRECISIONS = ("fp32", "fp16", "dynamic", "int8")


def _formats() -> dict:
    from edgekit.formats import FORMATS, get_format

    return {name: get_format(name) for name in FORMATS}


def _tasks() -> list[str]:
    from edgekit.tasks import TASKS

    return list(TASKS)


def target_for(fmt) -> str:
    """A target profile for a format: one that prefers it, else one that lists its runtime (a new runtime brings a
    target TOML; this test needs no line for it)."""
    from edgekit.targets import all_targets

    fits = [t for t in all_targets().values() if fmt.runtime in t.profile.runtime.runtimes]
    assert fits, f"no target profile lists the runtime {fmt.runtime} of format {fmt.name}"
    return min(fits, key=lambda t: (t.profile.runtime.preferred_format != fmt.name, not t.is_host(), t.name)).name


def _nvidia_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _walk():
    """Every task × format × precision, the combinations that cannot work marked so (strict: one that starts to
    work must say so). Only ONNX fp32 per task runs in the quick check (`-m "not slow"`)."""
    rows = []
    for task in _tasks():
        for name, fmt in _formats().items():
            for precision in PRECISIONS:
                if (task, name, precision) == ("detection", "micro", "int8"):
                    continue  # not a row: a box detector is no microcontroller model (FOMO is); its export failed in 49 s
                marks = [] if (name, precision) == ("onnx", "fp32") else [pytest.mark.slow]
                if precision not in fmt.precisions:  # refused in one line, never a crash (raises=)
                    marks.append(
                        pytest.mark.xfail(strict=True, raises=EdgekitError, reason=f"{name} has no {precision} (export refuses it)")
                    )
                elif (task, name, precision) == ("classification", "openvino", "int8"):  # issue 24, open
                    # not strict: the outcome follows the CPU's int8 kernels (and the tiny model trained on it)
                    reason = (
                        "OpenVINO int8 of the 75%-accurate tiny classifier agreed 97.4% < the 98% floor on an AVX2 CPU "
                        "with the first-k fallback (2026-12-04); it passes on AVX-512/VNNI; the sensitivity fallback "
                        "it uses since is not yet measured on an AVX2 CPU"
                    )
                    marks.append(pytest.mark.xfail(strict=False, raises=EdgekitError, reason=reason))
                elif fmt.runtime == "tensorrt" and not _nvidia_gpu():  # exports; its bench row fails, naming the package
                    marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason="TensorRT runs only on an NVIDIA GPU"))
                rows.append(pytest.param(task, name, precision, marks=marks, id=f"{task}-{name}-{precision}"))
    return rows


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, request):
    """Trained on first use, one per task, so a selection trains only what it walks (the detector is the session's,
    shared with tests/test_detect_models.py)."""
    root, made = tmp_path_factory.mktemp("tiny"), {}

    def get(task: str):
        if task == "detection":
            return request.getfixturevalue("tiny_detector_run")
        if task not in made:
            model, data, shape = TINY[task]
            if "{machines}" in data:
                from edgekit.synth.machines import make_machine_sounds

                make_machine_sounds(root / "machines", train_normal=40, test_normal=12, test_anomaly=12, seconds=1.0)
                data = data.format(machines=root / "machines")
            if "{objects}" in data:
                data = data.format(objects=request.getfixturevalue("objects_data"))
            made[task] = train(model, data, out=root / task, input_shape=shape)
        return made[task]

    return get


def test_every_task_has_a_tiny_model_to_walk():
    from edgekit.recipes import find_recipe
    from edgekit.tasks import get_task

    for task in _tasks():
        assert task in TINY, f"add a tiny registered model for task {task} to TINY"
        recipe = find_recipe(TINY[task][0])
        assert recipe.counted.params < 20_000 and get_task(recipe.task).name in (task, "reconstruction")


@pytest.mark.parametrize("task, fmt, precision", _walk())
def test_every_task_format_and_precision_exports_and_benches_from_raw_input(task, fmt, precision, tiny_runs, tmp_path, run_cli):
    """Export (parity in the format's real runtime) and bench (the device runner from raw sensor input): the device's
    score is the score export proved on the host, in the same runtime."""
    from edgekit.tasks import get_task

    run = tiny_runs(task)
    out, deploy = export(run, target=target_for(_formats()[fmt]), fmt=fmt, precision=precision, out=tmp_path / "art")
    assert deploy["task"] == task and deploy["artifact"]["format"] == fmt and deploy["eval"]["raw"]
    if task == "detection":
        _boxes_and_scores_leave_as_two_tensors(out, deploy, fmt, precision)
    if task == "centroids":  # chosen on the validation split at export; bench below must score with the same one
        from edgekit.tasks.centroids import CentroidsTask

        opts = deploy["task_options"]
        assert opts["score_threshold"] in CentroidsTask().tuned_options()["score_threshold"], opts
        assert opts["tuned"].startswith("best validation f1"), opts
    result = run_cli("bench", out, "--min-queries", "10", "--min-seconds", "0", "--warmup", "1", "--report", tmp_path / "r.html")
    entry = json.loads((tmp_path / "r.json").read_text())["entries"][0]
    assert entry["status"] == "ok" and result.code in (0, 1), (result.err, entry.get("error"))  # 1: a budget missed
    quality, proven = entry["result"]["quality"], entry["export_parity"]["metrics"]
    shared = [k for k in quality if k in proven and quality[k] is not None]
    headline = get_task(task).quality
    assert headline in shared, (headline, quality, proven)
    for key in shared:
        assert quality[key] == pytest.approx(proven[key], abs=1e-6), (key, quality, proven)


def _boxes_and_scores_leave_as_two_tensors(out, deploy, fmt, precision):
    """Issue 23: a detector's boxes and scores are two output tensors, each with its own int8 scale (one shared
    scale rounds 0..1 scores to zero beside pixel boxes, ultralytics#1695), and full int8 stays full int8."""
    outputs = {t["name"]: t for t in deploy["outputs"]}
    if fmt in ("ncnn", "executorch"):  # runtimes without tensor names: two tensors in the model's order (boxes, scores)
        assert len(outputs) == 2 and deploy["outputs"][0]["shape"][-1] == 4
        outputs = dict(zip(["boxes", "scores"], deploy["outputs"]))
    assert sorted(outputs) == ["boxes", "scores"] and outputs["boxes"]["shape"][-1] == 4
    assert deploy["parity"]["metrics"]["collapsed_classes"] == 0
    if fmt == "tflite" and precision == "int8":
        boxes, scores = outputs["boxes"]["quantization"], outputs["scores"]["quantization"]
        assert outputs["scores"]["dtype"] == "int8" and scores["scale"] <= 1.01 / 255  # 0..1 over 256 steps
        assert boxes["scale"] != scores["scale"]
        ops = json.loads((out / "deploy.json").read_text())["extras"]["ops"]
        assert "DEQUANTIZE" not in ops or "float_layers" in deploy["extras"]  # full int8 unless layers were kept float


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
