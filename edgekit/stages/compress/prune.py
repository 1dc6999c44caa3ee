"""Structured channel pruning (torch-pruning's dependency graph keeps residual and depthwise layers
consistent) and unstructured magnitude pruning (torch.nn.utils.prune, made permanent)."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.utils.prune as tprune

from ...errors import EdgekitError

# Channel importance criteria (torch-pruning; DepGraph, Fang et al., CVPR 2023). "l2"/"l1" are torch-pruning's group
# magnitude: the norm of every layer a channel touches (conv out, batch-norm, the next layers' inputs), averaged over
# the group. "taylor" is the group first-order Taylor score |w * dL/dw| (Molchanov et al. 2019): it needs gradients,
# which the schedule accumulates on training batches before each cut. benchmarks/pruning.py compares them (not yet recorded).
IMPORTANCE = ("l2", "l1", "taylor", "fpgm", "lamp", "bn-scale", "random")
NEEDS_GRADIENTS = ("taylor",)
_PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _importance(name: str):
    import torch_pruning as tp

    return {
        "l2": lambda: tp.importance.GroupMagnitudeImportance(p=2),
        "l1": lambda: tp.importance.GroupMagnitudeImportance(p=1),
        "taylor": tp.importance.GroupTaylorImportance,
        "fpgm": tp.importance.FPGMImportance,
        "lamp": tp.importance.LAMPImportance,
        "bn-scale": tp.importance.BNScaleImportance,
        "random": tp.importance.RandomImportance,
    }[name]()


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


MAX_EXCLUSIONS = 64
_UNRECORDED = (nn.LayerNorm, nn.GroupNorm, nn.MultiheadAttention, nn.Embedding)


def _shape(m: nn.Module) -> list:
    return [tuple(p.shape) for p in m.parameters(recurse=False)]


def _pruner(model: nn.Module, example, ratio, importance, global_pruning, layer_ratios, ignored, *, steps=1, reg=None):
    """torch-pruning's pruner: cuts `ratio` in `steps` equal steps (each pruner.step() the next); with `reg`, a
    GroupNormPruner whose regularize() adds the group-norm sparsity gradient (DepGraph's sparse training)."""
    import torch_pruning as tp

    modules = dict(model.named_modules())
    kind = tp.pruner.MetaPruner if reg is None else tp.pruner.GroupNormPruner
    return kind(
        model.eval(),
        example,
        importance=_importance(importance),
        pruning_ratio=ratio,
        global_pruning=global_pruning,
        pruning_ratio_dict={modules[n]: r for n, r in (layer_ratios or {}).items()} or None,
        ignored_layers=[modules[n] for n in ignored],
        iterative_steps=steps,
        **({} if reg is None else {"reg": reg}),
    )


def fixed_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Layers never pruned: the output layer (its channels are the outputs) and layers whose new shape a run folder
    cannot record (layer norms, attention)."""
    names = {m: n for n, m in model.named_modules()}
    return [names[output_layer(model, example)], *(n for m, n in names.items() if isinstance(m, _UNRECORDED))]


def cut(pruner, model: nn.Module, example: torch.Tensor, expected: tuple, before: dict, names: dict) -> None:
    """One pruner step on `model` in place; checks the output shape and that no unrecordable layer was resized.
    A group that fails names its root layer in the exception (`failed_layer`), for the caller to exclude."""
    current = None
    try:
        for group in pruner.step(interactive=True):
            current = names.get(group[0].dep.target.module)
            group.prune()
            current = None
        with torch.no_grad():
            if tuple(model.eval()(example).shape) != expected:
                raise RuntimeError("the output shape changed")
    except Exception as e:
        e.failed_layer = current
        raise
    changed = [n for n, m in model.named_modules() if isinstance(m, _UNRECORDED) and _shape(m) != _shape(before[n])]
    if changed:
        raise EdgekitError(
            f"structured pruning resized {', '.join(changed[:3])}, whose shape a run folder cannot record",
            "use --unstructured, or --layer-ratio to prune the convolutional part only",
        )


def _failing_group(pruner, names: dict) -> str | None:
    """The root layer of the first group whose channels the pruner cannot map (channel shuffle, grouped reshapes)."""
    for group in pruner.DG.get_all_groups(ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types):
        try:
            pruner.estimate_importance(group)
        except Exception:
            return names.get(group[0].dep.target.module)
    return None


def check_layer_ratios(model: nn.Module, layer_ratios: dict | None) -> None:
    modules = dict(model.named_modules())
    unknown = [n for n in (layer_ratios or {}) if n not in modules]
    if unknown:
        raise EdgekitError(
            f"no layer named {unknown[0]} in the model",
            f"use one of: {', '.join(n for n, m in modules.items() if isinstance(m, _PRUNABLE))}",
        )


def structured_prune(
    model: nn.Module,
    input_shape,
    ratio: float,
    *,
    importance: str = "l2",
    global_pruning: bool = False,
    layer_ratios: dict[str, float] | None = None,
) -> tuple[nn.Module, list[str]]:
    """Prune channels in one shot on a copy; returns (pruned model, layers left unpruned because the pruner cannot
    follow them).

    torch-pruning's dependency graph cannot map channels through every reshape (ShuffleNet's channel shuffle
    raised IndexError / ZeroDivisionError): such a group's root layer is excluded and pruning is retried on a
    fresh copy, so one odd layer costs its own channels, not the whole step. Criteria that need gradients are
    planned with l2 here (which groups can be cut does not depend on the criterion)."""
    if importance in NEEDS_GRADIENTS:
        importance = "l2"
    example = torch.zeros(1, *input_shape)
    check_layer_ratios(model, layer_ratios)
    modules = dict(model.named_modules())
    with torch.no_grad():
        expected = tuple(model.eval()(example).shape)
    ignored, excluded = fixed_layers(model, example), []
    for _ in range(MAX_EXCLUSIONS):
        work = copy.deepcopy(model)
        work_names = {m: n for n, m in work.named_modules()}
        try:
            pruner = _pruner(work, example, ratio, importance, global_pruning, layer_ratios, ignored)
        except Exception as e:
            raise EdgekitError(
                f"structured pruning cannot trace this model: {type(e).__name__}: {str(e)[:160]}",
                "use --unstructured, or prune a model without that construct",
            ) from None
        bad = _failing_group(pruner, work_names)
        if bad is None:
            try:
                cut(pruner, work, example, expected, modules, work_names)
                return work, excluded
            except EdgekitError:
                raise
            except Exception as e:
                bad = getattr(e, "failed_layer", None)
        if bad is None or bad in ignored:
            raise EdgekitError(
                "structured pruning failed on this architecture even after excluding "
                f"{len(excluded)} layer(s) ({', '.join(excluded) or 'none'})",
                "use --unstructured, or --layer-ratio to prune chosen layers only",
            )
        excluded.append(bad)
        ignored.append(bad)
    raise EdgekitError(f"structured pruning had to exclude more than {MAX_EXCLUSIONS} layers", "use --unstructured instead")


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
