"""The PyTorch models an export starts from: the float model, and the int8 reference when the run is quantized."""

from __future__ import annotations

import copy

import torch.nn as nn

from ...runs import Run, rebuild_structure
from ..compress.quantizers import float_weights


def float_model(run: Run) -> nn.Module:
    """The run's float network (batch-norm folded if the run was quantized), without any quantizer."""
    if not run.spec.quantization:
        return copy.deepcopy(run.model).eval()
    plain = rebuild_structure(run.spec.replace(**{"quantization": {}}), run_path=run.path, trust_code=run.trust_code)
    # the float weights by name (NNCF's hooks or PT2E's fake-quantize state dropped; graph constants are not weights)
    keys = plain.state_dict().keys()
    plain.load_state_dict({k: v.detach().clone() for k, v in float_weights(run.model).items() if k in keys}, strict=True)
    return plain.eval()
