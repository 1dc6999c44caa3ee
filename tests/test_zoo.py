"""The model zoo: MLPerf Tiny reference sizes, users' own modules, the `models` listing."""

from __future__ import annotations

import textwrap

import pytest
import torch

from edgekit.contracts import ModelSpec
from edgekit.nn.profile import count_macs, profile_model
from edgekit.recipes import find_recipe, zoo_recipes
from edgekit.zoo import build_architecture, build_model

# Reference figures of the MLPerf Tiny v1.0 training references (mlcommons/tiny, benchmark/training/*),
# counted layer by layer from their Keras definitions: trainable parameters (Keras' "Trainable params",
# i.e. without batch-norm moving statistics) and multiply-accumulates of conv + dense layers per inference.
#   ResNet-8 (16 base filters, 32x32x3, 10 classes): 78,186 params, 12.50 M MACs (paper: 12.5 M)
#   DS-CNN (64 filters, 49x10x1, 12 classes):         23,756 params,  2.66 M MACs
#   MobileNetV1 x0.25 (96x96x3, 2 classes):          216,322 params,  7.49 M MACs
#   FC autoencoder (640 in, 128 wide, 8 bottleneck): 267,928 params,  0.264 M MACs (paper: 0.264 M)
MLPERF_TINY = {
    "resnet8": (10, 78_186, 12_501_632),
    "ds-cnn": (12, 23_756, 2_656_768),
    "mobilenetv1-025": (2, 216_322, 7_489_664),
    "fc-autoencoder": (None, 267_928, 264_192),
}


@pytest.mark.parametrize("name", sorted(MLPERF_TINY))
def test_mlperf_tiny_models_match_reference_within_2_percent(name):
    classes, ref_params, ref_macs = MLPERF_TINY[name]
    recipe = find_recipe(name)
    cost = profile_model(build_architecture(recipe.arch, recipe.input_shape, classes, recipe.kwargs), recipe.input_shape)
    assert abs(cost.params - ref_params) / ref_params <= 0.02, (cost.params, ref_params)
    assert abs(cost.macs - ref_macs) / ref_macs <= 0.02, (cost.macs, ref_macs)


def test_mac_counter_counts_conv_and_linear_by_hand():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 5),
    )
    assert count_macs(net, (3, 4, 4)) == 16 * 8 * 27 + 16 * 8 * 9 + 128 * 5


@pytest.mark.slow
def test_every_recipe_builds_and_runs_its_input_shape_and_its_counted_cost_is_right():
    """`edgekit models` lists [counted] from the recipes (no torch): they must match the built models."""
    for recipe in zoo_recipes().values():
        classes = recipe.counted.num_classes
        model = build_architecture(recipe.arch, recipe.input_shape, classes, recipe.kwargs).eval()
        out = model(torch.zeros(2, *recipe.input_shape))
        # A detector returns named tensors (boxes, scores); every tensor keeps the batch.
        for tensor in out.values() if isinstance(out, dict) else [out]:
            assert tensor.shape[0] == 2, recipe.name
        cost = profile_model(model, recipe.input_shape)
        assert (cost.params, cost.macs) == (recipe.counted.params, recipe.counted.macs), recipe.name


def test_user_module_from_file_and_from_package(tmp_path, monkeypatch):
    (tmp_path / "my_net.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn
        class MyNet(nn.Module):
            def __init__(self, num_classes, hidden=16):
                super().__init__()
                self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
            def forward(self, x):
                return self.net(x)
        def make(num_classes):
            return MyNet(num_classes, hidden=8)
    """)
    )
    spec = ModelSpec(name="MyNet", source="user", arch=f"{tmp_path}/my_net.py:MyNet", input_shape=[1, 8, 8], num_classes=4)
    assert build_model(spec)(torch.zeros(1, 1, 8, 8)).shape == (1, 4)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec(name="make", source="user", arch="my_net:make", input_shape=[1, 8, 8], num_classes=3)
    model = build_model(spec)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 3) and model.net[1].out_features == 8


def test_models_command_lists_the_zoo_with_params_and_macs(run_cli):
    result = run_cli("models")
    assert result.code == 0
    for name in ("digits-cnn", "resnet8", "ds-cnn", "mobilenetv1-025", "fc-autoencoder", "78,186", "12.50M"):
        assert name in result.out


def test_recipe_with_unknown_key_names_file_and_key(tmp_path, run_cli):
    recipe = tmp_path / "bad.toml"
    recipe.write_text('name = "x"\narch = "digits_cnn"\ninput_shape = [1, 8, 8]\ncolour = "red"\n')
    from conftest import assert_one_line_error

    assert_one_line_error(run_cli("train", "--model", recipe, "--out", tmp_path / "o"), "bad.toml", "colour")
    assert not (tmp_path / "o").exists()
