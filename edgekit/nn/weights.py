"""The weights a run folder holds, checked against the model they are loaded into: load_state_dict casts a tensor
of another dtype without a word (int8 weights became floats whose parity then "passed"), and NaN weights surfaced
only as a model that "predicts class 0 for every input"."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..errors import EdgekitError

FIX = "re-create the run folder (`edgekit train` / `edgekit compress`), or restore its model.safetensors"


def check_weights(state: dict[str, torch.Tensor], model: nn.Module, file: Path | str, fix: str = FIX) -> None:
    """Every tensor the model also has: the same dtype, and finite when it is floating point. `file` names where
    the weights came from in messages, `fix` what to do."""
    expected = model.state_dict()
    for name, tensor in state.items():
        want = expected.get(name)
        if want is None:
            continue  # an unknown name: load_state_dict(strict=True) names it
        if tensor.dtype != want.dtype:
            raise EdgekitError(
                f"{file}: tensor '{name}' is {str(tensor.dtype).replace('torch.', '')}, "
                f"the model's is {str(want.dtype).replace('torch.', '')}",
                fix,
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise EdgekitError(f"{file}: tensor '{name}' holds NaN or infinite values", fix)
