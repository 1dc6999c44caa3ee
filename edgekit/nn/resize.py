"""Rebuild a structurally pruned model: swap layers for ones with the recorded (smaller) shapes.

Structured pruning only changes channel counts, so the architecture plus each changed layer's weight
shape is enough to rebuild it — no pickled module needed.
"""

from __future__ import annotations

import torch.nn as nn

_RESIZABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def layer_shapes(model: nn.Module) -> dict[str, list[int]]:
    return {
        name: list(m.weight.shape)
        for name, m in model.named_modules()
        if isinstance(m, _RESIZABLE) and getattr(m, "weight", None) is not None
    }


def changed_shapes(original: nn.Module, pruned: nn.Module) -> dict[str, list[int]]:
    before = layer_shapes(original)
    return {k: v for k, v in layer_shapes(pruned).items() if before.get(k) != v}


def _resized(m: nn.Module, shape: list[int]) -> nn.Module:
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        depthwise = m.groups > 1 and m.groups == m.in_channels
        out_c = shape[0]
        in_c = out_c if depthwise else shape[1] * m.groups
        return type(m)(
            in_c,
            out_c,
            m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            groups=out_c if depthwise else m.groups,
            bias=m.bias is not None,
            padding_mode=m.padding_mode,
        )
    if isinstance(m, nn.Linear):
        return nn.Linear(shape[1], shape[0], bias=m.bias is not None)
    return type(m)(shape[0], eps=m.eps, momentum=m.momentum, affine=m.affine, track_running_stats=m.track_running_stats)


def resize_to_shapes(model: nn.Module, shapes: dict[str, list[int]]) -> nn.Module:
    from ..errors import EdgekitError

    modules = dict(model.named_modules())
    for name, shape in shapes.items():
        if name not in modules or not isinstance(modules[name], _RESIZABLE) or len(shape) != modules[name].weight.dim():
            raise EdgekitError(
                f"model.json resizes layer '{name}', which the model does not have (or not with that rank)",
                "re-create the run folder (model.json does not match its architecture)",
            )
        parent_name, _, child = name.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        setattr(parent, child, _resized(modules[name], shape))
    return model
