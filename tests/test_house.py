"""The house: no import cycles, files under 500 lines, requires-python that matches the imports, a CLI that starts
without its heavy libraries; a user's error told apart from edgekit's own bug; the adopt stage (a model trained
elsewhere becomes a run folder that compress, export and bench take like a trained one)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click
import numpy as np
import pytest
from conftest import REPO, run_subprocess

PACKAGE = REPO / "edgekit"
MAX_LINES = 500


# ---------------------------------------------------------------- the import graph


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module → the edgekit modules it imports, at module level and inside functions (a lazy import is still a
    dependency: the cycle only waits for the first call)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]  # `from x import attr`: the module x
        return name or None

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.split(".")[0] == "edgekit"}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] == "edgekit":
                    found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names}
        graph[name] = {m for m in map(resolve, found) if m and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_sees_module_and_function_level_imports():
    graph = import_graph()
    assert "edgekit.errors" in graph["edgekit.cli.main"]  # module level, relative
    assert "edgekit.stages.export.api" in graph["edgekit.stages.export"]  # a package's __init__
    assert "edgekit.stages.bench.transports.emulated" not in graph["edgekit.stages.bench.transports"]  # importlib: data
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    """Found and removed in issue 21: formats/float_fallback ↔ formats/tflite (one convert/pt2e.py now),
    stages/bench/emulated ↔ stages/bench/transports (a transports package, device kinds in one table),
    contracts ↔ targets (check_plain_name lives in schema.py), and edgekit ↔ util/manifest, formats/convert/toolchain
    (the version lives in edgekit/_version.py, so no module imports the package that lazily imports the API)."""
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


# ---------------------------------------------------------------- size, Python version, start-up


def test_every_file_under_edgekit_is_at_most_500_lines():
    long = {str(p.relative_to(REPO)): n for p in sorted(PACKAGE.rglob("*.py")) if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split them by job): {long}"


# Standard-library modules newer than Python 3.8, by the version that added them.
NEW_IN = {"tomllib": (3, 11), "graphlib": (3, 9), "zoneinfo": (3, 9)}


def _imported_top_names(paths) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_requires_python_matches_what_the_host_code_imports():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    floor = tuple(int(v) for v in re.fullmatch(r">=\s*(\d+)\.(\d+)", project["project"]["requires-python"].strip()).groups())
    host = [p for p in PACKAGE.rglob("*.py") if "device" not in p.relative_to(PACKAGE).parts]
    needed = max([NEW_IN[m] for m in _imported_top_names(host) if m in NEW_IN] or [(3, 8)])
    assert floor >= needed, f"the code imports modules of Python {needed}, pyproject allows {floor}"
    assert project["tool"]["ruff"]["target-version"] == f"py{floor[0]}{floor[1]}"  # the linter checks the same floor
    device = [p for p in PACKAGE.rglob("*.py") if "device" in p.relative_to(PACKAGE).parts]
    assert not {m for m in _imported_top_names(device) if m in NEW_IN}  # the device half runs on Python 3.8


def test_the_cli_starts_without_its_heavy_libraries():
    """The CLI's import stays under 100 ms (measured with `python -X importtime -c "import edgekit.cli.main"`: about
    65 ms on 2 cores, a third of it click) only while rich, pydantic, numpy and torch wait for a command to need them."""
    heavy = ("torch", "numpy", "pydantic", "rich", "sklearn")
    code = f"import sys, edgekit.cli.main; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


# ---------------------------------------------------------------- whose fault: the user's forward() or edgekit


FORWARDS = textwrap.dedent("""
    import torch.nn as nn
    from edgekit.data.normalize import apply_normalization

    class Base(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.fc = nn.Linear(64, num_classes)
            self.wrong = nn.Linear(5, num_classes)

    class RaisesInTraining(Base):
        def forward(self, x):
            if self.training:
                raise ValueError("my own check failed")
            return self.fc(x.flatten(1))

    class WrongShapeInTraining(Base):
        def forward(self, x):
            return self.wrong(x.flatten(1)) if self.training else self.fc(x.flatten(1))

    class WrongShapeInEval(Base):
        def forward(self, x):
            return self.fc(x.flatten(1)) if self.training else self.wrong(x.flatten(1))

    class CallsEdgekitWrongly(Base):
        def forward(self, x):
            apply_normalization(x.detach().numpy(), {"mean": [0.0]})  # edgekit's own code raises: not the user's line
            return self.fc(x.flatten(1))
""")


@dataclass
class Case:
    name: str
    model: str  # class in FORWARDS
    fragments: tuple[str, ...]
    code: int = 2
    prefix: str = "error: "


BLAME = [
    Case("B1 user code raises in training", "RaisesInTraining", ("failed in training mode at forwards.py:", "my own check failed")),
    Case(
        "B2 a torch layer fails in the user's forward (names the layer)",
        "WrongShapeInTraining",
        ("at forwards.py:", "self.wrong(x.flatten(1))", "in torch.nn.modules.linear.Linear.forward", "shapes cannot be multiplied"),
    ),
    Case(
        "B3 the forward fails in eval mode: the input shape check names the line",
        "WrongShapeInEval",
        ("cannot take input shape (1, 8, 8) (at forwards.py:", "self.wrong(x.flatten(1))", "in torch.nn.modules.linear.Linear.forward"),
    ),
    Case(
        "B4 edgekit's own code fails inside a forward: a bug, not the user's",
        "CallsEdgekitWrongly",
        ("KeyError: 'std'", "at edgekit/data/normalize.py:", "rerun with --debug and report it"),
        code=70,
        prefix="edgekit bug: ",
    ),
]


@pytest.mark.parametrize("case", BLAME, ids=[c.name for c in BLAME])
def test_the_users_forward_is_blamed_only_when_the_traceback_ends_in_its_code(case, tmp_path, run_cli):
    (tmp_path / "forwards.py").write_text(FORWARDS)
    out = tmp_path / "out"
    result = run_cli(
        "train", "--model", f"{tmp_path / 'forwards.py'}:{case.model}", "--dataset", "synthetic:1,8,8:3:60", "--epochs", "1", "--out", out
    )
    lines = [line for line in result.err.strip().splitlines() if line.strip()]
    assert result.code == case.code and len(lines) == 1 and lines[0].startswith(case.prefix), result.err
    assert "Traceback" not in result.err and str(tmp_path) not in lines[0]  # the file's name, not where it lives
    for fragment in case.fragments:
        assert fragment in lines[0], lines[0]
    assert not (out / "model.safetensors").exists()


@pytest.fixture
def crashing_command():
    """A real command on the real CLI group whose code has a bug (what any unexpected exception looks like)."""
    from edgekit.cli.main import cli

    @click.command("crash-for-test")
    def crash():
        {}["missing"]  # noqa: B018 (the bug)

    cli.add_command(crash)
    yield "crash-for-test"
    cli.commands.pop("crash-for-test")


def test_an_unexpected_exception_is_an_edgekit_bug_line_with_exit_70(crashing_command, run_cli):
    result = run_cli(crashing_command)
    assert result.code == 70 and result.err.strip().count("\n") == 0, result.err
    assert result.err.startswith("edgekit bug: KeyError: 'missing' (at ") and "— rerun with --debug and report it" in result.err
    assert "Traceback" not in result.err


def test_debug_adds_the_traceback_of_a_bug_and_keeps_exit_70(crashing_command, run_cli, monkeypatch):
    monkeypatch.setenv("EDGEKIT_DEBUG", "")  # --debug sets it for the process: undone after this test
    result = run_cli("--debug", crashing_command)
    assert result.code == 70 and "Traceback" in result.err and "edgekit bug: KeyError: 'missing'" in result.err


def test_an_internal_error_is_not_a_user_error():
    from edgekit.errors import EdgekitError, InternalError

    with pytest.raises(InternalError):  # an `except EdgekitError` never swallows a bug
        try:
            raise InternalError("a broken contract")
        except EdgekitError:
            pytest.fail("caught as a user error")


def test_a_bug_in_a_real_process_exits_70_in_one_line(tmp_path):
    (tmp_path / "forwards.py").write_text(FORWARDS)
    proc = run_subprocess(
        "train",
        "--model",
        f"{tmp_path / 'forwards.py'}:CallsEdgekitWrongly",
        "--dataset",
        "synthetic:1,8,8:3:60",
        "--epochs",
        "1",
        "--out",
        tmp_path / "o",
    )
    assert proc.returncode == 70 and proc.stderr.startswith("edgekit bug: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# ---------------------------------------------------------------- adopt: a model trained elsewhere

NET = textwrap.dedent("""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                nn.Flatten(), nn.Linear(256, 32), nn.ReLU(), nn.Linear(32, num_classes),
            )

        def forward(self, x):
            return self.body(x)
