"""`edgekit compress`: each method on real digits runs, chaining, the accuracy budget, bad input."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import assert_one_line_error, compress, train

from edgekit.runs import load_run
from edgekit.stages.compress import DistillStep, PruneStep, QuantStep


def _metrics(path):
    return json.loads((path / "metrics.json").read_text())


@pytest.fixture(scope="session")
def pruned_run(digits_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("compress") / "pruned"
    return compress(digits_run, [PruneStep(0.5, finetune=10)], out)


def test_structured_pruning_gives_a_smaller_dense_model_that_reloads(pruned_run, digits_run):
    m = _metrics(pruned_run)
    parent, pruned = m["steps"]
    assert pruned["macs"] <= 0.35 * parent["macs"] and pruned["params"] < 0.35 * parent["params"]
    assert m["drop"] <= 1.0
    run = load_run(pruned_run)
    assert run.spec.resized_layers and run.manifest.parent == str(digits_run.resolve())
    assert run.manifest.lineage == [str(digits_run.resolve())]
    conv = run.model.features[0][0]
    assert conv.out_channels == 8  # 16 channels, half pruned; the new count is what model.json recorded


@pytest.mark.slow
def test_pruning_keeps_residual_and_depthwise_layers_consistent(tmp_path):

    for model, data in (("resnet8", "synthetic:3,32,32:4:120"), ("mobilenetv1-025", "synthetic:3,96,96:2:60")):
        parent = train(model, data, out=tmp_path / model, epochs=1)
        out = compress(parent, [PruneStep(0.5, finetune=1)], tmp_path / f"{model}-pruned")
        run = load_run(out)
        assert run.model(torch.zeros(1, *run.spec.input_shape)).shape[1] == run.spec.num_classes
        assert _metrics(out)["steps"][1]["macs"] < 0.4 * _metrics(out)["steps"][0]["macs"]


def test_unstructured_pruning_reports_sparsity_and_says_dense_runtimes_do_not_speed_up(digits_run, tmp_path):
    out = compress(digits_run, [PruneStep(0.8, finetune=3, unstructured=True)], tmp_path / "sparse")
    step = _metrics(out)["steps"][1]
    assert step["sparsity"] >= 0.79 and "same speed" in step["note"]
    assert step["nonzero_params"] < 0.3 * step["params"]
    w = load_run(out).model.features[1][0].weight
    assert float((w == 0).float().mean()) > 0.5  # the zeros survived save → load


def test_ptq_int8_within_one_point_and_reloads_without_pickle(digits_run, tmp_path):
    out = compress(digits_run, [QuantStep("ptq", calib=300)], tmp_path / "ptq")
    m = _metrics(out)
    assert m["drop"] <= 1.0 and m["steps"][1]["calibration"] == {
        "split": "train",
        "samples": 300,
        "unfolded_batchnorm": 0,
        "weights": "per-channel",
    }
    run = load_run(out)
    assert run.spec.bn_folded and run.spec.quantization["method"] == "ptq"
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in run.model.modules())
    assert m["steps"][1]["size_bytes"] < 0.3 * m["steps"][0]["size_bytes"]


def test_qat_after_pruning_stays_within_half_a_point(pruned_run, tmp_path):
    out = compress(pruned_run, [QuantStep("qat", epochs=3)], tmp_path / "qat")
    m = _metrics(out)
    assert m["drop"] <= 0.5
    assert load_run(out).metrics.test["accuracy"] == pytest.approx(m["steps"][1]["accuracy"])


def test_distillation_trains_a_half_width_student(digits_run, tmp_path):
    out = compress(digits_run, [DistillStep("digits-cnn", width=0.5, epochs=10)], tmp_path / "student")
    m = _metrics(out)
    assert m["steps"][1]["params"] < 0.35 * m["steps"][0]["params"] and m["steps"][1]["accuracy"] > 0.9
    assert load_run(out).spec.kwargs["width"] == 0.5


def test_recipe_chains_distill_prune_qat(digits_run, tmp_path, run_cli):
    recipe = tmp_path / "shrink.toml"
    recipe.write_text("""
