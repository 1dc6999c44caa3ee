"""Bring your own trained model (issue 22): `edgekit import` of PyTorch checkpoints trained outside edgekit (DDP,
Lightning, torch.compile, EMA, safetensors), `--preprocess FILE` and `--labels`, fine-tuning from pretrained
weights (`train --weights [--freeze [N]]`), and every new way in refused in one line — a pickle that needs more than
tensors runs nothing."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BadInput, assert_one_line_error, digits_preprocess, run_subprocess

NET = textwrap.dedent("""
    import os
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                nn.Flatten(), nn.Linear(512, 32), nn.ReLU(), nn.Linear(32, num_classes),
            )

        def forward(self, x):
            if self.training and os.environ.get("EK_TEST_FAIL_TRAINING"):  # an interrupted run, for the resume test
                raise RuntimeError("stopped on purpose")
            return self.body(x)
""")
MEAN, STD = 0.3, 0.4  # the user's normalisation of pixels / 16: not edgekit's statistics of the train split
PREP_TOML = digits_preprocess(MEAN, STD)


def _load_net(folder: Path):
    sys.path.insert(0, str(folder))
    try:
        from net import Net
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("net", None)
    return Net


def _users_inputs(raw: np.ndarray) -> torch.Tensor:
    """What the user's own script feeds the model: raw digits pixels (0..16) / 16, then its mean and std."""
    return (torch.tensor(raw, dtype=torch.float32)[:, None] / 16.0 - MEAN) / STD


