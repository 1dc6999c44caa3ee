"""Users' architectures by name: torchvision's `package.module:factory` and timm's `timm:NAME`, with classes and
input channels passed to **kwargs factories, --model-arg for the rest, recipes with a user `arch`, and the
input shape taken from the data set. torchvision and timm cannot be installed here (a CUDA-only torchvision
build), so small stand-ins with the same signatures play them."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import assert_one_line_error

TORCHVISION = textwrap.dedent("""
    import torch.nn as nn

    class MobileNetV3(nn.Module):
        # torchvision's signature: num_classes and dropout by keyword, no input-channel argument (3 fixed)
        def __init__(self, num_classes=1000, dropout=0.2, width_mult=1.0):
            super().__init__()
            c = int(16 * width_mult)
            self.features = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1), nn.BatchNorm2d(c), nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, num_classes))
            self.width_mult = width_mult

        def forward(self, x):
            return self.classifier(self.features(x))

    def mobilenet_v3_small(*, weights=None, progress=True, **kwargs):
        if weights is not None:
            raise RuntimeError("no downloads here")
        return MobileNetV3(**kwargs)
""")

TIMM = textwrap.dedent("""
    import torch.nn as nn

    class LCNet(nn.Module):
        def __init__(self, num_classes=1000, in_chans=3, drop_rate=0.0):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(in_chans, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Dropout(drop_rate), nn.Linear(8, num_classes))
            self.drop_rate = drop_rate

        def forward(self, x):
            return self.body(x)

    _registry = {"lcnet_050": LCNet}

    def create_model(model_name, pretrained=False, **kwargs):
        if pretrained:
            raise RuntimeError("no downloads here")
        return _registry[model_name](**kwargs)
""")


@pytest.fixture
def libraries(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "torchvision" / "models").mkdir(parents=True)
    (site / "torchvision" / "__init__.py").write_text("")
    (site / "torchvision" / "models" / "__init__.py").write_text(TORCHVISION)
    (site / "timm").mkdir()
    (site / "timm" / "__init__.py").write_text(TIMM)
    monkeypatch.syspath_prepend(str(site))
    yield site
    import sys

    for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "timm")]:
        del sys.modules[name]


@pytest.mark.slow
def test_a_torchvision_factory_gets_num_classes_and_model_args(libraries, tmp_path, run_cli):
    result = run_cli(
        "train",
        "--model",
        "torchvision.models:mobilenet_v3_small",
        "--model-arg",
        "width_mult=0.5",
        "--input-shape",
        "3,32,32",
        "--epochs",
        "3",
        "--out",
        tmp_path / "run",
    )
    assert result.code == 0, result.err
    from edgekit.runs import load_run

    run = load_run(tmp_path / "run")
    assert run.model.classifier[1].out_features == 10 and run.model.width_mult == 0.5  # digits' 10 classes reached **kwargs
    assert run.spec.kwargs == {"width_mult": 0.5} and run.spec.arch == "torchvision.models:mobilenet_v3_small"


@pytest.mark.slow
def test_timm_by_name_gets_classes_and_input_channels_and_the_data_sets_shape(libraries, tmp_path, run_cli):
    result = run_cli("train", "--model", "timm:lcnet_050", "--model-arg", "drop_rate=0.1", "--epochs", "3", "--out", tmp_path / "run")
    assert result.code == 0, result.err  # no --input-shape: digits fixes 1x8x8
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    assert spec["input_shape"] == [1, 8, 8] and spec["name"] == "lcnet_050"
    from edgekit.runs import load_run

    run = load_run(tmp_path / "run")
    assert run.model.body[0].in_channels == 1 and run.model.body[-1].out_features == 10 and run.model.drop_rate == 0.1
    exported = run_cli("export", tmp_path / "run", "--format", "onnx", "--precision", "fp32", "--out", tmp_path / "onnx")
    assert exported.code == 0, exported.err


@pytest.mark.slow
def test_a_recipe_may_name_a_user_architecture_with_kwargs(libraries, tmp_path, run_cli):
    recipe = tmp_path / "mine.toml"
    recipe.write_text('name = "mine"\narch = "timm:lcnet_050"\ninput_shape = [1, 8, 8]\n[kwargs]\ndrop_rate = 0.2\n[train]\nepochs = 2\n')
    result = run_cli("train", "--model", recipe, "--out", tmp_path / "run")
    assert result.code == 0, result.err
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    assert spec["source"] == "user" and spec["kwargs"] == {"drop_rate": 0.2} and spec["name"] == "mine"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--model", "timm:lcnet_050", "--model-arg", "nonsense"], "is not KEY=VALUE"),
        (["--model", "torchvision.models:mobilenet_v3_small", "--input-shape", "3,32,32", "--model-arg", "colour=5"], "unexpected keyword"),
        (["--model", "timm:nope_100"], "constructing timm:nope_100 failed"),
    ],
)
def test_bad_model_arguments_are_one_line(libraries, tmp_path, run_cli, args, fragment):
    assert_one_line_error(run_cli("train", *args, "--epochs", "1", "--out", tmp_path / "o"), fragment)
    assert not (tmp_path / "o").exists()
