"""Structured pruning as a schedule (issue 24): targets (MACs, latency), iterative cuts, sparse training, distillation
from the parent, the validation check on the way, SqueezeNet's collapse, and bad input as one line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch
import torch.nn as nn
from conftest import assert_one_line_error, compress, train

from edgekit.nn.evaluate import predict
from edgekit.runs import load_run
from edgekit.stages.compress import PruneStep
from edgekit.stages.compress.state import initial_state


def _metrics(path: Path) -> dict:
    return json.loads((path / "metrics.json").read_text())


@pytest.fixture(scope="module")
def to_half(digits_run, tmp_path_factory) -> Path:
    """digits-cnn pruned to half its MACs in 2 cuts, 2 fine-tune epochs (1 between the cuts, 1 after)."""
    out = tmp_path_factory.mktemp("prune") / "half"
    return compress(digits_run, [PruneStep(target_macs=0.5, iterative_steps=2, finetune=4)], out)


def test_target_macs_reaches_the_target_and_records_the_schedule(to_half):
    m = _metrics(to_half)
    parent, step = m["steps"]
    assert step["macs"] <= 0.5 * parent["macs"] and step["macs"] > 0.35 * parent["macs"]  # searched, not overshot
    assert step["target"]["macs"] == 0.5 * parent["macs"] and step["target"]["reached"] == step["macs"]
    cuts = step["schedule"]
    assert [c["cut"] for c in cuts] == [1, 2] and [c["epochs"] for c in cuts] == [1, 3]
    assert cuts[0]["macs"] > cuts[1]["macs"] == step["macs"]
    assert all(0 <= c["val_accuracy"] <= 1 for c in cuts) and step["parent_val"]["accuracy"] > 0.9
    assert m["drop"] <= 2.0
    run = load_run(to_half)  # the recorded shapes rebuild the pruned model
    assert run.model(torch.zeros(1, *run.spec.input_shape)).shape == (1, 10)


def test_a_mac_count_is_a_target_too(digits_run, tmp_path):
    parent_macs = _metrics(digits_run)["cost"]["macs"]
    out = compress(digits_run, [PruneStep(target_macs=0.3 * parent_macs, finetune=0)], tmp_path / "count")
    assert _metrics(out)["steps"][1]["macs"] <= 0.3 * parent_macs


def test_latency_on_a_board_is_its_roofline_never_this_machine(digits_run, tmp_path):
    from edgekit.stages.compress.prune_goal import make_goal
    from edgekit.targets import find_target

    run = load_run(digits_run)
    board = make_goal(run.model, run.spec.input_shape, target_latency_ms=1.0, board="cortex-m4")
    # cortex-m4's roofline: the parent's ~0.6 M MACs take several ms there; the estimate is what the goal measures
    full = board.measure(run.model)
    assert "roofline" in board.method and "cortex-m4" in board.method and full > 1.0
    assert find_target("cortex-m4").name == "cortex-m4"
    out = compress(digits_run, [PruneStep(target_latency_ms=full / 2, target="cortex-m4", finetune=0)], tmp_path / "m4")
    step = _metrics(out)["steps"][1]
    assert step["target"]["reached"] <= full / 2 and "roofline" in step["target"]["method"]
    host = make_goal(run.model, run.spec.input_shape, target_latency_ms=1.0)
    assert "measured on this machine" in host.method


def test_the_regulariser_enters_as_exactly_torch_prunings_gradient():
    """_regularised adds GroupNormPruner.regularize()'s gradient through the loss (fit owns backward): same gradient."""
    from edgekit.stages.compress.prune import _pruner, fixed_layers
    from edgekit.stages.compress.prune_schedule import _regularised
    from edgekit.tasks import get_task

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 3)
    )
    x, y = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    example = x[:1]
    pruner = _pruner(model, example, 0.5, "l2", False, {}, fixed_layers(model, example), reg=1e-2)
    task = get_task("classification")

    model.zero_grad()
    task.loss(model(x), x, y).backward()
    plain = [p.grad.clone() for p in model.parameters()]
    pruner.regularize(model)  # torch-pruning's way: after backward, into .grad
    reference = [p.grad.clone() for p in model.parameters()]

    model.zero_grad()
    loss, _ = _regularised(None, task, model, pruner)(model, x, y)
    loss.backward()
    for got, want in zip((p.grad for p in model.parameters()), reference):
        assert torch.allclose(got, want, atol=1e-7)
    assert any(not torch.allclose(w, b) for w, b in zip(reference, plain))  # the term is not zero


