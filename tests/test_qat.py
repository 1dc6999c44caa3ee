"""QAT in the quantizer the artifact is made with (issue 24): a run trained with `--qat-for tflite` (LiteRT's PT2E
quantizer) or `--qat-for executorch` (XNNPACK's) ships its trained ranges, parity compares the artifact with the
QAT model itself, and an export that cannot carry them is refused in one line naming the --qat-for choice."""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, compress, export, train

from edgekit.stages.compress import QuantStep


@pytest.fixture(scope="module")
def qat_runs(digits_run, tmp_path_factory):
    """The trained digits run after one epoch of QAT in each quantizer."""
    root = tmp_path_factory.mktemp("qat")
    return {
        name: compress(digits_run, [QuantStep("qat", epochs=1, qat_for=fmt)], root / name)
        for name, fmt in (("litert", "tflite"), ("xnnpack", "executorch"), ("nncf", "onnx"))
    }


def _quantization(run: Path) -> dict:
    return json.loads((run / "model.json").read_text())["quantization"]


def _parity(art: Path) -> dict:
    return json.loads((art / "parity.json").read_text())


def _input_scale(run: Path) -> float:
    """The scale the QAT graph quantizes the model input with: its first quantize op after the input."""
    import torch

    from edgekit.runs import load_run
    from edgekit.stages.compress.pt2e_qat import converted

    graph = converted(load_run(run).model, fold_quantize=False)
    first = next(n for n in graph.graph.nodes if n.op == "call_function" and "quantize_per_tensor" in str(n.target))
    scale = first.args[1]
    return float(scale) if not isinstance(scale, torch.fx.Node) else float(getattr(graph, scale.target))


def test_qat_for_tflite_trains_litert_ranges_and_the_artifact_carries_them(qat_runs, tmp_path):
    run = qat_runs["litert"]
    q = _quantization(run)
    assert (q["tool"], q["quantizer"], q["method"], q["for"], q["epochs"]) == ("pt2e", "pt2e-litert", "qat", "tflite", 1)
    art, deploy = export(run, target="rpi4", out=tmp_path / "tfl")
    parity = _parity(art)
    assert parity["reference"] == "PyTorch int8 (PT2E QAT with pt2e-litert, the run's own)" and parity["passed"]
    assert parity["metrics"]["top1_agreement"] >= 0.995  # the bar: the artifact is the QAT model
    assert "the QAT run's trained ranges" in deploy["toolchain"]["quantizer"]
    assert deploy["calibration"] == q["calibration"]  # nothing re-calibrated at export
    assert q["calibration"]["start"] == "post-training ranges"
    assert q["distilled"] is False  # the labels alone unless asked (measured more accurate: qat_tflite.md)
    # the TFLite input is quantized with the scale QAT trained, not one a new calibration found
    assert deploy["inputs"][0]["quantization"]["scale"] == pytest.approx(_input_scale(run), rel=1e-6)


def test_qat_for_executorch_trains_xnnpack_ranges_and_ships_them(qat_runs, tmp_path):
    run = qat_runs["xnnpack"]
    assert _quantization(run)["quantizer"] == "pt2e-xnnpack"
    art, deploy = export(run, target="rpi5", fmt="executorch", out=tmp_path / "pte")
    parity = _parity(art)
    assert parity["reference"] == "PyTorch int8 (PT2E QAT with pt2e-xnnpack, the run's own)"
    assert parity["metrics"]["top1_agreement"] >= 0.995
    assert "the QAT run's trained ranges" in deploy["toolchain"]["quantizer"]


