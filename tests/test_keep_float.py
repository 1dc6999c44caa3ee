"""--keep-float: the user names the layers an int8 export keeps in float, in every format that can run float layers
between int8 ones; the artifact really holds them in float, deploy.json says so, and what cannot be kept is a
one-line refusal before any work."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import assert_one_line_error, compress, export
from onnx import numpy_helper

from edgekit.stages.compress.steps import QuantStep

KEEP = ["features.0.0", "classifier"]


def _int8_weights(folder) -> int:
    """Conv / linear weights stored as int8 in an ONNX artifact (a float layer keeps float32 weights)."""
    model = onnx.load(str(folder / "model.onnx"))
    return sum(1 for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8 and numpy_helper.to_array(t).ndim >= 2)


def test_onnx_int8_keeps_the_named_layers_in_float(digits_run, tmp_path):
    full, _ = export(digits_run, fmt="onnx", precision="int8", out=tmp_path / "full")
    kept, deploy = export(digits_run, fmt="onnx", precision="int8", out=tmp_path / "kept", keep_float=KEEP)
    assert _int8_weights(full) - _int8_weights(kept) == len(KEEP)
    layers = deploy["extras"]["float_layers"]
    assert layers["names"] == KEEP and layers["ranking"] == "chosen" and 0 < layers["macs_in_float"] < 1
    assert "as asked" in layers["tries_on_validation"][0] and "(--keep-float)" in deploy["toolchain"]["quantizer"]
    assert deploy["parity"]["passed"]


@pytest.mark.slow
def test_openvino_and_tflite_int8_keep_them_too(digits_run, tmp_path):
    import collections

    import openvino as ov

    def fake_quantize(folder) -> int:
        ops = ov.Core().read_model(str(folder / "model.xml")).get_ops()
        return collections.Counter(o.get_type_name() for o in ops)["FakeQuantize"]

    full, _ = export(digits_run, fmt="openvino", precision="int8", out=tmp_path / "ov-full")
    kept, deploy = export(digits_run, fmt="openvino", precision="int8", out=tmp_path / "ov-kept", keep_float=["features.0.0"])
    assert fake_quantize(kept) < fake_quantize(full)  # no quantized input or weights left for that convolution
    assert deploy["extras"]["float_layers"]["names"] == ["features.0.0"]
    _, deploy = export(digits_run, fmt="tflite", precision="int8", out=tmp_path / "tfl", keep_float="features.0.0,classifier")
    assert deploy["extras"]["float_layers"]["names"] == KEEP and deploy["extras"]["float_layers"]["ranking"] == "chosen"


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--keep-float", "conv9"], ["--keep-float conv9: not a conv or linear layer of digits-cnn", "features.0.0"]),
        (["--precision", "fp32", "--keep-float", "features.0.0"], ["applies to int8 exports, not fp32"]),
        (["--target", "cortex-m7", "--keep-float", "features.0.0"], ["cortex-m7 runs full int8 only"]),
    ],
)
def test_what_cannot_be_kept_float_is_refused_in_one_line(run_cli, digits_run, tmp_path, args, fragments):
    out = tmp_path / "art"
    result = run_cli("export", str(digits_run), "--precision", "int8", *args, "--out", str(out))
    assert_one_line_error(result, *fragments)
    assert not out.exists()


def test_a_quantized_run_ships_its_own_int8_graph_whole(run_cli, digits_run, tmp_path):
    ptq = compress(digits_run, [QuantStep("ptq", calib=64)], tmp_path / "ptq")
    result = run_cli("export", str(ptq), "--format", "onnx", "--keep-float", "features.0.0", "--out", str(tmp_path / "art"))
    assert_one_line_error(result, "this run is quantized", "export the float run it came from")


def test_a_refusal_names_the_layers_int8_hurts_most(digits_run):
    """What an export refused on the test split (after full int8 passed on validation) offers: the ranking's first
    layers, as --keep-float's value, each a conv / linear of the model, and each one lowering the simulated error."""
    from edgekit.data import Splits, load_run_data
    from edgekit.data.calibration import calibration_samples
    from edgekit.runs import load_run
    from edgekit.stages.export.keep_float import SUGGESTED, compute_layers, suggestion
    from edgekit.stages.export.models import float_model

    run = load_run(digits_run)
    splits = Splits.of(load_run_data(run.spec, None), run.spec.normalization)
    model = float_model(run)
    hint = suggestion(model, calibration_samples(splits.x["train"], 64), splits.x["val"])
    assert hint.startswith("--keep-float ")
    names = hint.split(" ", 1)[1].split(",")
    assert 1 <= len(names) <= SUGGESTED and set(names) <= set(compute_layers(model)) and len(set(names)) == len(names)