def _fit(net, x, y, epochs: int, seed: int = 0):
    """Plain PyTorch training, no edgekit: Adam, batches of 64."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batches this small only wait for each other on several threads
    try:
        for _ in range(epochs):
            for i in range(0, len(x), 64):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(x[i : i + 64]), y[i : i + 64]).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval(), opt


def accuracy(net, raw: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((net(_users_inputs(raw)).argmax(1).numpy() == y).mean())


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A model trained outside edgekit on all of scikit-learn's digits, saved as a DDP training checkpoint (weights
    under `model_state_dict` with `module.` prefixes, optimizer state, epoch), plus its preprocessing as a file."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("user")
    (root / "net.py").write_text(NET)
    (root / "prep.toml").write_text(PREP_TOML)
    d = load_digits()
    Net = _load_net(root)
    torch.manual_seed(0)
    net, opt = _fit(Net(), _users_inputs(d.images), torch.tensor(d.target), epochs=5)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}  # DistributedDataParallel(net).state_dict()
    torch.save({"epoch": 5, "model_state_dict": state, "optimizer_state_dict": opt.state_dict(), "loss": 0.05}, root / "ckpt.pt")
    # pretrained on half the classes (0-4), for fine-tuning to all ten
    half = d.target < 5
    torch.manual_seed(1)
    half_net, _ = _fit(Net(num_classes=5), _users_inputs(d.images[half]), torch.tensor(d.target[half]), epochs=3)
    torch.save(half_net.state_dict(), root / "half.pth")
    return {"root": root, "net": net, "model": f"{root / 'net.py'}:Net", "ckpt": root / "ckpt.pt", "prep": root / "prep.toml"}


@pytest.fixture(scope="module")
def imported(user, tmp_path_factory):
    """`edgekit import` of the DDP checkpoint, through the real CLI."""
    from edgekit.cli.main import main

    out = tmp_path_factory.mktemp("imported") / "run"
    argv = ["edgekit", "import", str(user["ckpt"]), "--model", user["model"], "--dataset", "digits"]
    argv += ["--preprocess", str(user["prep"]), "--out", str(out)]
    saved = sys.argv
    sys.argv = argv
    try:
        with pytest.raises(SystemExit) as done:
            main()
    finally:
        sys.argv = saved
    assert done.value.code == 0
    return out


def test_a_ddp_training_checkpoint_imports_scored_as_the_user_scores_it(user, imported):
    from edgekit.contracts import load_manifest, load_metrics, load_spec
    from edgekit.data import Splits, load_run_data

    spec, metrics, manifest = (
        load(imported / f) for load, f in zip((load_spec, load_metrics, load_manifest), ("model.json", "metrics.json", "manifest.json"))
    )
    assert manifest.stage == metrics.stage == "import" and manifest.lineage == [str(user["ckpt"].resolve())]
    assert manifest.weights.sha256 == hashlib.sha256(user["ckpt"].read_bytes()).hexdigest()
    assert manifest.weights.entry == "model_state_dict"
    assert spec.normalization == {"mean": [MEAN], "std": [STD], "axis": None}  # the file's, not recomputed
    given = tomllib.loads(PREP_TOML)["steps"]
    assert spec.preprocess["steps"] == [*given[:-1], {"op": "normalize", "mean": [MEAN], "std": [STD], "axis": None}]
    data = Splits.of(load_run_data(spec), spec.normalization)
    with torch.no_grad():
        expected = float((user["net"](torch.from_numpy(data.x["test"])).argmax(1).numpy() == data.y["test"]).mean())
    assert metrics.test["accuracy"] == pytest.approx(expected) and expected > 0.9 and not metrics.warnings


def test_the_import_says_in_one_note_what_it_took_and_what_it_ignored(user, run_cli, tmp_path):
    result = run_cli(
        "import", user["ckpt"], "--model", user["model"], "--dataset", "digits", "--preprocess", user["prep"], "--out", tmp_path / "r"
    )
    assert result.code == 0, result.err
    assert result.out.count("note:") == 1, result.out
    said = " ".join(result.out.split("note:")[1].split("imported")[0].split())  # the note, however the terminal wraps it
    for fragment in ("'model_state_dict' entry", "ignored: epoch, optimizer_state_dict, loss", "took 'module.' off"):
        assert fragment in said, said


@pytest.mark.slow
def test_the_imported_model_on_rpi4_int8_tflite_scores_within_1pt_of_the_users_own_accuracy(
    user, imported, tmp_path, run_cli, record_property
):
    """The artifact alone (deploy.json's preprocessing on eval.npz's raw pixels, int8 LiteRT), against the user's own
    PyTorch model and own preprocessing on the same raw digits."""
    art = tmp_path / "art"
    result = run_cli("export", imported, "--target", "rpi4", "--format", "tflite", "--precision", "int8", "--out", art)
    assert result.code == 0, result.err
    deploy = json.loads((art / "deploy.json").read_text())
    assert deploy["inputs"][0]["dtype"] == "int8" and deploy["outputs"][0]["dtype"] == "int8"  # full int8
    result = run_cli("bench", art, "--min-queries", "20", "--min-seconds", "0", "--report", tmp_path / "r.html")
    assert result.code == 0, result.err
    bench = json.loads((tmp_path / "r.json").read_text())["entries"][0]["result"]["quality"]["accuracy"]
    with np.load(art / "eval.npz", allow_pickle=False) as ev:
        own, ev_y = accuracy(user["net"], ev["raw"], ev["y"]), ev["y"]
    record_property("accuracy", {"artifact": bench, "users_own": own, "samples": len(ev_y)})  # for the issue note (--junitxml)
    assert abs(bench - own) <= 0.01, (bench, own)


@pytest.mark.parametrize(
    "variant",
    ["lightning .ckpt with ema", "torch.compile safetensors", "fp16 plain state dict", "ema by --weights-key"],
)
def test_training_checkpoints_of_other_tools_import_with_the_same_score(variant, user, imported, tmp_path):
    from safetensors.torch import save_file

    import edgekit as ek
    from edgekit.contracts import load_metrics

    state = user["net"].state_dict()
    key = None
    if variant.startswith("lightning") or variant.startswith("ema"):
        path = tmp_path / "last.ckpt"
        # a LightningModule holding the net as self.model, and a loss with a buffer of its own
        weights = {f"model.{k}": v for k, v in state.items()} | {"criterion.pos_weight": torch.ones(1)}
        other = {f"model.{k}": torch.zeros_like(v) for k, v in state.items()}  # not the weights the user means
        entries = {"state_dict": weights, "ema": other} if variant.startswith("lightning") else {"state_dict": other, "ema": weights}
        torch.save({**entries, "epoch": 3, "global_step": 90, "hyper_parameters": {"lr": 0.01}}, path)
        key = "ema" if variant.startswith("ema") else None
    elif variant.startswith("torch.compile"):
        path = tmp_path / "w.safetensors"
        save_file({f"_orig_mod.{k}": v.contiguous() for k, v in state.items()}, str(path))
    else:
        path = tmp_path / "w.pth"
        torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, path)
    run = ek.adopt(user["model"], str(path), "digits", preprocess=str(user["prep"]), out=tmp_path / "r", weights_key=key)
    assert run.manifest.weights.entry == {"lightning .ckpt with ema": "state_dict", "ema by --weights-key": "ema"}.get(variant)
    reference = load_metrics(imported / "metrics.json").test["accuracy"]
    tolerance = 0.02 if variant.startswith("fp16") else 1e-9  # fp16 rounding of the weights may flip a sample
    assert abs(run.metrics.test["accuracy"] - reference) <= tolerance


def test_a_model_fed_the_wrong_preprocessing_is_scored_at_chance_and_says_why(user, run_cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "version": 1,
                "input": {"kind": "image", "channels": "L"},
                "steps": [{"op": "scale", "factor": -1 / 16, "offset": 1.0}, {"op": "layout", "to": "CHW"}],  # inverted
            }
        )
    )
    result = run_cli("import", user["ckpt"], "--model", user["model"], "--dataset", "digits", "--preprocess", bad, "--out", tmp_path / "r")
    assert result.code == 0, result.err
    shown = " ".join(result.out.split())  # however the terminal wraps it
    assert "warning: test accuracy" in shown and "preprocessing or class order is probably not the one" in shown, result.out
    assert any("probably not" in w for w in json.loads((tmp_path / "r" / "metrics.json").read_text())["warnings"])


# ---------------------------------------------------------------- fine-tuning from pretrained weights


def _train_one_epoch(run_cli, user, out: Path, *options):
    """`edgekit train` of the user's architecture on digits for one epoch into `out`, with `options` added."""
    return run_cli("train", "--model", user["model"], "--dataset", "digits", *options, "--epochs", "1", "--out", out)


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.mark.slow
def test_fine_tuning_from_half_the_classes_reinitialises_the_classifier_and_records_the_file(user, run_cli, tmp_path):
    half = user["root"] / "half.pth"
    result = _train_one_epoch(run_cli, user, tmp_path / "ft", "--preprocess", user["prep"], "--weights", half)
    assert result.code == 0, result.err
    assert "classifier body.6 re-initialised: it has 5 outputs there, the data set 10 classes" in " ".join(result.out.split())
    manifest = json.loads((tmp_path / "ft" / "manifest.json").read_text())
    assert manifest["weights"]["sha256"] == hashlib.sha256(half.read_bytes()).hexdigest()
    assert manifest["weights"]["reinitialised"] == "body.6" and manifest["weights"]["file"] == str(half.resolve())