@pytest.mark.parametrize("name", ["litert", "xnnpack"])
def test_the_frozen_qat_graph_computes_exactly_the_int8_graph_export_converts(qat_runs, name):
    """Parity's reference for a QAT run is the QAT model itself: frozen, it must be the graph convert_pt2e makes of it.
    Training's fused fake-quantize op scales symmetric weights over 255 levels, convert_pt2e over 254: without the
    frozen forward the weights round a step apart (mobilenetv1-025: 98.89% agreement between the two, benchmarks/results/int8_references.md)."""
    import torch

    from edgekit.data import Splits, load_run_data
    from edgekit.nn.evaluate import predict
    from edgekit.runs import load_run
    from edgekit.stages.compress.pt2e_qat import converted

    run = load_run(qat_runs[name])
    qat = run.model
    x = Splits.of(load_run_data(run.spec), run.spec.normalization).x["test"][:64]
    frozen = predict(qat, x)
    with torch.no_grad():
        shipped = converted(qat)(torch.from_numpy(x)).numpy()
    assert float(np.abs(frozen - shipped).max()) <= 1e-5 and frozen.std() > 0.1
    qat.train()  # training again: the fused op (observers on) is back, and freezing once more gives the same answer
    qat.eval()
    assert np.array_equal(predict(qat, x), frozen)


@pytest.mark.parametrize("quantizer", ["pt2e-litert", "pt2e-xnnpack"])
def test_qat_starts_from_exactly_the_int8_graph_a_post_training_export_makes(digits_run, quantizer):
    """QAT keeps its start when no epoch beats it on validation: that start must be the post-training artifact, scale
    for scale (histogram ranges, not the per-batch min/max QAT's observers would find: MobileNetV2, MobileNetV3 and
    EfficientNet-Lite lost accuracy to the post-training artifact from that start, benchmarks/results/qat_tflite.md)."""
    import copy

    import torch

    from edgekit.data import Splits, load_run_data
    from edgekit.data.calibration import calibration_samples
    from edgekit.formats.convert.pt2e import QUANTIZERS, calibrated, outputs, pt2e_quantize
    from edgekit.nn.fold import fold_batchnorm
    from edgekit.runs import load_run
    from edgekit.stages.compress.pt2e_qat import _pairs, hardswish_form, initialize_ranges, prepare

    run = load_run(digits_run)
    splits = Splits.of(load_run_data(run.spec), run.spec.normalization)
    calibration = calibration_samples(splits.x["train"], 300, seed=run.spec.dataset.seed)
    model = copy.deepcopy(run.model).eval()
    fold_batchnorm(model)
    qat = prepare(model, quantizer, run.spec.input_shape, hardswish=hardswish_form(quantizer, None))
    ptq, _, _ = calibrated(qat._float, calibration, torch.from_numpy(calibration[:1]), QUANTIZERS[quantizer](), 0, progress=False)
    pairs = _pairs(ptq, qat.graph)
    assert pairs and len(pairs) >= 8
    assert initialize_ranges(qat, calibration) == "post-training ranges"
    for observer, fq in pairs:  # the same bits: a scale one float32 unit off rounds some values a step apart
        (s1, z1), (s2, z2) = observer.calculate_qparams(), fq.calculate_qparams()
        assert torch.equal(s1, s2) and torch.equal(z1.long(), z2.long())
    graph, batch, _ = pt2e_quantize(qat._float, calibration, torch.from_numpy(calibration[:1]), QUANTIZERS[quantizer](), 0, progress=False)
    x = splits.x["test"][:64]
    with torch.no_grad():  # the graph itself: PTQ's reference graph adds float biases, the frozen QAT model int32 ones
        start = qat.graph(torch.from_numpy(x)).numpy()
    assert float(np.abs(start - outputs(graph, x, batch)).max()) <= 1e-5 and start.std() > 0.1


def test_qat_starts_from_post_training_where_an_op_has_a_fixed_range():
    """A softmax's int8 output has a fixed 1/256 scale in both graphs: nothing to copy there, the rest still is (a
    detector's head made QAT fail with 'FixedQParamsObserver has no min_val')."""
    import torch
    import torch.nn as nn

    from edgekit.formats.convert.pt2e import QUANTIZERS, outputs, pt2e_quantize
    from edgekit.stages.compress.pt2e_qat import initialize_ranges, prepare

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5), nn.Softmax(dim=1)).eval()
    calibration = np.random.default_rng(0).normal(size=(64, 3, 8, 8)).astype(np.float32)
    qat = prepare(model, "pt2e-litert", (3, 8, 8), hardswish="written out")
    assert initialize_ranges(qat, calibration) == "post-training ranges"
    graph, batch, _ = pt2e_quantize(
        qat._float, calibration, torch.from_numpy(calibration[:1]), QUANTIZERS["pt2e-litert"](), 0, progress=False
    )
    x = calibration[:16]
    with torch.no_grad():  # the graph itself (float biases, as the post-training reference graph adds them)
        start = qat.graph(torch.from_numpy(x)).numpy()
    assert float(np.abs(start - outputs(graph, x, batch)).max()) <= 1e-6 and start.std() > 0.01


