"""Name → constructor registry for the architectures edgekit ships, plus users' own modules."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import EdgekitError
from ..limits import MAX_MODEL_PARAMS

# Architecture key (as named in a models/*.toml recipe) → module with a `build(input_shape, num_classes, **kw)`.
# A run folder's zoo architecture resolves only through this table, never through a dotted path.
ARCHITECTURES = {
    "digits_cnn": "edgekit.zoo.digits_cnn",
    "resnet8": "edgekit.zoo.resnet",
    "dscnn": "edgekit.zoo.dscnn",
    "mobilenet_v1": "edgekit.zoo.mobilenet",
    "fc_autoencoder": "edgekit.zoo.autoencoder",
    "mobile": "edgekit.zoo.mobile",  # family = mobilenet_v2 | mobilenet_v3_small | shufflenet_v2 | squeezenet | ...
    "tiny": "edgekit.zoo.tiny",  # family = cnn | autoencoder: seconds to train, for the tests' walk over the plug-ins
    "detector": "edgekit.zoo.detector",  # boxes: family = a mobile backbone (mobilenet_v2, lcnet, ...) or tiny
    "fomo": "edgekit.zoo.fomo",  # centroids on a 1/8 grid (microcontrollers)
}


def _check_width(arch: str, kwargs: dict) -> None:
    width = kwargs.get("width", 1.0)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not math.isfinite(width) or width <= 0:
        raise EdgekitError(
            f"architecture '{arch}' got width={width!r}: the width multiplier must be a finite number > 0",
            "pass e.g. --model-arg width=0.5 (1.0 is the recipe's size)",
        )


def build_architecture(arch: str, input_shape, num_classes, kwargs: dict) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise EdgekitError(f"unknown architecture '{arch}'", f"use one of: {', '.join(sorted(ARCHITECTURES))}")
    _check_width(arch, kwargs)
    module = importlib.import_module(ARCHITECTURES[arch])

    def build() -> nn.Module:
        try:
            return module.build(tuple(input_shape), num_classes, **kwargs)
        except TypeError as e:
            raise EdgekitError(f"bad arguments for architecture '{arch}': {e}", "check the recipe's [kwargs] table") from None

    # Built on the meta device first (shapes only, no memory): a width of 1e7 is refused here, not after the
    # allocator spent half a minute on 10^18 bytes.
    with torch.device("meta"):
        params = sum(p.numel() for p in build().parameters())
    if params > MAX_MODEL_PARAMS:
        shown = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "its defaults"
        raise EdgekitError(
            f"architecture '{arch}' with {shown} would have {params:,} parameters ({params * 4 / 2**30:,.0f} GiB of weights)",
            f"make it smaller (a lower width, a smaller input): at most {MAX_MODEL_PARAMS:,} parameters",
        )
    return build()


def build_model(spec, *, run_path: Path | None = None, trust_code: bool = False) -> nn.Module:
    """Build the (untrained) module a ModelSpec describes. With `run_path`, user code follows the trust rule."""
    if spec.source == "zoo":
        return build_architecture(spec.arch, spec.input_shape, spec.num_classes, spec.kwargs)
    if spec.source == "onnx":  # an imported graph, parsed from the run folder (never code)
        from ..onnxgraph.build import build_from_run

        return build_from_run(spec, run_path)
    from .user import construct, resolve, resolve_from_run

    if run_path is not None:
        if spec.code is None:
            raise EdgekitError(f"{run_path}/model.json names user code without a code record", "re-create the run folder")
        res = resolve_from_run(run_path, spec.code, spec.arch, trust_code=trust_code, kwargs=spec.kwargs)
    else:  # a spec in memory: its code was named by the caller, or decided by the trust rule when it was made
        res = resolve(spec.arch)
    return construct(res, spec.arch, num_classes=spec.num_classes, input_shape=spec.input_shape, kwargs=spec.kwargs)
