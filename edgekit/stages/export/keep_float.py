"""`--keep-float LAYER,...`: the user names the layers an int8 export keeps in float (convert/mixed.py keeps them
instead of searching). Checked here before any work; and when an int8 export is refused on the test split after full
int8 passed on validation (nothing was searched), the refusal names the layers int8 hurts most as this option's
values, ranked on the validation split as the search ranks them."""

from __future__ import annotations

import copy

import numpy as np

from ...errors import EdgekitError
from ...nn.sensitivity import COMPUTE

SUGGESTED = 3  # how many of the ranking's layers a refusal names


def compute_layers(model) -> list[str]:
    """Module paths of the conv / linear layers a PyTorch model holds, in definition order."""
    named = getattr(model, "named_modules", None)
    return [name for name, m in named() if isinstance(m, COMPUTE)] if named else []


def parse(values) -> tuple[str, ...]:
    """`--keep-float a,b --keep-float c` (or a list from the API / a pipeline file) → ("a", "b", "c"), in order, once each."""
    names: list[str] = []
    for value in [values] if isinstance(values, str) else values or ():
        for name in str(value).split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    return tuple(names)


def check(keep: tuple[str, ...], *, fmt, precision: str, target, run, model, calibrated: bool) -> tuple[str, ...]:
    """The user's float layers, or a one-line refusal naming why they cannot be kept and what to do."""
    if not keep:
        return ()
    if precision != "int8":
        raise EdgekitError(f"--keep-float applies to int8 exports, not {precision}", "add --precision int8, or drop --keep-float")
    if not calibrated:
        raise EdgekitError(
            "--keep-float: this run is quantized, and its own int8 graph ships with every layer int8",
            "export the float run it came from with --keep-float, or drop --keep-float",
        )
    if target.runtime.full_int8_only:
        raise EdgekitError(f"--keep-float: {target.name} runs full int8 only, so no layer can stay float", "drop --keep-float")
    if not fmt.float_layers:
        raise EdgekitError(
            f"--keep-float: {fmt.name} int8 runs every layer in int8",
            "use --format tflite, executorch, onnx or openvino, or drop --keep-float",
        )
    layers = compute_layers(model)
    unknown = [name for name in keep if name not in layers]
    if unknown:
        shown = ", ".join(layers[:4]) + (f", ... ({len(layers)} in all)" if len(layers) > 4 else "")
        raise EdgekitError(
            f"--keep-float {', '.join(unknown)}: not a conv or linear layer of {run.spec.name}",
            f"name module paths of its layers: {shown}" if layers else "--keep-float needs a PyTorch model with conv or linear layers",
        )
    return keep


def suggestion(model, calibration: np.ndarray, x_val: np.ndarray, *, per_channel: bool = True) -> str:
    """'--keep-float a,b,c': the layers whose float removes most simulated int8 error per MAC on the validation split
    ('' when none helps)."""
    from ...formats.convert.mixed import ranking
    from ...nn.fold import fold_batchnorm
    from ...nn.sensitivity import Int8Simulation

    folded = copy.deepcopy(model).eval()
    fold_batchnorm(folded)  # as every int8 format quantizes it
    ranked = ranking(Int8Simulation(folded, calibration, per_channel=per_channel), x_val)[:SUGGESTED]
    return f"--keep-float {','.join(ranked)}" if ranked else ""
