"""The runtime's default int8 recipe as a second candidate (formats/convert/default_int8.py): both run in the real
runtime on the validation split, the better one ships, a tie keeps edgekit's, and the quantizer line says so."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.formats.convert.default_int8 import better, choose, runtime_outputs
from edgekit.formats.convert.mixed import Validation


def test_passing_the_floor_comes_first_then_the_score_and_a_tie_keeps_edgekits():
    passes, misses = {"passed": True, "score": 0.90}, {"passed": False, "score": 0.99}
    assert better(misses, passes) and not better(passes, misses)
    assert better({"passed": True, "score": 0.90}, {"passed": True, "score": 0.91})
    assert not better({"passed": True, "score": 0.91}, {"passed": True, "score": 0.91})  # tie: edgekit's
    assert better({"passed": True, "score": None}, {"passed": True, "score": 0.5})
    tied = {"passed": True, "score": 0.91}  # the labels tie: the outputs closer to fp32's win, a full tie keeps ours
    assert better({**tied, "error": 0.02}, {**tied, "error": 0.01}) and not better({**tied, "error": 0.01}, {**tied, "error": 0.02})
    assert not better({**tied, "error": 0.01}, {**tied, "error": 0.01})


@pytest.fixture(scope="module")
def digits_job_parts(digits_run):
    from edgekit.data import Splits, load_run_data
    from edgekit.data.calibration import calibration_samples
    from edgekit.nn.evaluate import predict
    from edgekit.runs import load_run
    from edgekit.stages.export.models import float_model

    run = load_run(digits_run)
    s = Splits.of(load_run_data(run.spec, None), run.spec.normalization)
    model = float_model(run).eval()
    return run, model, calibration_samples(s.x["train"], 64), s.x["val"], (s.y["val"], predict(model, s.x["val"])), s.x["test"][:8]


def _job(parts, folder, calibration, validation):
    from edgekit.formats.base import BuildJob
    from edgekit.targets import find_target

    run, model, _, _, _, samples = parts
    folder.mkdir()
    return BuildJob(
        run=run,
        float_model=model,
        folder=folder,
        precision="int8",
        calibration=calibration,
        samples=samples,
        target=find_target("x86-64"),
        dynamic_batch=True,
        progress=False,
        validation=validation,
    )


def _accuracy_judge(labels_and_fp32):
    y, fp32 = labels_and_fp32

    def judge(out):
        logits = next(iter(out.values())) if isinstance(out, dict) else out  # the runtime's outputs, or PyTorch's
        acc = float((logits.argmax(1) == y).mean())
        error = float(((logits - fp32) ** 2).mean())
        return {
            "passed": acc >= 0.8,
            "rule": f"accuracy {acc:.4f}",
            "score": acc,
            "error": error,
            "quality": f"validation accuracy {acc:.4f}",
        }

    return judge


def test_the_default_replaces_a_worse_artifact_and_the_line_says_what_each_scored(digits_job_parts, tmp_path):
    """edgekit's ONNX int8 calibrated on samples squashed to 1% of their range (its activation ranges clip every real
    input) against onnxruntime's quantize_static defaults on the real samples: the default ships, in onnxruntime."""
    from edgekit.formats.onnx import FORMAT, ort_default_int8

    run, model, calib, x_val, y_val, _ = digits_job_parts
    judge = _accuracy_judge(y_val)
    job = _job(digits_job_parts, tmp_path / "bad", calib * 0.01, None)  # no validation: no comparison yet
    built = FORMAT.build(job)
    path = job.folder / "model.onnx"
    bad = judge(runtime_outputs(job.folder, ["model.onnx"], "onnxruntime", {}, x_val))
    assert "int8_choice" not in built.extras and not bad["passed"], bad  # the squashed ranges really hurt

    job.calibration, job.validation = calib, Validation(x_val, judge)
    assert choose(job, built, path, "onnxruntime", "onnxruntime's quantize_static defaults", lambda p: ort_default_int8(job, p))
    shipped = judge(runtime_outputs(job.folder, ["model.onnx"], "onnxruntime", {}, x_val))
    choice = built.extras["int8_choice"]
    assert choice["chosen"] == "default" and choice["default"]["validation"] == shipped["quality"] and shipped["passed"]
    assert choice["edgekit"]["validation"] == bad["quality"] and not choice["edgekit"]["passed"]
    assert built.quantizer.startswith("onnxruntime ") and "quantize_static with its defaults" in built.quantizer
    assert "chosen over edgekit's nncf" in built.quantizer and bad["quality"].replace("validation ", "") in built.quantizer
    assert sorted(p.name for p in job.folder.iterdir()) == ["model.onnx"]  # the candidate's folder is gone


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_every_int8_export_measures_the_default_beside_its_own(digits_job_parts, tmp_path, fmt):
    """A plain build with a validation split records both verdicts in the runtime and ships the better one (ties:
    edgekit's); the shipped file scores what the record says."""
    from edgekit.formats import get_format

    run, model, calib, x_val, y_val, _ = digits_job_parts
    judge = _accuracy_judge(y_val)
    job = _job(digits_job_parts, tmp_path / fmt, calib, Validation(x_val, judge))
    built = get_format(fmt).build(job)
    choice = built.extras["int8_choice"]
    runtime = {"onnx": "onnxruntime", "tflite": "litert"}[fmt]
    shipped = judge(runtime_outputs(job.folder, built.files[:1], runtime, built.runtime_options, x_val))
    ours, theirs = ((float(choice[k]["validation"].rsplit(" ", 1)[1]), -choice[k]["output_mse"]) for k in ("edgekit", "default"))
    assert choice["chosen"] == ("default" if theirs > ours else "edgekit")
    assert shipped["quality"] == choice[choice["chosen"]]["validation"]
    assert ("kept over" if choice["chosen"] == "edgekit" else "chosen over") in built.quantizer
    assert np.isfinite(ours + theirs).all() and not (job.folder / ".default-int8").exists()


