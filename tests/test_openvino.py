"""OpenVINO as a format and runtime (issue 24 item 5): fp32 / fp16 / int8 (NNCF) IR, parity in OpenVINO's CPU plugin
through the device adapter, tensors named and ordered as the ONNX export names them, f32 arithmetic unless fp16 is
asked for, int8 that keeps its first layers float when full int8 misses the floor, no usage report to Intel, and the
same answers under an emulated Raspberry Pi 5 (OpenVINO's ARM CPU plugin on a Cortex-A76)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, emulated_board, export, train, unavailable


@pytest.fixture(autouse=True)
def _needs_openvino():
    if importlib.util.find_spec("openvino") is None:
        unavailable("needs OpenVINO: pip install 'edgekit[openvino]'")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A cheap trained run (synthetic 8x8 images, 3 classes): runtime and PyTorch are compared, not quality."""
    if importlib.util.find_spec("openvino") is None:
        unavailable("needs OpenVINO: pip install 'edgekit[openvino]'")
    return train("digits-cnn", "synthetic:1,8,8:3:200", out=tmp_path_factory.mktemp("ov") / "run", epochs=2)


# ---------------------------------------------------------------- exports: one row per precision and switch


def _ops(folder: Path) -> set[str]:
    import openvino as ov

    return {op.get_type_name() for op in ov.Core().read_model(str(folder / "model.xml")).get_ops()}


def _fp32(folder, deploy, fp32_bin):
    assert deploy["parity"]["metrics"]["max_abs_diff"] <= 1e-5 and deploy["parity"]["metrics"]["top1_agreement"] == 1.0
    assert deploy["toolchain"]["quantizer"] is None and "FakeQuantize" not in _ops(folder)


def _fp16(folder, deploy, fp32_bin):
    assert deploy["runtime"]["options"] == {"fp16_arithmetic": False}
    assert "f32 inference" in deploy["parity"]["runtime"]  # fp16 weights, f32 arithmetic
    assert deploy["toolchain"]["quantizer"].endswith("fp16 arithmetic off")
    assert (folder / "model.bin").stat().st_size <= 0.55 * fp32_bin  # the weights are stored in half precision


def _fp16_arithmetic(folder, deploy, fp32_bin):
    assert deploy["runtime"]["options"] == {"fp16_arithmetic": True}
    assert deploy["toolchain"]["quantizer"].endswith("fp16 arithmetic on")
    # which precision OpenVINO really chose on this CPU is named (f16 where the CPU has it, else f32)
    assert "f16 inference" in deploy["parity"]["runtime"] or "f32 inference" in deploy["parity"]["runtime"]


def _int8(folder, deploy, fp32_bin):
    assert deploy["toolchain"]["quantizer"].startswith("nncf ") and "OpenVINO backend" in deploy["toolchain"]["quantizer"]
    assert "FakeQuantize" in _ops(folder) and deploy["calibration"]["split"] == "train"
    assert deploy["parity"]["passed"] and deploy["parity"]["reference"] == "PyTorch fp32"


# small_run is a 2-epoch, 60%-accurate model judged on 30 test samples, some at near-ties: one flip is 96.7%. Its int8
# with full-range weights sat closer to fp32 than with the first layer halved (logits MSE 3.5e-5 vs 4.2e-5, measured
# once, not recorded) and still flipped one such sample, so its int8 exports allow one.
SMALL_RUN_INT8_FLOOR = 0.95


@dataclass
class Case:
    id: str
    precision: str
    check: Callable
    options: dict = field(default_factory=dict)
    marks: list = field(default_factory=list)
    floor: float | None = None  # --min-agreement