HUB = textwrap.dedent("""
    import torch.nn as nn

    def tiny(*, weights=None, progress=True, **kwargs):
        if weights is not None:  # torchvision would download them: the test must not get here
            raise RuntimeError("downloads")
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, kwargs.get("num_classes", 1000)))
""")


@pytest.mark.slow
def test_a_hub_factory_fine_tunes_from_a_local_weights_file(tmp_path, run_cli, monkeypatch):
    """`--model torchvision.models:NAME --weights FILE`: a factory with torchvision's signature (weights=None,
    progress, **kwargs), its 1000-class weights from a local file the way torch.hub caches them."""
    (tmp_path / "vision").mkdir()
    (tmp_path / "vision" / "__init__.py").write_text("")
    (tmp_path / "vision" / "models.py").write_text(HUB)
    monkeypatch.syspath_prepend(str(tmp_path))
    from vision.models import tiny

    torch.save({"state_dict": tiny(num_classes=1000).state_dict()}, tmp_path / "hub.pth")
    result = run_cli(
        "train",
        "--model",
        "vision.models:tiny",
        "--dataset",
        "digits",
        "--weights",
        tmp_path / "hub.pth",
        "--epochs",
        "1",
        "--out",
        tmp_path / "r",
    )
    assert result.code == 0, result.err
    assert "classifier 3 re-initialised: it has 1000 outputs there, the data set 10 classes" in " ".join(result.out.split())
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["weights"]["entry"] == "state_dict"


