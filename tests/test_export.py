"""`edgekit export`: every format in its real runtime, parity bars, deploy.json, users' modules, bad input."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from conftest import assert_one_line_error, compress, export, train

from edgekit.device.integrity import sha256


def _parity(folder):
    return json.loads((folder / "parity.json").read_text())


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_fp32_artifacts_match_pytorch_to_1e4(digits_run, tmp_path, fmt):
    out, deploy = export(digits_run, fmt=fmt, precision="fp32", out=tmp_path / fmt)
    p = _parity(out)
    assert p["metrics"]["max_abs_diff"] <= 1e-4 and p["metrics"]["top1_agreement"] == 1.0 and p["samples"] == 270
    assert deploy["artifact"]["sha256"] == {f: sha256(out / f) for f in deploy["artifact"]["files"]}


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_int8_artifacts_of_a_float_run_agree_98_percent(digits_run, tmp_path, fmt):
    out, deploy = export(digits_run, fmt=fmt, precision="int8", out=tmp_path / fmt)
    p = _parity(out)
    assert p["metrics"]["top1_agreement"] >= 0.98 and p["metrics"]["accuracy_drop_points"] <= 1.0
    fp32_bytes = (digits_run / "model.safetensors").stat().st_size
    assert deploy["artifact"]["bytes"] < 0.4 * fp32_bytes
    assert deploy["calibration"]["split"] == "train" and deploy["calibration"]["samples"] == 300


def test_rpi_alias_gives_full_int8_tflite_with_a_complete_deploy_json(digits_run, tmp_path, run_cli):
    result = run_cli("export", digits_run, "--target", "rpi", "--out", tmp_path / "rpi")
    assert result.code == 0, result.err
    for text in ("parity in ai-edge-litert", "top-1 agreement", "PASS", "estimated latency on rpi4", "raw input", "image: scale"):
        assert text in result.out
    d = json.loads((tmp_path / "rpi" / "deploy.json").read_text())
    assert d["target"]["name"] == "rpi4" and d["artifact"]["format"] == "tflite" and d["artifact"]["precision"] == "int8"
    assert d["inputs"][0]["dtype"] == "int8" and d["inputs"][0]["quantization"]["scale"] > 0 and d["outputs"][0]["quantization"]
    assert d["layout"] == "NCHW" and d["preprocess"]["steps"][-1]["op"] == "normalize" and len(d["labels"]) == 10
    assert d["preprocess"]["input"] == {"kind": "image", "channels": "L"} and d["preprocess"]["steps"][0] == {
        "op": "scale",
        "factor": 1 / 16,
    }
    assert d["source"]["lineage"][-1] == digits_run.resolve().name and "/" not in json.dumps(d["source"])  # names, no host paths
    assert d["eval"]["sha256"] == sha256(tmp_path / "rpi" / "eval.npz")
    assert {"torch", "converter", "quantizer"} <= set(d["toolchain"]) and d["estimate"]["estimate_ms"] > 0
    ev = np.load(tmp_path / "rpi" / "eval.npz")
    assert ev["raw"].shape == (270, 8, 8) and ev["raw"].dtype == np.uint8 and ev["raw"].max() == 16  # digits' own 0..16 pixels
    assert ev["reference"].shape == (270, 10)


@pytest.fixture(scope="module")
def qat_run(digits_run, tmp_path_factory):
    from edgekit.stages.compress import PruneStep, QuantStep

    return compress(digits_run, [PruneStep(0.5, finetune=8), QuantStep("qat", epochs=3)], tmp_path_factory.mktemp("qat") / "qat")


def test_an_nncf_qat_run_exports_qdq_onnx_within_half_a_point_and_tflite_is_refused(qat_run, tmp_path):
    torch_acc = json.loads((qat_run / "metrics.json").read_text())["test"]["accuracy"]
    onnx_out, onnx_deploy = export(qat_run, fmt="onnx", out=tmp_path / "onnx")
    ops = onnx_deploy["extras"]["ops"]
    assert onnx_deploy["extras"]["onnxruntime_fusion"]["quantized_kernels"] >= 3  # QLinearConv fused, not float convs
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops and not any("FakeQuantize" in o for o in ops)
    assert onnx_deploy["artifact"]["precision"] == "int8" and _parity(onnx_out)["reference"].startswith("PyTorch int8")
    assert abs(_parity(onnx_out)["metrics"]["accuracy"] - torch_acc) * 100 <= 0.5
    # NNCF's trained ranges cannot reach TFLite (LiteRT's quantizer makes its int8): refused, naming --qat-for
    # (tests/test_qat.py trains LiteRT's own quantizer and ships it).
    from edgekit.errors import EdgekitError

    with pytest.raises(EdgekitError, match="--qat-for tflite"):
        export(qat_run, target="rpi4", out=tmp_path / "tflite")
    assert not (tmp_path / "tflite").exists()


def test_fp16_onnx_and_dynamic_tflite(digits_run, tmp_path):
    out, deploy = export(digits_run, fmt="onnx", precision="fp16", out=tmp_path / "fp16")
    assert deploy["inputs"][0]["dtype"] == "float32" and _parity(out)["metrics"]["top1_agreement"] >= 0.99
    out, deploy = export(digits_run, fmt="tflite", precision="dynamic", out=tmp_path / "dyn")
    assert _parity(out)["passed"]


def test_dynamic_batch_onnx(digits_run, tmp_path):
    import onnxruntime as ort

    out, deploy = export(digits_run, fmt="onnx", precision="fp32", dynamic_batch=True, out=tmp_path / "dyn")
    sess = ort.InferenceSession(str(out / "model.onnx"))
    assert sess.run(None, {"input": np.zeros((5, 1, 8, 8), np.float32)})[0].shape == (5, 10)


def test_microcontroller_export_writes_c_array_and_measured_arena(digits_run, tmp_path):
    from tflite_micro.python.tflite_micro import runtime

    out, deploy = export(digits_run, target="cortex-m4", out=tmp_path / "m4")
    arena = deploy["runtime"]["options"]["arena_bytes"]
    source = (out / "model_data.cc").read_text()
    assert "alignas(16) const unsigned char g_model[]" in source and f"g_model_len = {deploy['artifact']['bytes']}" in source
    assert deploy["artifact"]["files"] == ["model.tflite"] and set(deploy["extras"]["sidecar"]) == {"model_data.cc", "model_data.h"}
    assert "extern const unsigned char g_model[];" in (out / "model_data.h").read_text()
    runtime.Interpreter.from_file(str(out / "model.tflite"), arena_size=arena).invoke()  # the measured arena is enough
    assert _parity(out)["metrics"]["top1_agreement"] >= 0.98


def test_microcontroller_export_fails_when_flash_is_too_small(digits_run, tmp_path, run_cli):
    board = tmp_path / "tiny-board.toml"
    board.write_text(_tiny_board())
    out = tmp_path / "tiny"
    assert_one_line_error(run_cli("export", digits_run, "--target", board, "--out", out), "of flash, tiny-board has 16,384 B", code=2)
    assert not out.exists()


def _tiny_board() -> str:
    from edgekit.util.resources import data_dir

    text = (data_dir("targets") / "cortex-m4.toml").read_text()
    return (
        text.replace('name = "cortex-m4"', 'name = "tiny-board"')
        .replace('aliases = ["m4"]', "aliases = []")
        .replace("flash_kb = 1024", "flash_kb = 16")
    )


def test_edgetpu_export_reports_the_operator_mapping(digits_run, tmp_path):
    out, deploy = export(digits_run, target="coral", out=tmp_path / "coral")
    mapping = deploy["extras"]["edgetpu"]
    assert mapping["fully_mapped"] and "CONV_2D" in mapping["edgetpu"] and "edgetpu_compiler" in mapping["source"]


MODERN_NET = textwrap.dedent("""
    import torch
    import torch.nn as nn

    class SqueezeExcite(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 4, 1), nn.ReLU(), nn.Conv2d(c // 4, c, 1), nn.Hardsigmoid())
        def forward(self, x):
            return x * self.fc(x)

    class ModernNet(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.Hardswish())
            self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16), nn.BatchNorm2d(16), nn.Hardswish())
            self.se = SqueezeExcite(16)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))
        def forward(self, x):
            s = self.stem(x)
            y = self.up(self.se(self.dw(s)))
            return self.head(y + s)  # residual add
