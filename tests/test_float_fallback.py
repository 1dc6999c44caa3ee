"""Mixed precision when full int8 misses the floor: which layers stay float, and the search that picks them,
on a real trained model with the real XNNPACK quantizer (the judge is an error bound on the validation split)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from edgekit.formats.convert.pt2e import Validation, float_layers


def test_layers_are_cut_at_each_conv_and_linear_with_their_share_of_macs():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10)
    )
    gm = torch.export.export(model.eval(), (torch.zeros(1, 1, 8, 8),)).module()
    names, info = float_layers(gm, 2)
    macs = [4 * 9 * 8 * 8, 8 * 4 * 9 * 4 * 4, 10 * 128]
    assert (info.kept, info.layers) == (2, 3)
    assert info.names == ["0", "2"]  # the user's module names, not the graph's
    assert info.macs_in_float == pytest.approx(sum(macs[:2]) / sum(macs))
    assert {"conv2d", "relu", "conv2d_1", "relu_1"} <= names and not any(n.startswith("linear") for n in names)
    assert float_layers(gm, 99)[1].kept == 3


def _dequantized_weights(graph) -> list[bool]:
    """Per conv/linear in order: does its weight come from a dequantize (int8) or straight from a float tensor?"""
    compute = {torch.ops.aten.conv2d.default, torch.ops.aten.linear.default}
    return [
        isinstance(n.args[1], torch.fx.Node) and "dequantize" in str(n.args[1].target)
        for n in graph.graph.nodes
        if n.op == "call_function" and n.target in compute
    ]


@pytest.fixture(scope="module")
def digits_parts(digits_run):
    from edgekit.data import Splits, load_run_data
    from edgekit.data.calibration import calibration_samples
    from edgekit.nn.evaluate import predict
    from edgekit.runs import load_run
    from edgekit.stages.export.models import float_model

    run = load_run(digits_run)
    splits = Splits.of(load_run_data(run.spec, None), run.spec.normalization)
    model = float_model(run).eval()
    x_val = splits.x["val"]
    return model, calibration_samples(splits.x["train"], 64), x_val, predict(model, x_val)


def test_the_search_keeps_the_most_sensitive_layers_float_and_says_what_it_tried(digits_parts):
    """convert/mixed.py: full int8 first; when it misses, layers ranked by simulated int8 sensitivity per MAC stay
    float (within half the MACs), the first real try that passes is kept, and every try is listed."""
    import copy

    from edgekit.formats.convert.mixed import MAX_FLOAT_SHARE
    from edgekit.formats.executorch import _int8

    model, calib, x_val, reference = digits_parts
    example = torch.zeros(1, *x_val.shape[1:])
    seen = []

    def judge_below(bound):
        def judge(out):
            seen.append(float(((out - reference) ** 2).mean()))
            return {"passed": seen[-1] < bound, "rule": f"mse {seen[-1]!r}"}

        return judge

    def quantize(validation):
        seen.clear()
        return _int8(copy.deepcopy(model), calib, example, False, validation)

    full, info = quantize(None)  # no validation split: full int8, no search
    assert info.kept == 0 and info.verdicts == [] and all(_dequantized_weights(full))
    graph, info = quantize(Validation(x_val, judge_below(float("inf"))))  # passes at once: nothing recorded
    assert info.kept == 0 and info.verdicts == [] and all(_dequantized_weights(graph)) and len(seen) == 1
    full_error = seen[0]

    graph, info = quantize(Validation(x_val, judge_below(0.0)))  # never passes: full int8 back, every try listed
    assert info.kept == 0 and all(_dequantized_weights(graph)) and info.ranking == "sensitivity"
    assert info.verdicts[0] == f"full int8: mse {full_error!r}" and len(info.verdicts) >= 2 and info.tried_up_to >= 1

    def errors(verdicts):  # what each real try scored (the simulation's verdicts are not listed)
        return [float(v.rsplit("mse ", 1)[1]) for v in verdicts if "mse " in v]

    bound = full_error * 0.999  # full int8 misses it by a hair; the most sensitive layers in float cut the error
    graph, info = quantize(Validation(x_val, judge_below(bound)))
    assert info.kept >= 1, f"no float layers brought the error under {bound:.3e}: {info.verdicts}"
    flags = _dequantized_weights(graph)
    assert flags.count(False) == info.kept == len(info.names)  # exactly the named layers are float
    assert 0 < info.macs_in_float <= MAX_FLOAT_SHARE and info.ranking == "sensitivity"
    tried = errors(info.verdicts)
    assert tried[-1] < bound <= min(tried[:-1]) and info.as_dict()["tries_on_validation"] == info.verdicts
    assert info.describe().startswith(f"{info.kept} of {info.layers} layers kept in float, the most int8-sensitive")


def test_the_first_k_layers_are_candidates_too_cheapest_first():
    """The simulation can be wrong (mobilenetv1-025 at a 100% agreement floor: no ranked set within half the MACs
    passed for real, the first 4 layers did): the first 1, 2, 4, ... layers are tried as well, every set in order of
    the MACs it keeps float, so the search never keeps more float than the first-k rule alone."""
    from edgekit.formats.convert.mixed import MAX_FLOAT_SHARE, _candidates

    order = ["conv0", "conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "fc"]
    macs = {"conv0": 30, "conv1": 10, "conv2": 40, "conv3": 20, "conv4": 50, "conv5": 25, "conv6": 20, "fc": 5}
    total = sum(macs.values())
    ranked = ["fc", "conv3", "conv1", "conv6"]  # by simulated gain per MAC
    sets = _candidates(ranked, lambda layers: False, macs, total, order)  # no simulated set passes
    shares = [sum(macs[n] for n in chosen) / total for chosen, _ in sets]
    assert shares == sorted(shares) and max(shares) <= MAX_FLOAT_SHARE
    assert (["conv0"], "first") in sets and (["conv0", "conv1"], "first") in sets and (["fc"], "sensitivity") in sets
    assert (order[:4], "first") in sets and (order[:8], "first") not in sets  # up to half the layers, as before
    assert len({frozenset(c) for c, _ in sets}) == len(sets)  # no set tried twice
    # a simulation that passes only a long prefix adds it (and what it can spare) but takes no shorter one away
    sets = _candidates(ranked, lambda layers: len(layers) >= 3, macs, total, order)
    assert (["fc"], "sensitivity") in sets and (["fc", "conv3"], "sensitivity") in sets
    assert (["fc", "conv3", "conv1"], "sensitivity") in sets