def test_the_frozen_qat_model_adds_biases_on_the_int32_grid_as_int8_runtimes_do(qat_runs):
    """TFLite, XNNPACK and onnxruntime add a convolution's bias as int32 in units of input x weight scale; PyTorch's
    reference int8 graph adds it in float. Frozen, the QAT model adds it as the runtimes do (mobilenetv1-025's TFLite
    artifact went from 99.26% to 100% agreement with it), while its parameters keep their float values."""
    import torch

    from edgekit.data import Splits, load_run_data
    from edgekit.nn.evaluate import predict
    from edgekit.runs import load_run
    from edgekit.stages.compress.pt2e_qat import bias_grid

    run = load_run(qat_runs["litert"])
    qat = run.model
    grid = list(bias_grid(qat.graph))
    assert len(grid) >= 3 and any(not torch.equal(b, r) for b, r in grid)
    floats = [b.detach().clone() for b, _ in grid]
    x = Splits.of(load_run_data(run.spec), run.spec.normalization).x["test"][:64]
    frozen = predict(qat, x)
    assert all(torch.equal(b, f) for (b, _), f in zip(grid, floats))  # untouched after the forward
    with torch.no_grad():
        plain = qat.graph(torch.from_numpy(x)).numpy()  # the graph alone: float biases
        for bias, rounded in grid:
            bias.data = rounded
        on_grid = qat.graph(torch.from_numpy(x)).numpy()
        for (bias, _), f in zip(grid, floats):
            bias.data = f
    assert np.array_equal(frozen, on_grid) and not np.array_equal(frozen, plain)