""")


def _plain_pytorch_digits(folder: Path):
    """Net trained in plain PyTorch (no edgekit) on all of scikit-learn's digits, with its own normalisation."""
    import torch
    from sklearn.datasets import load_digits

    (folder / "net.py").write_text(NET)
    sys.path.insert(0, str(folder))
    try:
        from net import Net
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("net", None)
    d = load_digits()
    x, y = torch.tensor(d.images[:, None] / 16.0, dtype=torch.float32), torch.tensor(d.target)
    mean, std = 0.3, 0.4  # what the user chose: not edgekit's statistics of the train split
    torch.manual_seed(0)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batches this small only wait for each other on several threads
    try:
        for _ in range(6):
            for i in range(0, len(x), 64):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net((x[i : i + 64] - mean) / std), y[i : i + 64]).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval(), {"mean": [mean], "std": [std]}


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    import edgekit as ek

    root = tmp_path_factory.mktemp("adopt")
    net, norm = _plain_pytorch_digits(root)
    run = ek.adopt(f"{root / 'net.py'}:Net", net.state_dict(), "digits", preprocess=norm, out=root / "run")
    return {"root": root, "run": run, "net": net, "norm": norm}


def test_adopt_scores_the_model_as_it_was_trained_and_records_its_preprocessing(adopted):
    import torch

    from edgekit.contracts import load_manifest, load_metrics, load_spec
    from edgekit.data import Splits, load_run_data

    path = adopted["run"].path
    spec, metrics = load_spec(path / "model.json"), load_metrics(path / "metrics.json")
    assert load_manifest(path / "manifest.json").stage == metrics.stage == "import"
    assert spec.normalization == {"mean": [0.3], "std": [0.4], "axis": None} and spec.preprocess["steps"][-1]["op"] == "normalize"
    assert (path / "code" / "net.py").read_text() == NET and spec.labels == [str(i) for i in range(10)]
    data = Splits.of(load_run_data(spec), spec.normalization)  # the test split as every later stage rebuilds it
    with torch.no_grad():
        expected = float((adopted["net"](torch.from_numpy(data.x["test"])).argmax(1).numpy() == data.y["test"]).mean())
    assert metrics.test["accuracy"] == pytest.approx(expected) and expected > 0.8


