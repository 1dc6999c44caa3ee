"""The device half is one package (issue 21): every file parses as Python 3.8, imports nothing from edgekit nor torch
at module level and its own modules only by relative imports; the harness ships it as code/edgekit_device/ and a copy
laid out as on the device runs as `python -m edgekit_device`; and a model with two outputs of different shapes and
scales flows through each runtime adapter by name, in the model's order, each output with its own int8 scale."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import export, train

import edgekit.device as device_package
from edgekit.device import runtimes

DEVICE_DIR = Path(device_package.__file__).parent
FILES = sorted(p for p in DEVICE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
# What a runtime adapter (or rawfile, for images) may import inside a function: the runtime itself, never edgekit.
RUNTIME_IMPORTS = {
    "onnxruntime",
    "ai_edge_litert",
    "tflite_runtime",
    "tflite_micro",
    "ncnn",
    "executorch",
    "torch",
    "tensorrt",
    "openvino",
    "PIL",
}
OWN = (
    ({p.stem for p in FILES} | {p.name for p in DEVICE_DIR.rglob("*") if p.is_dir()})
    - {"__init__", "__main__", "__pycache__"}
    - RUNTIME_IMPORTS
)


def _rel(path: Path) -> str:
    return path.relative_to(DEVICE_DIR).as_posix()


def _imports(tree: ast.Module):
    """(node, absolute root module or None for a relative import, at module level?) for every import."""
    top = set()
    for node in tree.body:  # module level: the body itself and what module-level if/try blocks hold
        top.update(id(n) for n in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node, a.name.split(".")[0], id(node) in top
        elif isinstance(node, ast.ImportFrom):
            yield node, (node.module.split(".")[0] if node.level == 0 else None), id(node) in top


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_device_file_is_python_38_numpy_only_relative_imports(path):
    source = path.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    for node, root, module_level in _imports(tree):
        where = f"{_rel(path)}:{node.lineno}"
        assert root != "edgekit", f"{where} imports edgekit: the device has no edgekit"
        assert root not in OWN, f"{where} imports its own module {root!r} absolutely: use a relative import"
        if root is not None and module_level:
            assert root in STDLIB | {"numpy"}, f"{where} imports {root} at module level: stdlib and numpy only"
        elif root is not None:
            assert root in STDLIB | {"numpy"} | RUNTIME_IMPORTS, f"{where} imports {root}, which a device does not have"
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):  # no `try: from . import x / except ImportError: import x` fallbacks
            relative = [n for b in node.body for n in ast.walk(b) if isinstance(n, ast.ImportFrom) and n.level]
            assert not relative, f"{_rel(path)}:{node.lineno}: a relative import inside try: the package has one layout"
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("removeprefix", "removesuffix"), f"{_rel(path)}:{node.lineno}: str.{node.attr} is 3.9+"
    assert len(source.splitlines()) <= 500


def test_package_root_is_a_docstring_and_the_marker_stands_alone():
    """edgekit_device/__init__.py runs first on every import (no work there); marker.py's text is also exec'd on its
    own by the instruction counter (edgekit/emulate/instructions.py GUEST_MARKER_CODE)."""
    root = ast.parse((DEVICE_DIR / "__init__.py").read_text())
    assert len(root.body) == 1 and isinstance(root.body[0], ast.Expr) and isinstance(root.body[0].value, ast.Constant)
    marker = ast.parse((DEVICE_DIR / "marker.py").read_text())
    assert not [n for n in ast.walk(marker) if isinstance(n, ast.ImportFrom)]


def test_one_runtime_table_names_each_adapter_module():
    from edgekit.formats import FORMATS, get_format

    for name, (module, packages) in runtimes.RUNTIMES.items():
        cls = runtimes.adapter_class(name)
        assert issubclass(cls, runtimes.Adapter) and cls.runtime == name and cls.__module__.endswith(f".runtimes.{module}")
        assert packages and runtimes.packages(name) == list(packages)
    assert {get_format(f).runtime for f in FORMATS} <= set(runtimes.RUNTIMES)


@pytest.mark.parametrize("name", ["os", "../evil", "base", "tflite_file", "", None, ["onnxruntime"]])
def test_a_runtime_name_a_file_gives_only_chooses_among_the_table(name):
    """deploy.json is received: its runtime name picks an entry of RUNTIMES, never a module of its own choosing."""
    before = set(sys.modules)
    with pytest.raises(ValueError, match="unknown runtime"):
        runtimes.adapter_class(name)
    assert set(sys.modules) == before


# ---------------------------------------------------------------- the shipped tree runs as on the device


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    root = tmp_path_factory.mktemp("pkg")
    run = train("digits-cnn", "synthetic:1,8,8:3:200", out=root / "run", epochs=1)
    folder, deploy = export(run, target="x86-64", fmt="onnx", precision="fp32", out=root / "onnx")
    return folder, deploy


def _device_copy(tmp_path: Path, folder: Path, inputs=()) -> Path:
    from edgekit.contracts import load_deploy
    from edgekit.stages.bench.harness import DEVICE_FILES, PACKAGE, device_layout
    from edgekit.stages.bench.transports import write_layout

    layout = device_layout(folder, load_deploy(folder / "deploy.json"), list(inputs))
    code = sorted(k for k in layout if k.startswith("code/"))
    assert code == sorted(f"code/{PACKAGE}/{rel}" for rel in DEVICE_FILES) and not any("__pycache__" in k for k in layout)
    assert {_rel(p) for p in FILES} == set(DEVICE_FILES)
    device = tmp_path / "device"
    write_layout(layout, device)
    return device


def _run_on_copy(tmp_path: Path, device: Path, *args) -> dict:
    """python -m edgekit_device in code/, with edgekit, torch and pydantic made unimportable (a board has none)."""
    blocker = tmp_path / "block"
    for name in ("edgekit", "torch", "pydantic", "sklearn"):
        (blocker / name).mkdir(parents=True, exist_ok=True)
        (blocker / name / "__init__.py").write_text("raise ImportError('not on the device')\n")
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit_device", str(device / "data"), *args],
        capture_output=True,
        text=True,
        cwd=device / "code",
        env={"PYTHONPATH": str(blocker), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_shipped_tree_benches_and_predicts_without_edgekit(artifact, tmp_path):
    folder, deploy = artifact
    sample = tmp_path / "sample.npy"
    np.save(sample, np.random.default_rng(0).random((1, 8, 8), dtype=np.float32))
    device = _device_copy(tmp_path, folder, [sample])
    result = _run_on_copy(tmp_path, device, "--min-queries", "5", "--min-seconds", "0", "--warmup", "1")
    assert result["status"] == "ok" and result["eval_samples"] == deploy["eval"]["samples"], result
    assert result["quality"]["agreement"] == 1.0 and result["env"]["runtime_version"].startswith("onnxruntime")
    predicted = _run_on_copy(tmp_path, device, "--inputs", str(device / "inputs"))
    assert predicted["status"] == "ok" and predicted["predictions"][0]["file"] == str(sample), predicted
    assert predicted["predictions"][0]["label"] in deploy["labels"]


def test_deploy_json_lists_the_tensors_the_runtime_runs(artifact):
    folder, deploy = artifact
    assert deploy["format"] == "edgekit.deploy/3" and "input" not in deploy and "output" not in deploy
    adapter = runtimes.open_artifact(folder, deploy)
    assert deploy["inputs"] == adapter.inputs and deploy["outputs"] == adapter.outputs
    assert [t["shape"] for t in deploy["outputs"]] == [[1, 3]]


def test_an_older_deploy_json_is_refused_with_re_export(artifact, tmp_path, run_cli):
    import shutil

    from conftest import assert_one_line_error

    folder, deploy = artifact
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    legacy = {**deploy, "format": "edgekit.deploy/2", "input": deploy["inputs"][0], "output": deploy["outputs"][0]}
    for key in ("inputs", "outputs"):
        legacy.pop(key)
    (old / "deploy.json").write_text(json.dumps(legacy))
    result = run_cli("bench", old, "--min-queries", "1", "--min-seconds", "0")
    assert_one_line_error(result, "is a edgekit.deploy/2 file, this edgekit reads edgekit.deploy/3", "re-export it with `edgekit export`")


# ---------------------------------------------------------------- many tensors through every runtime


@dataclass
class Case:
    id: str
    fmt: str
    precision: str
    names: tuple[str, ...]  # the runtime's names of the two outputs, in the model's order
    target: str = "x86-64"
    marks: list = field(default_factory=list)


CASES = [
    Case("onnx fp32", "onnx", "fp32", ("output_0", "output_1")),
    Case("onnx int8", "onnx", "int8", ("output_0", "output_1"), marks=[pytest.mark.slow]),
    Case("tflite fp32", "tflite", "fp32", ("output_0", "output_1"), marks=[pytest.mark.slow]),
    Case("tflite full int8 (+ tflite-micro on the same file)", "tflite", "int8", ("output_0", "output_1"), marks=[pytest.mark.slow]),
    Case("ncnn fp32 (blob names from the .param file)", "ncnn", "fp32", ("out0", "out1"), target="rpi5"),
    Case("executorch fp32 (method meta)", "executorch", "fp32", ("output_0", "output_1"), target="rpi5", marks=[pytest.mark.slow]),
]


@pytest.fixture(scope="module")
def two_heads():
    """A model with one input and TWO outputs of different shapes and scales: class logits (1, 3) and a sigmoid map
    (1, 2, 8, 8), as a real Run (untrained: runtime and PyTorch are compared, not quality)."""
    import torch
    import torch.nn as nn

    from edgekit.contracts import Cost, Manifest, Metrics, ModelSpec
    from edgekit.runs import Run

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            h = torch.relu(self.conv(x))
            return self.fc(h.flatten(1)), torch.sigmoid(2.0 * h[:, :2])

    torch.manual_seed(0)
    model = TwoHeads().eval()
    spec = ModelSpec(name="two-heads", source="user", arch="two_heads.py:TwoHeads", input_shape=[1, 8, 8], num_classes=3)
    metrics = Metrics(
        stage="train",
        task="classification",
        quality="accuracy",
        higher_is_better=True,
        test={"accuracy": None},
        cost=Cost(params=0, nonzero_params=0, macs=0, size_bytes=0),
    )
    run = Run(path=None, model=model, spec=spec, metrics=metrics, manifest=Manifest(stage="train", started="2026-12-01T00:00:00"))
    rng = np.random.default_rng(0)
    x = rng.random((12, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        reference = [o.numpy() for o in model(torch.from_numpy(x))]
    return run, rng.random((64, 1, 8, 8), dtype=np.float32), x, reference


def _outputs(adapter, x) -> dict:
    name = adapter.inputs[0]["name"]
    rows = [adapter.infer({name: x[i : i + 1]}) for i in range(len(x))]
    return {t["name"]: np.concatenate([r[t["name"]] for r in rows]) for t in adapter.outputs}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_two_outputs_flow_through_the_runtime_by_name_in_the_models_order(case, two_heads, tmp_path):
    from edgekit.contracts import TensorInfo
    from edgekit.formats import get_format
    from edgekit.formats.base import BuildJob
    from edgekit.targets import find_target

    run, calibration, x, reference = two_heads
    f = get_format(case.fmt)
    job = BuildJob(
        run=run,
        float_model=run.model,
        folder=tmp_path,
        precision=case.precision,
        calibration=calibration if case.precision == "int8" else None,
        samples=x[:4],
        target=find_target(case.target),
        progress=False,
    )
    built = f.build(job)
    deploy_like = {"runtime": {"name": f.runtime, "options": built.runtime_options}, "artifact": {"files": built.files}}
    adapter = runtimes.open_artifact(tmp_path, deploy_like)
    infos = [TensorInfo(**t) for t in adapter.outputs]  # what deploy.json records
    assert tuple(t.name for t in infos) == case.names
    assert [t.shape for t in infos] == [[1, 3], [1, 2, 8, 8]]
    got = _outputs(adapter, x)
    assert list(got) == list(case.names)
    for info, ref in zip(infos, reference):
        diff = float(np.abs(got[info.name] - ref).max())
        if case.precision == "fp32":
            assert diff < 1e-5, (info.name, diff)
        elif info.quantization:  # full int8: each output within a few steps of its own scale, of what it can hold
            q = info.quantization
            held = np.clip(ref, (-128 - q.zero_point) * q.scale, (127 - q.zero_point) * q.scale)  # calibrated range
            diff = float(np.abs(got[info.name] - held).max())
            assert info.dtype == "int8" and diff <= 3 * q.scale, (info.name, diff, q)
        else:  # int8 inside, float at the edges (ONNX QDQ)
            assert diff <= 0.03 * float(ref.max() - ref.min()), (info.name, diff)
    if case.fmt == "tflite" and case.precision == "int8":
        scales = [t.quantization.scale for t in infos]
        assert scales[0] != scales[1], "each output carries its own quantization"
        micro = runtimes.open_artifact(tmp_path, {"runtime": {"name": "tflite-micro"}, "artifact": {"files": built.files}})
        assert micro.outputs == adapter.outputs and micro.inputs == adapter.inputs
        for name, values in _outputs(micro, x).items():
            step = next(t.quantization.scale for t in infos if t.name == name)
            assert float(np.abs(values - got[name]).max()) <= step + 1e-7, name


# ---------------------------------------------------------------- names and order read from the model files


def test_numbered_names_keep_the_models_order():
    from edgekit.device.runtimes.base import numbered

    assert numbered(["output_10", "output_2", "output_0", "output_1"]) == ["output_0", "output_1", "output_2", "output_10"]
    assert numbered(["out1", "out0"]) == ["out0", "out1"]
    assert numbered(["boxes", "scores"]) == ["boxes", "scores"]  # names without numbers keep the file's order


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("7767517\n3 3\nInput in0 0 1 in0\nInnerProduct fc 1 1 in0 out0 0=3\nSigmoid s 1 1 in0 out1\n", None),
        ("7767517\n2 2\nInput in0 0 1 in0\nInnerProduct fc 1 1\n", "does not read as"),
        ("not ncnn\n", "not an ncnn .param file"),
        ("7767517\n1 1\nInput in0 0 1 in0\n", "names no input or no output blob"),
    ],
    ids=["two outputs", "cut layer line", "no magic", "no output"],
)
def test_ncnn_blob_names_come_from_the_param_file(tmp_path, text, fragment):
    from edgekit.device.runtimes.ncnn import blobs

    path = tmp_path / "model.ncnn.param"
    path.write_text(text)
    if fragment is None:
        assert blobs(path) == (["in0"], ["out0", "out1"])
    else:
        with pytest.raises(ValueError, match=fragment) as e:
            blobs(path)
        assert "model.ncnn.param" in str(e.value)


def _vector_bomb() -> bytes:
    """A flatbuffer whose Model.subgraphs vector claims 4 billion entries in a 28-byte file."""
    import struct

    vtable = struct.pack("<HHHHH", 10, 8, 0, 0, 4)  # at 4: fields 0 and 1 absent, field 2 (subgraphs) at +4
    return struct.pack("<I", 16) + vtable + b"\0\0" + struct.pack("<iII", 12, 4, 0xFFFFFFF0)


@pytest.mark.parametrize(
    "data, fragment",
    [(b"\x10\x00\x00\x00TFL3" + b"\xff" * 8, ""), (_vector_bomb(), "runs past the end of the file")],
    ids=["garbage", "vector length bomb"],
)
def test_a_file_that_is_not_a_tflite_model_is_named(tmp_path, data, fragment):
    """A received model file is read as data: a bad one is one line naming it, before anything is sized by it."""
    from edgekit.device.runtimes.tflite_file import io_tensors

    (tmp_path / "model.tflite").write_bytes(data)
    with pytest.raises(ValueError, match=rf"^model\.tflite is not a TFLite model edgekit can read \(.*{fragment}"):
        io_tensors(tmp_path / "model.tflite")