def test_a_qat_run_reloads_to_the_same_model_and_exports_fp32_from_its_float_weights(qat_runs, tmp_path):
    from edgekit.data import Splits, load_run_data
    from edgekit.nn.evaluate import predict
    from edgekit.runs import load_run

    run = qat_runs["litert"]
    first, again = load_run(run), load_run(run)
    x = Splits.of(load_run_data(first.spec), first.spec.normalization).x["test"]
    assert np.array_equal(predict(first.model, x), predict(again.model, x))
    labels = Splits.of(load_run_data(first.spec), first.spec.normalization).y["test"]
    accuracy = float((predict(first.model, x).argmax(1) == labels).mean())
    assert accuracy == pytest.approx(json.loads((run / "metrics.json").read_text())["test"]["accuracy"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cost"]["macs"] > 0  # the QAT graph's float structure is counted, not an empty graph
    art, deploy = export(run, target="rpi4", precision="fp32", out=tmp_path / "fp32")
    assert deploy["artifact"]["precision"] == "fp32" and _parity(art)["passed"]


def test_the_qat_target_defaults_to_the_targets_preferred_format():
    from edgekit.stages.pipeline import load_pipeline

    assert QuantStep("qat").qat_for == "onnx" and QuantStep("qat").quantizer == "nncf"  # x86-64's, the export's default
    assert QuantStep("qat", target="rpi4").quantizer == "pt2e-litert"
    assert QuantStep("qat", target="jetson-orin-nano").qat_for == "onnx"  # TensorRT calibrates on the device
    step = load_pipeline(None).steps[-1]  # the README's main job: QAT for its rpi4 TFLite artifact
    assert (step.method, step.qat_for, step.quantizer) == ("qat", "tflite", "pt2e-litert")


# ---------------------------------------------------------------- refusals: one line, naming the choice


def _with_quantizer(tmp: Path, run: Path, value: str, key: str = "quantizer") -> Path:
    copy = tmp / "run"
    shutil.copytree(run, copy)
    spec = json.loads((copy / "model.json").read_text())
    spec["quantization"][key] = value
    (copy / "model.json").write_text(json.dumps(spec))
    return copy


def _recipe(tmp: Path, text: str) -> Path:
    (tmp / "r.toml").write_text(text)
    return tmp / "r.toml"


CASES = [
    (
        "Q1 a TFLite QAT run exported to ONNX",
        lambda t, r, d: ["export", r["litert"], "--target", "x86-64", "--format", "onnx", "--precision", "int8"],
        ("pt2e-litert", "--qat-for onnx"),
    ),
    (
        "Q2 a TFLite QAT run exported to ExecuTorch",
        lambda t, r, d: ["export", r["litert"], "--target", "rpi5", "--format", "executorch"],
        ("export --format tflite", "--qat-for executorch"),
    ),
    (
        "Q3 an NNCF QAT run exported to TFLite",
        lambda t, r, d: ["export", r["nncf"], "--target", "rpi4"],
        ("trained nncf's int8 ranges", "--qat-for tflite"),
    ),
    ("Q4 --qat-for a format with no trainable int8", lambda t, r, d: ["compress", d, "--qat", "--qat-for", "ncnn"], ("ncnn",)),
    ("Q5 --qat-for an unknown format", lambda t, r, d: ["compress", d, "--qat", "--for", "nope"], ("unknown format 'nope'",)),
    ("Q6 --qat-for without --qat", lambda t, r, d: ["compress", d, "--ptq", "--qat-for", "tflite"], ("--qat-for",)),
    (
        "Q7 a recipe's qat_for naming an unknown format",
        lambda t, r, d: ["compress", d, "--recipe", _recipe(t, '[[step]]\nkind = "qat"\nqat_for = "nope"\n')],
        ("step 1 (qat)", "unknown format 'nope'"),
    ),
    (
        "Q8 model.json naming a quantizer edgekit does not know",
        lambda t, r, d: ["export", _with_quantizer(t, r["litert"], "os.system"), "--target", "rpi4"],
        ("quantization.quantizer",),
    ),
    (
        "Q10 model.json naming a hard-swish form edgekit does not know",
        lambda t, r, d: ["export", _with_quantizer(t, r["litert"], "os.system", key="hardswish"), "--target", "rpi4"],
        ("quantization.hardswish", "re-create the run folder"),
    ),
    ("Q11 --ptq --distill-from-parent", lambda t, r, d: ["compress", d, "--ptq", "--distill-from-parent"], ("nothing to distil", "--qat")),
    (
        "Q9 a pipeline exporting a QAT stage to a format its quantizer cannot reach",
        lambda t, r, d: [
            "pipeline",
            _recipe(
                t,
                'name = "p"\n[train]\nmodel = "digits-cnn"\ndataset = "digits"\n[[compress]]\nname = "q"\nkind = "qat"\n[export]\ntarget = "rpi4"\nformats = ["tflite", "onnx"]\n',
            ),
        ],
        ("[[compress]] q", "onnx int8 is made by nncf", "set qat_for"),
    ),
]


@pytest.mark.parametrize("name, make, fragments", CASES, ids=[c[0] for c in CASES])
def test_an_export_the_trained_quantizer_cannot_reach_is_refused_in_one_line(
    name, make, fragments, qat_runs, digits_run, tmp_path, run_cli
):
    args = [str(a) for a in make(tmp_path, qat_runs, digits_run)]
    if args[0] in ("export", "compress"):
        args += ["--out", str(tmp_path / "out")]
    else:
        args += ["--out", str(tmp_path / "out")]
    result = run_cli(*args)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "out").exists()


def test_qat_distils_from_a_frozen_copy_of_its_float_start_when_asked(digits_run, tmp_path, run_cli):
    import torch

    from edgekit.runs import load_run

    run = load_run(digits_run)
    state = types.SimpleNamespace(model=run.model, spec=run.spec)
    teacher = QuantStep("qat", epochs=1, distill_from_parent=True)._teacher(state)
    assert teacher is not run.model and not teacher.training
    x = torch.randn(4, *run.spec.input_shape)
    torch.testing.assert_close(teacher(x), run.model.eval()(x), rtol=0, atol=0)
    assert QuantStep("qat", epochs=1)._teacher(state) is None
    assert QuantStep("ptq")._teacher(state) is None
    out = tmp_path / "distilled"
    result = run_cli(
        "compress", str(digits_run), "--qat", "--qat-for", "tflite", "--epochs", "1", "--distill-from-parent", "--out", str(out)
    )
    assert result.code == 0, result.err
    assert _quantization(out)["distilled"] is True


def _hardswish_ops(path: Path) -> list[int]:
    from ai_edge_litert.interpreter import Interpreter

    return [op["index"] for op in Interpreter(str(path))._get_ops_details() if op["op_name"] == "HARD_SWISH"]


@pytest.mark.slow
def test_litert_hardswish_is_written_out_for_x86_and_kept_as_the_op_for_boards(tmp_path):
    """On x86-64 LiteRT's int8 HARD_SWISH runs in a scalar kernel between XNNPACK partitions (LCNet 5.8x slower than
    written out); on ARM its NEON kernel takes fewer instructions than the ops written out (benchmarks/results/
    hardswish_forms.md). Post-training export and QAT both follow the target; a QAT run records its form, and a run
    recorded before the key existed holds the op."""
    from edgekit.runs import load_run
    from edgekit.stages.compress.pt2e_qat import runtime_hardswish

    parent = train("lcnet", "digits", input_shape=(3, 32, 32), epochs=3, out=tmp_path / "parent")
    for target, has_op in (("x86-64", False), ("rpi4", True)):
        _, deploy = export(parent, target=target, fmt="tflite", precision="int8", min_agreement=0.0, out=tmp_path / f"ptq-{target}")
        assert ("HARD_SWISH" in deploy["extras"]["ops"]) == has_op, target

    written = compress(parent, [QuantStep("qat", epochs=1, qat_for="tflite", target="x86-64")], tmp_path / "written")
    assert _quantization(written)["hardswish"] == "written out"
    out, deploy = export(written, target="x86-64", fmt="tflite", precision="int8", out=tmp_path / "a")
    assert "HARD_SWISH" not in deploy["extras"]["ops"] and {"ADD", "MUL"} <= set(deploy["extras"]["ops"])
    parity = _parity(out)  # ADD and MUL are exact in LiteRT: the artifact is the QAT model
    assert "the run's own" in parity["reference"] and parity["metrics"]["top1_agreement"] >= 0.995, parity

    board = compress(parent, [QuantStep("qat", epochs=1, qat_for="tflite")], tmp_path / "board")  # no target: a board's
    spec = json.loads((board / "model.json").read_text())
    assert spec["quantization"]["hardswish"] == "op"
    del spec["quantization"]["hardswish"]  # as a run folder written before the key
    (board / "model.json").write_text(json.dumps(spec))
    assert any(type(m).__name__ == "Hardswish" for m in load_run(board).model._float.modules())
    # LiteRT computes the op a step off exact rounding on a few values: the frozen QAT model computes it by LiteRT's
    # own table (formats/convert/litert_hardswish.py), one per HARD_SWISH the artifact runs
    qat = load_run(board).model
    out, deploy = export(board, target="rpi4", fmt="tflite", precision="int8", out=tmp_path / "b")
    parity = _parity(out)
    assert "HARD_SWISH" in deploy["extras"]["ops"] and "the run's own" in parity["reference"]
    assert parity["metrics"]["top1_agreement"] >= 0.995, parity
    with runtime_hardswish(qat):
        swapped = [n for n in qat.graph.graph.nodes if n.op == "call_function" and getattr(n.target, "__name__", "") == "litert_hardswish"]
    assert len(swapped) == len(_hardswish_ops(out / "model.tflite")) > 0
    assert not any(getattr(n.target, "__name__", "") == "litert_hardswish" for n in qat.graph.graph.nodes)  # restored after