def test_sparse_training_taylor_and_distillation_from_the_parent_run(digits_run, tmp_path):
    step = PruneStep(0.25, importance="taylor", sparsity_epochs=1, finetune=1, distill_from_parent=True, iterative_steps=1)
    out = compress(digits_run, [step], tmp_path / "all")
    row = _metrics(out)["steps"][1]
    assert row["importance"] == "taylor" and row["sparsity_epochs"] == 1 and row["reg"] == step.reg
    assert row["distill_from_parent"] is True and row["schedule"][0]["epochs"] == 1
    assert load_run(out).model(torch.zeros(1, 1, 8, 8)).shape == (1, 10)


def test_the_default_schedule_cuts_three_times_and_distils_where_the_task_can(digits_run, tmp_path):
    """The measured defaults (benchmarks/results/pruning.md): 3 cuts, distilled from the parent when the task defines
    distillation; a task without it (anomaly) trains on its own loss instead of failing."""
    assert PruneStep(0.5)._distills("classification") and not PruneStep(0.5)._distills("anomaly")
    assert not PruneStep(0.5, distill_from_parent=False)._distills("classification")
    out = compress(digits_run, [PruneStep(0.25, finetune=2)], tmp_path / "default")
    row = _metrics(out)["steps"][1]
    assert row["iterative_steps"] == 3 and row["distill_from_parent"] is True and row["importance"] == "l2"
    assert [r["cut"] for r in row["schedule"]] == [1, 2, 3] and [r["epochs"] for r in row["schedule"]] == [0, 0, 2]