CASES = [
    Case("O1 fp32 parity in OpenVINO, tensors named as the ONNX export", "fp32", _fp32),
    Case("O2 fp16 weights, f32 arithmetic unless asked", "fp16", _fp16),
    Case("O3 fp16 arithmetic when asked, and the precision that ran named", "fp16", _fp16_arithmetic, {"fp16_arithmetic": True}),
    Case("O4 int8 through NNCF's OpenVINO backend", "int8", _int8, marks=[pytest.mark.slow], floor=SMALL_RUN_INT8_FLOOR),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_openvino_exports_each_precision_with_parity_in_its_runtime(case, small_run, ctx, tmp_path):
    fp32_folder = ctx["artifact"]
    folder, deploy = export(
        small_run,
        target="x86-64",
        fmt="openvino",
        precision=case.precision,
        out=tmp_path / "art",
        runtime_options=case.options,
        min_agreement=case.floor,
    )
    assert deploy["artifact"]["files"] == ["model.xml", "model.bin"] and deploy["runtime"]["name"] == "openvino"
    assert deploy["runtime"]["packages"] == ["openvino"] and deploy["parity"]["passed"]
    assert [t["name"] for t in deploy["inputs"]] == ["input"] and [t["name"] for t in deploy["outputs"]] == ["output"]
    assert deploy["inputs"][0]["shape"] == [1, 1, 8, 8] and deploy["outputs"][0]["shape"] == [1, 3]
    case.check(folder, deploy, (fp32_folder / "model.bin").stat().st_size)


@pytest.mark.slow
def test_a_quantized_run_ships_its_own_nncf_ranges(digits_run, tmp_path, run_cli):
    """O5: a PTQ/QAT run's NNCF model is converted as it is (its ranges are what ships), judged against itself. The
    trained digits run: the 2-epoch small run's logits are near ties, where one rounding flips a class."""
    result = run_cli("compress", digits_run, "--ptq", "--calib", "64", "--force-calib", "--out", tmp_path / "ptq")
    assert result.code == 0, result.err
    folder, deploy = export(tmp_path / "ptq", target="x86-64", fmt="openvino", precision="int8", out=tmp_path / "art")
    assert deploy["parity"]["reference"] == "PyTorch int8 (NNCF, the run's own)" and deploy["parity"]["passed"]
    assert "in the run" in deploy["toolchain"]["quantizer"] and "FakeQuantize" in _ops(folder)
    assert deploy["parity"]["metrics"]["top1_agreement"] >= 0.98


# ---------------------------------------------------------------- named outputs through the adapter


def test_dict_outputs_keep_their_names_and_order_through_the_adapter(tmp_path):
    """O6: a model returning {"logits", "mask"} of different shapes: the IR names them so, the adapter reads them by
    name in the model's order, and each matches PyTorch."""
    import torch
    import torch.nn as nn

    from edgekit.device import runtimes
    from edgekit.formats.openvino import convert, import_openvino

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            h = torch.relu(self.conv(x))
            return {"logits": self.fc(h.flatten(1)), "mask": torch.sigmoid(2.0 * h[:, :2])}

    torch.manual_seed(0)
    model = TwoHeads().eval()
    import_openvino().save_model(convert(model, [1, 8, 8]), str(tmp_path / "model.xml"), compress_to_fp16=False)
    adapter = runtimes.open_artifact(tmp_path, {"runtime": {"name": "openvino"}, "artifact": {"files": ["model.xml", "model.bin"]}})
    assert [t["name"] for t in adapter.inputs] == ["input"]
    assert [(t["name"], t["shape"], t["dtype"]) for t in adapter.outputs] == [
        ("logits", [1, 3], "float32"),
        ("mask", [1, 2, 8, 8], "float32"),
    ]
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x))
    for i in range(len(x)):
        got = adapter.infer({"input": x[i : i + 1]})
        assert list(got) == ["logits", "mask"]
        for name in got:
            assert float(np.abs(got[name] - reference[name][i : i + 1].numpy()).max()) < 1e-5, name


# ---------------------------------------------------------------- the float fallback