def test_a_default_that_cannot_be_built_leaves_edgekits_artifact_and_no_host_path(digits_job_parts, tmp_path):
    from edgekit.formats.onnx import FORMAT

    run, model, calib, x_val, labels, _ = digits_job_parts
    job = _job(digits_job_parts, tmp_path / "export", calib, None)
    built = FORMAT.build(job)
    before = (job.folder / "model.onnx").read_bytes()
    job.validation = Validation(x_val, _accuracy_judge(labels))

    def fails(path):
        raise ValueError(f"cannot convert {path}")

    assert not choose(job, built, job.folder / "model.onnx", "onnxruntime", "a default", fails)
    failed = built.extras["int8_choice"]["default"]["failed"]
    assert str(tmp_path) not in failed and failed.startswith("cannot convert <export folder>/")
    assert (job.folder / "model.onnx").read_bytes() == before and sorted(p.name for p in job.folder.iterdir()) == ["model.onnx"]


def test_a_default_in_more_xnnpack_partitions_is_no_rival(digits_job_parts, tmp_path):
    """On x86-64 edgekit writes hard-swish out (one XNNPACK partition); litert-torch's default keeps int8 HARD_SWISH,
    which XNNPACK does not take, and would run 5.8x slower (benchmarks/results/hardswish_forms.md): it is not
    compared, and the record says why."""
    import copy

    import torch.nn as nn

    from edgekit.formats.tflite import FORMAT, tflite_ops, xnnpack_partitions

    run, model, calib, x_val, y_val, _ = digits_job_parts
    job = _job(digits_job_parts, tmp_path / "hs", calib, Validation(x_val, _accuracy_judge(y_val)))
    job.float_model = copy.deepcopy(model)
    for parent in list(job.float_model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, nn.Hardswish())
    built = FORMAT.build(job)
    assert "HARD_SWISH" not in tflite_ops(job.folder / "model.tflite") and xnnpack_partitions(job.folder / "model.tflite") == 1
    choice = built.extras["int8_choice"]
    assert choice["chosen"] == "edgekit" and "XNNPACK partitions where edgekit's runs in 1" in choice["default"]["failed"], choice
