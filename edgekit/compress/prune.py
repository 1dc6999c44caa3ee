"""Structured channel pruning (torch-pruning's dependency graph keeps residual and depthwise layers
consistent) and unstructured magnitude pruning (torch.nn.utils.prune, made permanent)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.utils.prune as tprune

from ..errors import EdgekitError

IMPORTANCE = ("l2", "l1", "bn-scale", "random")
_PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _importance(name: str):
    import torch_pruning as tp

    return {"l2": lambda: tp.importance.MagnitudeImportance(p=2), "l1": lambda: tp.importance.MagnitudeImportance(p=1),
            "bn-scale": tp.importance.BNScaleImportance, "random": tp.importance.RandomImportance}[name]()


def output_layer(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """The layer that produces the model's output: its channels are the classes and must stay."""
    last = None

    def hook(module, args, output):
        nonlocal last
        last = module

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _PRUNABLE)]
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in handles:
            h.remove()
    return last


def structured_prune(model: nn.Module, input_shape, ratio: float, *, importance: str = "l2", global_pruning: bool = False,
                     layer_ratios: dict[str, float] | None = None) -> nn.Module:
    import torch_pruning as tp

    example = torch.zeros(1, *input_shape)
    modules = dict(model.named_modules())
    unknown = [n for n in (layer_ratios or {}) if n not in modules]
    if unknown:
        raise EdgekitError(f"no layer named {unknown[0]} in the model", f"use one of: {', '.join(n for n, m in modules.items() if isinstance(m, _PRUNABLE))}")
    pruner = tp.pruner.MetaPruner(
        model.eval(), example, importance=_importance(importance), pruning_ratio=ratio, global_pruning=global_pruning,
        pruning_ratio_dict={modules[n]: r for n, r in (layer_ratios or {}).items()} or None,
        ignored_layers=[output_layer(model, example)],
    )
    pruner.step()
    return model


def unstructured_prune(model: nn.Module, ratio: float) -> nn.Module:
    """Zero the smallest-magnitude weights globally; masks stay on (for fine-tuning) until make_permanent."""
    params = [(m, "weight") for m in model.modules() if isinstance(m, _PRUNABLE)]
    tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=ratio)
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, _PRUNABLE) and tprune.is_pruned(m):
            tprune.remove(m, "weight")
    return model


def weight_sparsity(model: nn.Module) -> float:
    weights = [m.weight for m in model.modules() if isinstance(m, _PRUNABLE)]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / max(total, 1))