def test_keep_float_values_are_parsed_once_each_in_order():
    from edgekit.stages.export.keep_float import parse

    assert parse(["b,a", "a", " c "]) == ("b", "a", "c") and parse("x") == ("x",) and parse(None) == ()
    assert parse(["a,,b"]) == ("a", "b")


def test_a_format_whose_int8_is_whole_refuses_float_layers(digits_run):
    from edgekit.errors import EdgekitError
    from edgekit.formats import get_format
    from edgekit.runs import load_run
    from edgekit.stages.export.keep_float import check
    from edgekit.targets import find_target

    run = load_run(digits_run)
    kw = dict(precision="int8", target=find_target("rpi5"), run=run, model=run.model, calibrated=True)
    assert check(("features.0.0",), fmt=get_format("onnx"), **kw) == ("features.0.0",)
    with pytest.raises(EdgekitError, match="ncnn int8 runs every layer in int8"):
        check(("features.0.0",), fmt=get_format("ncnn"), **kw)


def test_a_layer_that_never_runs_or_has_no_op_is_refused_not_left_int8():
    import torch.nn as nn

    from edgekit.errors import EdgekitError
    from edgekit.formats.convert.mixed import float_ops, kept_as_asked
    from edgekit.nn.sensitivity import Int8Simulation

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(4, 3), nn.Linear(4, 3)

        def forward(self, x):
            return self.used(x)

    sim = Int8Simulation(Net(), np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32))
    with pytest.raises(EdgekitError, match="never runs it"):
        kept_as_asked(lambda names: None, lambda m, x: None, None, sim, ("spare",))
    model, info = kept_as_asked(lambda names: names, lambda m, x: None, None, sim, ("used",))
    assert model == ("used",) and info.names == ["used"] and info.macs_in_float == 1.0
    with pytest.raises(EdgekitError, match="no op of layer spare"):
        float_ops({"used": ["used/linear/0"]}, ("spare",), "NNCF", asked=True)
    assert float_ops({"used": ["used/linear/0"]}, ("spare",), "NNCF", asked=False) == []  # the search's own tries


def test_nncf_ops_are_matched_to_layers_reached_through_a_module_list_loop():
    """NNCF drops a ModuleList from the names of the ops it calls in a loop; edgekit matches ops to layers by the
    weight each op's quantizer receives, so every conv is found under its own module path."""
    import torch
    import torch.nn as nn

    from edgekit.stages.compress.quantize import compute_ops, quantize_ptq

    class Looped(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1), nn.ReLU()) for i in range(3)])
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return self.head(x.mean((2, 3)))

    x = np.random.default_rng(0).normal(size=(64, 3, 8, 8)).astype(np.float32)
    quantized, _ = quantize_ptq(Looped(), x, samples=64, force=True, progress=False)
    ops = compute_ops(quantized, torch.from_numpy(x[:1]))
    assert set(ops) == {"blocks.0.0", "blocks.1.0", "blocks.2.0", "head"}
    assert all(len(names) == 1 for names in ops.values()) and len({n for v in ops.values() for n in v}) == 4


def test_a_detector_keeps_its_backbone_layers_float_in_onnx(tiny_detector_run, tmp_path):
    from edgekit.runs import load_run
    from edgekit.stages.export.keep_float import compute_layers
    from edgekit.stages.export.models import float_model

    first_two = compute_layers(float_model(load_run(tiny_detector_run)))[:2]
    full, _ = export(tiny_detector_run, fmt="onnx", precision="int8", out=tmp_path / "full")
    kept, deploy = export(tiny_detector_run, fmt="onnx", precision="int8", out=tmp_path / "kept", keep_float=first_two)
    assert _int8_weights(full) - _int8_weights(kept) == 2
    assert deploy["extras"]["float_layers"]["names"] == first_two
