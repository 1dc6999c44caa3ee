"""Parameters, MACs and bytes: the one counting function every stage reports with.

MACs follow the MLPerf Tiny convention: multiply-accumulates of convolutions and fully connected layers
for one sample (batch-norm, activations and pooling are not counted; they fold or cost little).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass(frozen=True)
class ModelCost:
    params: int
    nonzero_params: int
    macs: int
    size_bytes: int  # parameters and buffers as stored (fp32 weights: 4 bytes each)

    def to_json(self) -> dict:
        return asdict(self)


def _layer_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, _CONV):
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        return out[0].numel() * per_output
    if isinstance(module, _CONV_T):
        per_input = (module.out_channels // module.groups) * math.prod(module.kernel_size)
        return inp[0].numel() * per_input
    if isinstance(module, nn.Linear):
        return out[0].numel() * module.in_features
    return 0


def count_macs(model: nn.Module, input_shape) -> int:
    total = 0

    def hook(module, args, output):
        nonlocal total
        total += _layer_macs(module, args[0], output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (*_CONV, *_CONV_T, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else "cpu"
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def profile_model(model: nn.Module, input_shape) -> ModelCost:
    own = getattr(model, "graph_cost", None)
    if callable(own):  # an ONNX graph run by onnxruntime (edgekit/onnxgraph/runtime.py) is counted from its graph
        return ModelCost(**own(input_shape))
    tensors = list(model.parameters()) + list(model.buffers())
    return ModelCost(
        params=count_params(model),
        nonzero_params=int(sum(int(torch.count_nonzero(p)) for p in model.parameters())),
        macs=count_macs(model, input_shape),
        size_bytes=sum(t.numel() * t.element_size() for t in tensors),
    )