@pytest.mark.slow
def test_freeze_keeps_the_backbone_and_its_batch_norm_statistics_and_freeze_n_lets_go_after_n_epochs(user, run_cli, tmp_path):
    half = user["root"] / "half.pth"
    pretrained = torch.load(half, weights_only=True)
    common = ["train", "--model", user["model"], "--dataset", "digits", "--weights", half, "--epochs", "2"]
    assert run_cli(*common, "--freeze", "--out", tmp_path / "all").code == 0
    assert run_cli(*common, "--freeze", "1", "--out", tmp_path / "one").code == 0
    frozen, thawed = _tensors(tmp_path / "all" / "model.safetensors"), _tensors(tmp_path / "one" / "model.safetensors")
    backbone = [k for k in pretrained if not k.startswith("body.6.")]
    assert "body.1.running_mean" in backbone
    assert all(torch.equal(frozen[k], pretrained[k]) for k in backbone)
    assert not torch.equal(frozen["body.6.weight"][:5], pretrained["body.6.weight"])  # the classifier trained
    assert not torch.equal(thawed["body.0.weight"], pretrained["body.0.weight"])  # epoch 2 trained the backbone


@pytest.mark.slow
def test_an_interrupted_fine_tuning_run_resumes_from_its_own_copy_of_the_weights(user, run_cli, tmp_path, monkeypatch):
    """The resumed run never reopens the user's file (train_args.json is data): it starts from .checkpoint/init."""
    half = tmp_path / "half.pth"
    half.write_bytes((user["root"] / "half.pth").read_bytes())
    common = ["--model", user["model"], "--dataset", "digits", "--weights", half, "--freeze", "1", "--epochs", "2"]
    assert run_cli("train", *common, "--out", tmp_path / "straight").code == 0
    monkeypatch.setenv("EK_TEST_FAIL_TRAINING", "1")
    assert run_cli("train", *common, "--out", tmp_path / "stopped").code == 2
    monkeypatch.delenv("EK_TEST_FAIL_TRAINING")
    half.unlink()
    result = run_cli("train", "--resume", tmp_path / "stopped")
    assert result.code == 0, result.err
    a, b = _tensors(tmp_path / "stopped" / "model.safetensors"), _tensors(tmp_path / "straight" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "stopped" / "manifest.json").read_text())["weights"]["reinitialised"] == "body.6"


@pytest.mark.slow
def test_train_takes_the_users_preprocessing_and_class_order(user, run_cli, tmp_path):
    order = [str(i) for i in (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)]
    result = _train_one_epoch(run_cli, user, tmp_path / "t", "--preprocess", user["prep"], "--labels", ",".join(order))
    assert result.code == 0, result.err
    spec = json.loads((tmp_path / "t" / "model.json").read_text())
    assert spec["labels"] == order and spec["normalization"] == {"mean": [MEAN], "std": [STD], "axis": None}
    assert spec["preprocess"]["steps"][-1] == {"op": "normalize", "mean": [MEAN], "std": [STD], "axis": None}


@pytest.mark.slow  # builds and runs every zoo architecture
def test_every_zoo_classifier_is_found_and_reinitialised_for_another_class_count():
    """The classifier is found from the model itself (the last Linear/Conv to run with one output per class), so
    every zoo architecture fine-tunes to another class count, and an import to another class count says so."""
    import tomllib

    from edgekit.errors import EdgekitError
    from edgekit.nn.fit_weights import fit_state
    from edgekit.util.resources import data_dir
    from edgekit.zoo import build_architecture

    found = {}
    for recipe in sorted(data_dir("models").glob("*.toml")):
        r = tomllib.loads(recipe.read_text())
        if r.get("task", "classification") != "classification" or r["arch"] == "tiny":
            continue
        shape = r["input_shape"]
        pretrained = build_architecture(r["arch"], shape, 5, r.get("kwargs", {})).state_dict()
        net = build_architecture(r["arch"], shape, 7, r.get("kwargs", {}))
        fitted = fit_state(pretrained, net, what="w", arch=r["name"], input_shape=shape, num_classes=7, new_classifier=True, fix="-")
        found[r["name"]] = fitted.reinitialised
        assert fitted.head_outputs == 5 and set(pretrained) - set(fitted.state) == {
            f"{fitted.reinitialised}.weight",
            f"{fitted.reinitialised}.bias",
        }
        with pytest.raises(EdgekitError, match=f"its classifier {fitted.reinitialised} has 5 outputs, the data set 7 classes"):
            fit_state(pretrained, net, what="w", arch=r["name"], input_shape=shape, num_classes=7, new_classifier=False, fix="-")
    assert len(found) >= 10 and all(found.values()), found