""")


@pytest.mark.slow
def test_users_module_with_residual_depthwise_hardswish_se_upsampling_exports(tmp_path):

    (tmp_path / "modern.py").write_text(MODERN_NET)
    # Trained enough for confident logits: int8 top-1 agreement on near-tie logits of an untrained net is noise.
    run = train(f"{tmp_path}/modern.py:ModernNet", out=tmp_path / "run", input_shape=(1, 8, 8), epochs=20)
    # rpi5: one int8 scheme (per-channel) whatever x86 host runs the test (the x86 profile follows the host's VNNI)
    for fmt, precision in (("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "int8"), ("onnx", "int8")):
        out, _ = export(run, target="rpi5", fmt=fmt, precision=precision, out=tmp_path / f"{fmt}-{precision}")
        assert _parity(out)["passed"], (fmt, precision, _parity(out))


def test_target_profiles_validate_and_aliases_resolve(run_cli):
    from edgekit.targets import all_targets, find_target

    names = set(all_targets())
    assert {"rpi4", "rpi5", "jetson-orin-nano", "coral-edgetpu", "cortex-m7", "cortex-m4", "android-arm64", "x86-64"} <= names
    assert find_target("rpi").name == "rpi4" and find_target("pi5").name == "rpi5"
    result = run_cli("targets")
    assert result.code == 0 and "cortex-m4" in result.out and "256 KB" in result.out


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda t: t + "\n[extra]\nx = 1\n", "unknown key 'extra'"),
        (lambda t: t.replace("cores = 4", 'cores = "four"'), "hardware.cores"),
        (lambda t: t.replace("threads = 4\n", ""), "missing key 'runtime.threads'"),
        (lambda t: t.replace('preferred_format = "tflite"', 'preferred_format = "gguf"'), "runtime.preferred_format"),
    ],
)
def test_bad_target_files_name_file_and_key(digits_run, tmp_path, run_cli, edit, fragment):
    from edgekit.util.resources import data_dir

    board = tmp_path / "board.toml"
    board.write_text(edit((data_dir("targets") / "rpi4.toml").read_text()))
    assert_one_line_error(run_cli("export", digits_run, "--target", board, "--out", tmp_path / "o"), "board.toml", fragment)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--target", "pi9"], "unknown target 'pi9'"),
        (["--target", "cortex-m7", "--format", "onnx"], "does not run onnx"),
        (["--target", "coral", "--precision", "fp32"], "full-integer int8 models only"),
        (["--format", "onnx", "--precision", "dynamic"], "no precision 'dynamic'"),
        (["--format", "tflite", "--dynamic-batch"], "dynamic batch axis is not available for tflite"),
        (["--target", "rpi4", "--calib", "5"], "too few"),
    ],
)
def test_export_bad_input(digits_run, tmp_path, run_cli, args, fragment):
    out = tmp_path / "out"
    assert_one_line_error(run_cli("export", digits_run, *args, "--out", out), fragment)
    assert not out.exists()


def test_unknown_target_lists_known_ones(digits_run, tmp_path, run_cli):
    assert_one_line_error(run_cli("export", digits_run, "--target", "nope", "--out", tmp_path / "o"), "rpi4", "cortex-m7")


def test_corrupt_run_folder(digits_run, tmp_path, run_cli):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(digits_run, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    assert_one_line_error(run_cli("export", broken, "--out", tmp_path / "o"), "is corrupt")
    assert not (tmp_path / "o").exists()


def test_an_op_the_target_cannot_run_is_named(tmp_path, run_cli):

    (tmp_path / "g.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn
        class GeluNet(nn.Module):
            def __init__(self, num_classes):
                super().__init__()
                self.fc = nn.Linear(64, num_classes)
            def forward(self, x):
                return self.fc(nn.functional.gelu(x.flatten(1)))
    """)
    )
    run = train(f"{tmp_path}/g.py:GeluNet", out=tmp_path / "run", input_shape=(1, 8, 8), epochs=1)
    assert_one_line_error(run_cli("export", run, "--target", "cortex-m7", "--out", tmp_path / "o"), "op GELU", "TFLite Micro")
    assert not (tmp_path / "o").exists()