@pytest.mark.slow
def test_an_adopted_run_exports_to_onnx_and_tflite_int8_and_benches_like_a_trained_one(adopted, tmp_path, run_cli):
    """The run folder, not the in-memory Run: export and bench see the same files as for `edgekit train`."""
    run = adopted["run"].path
    trained = tmp_path / "trained"
    assert run_cli("train", "--model", f"{adopted['root'] / 'net.py'}:Net", "--epochs", "1", "--out", trained).code == 0
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*")) == sorted(
        p.relative_to(trained).as_posix() for p in trained.rglob("*")
    )
    for fmt, precision in (("onnx", "fp32"), ("tflite", "int8")):
        result = run_cli("export", run, "--target", "x86-64", "--format", fmt, "--precision", precision, "--out", tmp_path / fmt)
        assert result.code == 0, result.err
    result = run_cli(
        "bench", tmp_path / "onnx", tmp_path / "tflite", "--min-queries", "20", "--min-seconds", "0", "--report", tmp_path / "r.html"
    )
    assert result.code == 0, result.err
    import json

    entries = json.loads((tmp_path / "r.json").read_text())["entries"]
    accuracy = adopted["run"].metrics.test["accuracy"]
    assert [e["status"] for e in entries] == ["ok", "ok"]
    assert entries[0]["result"]["quality"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)  # fp32: the same answers
    assert abs(entries[1]["result"]["quality"]["accuracy"] - accuracy) < 0.05  # int8 on the device, from raw pixels


def test_adopt_with_the_models_own_label_order_scores_the_same(adopted, tmp_path):
    """Outputs permuted, and the labels saying so: the data's classes are matched by name, here and in later stages."""
    import torch

    import edgekit as ek
    from edgekit.data import Splits, load_run_data

    perm = np.random.default_rng(0).permutation(10)
    state = {k: v.clone() for k, v in adopted["net"].state_dict().items()}
    state["body.6.weight"], state["body.6.bias"] = state["body.6.weight"][perm], state["body.6.bias"][perm]
    labels = [str(int(i)) for i in perm]  # output j is class perm[j]
    run = ek.adopt(f"{adopted['root'] / 'net.py'}:Net", state, "digits", preprocess=adopted["norm"], labels=labels, out=tmp_path / "p")
    assert run.spec.labels == labels and run.metrics.test["accuracy"] == pytest.approx(adopted["run"].metrics.test["accuracy"])
    data = Splits.of(load_run_data(run.spec), run.spec.normalization)
    with torch.no_grad():
        again = float((run.model(torch.from_numpy(data.x["test"])).argmax(1).numpy() == data.y["test"]).mean())
    assert again == pytest.approx(run.metrics.test["accuracy"])


def test_adopt_takes_an_nn_module_holding_its_weights_and_a_scale(tmp_path):
    import edgekit as ek
    from edgekit.zoo import build_architecture

    net = build_architecture("tiny", (1, 8, 8), 10, {"family": "cnn"})
    run = ek.adopt(net, data="digits", preprocess={"scale": 1 / 255}, out=tmp_path / "m")
    assert run.spec.preprocess["steps"][0] == {"op": "scale", "factor": 1 / 255} and run.spec.source == "user"
    assert run.model is net and (tmp_path / "m" / "model.safetensors").is_file()


