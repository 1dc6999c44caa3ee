"""The real-architecture suite, cheaply: every mobile architecture of the zoo builds at a small width, prunes
structurally (or names the layers it leaves), and converts to full-int8 TFLite with no float tensor left. The
trained, exported and benchmarked table is benchmarks/results/real_architectures.md."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgekit.zoo.mobile import BUILDERS

SHAPE = (3, 32, 32)


@pytest.mark.parametrize("family", sorted(BUILDERS))
@pytest.mark.slow
def test_each_mobile_architecture_prunes_and_converts(family):
    from edgekit.nn.profile import count_macs
    from edgekit.stages.compress.prune import structured_prune

    torch.manual_seed(0)
    model = BUILDERS[family](SHAPE, 5, width=0.25).eval()
    assert model(torch.zeros(2, *SHAPE)).shape == (2, 5)
    try:
        pruned, excluded = structured_prune(model, SHAPE, 0.5)
    except Exception as e:  # the only allowed failure is edgekit's one-line refusal
        from edgekit.errors import EdgekitError

        assert isinstance(e, EdgekitError) and "use --unstructured" in e.message, e
        return
    assert pruned(torch.zeros(1, *SHAPE)).shape == (1, 5)
    assert count_macs(pruned, SHAPE) < count_macs(model, SHAPE)
    assert all(isinstance(name, str) for name in excluded)


FULL_INT8 = sorted(set(BUILDERS) - {"mobilevit_xxs"})  # attention (layer norm, softmax matmuls) keeps float islands
# hard-swish as the op (ARM boards) and, for the families that have it, written out (x86-64: formats/convert/pt2e.py)
WITH_HARDSWISH = [f for f in FULL_INT8 if any(isinstance(m, nn.Hardswish) for m in BUILDERS[f](SHAPE, 5, width=0.25).modules())]


@pytest.mark.parametrize("family, hardswish", [(f, False) for f in FULL_INT8] + [(f, True) for f in WITH_HARDSWISH])
@pytest.mark.slow
def test_full_int8_tflite_has_no_float_tensor(family, hardswish, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.formats.tflite import convert, pt2e_int8, tflite_ops

    torch.manual_seed(0)
    model = BUILDERS[family](SHAPE, 5, width=0.25).eval()
    calibration = np.random.default_rng(0).normal(size=(16, *SHAPE)).astype(np.float32)
    graph, config, _ = pt2e_int8(model, calibration, torch.zeros(1, *SHAPE), hardswish=hardswish, progress=False)
    convert(graph, torch.zeros(1, *SHAPE), config).export(str(tmp_path / "m.tflite"))
    it = Interpreter(model_path=str(tmp_path / "m.tflite"))
    floats = [t["name"] for t in it.get_tensor_details() if t["dtype"] == np.float32]
    assert not floats, floats[:5]
    assert ("HARD_SWISH" in tflite_ops(tmp_path / "m.tflite")) == (family in WITH_HARDSWISH and not hardswish)


class Shuffle(nn.Module):
    """A channel split + shuffle unit (ShuffleNetV2's) written the way torch-pruning's graph loses track of."""

    def __init__(self, c):
        super().__init__()
        b = c // 2
        self.branch = nn.Sequential(
            nn.Conv2d(b, b, 1),
            nn.BatchNorm2d(b),
            nn.ReLU(),
            nn.Conv2d(b, b, 3, 1, 1, groups=b),
            nn.BatchNorm2d(b),
            nn.Conv2d(b, b, 1),
            nn.BatchNorm2d(b),
            nn.ReLU(),
        )

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        y = torch.cat((a, self.branch(b)), 1)
        n, c, h, w = y.shape
        return y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


def test_a_layer_the_pruner_cannot_follow_is_excluded_by_name_not_a_crash():
    from edgekit.stages.compress.prune import structured_prune

    net = nn.Sequential(
        nn.Conv2d(3, 24, 3, 2, 1),
        nn.BatchNorm2d(24),
        nn.ReLU(),
        Shuffle(24),
        Shuffle(24),
        nn.Conv2d(24, 32, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    ).eval()
    pruned, excluded = structured_prune(net, (3, 32, 32), 0.5)
    assert excluded and all(name.startswith("4.branch") or name.startswith("3.branch") for name in excluded), excluded
    assert pruned(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in net.parameters())


def test_int8_rewrites_compute_what_they_replace():
    """The rewrites int8 export applies (formats/convert/pt2e.py prepare_for_int8) are the same function in float,
    so parity still compares the artifact with the user's model."""
    from edgekit.formats.convert.pt2e import prepare_for_int8

    model = nn.Sequential(nn.Hardswish(), nn.Linear(64, 64), nn.Hardsigmoid(), nn.Linear(64, 64), nn.SiLU()).eval()
    x = torch.linspace(-8, 8, 64 * 64).reshape(64, 64)
    rewritten = prepare_for_int8(model, hardswish=True)
    assert not any(isinstance(m, (nn.Hardswish, nn.Hardsigmoid, nn.SiLU)) for m in rewritten.modules())
    with torch.no_grad():
        assert float((rewritten(x) - model(x)).abs().max()) <= 1e-5 and float(model(x).std()) > 0.01
    assert any(isinstance(m, nn.Hardswish) for m in prepare_for_int8(model).modules())  # the op unless asked
