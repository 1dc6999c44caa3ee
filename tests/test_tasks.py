"""Tasks own their labels, outputs, scores, parity and post-processing: a toy task registered only here (a model with
two outputs, ragged label sets stored as a flat array plus offsets, its own metric, its own device post-processing)
goes through train, export's parity check and a target's budgets without one line of generic code knowing it."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgekit.device.tasks import ragged
from edgekit.device.tasks.base import DeviceTask, softmax
from edgekit.errors import EdgekitError
from edgekit.records import Quality
from edgekit.tasks.base import Task, check, fidelity, only_output

DATA = "synthetic:1,8,8:3:200"
TEMPERATURE = 2.0  # a fixed setting of the toy's device post-processing (recorded in deploy.json's task_options)

# ---------------------------------------------------------------- the toy task (host half and device half)


def tag_sets(y) -> list[np.ndarray]:
    """Ragged labels: every third sample also accepts the next class, so items hold one or two tags."""
    classes = int(np.max(y)) + 1 if len(y) else 1
    return [np.array([v] + ([(v + 1) % classes] if i % 3 == 0 else []), np.int64) for i, v in enumerate(np.asarray(y))]


class ToyDevice(DeviceTask):
    """Two outputs in model order (logits, aux); softened probabilities; a hit is a top-1 class among the tags."""

    name = "toy"

    def postprocess(self, outputs, options):
        logits, aux = outputs.values()
        return {"probs": np.stack([softmax(row / options["temperature"]) for row in logits]), "aux": aux}

    def reduce(self, features, outputs):
        return np.concatenate([outputs["probs"].reshape(-1), outputs["aux"].reshape(-1)])

    def describe(self, value, labels, options):
        best = int(np.argmax(value[:-2]))
        return {
            "label": labels[best] if best < len(labels) else str(best),
            "index": best,
            "score": float(value[best]),
            "output": [float(v) for v in value[:64]],
        }

    def load_labels(self, npz):
        return ragged.load(npz, "tags")

    def score(self, values, reference, labels):
        top = [int(np.argmax(v[:-2])) for v in values]
        ref_top = [int(np.argmax(r[:-2])) for r in np.asarray(reference)]
        return {
            "hit_rate": float(np.mean([t in tags for t, tags in zip(top, labels)])),
            "agreement": float(np.mean(np.array(top) == np.array(ref_top))),
            "max_abs_diff": float(np.abs(np.stack(values) - np.asarray(reference)).max()),
        }


class ToyTask(Task):
    name = "toy"
    quality = "hit_rate"
    higher_is_better = True
    has_classes = True
    stratify = True
    unit = "hit-rate points"
    device_task = "toy"
    budget_metrics = {"hit_rate": "min"}
    metric_names = {"hit_rate": "hit rate"}

    def check_output(self, out, spec):
        shapes = [tuple(o.shape[1:]) for o in out] if isinstance(out, (tuple, list)) else [tuple(out.shape[1:])]
        if len(shapes) != 2 or shapes[0] != (spec.num_classes,):
            raise EdgekitError(
                f"model {spec.name} gives outputs of shapes {shapes}; a toy model gives 2 outputs: logits "
                f"({spec.num_classes},) and an auxiliary vector",
                "return (logits, aux) from forward()",
            )

    def loss(self, output, x, y, label_smoothing=0.0):
        import torch.nn.functional as F

        logits, aux = output
        return F.cross_entropy(logits.float(), y) + 0.01 * (aux.float() ** 2).mean()

    def score(self, outputs, x, y, groups=None):
        hit = float((outputs[0].argmax(1) == y).mean()) if len(y) else None
        return Quality({"hit_rate": hit, "loss": None if hit is None else 1 - hit}, self.quality, self.higher_is_better)

    def validation_key(self, scores):
        return (scores["hit_rate"],)

    def store_labels(self, y):
        return ragged.store("tags", tag_sets(y))

    def postprocess_options(self):
        return {"temperature": TEMPERATURE}

    def parity(self, c, *, precision, floor):
        metrics = {**fidelity(c.outputs, c.reference), **c.quality, "reference_hit_rate": c.reference_quality["hit_rate"]}
        need = 0.99 if precision in ("fp32", "fp16") else floor
        return self.parity_record(c, metrics, metrics["agreement"] >= need, f"toy agreement ≥ {need:.0%}")

    def parity_summary(self):
        return ["agreement", "hit_rate"]

    def parity_columns(self):
        return [("hit rate (runtime / reference)", "{hit_rate:.4f} / {reference_hit_rate:.4f}"), *super().parity_columns()]

    def reference_checks(self, quality, precision, floor):
        return [check("agreement with host reference", quality.get("agreement"), floor, "min")]

    def columns(self):
        return [("hit rate", "hit_rate", "{:.4f}")]


TASK = ToyTask()  # edgekit.tasks.TASKS["toy"] names this module while the `toy` fixture is active

MODELS = """
import torch.nn as nn