@pytest.mark.slow
def test_int8_that_misses_the_floor_keeps_its_most_sensitive_layer_float(tmp_path):
    """O7: rare huge values in the input (a sensor's spikes) stretch the input's one int8 scale until the signal rounds
    to zero; full int8 then misses the floor on the validation split, and the sensitivity ranking leaves the first
    layer float, which restores it (NNCF's ignored scope, judged by real OpenVINO outputs)."""
    import torch
    import torch.nn as nn

    from edgekit.formats.convert.mixed import Validation
    from edgekit.formats.convert.weight_range import WeightRange
    from edgekit.formats.openvino import _run, compute_layers, convert, module_path, with_fallback

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)).eval()  # the conv: 47% of MACs
    with torch.no_grad():
        model[0].weight.mul_(200.0)  # the signal is ~0.01: the tanh sees it at a useful size
    rng = np.random.default_rng(0)
    x_val = (0.01 * rng.standard_normal((64, 1, 8, 8))).astype(np.float32)
    calibration = (0.01 * rng.standard_normal((64, 1, 8, 8))).astype(np.float32)
    calibration[::8, 0, 0, 0] = 1000.0  # spikes in the calibration samples
    with torch.no_grad():
        ref = model(torch.from_numpy(x_val)).numpy().argmax(1)

    def judge(out) -> dict:  # OpenVINO's outputs by name, or the simulation's one array
        logits = next(iter(out.values())) if isinstance(out, dict) else out
        agreement = float((logits.argmax(1) == ref).mean())
        return {"passed": agreement >= 0.98, "rule": f"agreement {agreement:.1%} (floor 98%)"}

    said = []
    ov_model = convert(model, [1, 8, 8])
    names = [n for n, _ in compute_layers(ov_model)]
    assert [module_path(n) for n in names] == ["0", "3"]  # the ops name the modules they came from
    quantized, info = with_fallback(
        ov_model, model, calibration, Validation(x_val, judge), weights=WeightRange("every", "test"), progress=False, say=said.append
    )
    # full int8 missed (the first try); the conv alone in float passed
    assert info.ranking == "sensitivity" and info.names == ["0"] and 0 < info.macs_in_float < 1, info
    assert info.verdicts[0].startswith("full int8") and not judge(_run(nncf_full(ov_model, calibration), x_val))["passed"]
    assert judge(_run(quantized, x_val))["passed"]


def nncf_full(ov_model, calibration):
    from edgekit.formats.convert.weight_range import WeightRange
    from edgekit.formats.openvino import nncf_int8

    return nncf_int8(ov_model, calibration, [], weights=WeightRange("every", "test"), progress=False)


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


@dataclass
class Bad:
    id: str
    args: Callable[[Path, dict], list]  # (tmp folder, shared fixtures) → edgekit arguments
    fragments: tuple[str, ...]
    absent: tuple[str, ...] = ("out",)


def _ov_export(*extra: str):
    return lambda tmp, ctx: ["export", ctx["run"], "--format", "openvino", "--out", tmp / "out", *extra]


def _tampered(tmp: Path, ctx: dict) -> list:
    import shutil

    shutil.copytree(ctx["artifact"], tmp / "art")
    xml = tmp / "art" / "model.xml"
    xml.write_text(xml.read_text().replace("<net name=", "<net version_note='changed' name=", 1))
    return ["bench", tmp / "art", "--min-queries", "5", "--min-seconds", "0", "--report", tmp / "out" / "r.html"]


BAD = [
    Bad(
        "O8 an fp16 switch that is not a boolean",
        _ov_export("--target", "x86-64", "--precision", "fp16", "--runtime-option", "fp16_arithmetic=7"),
        ("runtime option fp16_arithmetic must be bool, got 7", "fp16_arithmetic=true"),
    ),
    Bad(
        "O9 a runtime option OpenVINO does not have",
        _ov_export("--target", "x86-64", "--runtime-option", "threads=2"),
        ("the openvino format has no runtime option 'threads'", "its options: fp16_arithmetic"),
    ),
    Bad(
        "O10 a dynamic batch axis",
        _ov_export("--target", "x86-64", "--dynamic-batch"),
        ("dynamic batch axis is not available for openvino",),
    ),
    Bad("O11 a board that does not run OpenVINO", _ov_export("--target", "rpi4"), ("rpi4 does not run openvino (openvino)", "--target")),
    Bad("O12 a received IR changed after export", _tampered, ("model.xml missing or not matching the sha256 in deploy.json",)),
]


