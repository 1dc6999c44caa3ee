"""Name → constructor registry for the architectures edgekit ships, plus users' own modules."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch.nn as nn

from ..errors import EdgekitError

# Architecture key (as named in a models/*.toml recipe) → module with a `build(input_shape, num_classes, **kw)`.
# A run folder's zoo architecture resolves only through this table, never through a dotted path.
ARCHITECTURES = {
    "digits_cnn": "edgekit.zoo.digits_cnn",
    "resnet8": "edgekit.zoo.resnet",
    "dscnn": "edgekit.zoo.dscnn",
    "mobilenet_v1": "edgekit.zoo.mobilenet",
    "fc_autoencoder": "edgekit.zoo.autoencoder",
    "mobile": "edgekit.zoo.mobile",  # family = mobilenet_v2 | mobilenet_v3_small | shufflenet_v2 | squeezenet | ...
}


def build_architecture(arch: str, input_shape, num_classes, kwargs: dict) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise EdgekitError(f"unknown architecture '{arch}'", f"use one of: {', '.join(sorted(ARCHITECTURES))}")
    module = importlib.import_module(ARCHITECTURES[arch])
    try:
        return module.build(tuple(input_shape), num_classes, **kwargs)
    except TypeError as e:
        raise EdgekitError(f"bad arguments for architecture '{arch}': {e}", "check the recipe's [kwargs] table") from None


def build_model(spec, *, run_path: Path | None = None, trust_code: bool = False) -> nn.Module:
    """Build the (untrained) module a ModelSpec describes. With `run_path`, user code follows the trust rule."""
    if spec.source == "zoo":
        return build_architecture(spec.arch, spec.input_shape, spec.num_classes, spec.kwargs)
    from .user import construct, resolve, resolve_from_run

    if run_path is not None:
        if spec.code is None:
            raise EdgekitError(f"{run_path}/model.json names user code without a code record", "re-create the run folder")
        res = resolve_from_run(run_path, spec.code, spec.arch, trust_code=trust_code)
    else:
        res = resolve(spec.arch)
    return construct(res, spec.arch, num_classes=spec.num_classes, input_shape=spec.input_shape, kwargs=spec.kwargs)
