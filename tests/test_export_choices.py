"""Export's choices that depend on the target and the model: the x86 int8 scheme by ISA, the degenerate-model
guard, full-int8 TFLite for common constructs, standard int8 ONNX for concat-sharing models."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from conftest import assert_one_line_error, export, train


def _x86_board(tmp_path, isa: list[str]):
    from edgekit.util.resources import data_dir

    text = (data_dir("targets") / "x86-64.toml").read_text().replace('isa = ["host"]', f"isa = {json.dumps(isa)}")
    path = tmp_path / f"x86-{'-'.join(isa)}.toml"
    path.write_text(
        text.replace('name = "x86-64"', f'name = "x86-{"-".join(isa)}"').replace('aliases = ["x86", "host", "local"]', "aliases = []")
    )
    return path


@pytest.mark.slow
def test_x86_without_vnni_gets_fp32_by_default_and_per_tensor_int8_when_asked(digits_run, tmp_path):
    avx2 = _x86_board(tmp_path, ["avx2", "fma"])
    _, auto = export(digits_run, target=str(avx2), out=tmp_path / "auto")
    assert auto["artifact"]["precision"] == "fp32" and any("without VNNI" in r for r in auto["extras"]["reasons"])
    _, int8 = export(digits_run, target=str(avx2), precision="int8", out=tmp_path / "int8")
    assert int8["extras"]["int8_scheme"]["weights"] == "per-tensor" and int8["calibration"]["weights"] == "per-tensor"
    assert "per-tensor weights" in int8["toolchain"]["quantizer"]


def test_x86_with_vnni_gets_per_channel_int8(digits_run, tmp_path):
    vnni = _x86_board(tmp_path, ["avx2", "avx512_vnni"])
    _, auto = export(digits_run, target=str(vnni), out=tmp_path / "auto")
    assert auto["artifact"]["precision"] == "int8" and auto["extras"]["int8_scheme"]["weights"] == "per-channel"


def test_a_model_that_learned_nothing_is_refused_not_called_equal(tmp_path, run_cli):
    (tmp_path / "dead.py").write_text(
        textwrap.dedent("""
        import torch, torch.nn as nn
        class Dead(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.fc = nn.Linear(64, num_classes)
            def forward(self, x):
                return self.fc(x.flatten(1) * 0.0)   # output independent of the input
    """)
    )
    run = train(f"{tmp_path}/dead.py:Dead", epochs=1, out=tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    assert any("hardly depend on its input" in w for w in metrics["warnings"])
    assert_one_line_error(
        run_cli("export", run, "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "o"),
        "hardly change across inputs",
        "parity check",
    )
    assert not (tmp_path / "o").exists()


def test_logits_that_move_but_always_pick_one_class_are_degenerate():
    """100% top-1 agreement is trivially true for such a model (seen: SqueezeNet after pruning, accuracy 0.100)."""
    from edgekit.stages.export.judge import compare
    from edgekit.tasks.classification import TASK

    def parity(outputs, reference, y):  # export's path: both sides through the device task, then the task's rule
        x = np.zeros((len(y), 1), np.float32)
        c = compare(TASK, {"logits": outputs}, {"logits": reference}, x, y, None, {}, shapes=[(1,)] * len(y), pipeline={})
        return TASK.parity(c, precision="int8", floor=0.98)

    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 4)) + np.array([10.0, 0, 0, 0])  # varied logits, class 0 always wins
    y = np.arange(50) % 4
    res = parity(reference + 0.01, reference, y)
    assert res.rule == "degenerate" and not res.passed and "predicts class 0 for every test input" in res.degenerate
    learned = np.eye(4)[y] * 5 + rng.normal(size=(50, 4))
    assert parity(learned, learned, y).passed


def test_centred_cosine_does_not_call_a_constant_bias_agreement():
    from edgekit.tasks.base import centred_cosine

    rng = np.random.default_rng(0)
    bias = np.array([5.0, -3.0, 1.0])
    ref = bias + rng.normal(0, 1e-3, (50, 3))
    other = bias + rng.normal(0, 1e-3, (50, 3))  # the same constant, unrelated variation
    raw = float((ref * other).sum() / (np.linalg.norm(ref) * np.linalg.norm(other)))
    assert raw > 0.9999 and abs(centred_cosine(other, ref)) < 0.5


@pytest.fixture(scope="module")
def unet_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("unet")
    return train("tiny-unet", "digits", input_shape=(3, 32, 32), epochs=12, out=root / "run")


@pytest.mark.slow
def test_stride2_padding_upsampling_se_hardswish_and_concat_convert_to_full_int8_tflite(unet_run, tmp_path):
    """The user module whose full-int8 TFLite once stopped at tfl.pad: every tensor int8 now, in LiteRT and TFLite Micro."""
    from ai_edge_litert.interpreter import Interpreter

    out, deploy = export(unet_run, target="cortex-m7", out=tmp_path / "m7", min_agreement=0.9)
    it = Interpreter(model_path=str(out / "model.tflite"))
    assert not [t["name"] for t in it.get_tensor_details() if t["dtype"] == np.float32]
    assert {"PAD", "RESIZE_NEAREST_NEIGHBOR", "CONCATENATION", "HARD_SWISH"} <= set(deploy["extras"]["ops"])


@pytest.mark.slow
def test_int8_onnx_of_a_concat_model_is_standard_qdq(unet_run, tmp_path):
    import onnx

    out, deploy = export(unet_run, fmt="onnx", precision="int8", out=tmp_path / "onnx", min_agreement=0.9)
    domains = {n.domain for n in onnx.load(str(out / "model.onnx")).graph.node}
    assert domains <= {"", "ai.onnx"} and "QuantizeLinear" in deploy["extras"]["ops"]
    assert deploy["extras"]["onnxruntime_fusion"]["quantized_kernels"] > 0


def test_folded_int8_weights_get_their_own_zero_point_type():
    """torch.onnx can merge an int8 and a uint8 all-zero zero point into one initializer (MobileViT after QAT):
    the folded int8 weight must not be dequantized with the uint8 one, which onnx.checker rejects."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgekit.formats.convert.onnx_graph import fold_weight_quantization

    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    scale = (np.abs(w).max(1) / 127).astype(np.float32)
    inits = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(scale, "s"),
        numpy_helper.from_array(np.zeros(4, np.int8), "zp_i8"),
        numpy_helper.from_array(np.zeros(4, np.uint8), "zp_u8"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["w", "s", "zp_i8"], ["q"], axis=0),
        helper.make_node("DequantizeLinear", ["q", "s", "zp_u8"], ["wd"], axis=0),
        helper.make_node("MatMul", ["x", "wd"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert fold_weight_quantization(model) == 1
    onnx.checker.check_model(model, full_check=True)
    import onnxruntime as ort

    x = rng.normal(size=(2, 4)).astype(np.float32)
    y = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.abs(y - x @ w).max() < 0.05 and np.abs(y - x @ w).max() > 0  # int8 weights, not the float ones


def _host_sums_in_32_bits() -> bool:
    import platform

    from edgekit.formats.base import VNNI
    from edgekit.targets import host_isa

    return platform.machine() not in ("x86_64", "AMD64") or bool(VNNI & host_isa())


def test_int8_weight_range_follows_the_cpus_that_run_it(tmp_path):
    """NNCF halves the first conv's weights (7 bits) for x86 CPUs without VNNI; where the target's CPU and this machine
    sum int8 products in 32 bits, every layer keeps the full range; where one saturates, the format's guard holds."""
    from edgekit.formats.convert.weight_range import weight_range
    from edgekit.targets import find_target, load_target

    safe = _host_sums_in_32_bits()
    avx2 = load_target(_x86_board(tmp_path, ["avx2", "fma"]))
    assert weight_range(avx2, "openvino").halved == "every"
    assert weight_range(avx2, "onnxruntime").halved == "first"
    for board in ("rpi5", "jetson-orin-nano"):
        chosen = weight_range(find_target(board), "openvino")
        assert chosen.halved == ("none" if safe else "every"), chosen
    unlisted = tmp_path / "x86-unlisted.toml"
    unlisted.write_text(_x86_board(tmp_path, ["avx2"]).read_text().replace('isa = ["avx2"]', "").replace("x86-avx2", "x86-unlisted"))
    chosen = weight_range(load_target(unlisted), "openvino")
    assert chosen.halved == ("first" if safe else "every") and ("lists no ISA" in chosen.reason or not safe)


@pytest.mark.slow
def test_the_first_conv_keeps_the_full_int8_range_on_a_vnni_board(digits_run, tmp_path):
    """The artifacts themselves: OpenVINO's int8 weight constants and ONNX's int8 initializers of the first conv use
    all of -127..127 per channel for a VNNI board; the same export for an AVX2 board holds them in half the range."""
    import onnx
    import openvino as ov
    from onnx import numpy_helper

    def first_conv_peak(folder, fmt) -> int:
        if fmt == "openvino":
            ops = ov.Core().read_model(str(folder / "model.xml")).get_ordered_ops()
            weights = [o.get_data() for o in ops if o.get_type_name() == "Constant" and o.get_element_type().get_type_name() == "i8"]
        else:
            model = onnx.load(str(folder / "model.onnx"))
            inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
            weights = [inits[i] for node in model.graph.node for i in node.input if i in inits and inits[i].dtype == np.int8]
        first = next(w for w in weights if w.ndim == 4)  # the graph's order: the first convolution's weights
        return int(np.abs(first.astype(np.int32)).max())

    vnni, avx2 = _x86_board(tmp_path, ["avx2", "avx512_vnni"]), _x86_board(tmp_path, ["avx2", "fma"])
    safe = _host_sums_in_32_bits()
    for fmt in ("openvino", "onnx"):
        folder, deploy = export(digits_run, target=str(vnni), fmt=fmt, precision="int8", out=tmp_path / f"{fmt}-vnni")
        if fmt == "onnx" and deploy["extras"]["int8_choice"]["chosen"] != "edgekit":
            continue  # onnxruntime's quantize_static won on validation: its per-tensor weights are its own scheme
        assert deploy["extras"]["int8_weight_range"]["halved"] == ("none" if safe else "every" if fmt == "openvino" else "first")
        assert first_conv_peak(folder, fmt) == 127 if safe else first_conv_peak(folder, fmt) <= 64
    folder, deploy = export(digits_run, target=str(avx2), fmt="openvino", precision="int8", out=tmp_path / "ov-avx2")
    assert deploy["extras"]["int8_weight_range"]["halved"] == "every" and first_conv_peak(folder, "openvino") <= 64
    assert "in half the int8 range" in deploy["toolchain"]["quantizer"]