@pytest.fixture(scope="module")
def ctx(small_run, tmp_path_factory):
    folder, _ = export(small_run, target="x86-64", fmt="openvino", precision="fp32", out=tmp_path_factory.mktemp("ovctx") / "art")
    return {"run": small_run, "artifact": folder}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BAD])
def test_bad_openvino_input_is_one_line(case, ctx, tmp_path, run_cli):
    result = run_cli(*case.args(tmp_path, ctx))
    assert_one_line_error(result, *case.fragments)
    for rel in case.absent:
        assert not (tmp_path / rel).exists(), rel


# ---------------------------------------------------------------- no usage report to Intel


PROBES = {
    "O13 the device adapter's import": "from edgekit.device.runtimes.openvino import _core; _core()",
    "O14 a conversion": "import torch; from edgekit.formats.openvino import convert; convert(torch.nn.Linear(4, 2), [4])",
    "O15 importing NNCF, which imports OpenVINO": "from edgekit.stages.compress.nncf_env import import_nncf; import_nncf()",
}


@pytest.mark.slow
@pytest.mark.parametrize("code", [pytest.param(code, id=name) for name, code in PROBES.items()])
def test_openvino_reports_nothing_to_intel(code, tmp_path):
    """OpenVINO's first import in a process, and each conversion, write a client id and counters under ~/intel and
    send events unless the process runs in CI: a fresh process with a private HOME (and no CI variable, which would
    decline on its own) must leave none."""
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"HOME": str(tmp_path), "EDGEKIT_NNCF_KERNELS": "native"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert not (tmp_path / "intel").exists(), sorted(str(q) for q in (tmp_path / "intel").rglob("*"))
    assert "CI" not in env  # the probe itself ran without it


# ---------------------------------------------------------------- the ARM CPU plugin, under an emulated Pi 5


@pytest.fixture(scope="module")
def rpi5_with_openvino():
    return emulated_board("rpi5", "openvino")


@pytest.mark.slow
def test_openvino_under_emulated_rpi5_keeps_the_x86_answers(rpi5_with_openvino, small_run, tmp_path, run_cli):
    """O16: the Pi 5's Cortex-A76 has fp16 arithmetic, which OpenVINO's ARM plugin uses by default: fp32 and fp16
    artifacts must run in f32 there (same answers as on x86) unless fp16 arithmetic is asked for, which then does run
    in f16; int8 keeps the agreement export proved."""
    rows = [("fp32", {}), ("fp16", {}), ("fp16", {"fp16_arithmetic": True}), ("int8", {})]
    arts = [
        export(
            small_run,
            target="rpi5",
            fmt="openvino",
            precision=p,
            runtime_options=o,
            out=tmp_path / f"a{i}",
            min_agreement=SMALL_RUN_INT8_FLOOR if p == "int8" else None,
        )[0]
        for i, (p, o) in enumerate(rows)
    ]
    result = run_cli(
        "bench",
        *arts,
        "--min-queries",
        "10",
        "--min-seconds",
        "0",
        "--warmup",
        "2",
        "--device",
        "emu:rpi5",
        "--report",
        tmp_path / "r.html",
    )
    assert result.code in (0, 1), result.err  # 1: a budget missed (the small run's accuracy), not a failure to run
    entries = json.loads((tmp_path / "r.json").read_text())["entries"]
    ran = []
    for e in entries:
        res = e["result"]
        assert e["status"] == "ok" and res["env"]["cpu_core"] == "Cortex-A76" and res["env"]["machine"] == "aarch64", res
        ran.append(res["env"]["runtime_version"].rsplit("(CPU, ", 1)[1])
        if e["precision"] == "fp32":
            assert res["quality"]["agreement"] == 1.0 and res["quality"]["max_abs_diff"] <= 1e-4, res["quality"]
        else:
            assert res["quality"]["agreement"] >= e["export_parity"]["metrics"]["top1_agreement"] - 0.01, res["quality"]
    assert ran == ["f32 inference)", "f32 inference)", "f16 inference)", "f32 inference)"], ran