class TwoHead(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
        self.logits, self.aux = nn.Linear(32, num_classes), nn.Linear(32, 2)

    def forward(self, x):
        h = self.body(x)
        return self.logits(h), self.aux(h)


class Five(nn.Module):  # always five logits, whatever the data's classes
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))

    def forward(self, x):
        return self.net(x)
"""


def recipe(folder: Path, name: str, arch: str, task: str, epochs: int = 1) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\narch = "{arch}"\ninput_shape = [1, 8, 8]\ntask = "{task}"\ndataset = "{DATA}"\n\n[train]\nepochs = {epochs}\n'
    )
    return path


@pytest.fixture(scope="module")
def toy():
    """The toy registered as a plug-in for this module's tests: one line in each TASKS table, nothing else."""
    import edgekit.tasks as host_tasks
    from edgekit.device import tasks as device_tasks

    device_module = types.ModuleType("edgekit.device.tasks.toy")
    device_module.TASK = ToyDevice()
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(host_tasks.TASKS, "toy", __name__)
        mp.setitem(device_tasks.TASKS, "toy", "toy")
        mp.setitem(sys.modules, "edgekit.device.tasks.toy", device_module)
        yield


@pytest.fixture(scope="module")
def models(toy, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "toy_models.py"
    path.write_text(MODELS)
    return path


@pytest.fixture(scope="module")
def parts(models, tmp_path_factory):
    """A trained toy run and its fp32 ONNX artifact (seconds each)."""
    from edgekit.stages.export import export_run
    from edgekit.stages.train import train_run

    root = tmp_path_factory.mktemp("toy")
    run = train_run(
        str(recipe(root, "toy-twohead", f"{models}:TwoHead", "toy", epochs=6)), out=root / "run", trust_code=True, progress=False
    )
    art = export_run(run.path, fmt="onnx", precision="fp32", out=root / "art", trust_code=True, progress=False)
    return {"run": run, "artifact": art}


# ---------------------------------------------------------------- ragged labels in eval.npz, no pickle


def test_ragged_labels_round_trip_through_an_npz_file_without_pickle(toy, tmp_path):
    y = np.array([0, 2, 1, 1, 0, 2, 2])
    np.savez(tmp_path / "e.npz", **TASK.store_labels(y))
    with np.load(tmp_path / "e.npz", allow_pickle=False) as ev:
        assert sorted(ev.files) == ["tags", "tags_offsets"] and ev["tags"].dtype == np.int64
        assert list(ev["tags_offsets"]) == [0, 2, 3, 4, 6, 7, 8, 10]  # items of two tags at 0, 3, 6
        back = ToyDevice().load_labels(ev)
    assert [list(t) for t in back] == [list(t) for t in tag_sets(y)]


@dataclass
class Bad:
    name: str
    flat: np.ndarray
    offsets: np.ndarray
    fragment: str


BAD_OFFSETS = [
    Bad("R1 offsets not starting at 0", np.arange(4), np.array([1, 2, 4]), "must rise from 0 to 4"),
    Bad("R2 offsets past the end", np.arange(4), np.array([0, 2, 9]), "must rise from 0 to 4"),
    Bad("R3 offsets falling", np.arange(4), np.array([0, 3, 1, 4]), "must rise from 0 to 4"),
    Bad("R4 offsets of floats", np.arange(4), np.array([0.0, 4.0]), "offsets must be a 1-D integer array"),
    Bad("R5 offsets of two dimensions", np.arange(4), np.array([[0, 4]]), "offsets must be a 1-D integer array"),
]


@pytest.mark.parametrize("case", BAD_OFFSETS, ids=[c.name for c in BAD_OFFSETS])
def test_received_offsets_that_do_not_cut_the_flat_array_are_refused(case):
    with pytest.raises(ValueError, match=case.fragment):
        ragged.load({"tags": case.flat, "tags_offsets": case.offsets}, "tags")


# ---------------------------------------------------------------- output checks name what the task expects


@dataclass
class Out:
    name: str
    make: object  # (folder, model file) -> recipe path
    fragments: tuple[str, ...]


OUTPUT_CASES = [
    Out(
        "O1 classifier with five logits for three classes",
        lambda d, m: recipe(d, "five", f"{m}:Five", "classification"),
        ("outputs shape (5,) but the data set has 3 classes", "one logit per class: shape (3,)", "--model-arg num_classes=N"),
    ),
    Out(
        "O2 two outputs for classification",
        lambda d, m: recipe(d, "two", f"{m}:TwoHead", "classification"),
        ("the model gives 2 outputs; a classification model gives one tensor", "make forward() return a single tensor"),
    ),
    Out(
        "O3 reconstruction of a classifier",
        lambda d, m: recipe(d, "rec", f"{m}:Five", "reconstruction"),
        ("outputs shape (5,); a reconstruction model reproduces its input (1, 8, 8)", "make the model output its input's shape"),
    ),
    Out(
        "O4 toy task on a one-output model",
        lambda d, m: recipe(d, "one", "digits_cnn", "toy"),
        ("gives outputs of shapes [(3,)]; a toy model gives 2 outputs", "return (logits, aux) from forward()"),
    ),
]


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=[c.name for c in OUTPUT_CASES])
def test_a_model_whose_outputs_the_task_cannot_score_is_refused_before_training(case, models, tmp_path, run_cli):
    result = run_cli("train", "--model", case.make(tmp_path, models), "--out", tmp_path / "out", "--trust-code")
    assert_one_line_error(result, *case.fragments)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- parity through export, no generic code change