# ---------------------------------------------------------------- hostile input: every new way in


class Evil:
    """A pickle whose loading would create a marker file (builtins.open), were it ever unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@dataclass
class Case(BadInput):
    not_created: tuple[str, ...] = field(default_factory=tuple)  # marker files under tmp (security)


def _save(tmp: Path, name: str, obj) -> Path:
    torch.save(obj, tmp / name)
    return tmp / name


def _save_legacy(tmp: Path, name: str, obj) -> Path:
    """torch.save's pickle format before the zip one (PyTorch < 1.6, still read): another loader in torch."""
    torch.save(obj, tmp / name, _use_new_zipfile_serialization=False)
    return tmp / name


def _write(tmp: Path, name: str, data: bytes) -> Path:
    (tmp / name).write_bytes(data)
    return tmp / name


def _state(c: dict, **changes) -> dict:
    return {**{f"module.{k}": v for k, v in c["net"].state_dict().items()}, **changes}


def _import(t, c, file, *more) -> list:
    return ["import", file, "--model", c["model"], "--dataset", "digits", *more]


def _prep(tmp: Path, text: str, name: str = "p.toml") -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _named_npz(tmp: Path) -> str:
    rng = np.random.default_rng(0)
    np.savez(tmp / "pets.npz", x=rng.random((40, 1, 8, 8)), y=np.arange(40) % 2, labels=np.array(["cat", "dog"]))
    return f"npz:{tmp / 'pets.npz'}"