[[step]]
kind = "distill"
student = "digits-cnn"
width = 0.5
epochs = 8

[[step]]
kind = "prune"
ratio = 0.25
finetune = 3

[[step]]
kind = "qat"
epochs = 2
""")
    result = run_cli("compress", digits_run, "--recipe", recipe, "--out", tmp_path / "small")
    assert result.code == 0, result.err
    steps = [s["step"] for s in _metrics(tmp_path / "small")["steps"]]
    assert steps == ["parent", "distill → digits-cnn x0.5", "prune 25% structured", "qat int8"]
    for column in ("accuracy", "vs parent", "MACs", "size", "qat int8"):
        assert column in result.out


def test_max_drop_fails_with_exit_1_and_keeps_the_result_marked_failed(digits_run, tmp_path, run_cli):
    out = tmp_path / "crushed"
    result = run_cli("compress", digits_run, "--prune", "0.95", "--finetune", "0", "--max-drop", "0.1", "--out", out)
    assert_one_line_error(result, "more than --max-drop 0.1", code=1)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "more than --max-drop 0.1" in manifest["failure"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--prune", "1.5"], "between 0 and 1"),
        (["--prune", "0"], "between 0 and 1"),
        (["--ptq", "--calib", "8"], "too few"),
        (["--distill-to", "nope"], "unknown model 'nope'"),
        (["--prune", "0.5", "--layer-ratio", "nope=0.5"], "no layer named nope"),
        ([], "no compression step"),
    ],
)
def test_compress_bad_input(digits_run, tmp_path, run_cli, args, fragment):
    out = tmp_path / "out"
    assert_one_line_error(run_cli("compress", digits_run, *args, "--out", out), fragment)
    assert not out.exists()


def test_compress_of_a_folder_that_is_not_a_run(tmp_path, run_cli):
    assert_one_line_error(run_cli("compress", tmp_path, "--prune", "0.5", "--out", tmp_path / "o"), "is not a run folder")


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('[[step]]\nkind = "shrink"\n', "unknown kind 'shrink'"),
        ('[[step]]\nkind = "prune"\nratio = 0.5\nspeed = 2\n', "unknown key 'speed'"),
        ('[[step]]\nkind = "prune"\nratio = 2.0\n', "between 0 and 1"),
    ],
)
def test_recipe_errors(digits_run, tmp_path, run_cli, body, fragment):
    recipe = tmp_path / "r.toml"
    recipe.write_text(body)
    assert_one_line_error(run_cli("compress", digits_run, "--recipe", recipe, "--out", tmp_path / "o"), fragment)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_nncf_native_kernels_compile_nothing_and_telemetry_is_off(tmp_path):
    import subprocess
    import sys

    code = (
        "import os; from edgekit.stages.compress.nncf_env import import_nncf; import_nncf(); "
        "from nncf.torch.quantization.extensions import QuantizedFunctionsCPU; "
        "from nncf.torch.quantization.reference import ReferenceQuantizedFunctions; "
        "print(QuantizedFunctionsCPU._loader.load() is ReferenceQuantizedFunctions, os.environ['NNCF_CI'])"
    )
    env = {**os.environ, "EDGEKIT_NNCF_KERNELS": "native", "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}
    env.pop("NNCF_CI", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["True", "1"], out.stderr[-500:]
    assert not (tmp_path / "ext").exists()


def test_a_dead_builders_extension_lock_is_removed(tmp_path):
    import time

    from edgekit.stages.compress.nncf_env import _clear_dead_locks

    lock = tmp_path / "quantized_functions_cpu" / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    old = time.time() - 60
    os.utime(lock, (old, old))  # left by a build that was killed: torch would wait on it forever
    _clear_dead_locks(tmp_path)
    assert not lock.exists()


def test_compressing_a_run_object_leaves_it_as_its_folder_holds(digits_run):
    """PTQ folds batch-norm and pruning resizes layers in place: on a copy, never on the caller's Run."""
    from edgekit.runs import load_run

    run = load_run(digits_run)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    compress(run, [QuantStep("ptq", calib=64)], digits_run.parent / "ptq-of-object")
    after = run.model.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)