def test_the_toy_task_trains_and_exports_through_generic_code(parts, tmp_path, run_cli):
    run, art = parts["run"], parts["artifact"]
    assert run.metrics.quality == "hit_rate" and run.metrics.test["hit_rate"] > 0.6  # its score, its headline

    p = art.parity
    assert p.passed and p.rule == "toy agreement ≥ 99%" and p.reference == "PyTorch fp32" and p.runtime.startswith("onnxruntime")
    assert p.samples == art.deploy.eval.samples and p.summary == ["agreement", "hit_rate"]
    assert p.metrics["hit_rate"] == pytest.approx(p.metrics["reference_hit_rate"], abs=0.02) and p.metrics["max_abs_diff"] < 1e-4
    d = json.loads((art.path / "deploy.json").read_text())
    assert d["task"] == "toy" and d["task_options"] == {"temperature": TEMPERATURE}  # the device post-processing's setting
    assert d["parity"] == json.loads((art.path / "parity.json").read_text()) == p.model_dump(mode="json")

    with np.load(art.path / "eval.npz", allow_pickle=False) as ev:
        assert {"raw", "tags", "tags_offsets", "reference"} == set(ev.files)
        tags = ToyDevice().load_labels(ev)
        assert len(tags) == len(ev["raw"]) == p.samples and {len(t) for t in tags} == {1, 2}
        assert ev["reference"].shape == (p.samples, 3 + 2)  # the device task's value: 3 probabilities and the aux pair
        # the shipped reference is the device task's post-processing of PyTorch's outputs: probabilities summing to 1
        assert np.allclose(ev["reference"][:, :3].sum(axis=1), 1, atol=1e-5)

    result = run_cli("export", run.path, "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "a", "--trust-code")
    assert result.code == 0, result.err
    assert "hit rate (runtime / reference)" in result.out and "PASS toy agreement ≥ 99%" in result.out


def test_an_export_runs_pytorch_once_per_split(parts, tmp_path):
    from edgekit.runs import load_run
    from edgekit.stages.export import export_run

    run = load_run(parts["run"].path, trust_code=True)
    batches = []
    forward = type(run.model).forward

    def counted(self, x):
        batches.append(len(x))
        return forward(self, x)

    sizes = run.spec.dataset.sizes
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(run.model), "forward", counted)
        export_run(run, fmt="onnx", precision="fp32", out=tmp_path / "a", progress=False)
    assert batches.count(sizes["test"]) == 1 and batches.count(sizes["val"]) == 1, (batches, sizes)