def _truncated(t: Path, c: dict) -> Path:
    data = c["ckpt"].read_bytes()
    return _write(t, "cut.pt", data[: len(data) // 2])


def _zip_of_other(t: Path) -> Path:
    with zipfile.ZipFile(t / "photos.pt", "w") as z:
        z.writestr("photos/readme.txt", "holiday pictures")
    return t / "photos.pt"


CASES = [
    Case(
        "I1 malicious __reduce__ in a checkpoint",
        lambda t, c: _import(t, c, _save(t, "evil.pt", {"model": _state(c), "hook": Evil(t / "PWNED")})),
        ("holds Python objects, not only tensors (it needs", "open)", "torch.save(model.state_dict()"),
        not_created=("PWNED",),
    ),
    Case(
        "I1b malicious __reduce__ in torch.save's older (non-zip) format",
        lambda t, c: _import(t, c, _save_legacy(t, "old.pt", {"model": _state(c), "hook": Evil(t / "PWNED")})),
        ("holds Python objects, not only tensors",),
        not_created=("PWNED",),
    ),
    Case(
        "I2 malicious __reduce__ as fine-tuning weights",
        lambda t, c: ["train", "--model", c["model"], "--weights", _save(t, "evil.pt", Evil(t / "PWNED"))],
        ("holds Python objects",),
        not_created=("PWNED",),
    ),
    Case(
        "I3 a whole pickled nn.Module",
        lambda t, c: _import(t, c, _save(t, "whole.pt", torch.nn.Sequential(torch.nn.Linear(64, 10)))),
        ("holds Python objects, not only tensors", "(it needs torch.nn.modules.container.Sequential)"),
    ),
    Case("I4 numpy arrays in the pickle", lambda t, c: _import(t, c, _save(t, "np.pt", {"w": np.zeros(3)})), ("holds Python objects",)),
    Case(
        "I5 wrong keys",
        lambda t, c: _import(t, c, _save(t, "other.pt", {"fc.weight": torch.zeros(10, 64), "fc.bias": torch.zeros(10)})),
        ("do not fit Net", "unknown fc.weight, fc.bias", "missing body.0.weight"),
    ),
    Case(
        "I6 wrong shapes",
        lambda t, c: _import(t, c, _save(t, "wide.pt", _state(c, **{"module.body.0.weight": torch.zeros(6, 1, 3, 3)}))),
        ("do not fit Net", "layer body.0.weight is [6, 1, 3, 3] there, [8, 1, 3, 3] in Net"),
    ),
    Case(
        "I7 another class count at import",
        lambda t, c: _import(t, c, c["root"] / "half.pth"),
        ("its classifier body.6 has 5 outputs, the data set 10 classes", "edgekit train --model Net --weights FILE"),
    ),
    Case("I8 truncated checkpoint", lambda t, c: _import(t, c, _truncated(t, c)), ("is not a readable PyTorch checkpoint: truncated",)),
    Case(
        "I9 a .pt that is a zip of something else",
        lambda t, c: _import(t, c, _zip_of_other(t)),
        ("a zip archive, but not one torch.save wrote",),
    ),
    Case("I10 an empty file", lambda t, c: _import(t, c, _write(t, "empty.pt", b"")), ("empty.pt is empty",)),
    Case("I11 a text file named .pt", lambda t, c: _import(t, c, _write(t, "notes.pt", b"hello")), ("is not a PyTorch checkpoint",)),
    Case(
        "I12 a truncated safetensors file",
        lambda t, c: _import(t, c, _write(t, "w.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{")),
        ("is not a readable safetensors file",),
    ),
    Case("I13 an unknown suffix", lambda t, c: _import(t, c, _write(t, "model.h5", b"\x89HDF")), ("'.h5' is not a weights file",)),
    Case("I14 a folder", lambda t, c: _import(t, c, t), ("is a folder, not a weights file",)),
    Case("I15 a missing file", lambda t, c: _import(t, c, t / "nope.pt"), ("weights file not found",)),
    Case("I16 no --model", lambda t, c: ["import", c["ckpt"], "--dataset", "digits"], ("pass --model ARCH",)),
    Case(
        "I17 --weights-key naming no entry",
        lambda t, c: _import(t, c, c["ckpt"], "--weights-key", "ema"),
        ("has no entry 'ema'", "model_state_dict"),
    ),
    Case(
        "I18 a checkpoint without a state dict",
        lambda t, c: _import(t, c, _save(t, "meta.pt", {"epoch": 3, "lr": 0.1})),
        ("holds no state dict edgekit can find", "--weights-key"),
    ),
    Case(
        "I19 a preprocess file with an unknown op",
        lambda t, c: _import(t, c, c["ckpt"], "--preprocess", _prep(t, PREP_TOML.replace('"layout"', '"sharpen"'))),
        ("p.toml", "steps[2].op must be one of"),
    ),
    Case(
        "I20 a preprocess file for other raw samples",
        lambda t, c: _import(t, c, c["ckpt"], "--preprocess", _prep(t, PREP_TOML.replace('"L"', '"RGB"'))),
        ("is not the data set's raw samples", '"channels": "L"'),
    ),
    Case(
        "I21 a preprocess file that is not TOML",
        lambda t, c: _import(t, c, c["ckpt"], "--preprocess", _prep(t, "version = = 1")),
        ("is not valid TOML",),
    ),
    Case(
        "I22 a preprocess file of another kind",
        lambda t, c: _import(t, c, c["ckpt"], "--preprocess", _prep(t, "{}", "p.yaml")),
        ("a preprocess file is .json or .toml",),
    ),
    Case(
        "I23 labels that are not the data set's classes",
        lambda t, c: ["import", c["ckpt"], "--model", c["model"], "--dataset", _named_npz(t), "--labels", "dog,bird"],
        ("labels do not name the data set's classes", "cat missing"),
    ),
    Case("I24 too few labels", lambda t, c: _import(t, c, c["ckpt"], "--labels", "a,b"), ("labels names 2 classes", "has 10")),
    Case("I25 an empty label", lambda t, c: _import(t, c, c["ckpt"], "--labels", "a,,b"), ("has an empty name",)),
    Case(
        "I26 fine-tuning weights with a wrong backbone",
        lambda t, c: [
            "train",
            "--model",
            c["model"],
            "--weights",
            _save(t, "wide.pt", _state(c, **{"module.body.4.weight": torch.zeros(32, 9)})),
        ],
        ("do not fit Net", "layer body.4.weight is [32, 9] there, [32, 512] in Net"),
    ),
    Case("I27 --freeze without --weights", lambda t, c: ["train", "--model", c["model"], "--freeze"], ("pass --weights FILE",)),
    Case(
        "I28 --freeze 0", lambda t, c: ["train", "--model", c["model"], "--weights", c["ckpt"], "--freeze", "0"], ("number of epochs ≥ 1",)
    ),
    Case(
        "I29 --resume with --weights",
        lambda t, c: ["train", "--resume", t / "some-run", "--weights", c["ckpt"]],
        ("--resume continues the run as it was started; drop --weights",),
    ),
    Case(
        "I30 --freeze on a model without classes",
        lambda t, c: [
            "train",
            "--model",
            "tiny-autoencoder",
            "--dataset",
            "synthetic:64:1",
            "--weights",
            _save(t, "ae.pt", __import__("edgekit").zoo.build_architecture("tiny", (64,), None, {"family": "autoencoder"}).state_dict()),
            "--freeze",
        ],
        ("has none edgekit can find",),
    ),
    Case(
        "I31 --model given with an ONNX file",
        lambda t, c: ["import", _write(t, "m.onnx", b"onnx"), "--model", c["model"], "--dataset", "digits"],
        ("--model is for checkpoints",),
    ),
]


def _interrupted(tmp: Path, **changes) -> Path:
    """A received run folder stopped before its first epoch: .checkpoint/train_args.json only (data, not the user's word)."""
    from edgekit.stages.train.checkpoint import TrainArgs

    args = TrainArgs(model="digits-cnn", dataset="synthetic:1,8,8:3:60", input_shape=[1, 8, 8], seed=0, device="cpu", started="x")
    (tmp / "run" / ".checkpoint").mkdir(parents=True)
    (tmp / "run" / ".checkpoint" / "train_args.json").write_text(json.dumps({**args.model_dump(mode="json"), **changes}))
    return tmp / "run"


RESUMED = [
    Case(
        "I32 a received interrupted run with a bad preprocess",
        lambda t, c: ["train", "--resume", _interrupted(t, preprocess={"crop": 1})],
        ("train_args.json (preprocess): unknown key 'crop'",),
        absent=(),
    ),
    Case(
        "I33 a received interrupted fine-tuning run without its pretrained start",
        lambda t, c: ["train", "--resume", _interrupted(t, weights={"file": "/etc/passwd", "sha256": "0" * 64})],
        ("init.safetensors is corrupt",),
        absent=(),
    ),
    Case(
        "I34 a received interrupted run whose labels are not its data's",
        lambda t, c: ["train", "--resume", _interrupted(t, labels=["a", "b"])],
        ("labels names 2 classes",),
        absent=(),
    ),
]
CASES += RESUMED


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_runs_nothing(case, user, tmp_path, run_cli):
    args = [str(a) for a in case.make(tmp_path, user)]
    if "--out" not in args and "--resume" not in args:
        args += ["--out", str(tmp_path / "out")]
    result = run_cli(*args)
    assert_one_line_error(result, *case.fragments)
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), rel
    for marker in case.not_created:
        assert not (tmp_path / marker).exists(), f"{marker} was created: the pickle ran"
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # two fresh processes; I1 and I1b check the same in-process
def test_a_malicious_pickle_ends_a_real_process_with_exit_2_and_creates_no_file(user, tmp_path):
    """The issue's bar, in a process of its own (the exit status the shell sees), for both pickle formats."""
    for name, save in (("evil.pt", _save), ("old.pt", _save_legacy)):
        evil = save(tmp_path, name, {"model_state_dict": _state(user), "hook": Evil(tmp_path / "PWNED")})
        proc = run_subprocess("import", evil, "--model", user["model"], "--dataset", "digits", "--out", tmp_path / "out", timeout=120)
        assert proc.returncode == 2, (proc.returncode, proc.stderr)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "holds Python objects" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
        assert not (tmp_path / "PWNED").exists() and not (tmp_path / "out").exists()


def test_the_malicious_pickle_test_can_fail(tmp_path):
    """Control for I1, I1b, I2: the same file, unpickled without restriction, does create the marker."""
    evil = _save(tmp_path, "evil.pt", {"hook": Evil(tmp_path / "PWNED")})
    torch.load(evil, weights_only=False)  # what edgekit never does
    assert (tmp_path / "PWNED").exists()