def test_the_validation_score_stops_the_cut_and_keeps_the_last_good_step(digits_run, tmp_path, run_cli):
    out = tmp_path / "stopped"
    result = run_cli(
        "compress", digits_run, "--target-macs", "0.02", "--iterative-steps", "2", "--finetune", "2", "--max-drop", "1", "--out", out
    )
    assert_one_line_error(result, "pruning stopped at cut 2/2", "kept cut 1", code=1)
    m = _metrics(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "pruning stopped" in manifest["failure"]
    step = m["steps"][1]
    assert len(step["schedule"]) == 2 and step["macs"] == step["schedule"][0]["macs"] > 0.02 * m["steps"][0]["macs"]


# ---------------------------------------------------------------- SqueezeNet (fire modules, a ReLU after the classifier)


@pytest.fixture(scope="module")
def squeezenet(tmp_path_factory) -> Path:
    return train("squeezenet", "digits", input_shape=(3, 32, 32), epochs=8, out=tmp_path_factory.mktemp("sq") / "sq")


def _classes_and_accuracy(path: Path) -> tuple[int, float]:
    run = load_run(path)
    data = initial_state(run.model, run.spec, run.metrics.train_config, progress=False).data
    predicted = predict(run.model, data.x["test"]).argmax(1)
    return len(set(predicted.tolist())), _metrics(path)["test"]["accuracy"]


@pytest.mark.slow
def test_squeezenet_learns_every_class(squeezenet):
    """The classifier's ReLU killed classes (no gradient once a class scores < 0 everywhere): 7 of 10 while training.
    Without it every class is predicted for some input."""
    classes, accuracy = _classes_and_accuracy(squeezenet)
    assert classes == 10 and accuracy > 0.6


@pytest.mark.slow
def test_squeezenet_pruned_to_half_keeps_every_class(squeezenet, tmp_path):
    """SqueezeNet has no batch-norm, and a short fine-tune after one cut to half its MACs left it predicting a few
    classes. The default schedule (iterative cuts, distilled from the parent) keeps every class of this briefly
    trained parent; benchmarks/results/pruning.md measures the issue's bar on a well-trained one."""
    out = compress(squeezenet, [PruneStep(target_macs=0.5)], tmp_path / "sq-p")
    parent, pruned = _metrics(out)["steps"]
    assert pruned["macs"] <= 0.5 * parent["macs"]
    classes, accuracy = _classes_and_accuracy(out)
    assert classes == 10 and accuracy > 0.6


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


@dataclass
class Case:
    name: str
    make: Callable[[Path, dict], list]
    fragment: str
    code: int = 2


def _recipe(tmp: Path, body: str) -> list:
    (tmp / "r.toml").write_text(body)
    return ["--recipe", tmp / "r.toml"]


CASES = [
    Case("P1 --prune with --target-macs", lambda t, c: ["--prune", "0.5", "--target-macs", "0.5"], "exactly one of --prune, --target-macs"),
    Case("P2 --target-macs 0", lambda t, c: ["--target-macs", "0"], "--target-macs must be a positive number"),
    Case("P3 --target-macs nan", lambda t, c: ["--target-macs", "nan"], "--target-macs must be a positive number"),
    Case("P4 --target-macs 1 keeps everything", lambda t, c: ["--target-macs", "1"], "nothing to prune"),
    Case("P5 --target-macs above the parent's count", lambda t, c: ["--target-macs", "1e12"], "already meets the target"),
    Case("P6 --target-macs out of reach", lambda t, c: ["--target-macs", "10"], "out of reach"),
    Case("P7 --target without --target-latency", lambda t, c: ["--prune", "0.5", "--target", "rpi5"], "--target names the board"),
    Case("P8 unknown board", lambda t, c: ["--target-latency", "1", "--target", "rpi9"], "unknown target 'rpi9'"),
    Case("P9 --target-latency -1", lambda t, c: ["--target-latency", "-1"], "--target-latency must be a positive number"),
    Case("P10 --iterative-steps 0", lambda t, c: ["--prune", "0.5", "--iterative-steps", "0"], "--iterative-steps must be ≥ 1"),
    Case("P11 --sparsity-epochs -1", lambda t, c: ["--prune", "0.5", "--sparsity-epochs", "-1"], "must be ≥ 0 epochs"),
    Case("P12 --reg inf", lambda t, c: ["--prune", "0.5", "--reg", "inf"], "--reg must be a positive number"),
    Case("P13 --unstructured with a target", lambda t, c: ["--target-macs", "0.5", "--unstructured"], "--unstructured prunes by --prune"),
    Case("P14 pruning options without a prune", lambda t, c: ["--iterative-steps", "3", "--ptq"], "pruning options need --prune"),
    Case("P15 unknown importance", lambda t, c: ["--prune", "0.5", "--importance", "hessian"], "unknown importance 'hessian'"),
    Case(
        "P16 --distill-from-parent of an anomaly run",
        lambda t, c: [c["anomaly"], "--prune", "0.5", "--distill-from-parent"],
        "defines no distillation loss",
    ),
    Case(
        "P20 --qat --distill-from-parent of an anomaly run",
        lambda t, c: [c["anomaly"], "--qat", "--distill-from-parent"],
        "defines no distillation loss",
    ),
    Case(
        "P17 recipe: board as a path",
        lambda t, c: _recipe(t, '[[step]]\nkind = "prune"\ntarget_latency_ms = 1.0\ntarget = "../../targets/rpi5.toml"\n'),
        "must be a plain name",
    ),
    Case(
        "P18 recipe: board as a file name",
        lambda t, c: _recipe(t, '[[step]]\nkind = "prune"\ntarget_latency_ms = 1.0\ntarget = "rpi5.toml"\n'),
        "names a file",
    ),
    Case(
        "P19 recipe: ratio and target",
        lambda t, c: _recipe(t, '[[step]]\nkind = "prune"\nratio = 0.5\ntarget_macs = 0.5\n'),
        "exactly one of",
    ),
    Case(
        "P20 recipe: steps as text",
        lambda t, c: _recipe(t, '[[step]]\nkind = "prune"\nratio = 0.5\niterative_steps = "3"\n'),
        "iterative_steps",
    ),
]


@pytest.fixture(scope="module")
def ctx(digits_run, tmp_path_factory):
    anomaly = train("fc-autoencoder", "synthetic:640:1:60", epochs=1, out=tmp_path_factory.mktemp("prune-bad") / "ae")
    return {"run": digits_run, "anomaly": anomaly}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_prune_input_is_one_line(case, ctx, tmp_path, run_cli):
    args = [str(a) for a in case.make(tmp_path, ctx)]
    run = [] if args and args[0] == str(ctx["anomaly"]) else [str(ctx["run"])]
    result = run_cli("compress", *run, *args, "--out", tmp_path / "out")
    assert_one_line_error(result, case.fragment, code=case.code)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*.partial"))
