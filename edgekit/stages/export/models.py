"""The PyTorch models an export starts from: the float model, and the int8 reference when the run is quantized."""

from __future__ import annotations

import copy

import torch.nn as nn

from ...runs import Run, rebuild_structure, state_tensors


def float_model(run: Run) -> nn.Module:
    """The run's float network (batch-norm folded if the run was quantized), without any quantizer."""
    if not run.spec.quantization:
        return copy.deepcopy(run.model).eval()
    plain = rebuild_structure(run.spec.replace(**{"quantization": {}}), run_path=run.path, trust_code=run.trust_code)
    weights = {k: v for k, v in state_tensors(run.model).items() if not k.startswith("__nncf")}
    plain.load_state_dict(weights, strict=True)
    return plain.eval()