@dataclass
class AdoptCase:
    name: str
    call: Callable[[Path, dict], dict]  # (tmp folder, fixture) → ek.adopt keyword arguments
    fragments: tuple[str, ...]
    absent: tuple[str, ...] = field(default=("out",))


def _with(ctx, **changes):
    return {"model": f"{ctx['root'] / 'net.py'}:Net", "weights": ctx["net"].state_dict(), "data": "digits", **changes}


ADOPT_ERRORS = [
    AdoptCase("A1 a name without weights", lambda t, c: {"model": "tiny-cnn"}, ("adopting 'tiny-cnn' needs its trained weights",)),
    AdoptCase(
        "A2 weights of another model",
        lambda t, c: _with(c, weights={"fc.weight": c["net"].state_dict()["body.6.weight"]}),
        ("the weights do not fit Net", "unknown fc.weight", "missing body.0.weight"),
    ),
    AdoptCase("A3 weights that are not tensors", lambda t, c: _with(c, weights={"body.0.weight": [1.0]}), ("is list, not a tensor",)),
    AdoptCase(
        "A4 weights of another dtype",
        lambda t, c: _with(c, weights={k: v.double() if v.is_floating_point() else v for k, v in c["net"].state_dict().items()}),
        ("is float64, the model's is float32",),
    ),
    AdoptCase("A5 an unknown preprocess key", lambda t, c: _with(c, preprocess={"crop": 6}), ("preprocess: unknown key 'crop'",)),
    AdoptCase(
        "A6 a mean per channel the input does not have",
        lambda t, c: _with(c, preprocess={"mean": [0.1, 0.2, 0.3], "std": [1.0, 1.0, 1.0]}),
        ("input shape [1, 8, 8] takes 1 value",),
    ),
    AdoptCase("A7 a zero std", lambda t, c: _with(c, preprocess={"mean": [0.0], "std": [0.0]}), ("positive numbers",)),
    AdoptCase(
        "A8 labels that are not the data set's classes",
        lambda t, c: _with(c, data=f"imagefolder:{_photos(t)}", input_shape=[1, 8, 8], labels=["dog", "bird"]),
        ("labels do not name the data set's classes", "cat missing"),
    ),
    AdoptCase("A9 too few labels", lambda t, c: _with(c, labels=["a", "b"]), ("labels names 2 classes", "has 10")),
    AdoptCase(
        "A10 steps that make another shape",
        lambda t, c: _with(
            c, preprocess={"steps": [{"op": "scale", "factor": 0.1}, {"op": "resize", "size": [4, 4]}, {"op": "layout", "to": "CHW"}]}
        ),
        ("makes samples of shape (1, 4, 4), the model takes (1, 8, 8)",),
    ),
    AdoptCase(
        "A11 a step the device does not know",
        lambda t, c: _with(c, preprocess={"steps": [{"op": "sharpen"}]}),
        ("the preprocessing given to adopt", "steps[0].op must be one of"),
    ),
    AdoptCase(
        "A12 resize for data that holds no images",
        lambda t, c: _with(c, data="synthetic:1,8,8:10", preprocess={"resize": "nearest"}),
        ("'resize' applies to images",),
    ),
]


def _photos(tmp: Path) -> Path:
    from PIL import Image

    for k, name in enumerate(("cat", "dog")):
        (tmp / "photos" / name).mkdir(parents=True, exist_ok=True)
        for i in range(8):
            Image.fromarray(np.full((8, 8), 40 * k + i, np.uint8)).save(tmp / "photos" / name / f"{i}.png")
    return tmp / "photos"


@pytest.mark.parametrize("case", ADOPT_ERRORS, ids=[c.name for c in ADOPT_ERRORS])
def test_adopt_refuses_bad_input_in_one_line_and_writes_nothing(case, adopted, tmp_path):
    import edgekit as ek
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError) as e:
        ek.adopt(**case.call(tmp_path, adopted), out=tmp_path / "out")
    assert "\n" not in e.value.message and e.value.fix, e.value.message
    for fragment in case.fragments:
        assert fragment in e.value.message, e.value.message
    for path in case.absent:
        assert not (tmp_path / path).exists()


def test_adopted_runs_compress_like_trained_ones(adopted, tmp_path, run_cli):
    from edgekit.contracts import load_manifest

    result = run_cli("compress", adopted["run"].path, "--prune", "0.5", "--finetune", "1", "--out", tmp_path / "pruned")
    assert result.code == 0, result.err
    manifest = load_manifest(tmp_path / "pruned" / "manifest.json")
    assert manifest.stage == "compress" and manifest.parent and manifest.parent.endswith("run")
