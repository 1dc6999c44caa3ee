"""Name → constructor registry for the architectures edgekit ships, plus users' own modules."""

from __future__ import annotations

import importlib

import torch.nn as nn

from ..errors import EdgekitError
from .user import build_user_model

# Architecture key (as named in a models/*.toml recipe) → module with a `build(input_shape, num_classes, **kw)`.
ARCHITECTURES = {
    "digits_cnn": "edgekit.zoo.digits_cnn",
    "resnet8": "edgekit.zoo.resnet",
    "dscnn": "edgekit.zoo.dscnn",
    "mobilenet_v1": "edgekit.zoo.mobilenet",
    "fc_autoencoder": "edgekit.zoo.autoencoder",
}


def build_architecture(arch: str, input_shape, num_classes, kwargs: dict) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise EdgekitError(f"unknown architecture '{arch}'", f"use one of: {', '.join(sorted(ARCHITECTURES))}")
    module = importlib.import_module(ARCHITECTURES[arch])
    try:
        return module.build(tuple(input_shape), num_classes, **kwargs)
    except TypeError as e:
        raise EdgekitError(f"bad arguments for architecture '{arch}': {e}", "check the recipe's [kwargs] table") from None


def build_model(spec) -> nn.Module:
    """Build the (untrained) module a ModelSpec describes."""
    if spec.source == "user":
        return build_user_model(spec.arch, spec.input_shape, spec.num_classes, spec.kwargs)
    return build_architecture(spec.arch, spec.input_shape, spec.num_classes, spec.kwargs)