def test_a_task_without_a_distillation_loss_refuses_distillation_before_any_work(parts, tmp_path, run_cli):
    result = run_cli("compress", parts["run"].path, "--distill-to", "digits-cnn", "--out", tmp_path / "s", "--trust-code")
    assert_one_line_error(result, "the teacher is a toy model, and that task defines no distillation loss", "--distill-to")
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------- a target budgets the toy's own metric


def _target(tmp: Path, quality: str) -> Path:
    text = (Path(__file__).parent.parent / "targets" / "x86-64.toml").read_text()
    path = tmp / "board.toml"
    path.write_text(text.split("[budgets.quality]")[0] + "[budgets.quality]\n" + quality)
    return path


def test_a_target_budgets_a_metric_only_its_task_declares(parts, tmp_path, monkeypatch):
    import edgekit.tasks as host_tasks
    from edgekit.contracts import Latency, RunnerResult
    from edgekit.stages.bench.budgets import check_budgets
    from edgekit.targets import load_target

    board = _target(tmp_path, "accuracy = 0.9\nhit_rate = 0.99\n")
    deploy, quality = parts["artifact"].deploy, parts["artifact"].parity.metrics
    # the device's figures are the device task's: export's parity ran the same code on the same samples
    lat = Latency(p50=1.0, p90=1.0, p99=1.0, mean=1.0, std=0.0, min=1.0, max=1.0)
    result = RunnerResult(status="ok", latency_ms=lat, peak_rss_mb=10.0, quality={k: quality[k] for k in ("hit_rate", "agreement")})
    checks = {c.check: c for c in check_budgets(result, deploy, load_target(board).profile, on_target=True)}
    assert "accuracy" not in checks  # classification's budget: not this artifact's task, skipped
    hit = checks["hit rate"]
    assert hit.limit == 0.99 and hit.direction == "min" and hit.value == quality["hit_rate"]
    assert hit.status == ("PASS" if quality["hit_rate"] >= 0.99 else "FAIL")
    assert checks["agreement with host reference"].status == "PASS"
    lenient = _target(tmp_path, "hit_rate = 0.0\n")
    assert {c.check: c.status for c in check_budgets(result, deploy, load_target(lenient).profile, on_target=True)}["hit rate"] == "PASS"

    monkeypatch.delitem(host_tasks.TASKS, "toy")  # no registered task scores hit_rate any more: refused on read
    with pytest.raises(EdgekitError, match="key 'budgets.quality': no task scores a metric 'hit_rate'"):
        load_target(board)


def test_old_quality_budget_keys_say_where_they_moved(tmp_path):
    from edgekit.targets import load_target

    text = (Path(__file__).parent.parent / "targets" / "x86-64.toml").read_text().replace("[budgets]\n", "[budgets]\nmin_auc = 0.8\n")
    (tmp_path / "old.toml").write_text(text)
    with pytest.raises(EdgekitError, match=r"'min_auc' moved under \[budgets.quality\] as `auc = 0.8`"):
        load_target(tmp_path / "old.toml")


# ---------------------------------------------------------------- the pieces generic code uses


def test_generic_helpers_read_every_output_of_a_multi_output_model():
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    b = np.ones((3, 4), np.float32)
    f = fidelity({"x": a, "y": b}, {"x": a + 1, "y": b})
    assert f["max_abs_diff"] == 1.0 and f["mean_abs_diff"] == pytest.approx(2 / 6)
    assert only_output((a,), "classification") is a
    with pytest.raises(EdgekitError, match="the model gives 2 outputs; a classification model gives one tensor"):
        only_output({"x": a, "y": b}, "classification")
