"""Structured pruning as a schedule (DepGraph, Fang et al., CVPR 2023, with torch-pruning): optional sparse training
with the group-norm regulariser, then the cut in `steps` equal steps with fine-tuning between them (the validation
score checked after each), then the final fine-tune — on the labels, or distilled from the unpruned parent."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn

from ...nn.evaluate import predict
from ...nn.profile import profile_model
from ...tasks import get_task
from ..train import fit
from .distill import parent_loss
from .prune import NEEDS_GRADIENTS, _pruner, check_layer_ratios, cut, fixed_layers, structured_prune

GRADIENT_BATCHES = 8  # training batches whose gradients a gradient criterion (taylor) reads before each cut
RECALIBRATION_SAMPLES = 1024  # training samples whose batch statistics replace batch-norm's running ones after a cut
FINETUNE_LR_SCALE = 0.5  # of the training learning rate (the cosine schedule restarts from there each fine-tune)


@dataclass
class Schedule:
    ratio: float
    importance: str
    global_pruning: bool
    layer_ratios: dict
    steps: int  # cuts to reach `ratio`
    finetune: int  # epochs after the cuts, in total (see epochs_between)
    sparsity_epochs: int
    reg: float
    distill_from_parent: bool

    def epochs_between(self) -> list[int]:
        """Fine-tune epochs after each cut: up to half of the budget spread over the cuts before the last, the rest
        after the last one."""
        each = self.finetune // (2 * self.steps) if self.steps > 1 else 0
        return [each] * (self.steps - 1) + [self.finetune - each * (self.steps - 1)]


def _regularised(loss_fn, task, model: nn.Module, pruner):
    """Adds torch-pruning's group-norm sparsity term to the loss. GroupNormPruner.regularize() adds its gradient
    straight into .grad (meant to run after backward); fit's loop owns backward, so the same gradient enters as a
    loss term: sum(p * g) with g = regularize()'s contribution, held constant, has gradient g exactly."""
    params = [p for p in model.parameters() if p.requires_grad]

    def fn(m, xb, yb):
        if loss_fn is None:
            out = m(xb)
            loss = task.loss(out, xb, yb)
        else:
            loss, out = loss_fn(m, xb, yb)
        saved = [p.grad for p in params]
        for p in params:
            p.grad = torch.zeros_like(p)
        pruner.regularize(model)
        extra = [p.grad for p in params]
        for p, g in zip(params, saved):
            p.grad = g
        return loss + sum((p * g).sum() for p, g in zip(params, extra)), out

    return fn


def _fit(state, model, epochs: int, loss_fn, label: str) -> nn.Module:
    config = replace(state.train_config, epochs=epochs, lr=state.train_config.lr * FINETUNE_LR_SCALE)
    return fit(model, state.spec.task, state.data, config, loss_fn=loss_fn, progress=state.progress, label=label).model.cpu()


def _accumulate_gradients(state, model: nn.Module) -> None:
    """Gradients of the task loss on a few training batches (eval mode: batch-norm statistics stay as they are)."""
    task = get_task(state.spec.task)
    model.eval()
    model.zero_grad(set_to_none=True)
    x, y = state.data.x["train"], state.data.row_labels("train")
    order = np.random.default_rng(state.train_config.seed).permutation(len(x))
    size = state.train_config.batch_size
    for i in range(0, min(len(x), GRADIENT_BATCHES * size), size):
        idx = order[i : i + size]
        xb = torch.from_numpy(x[idx])
        task.loss(model(xb), xb, task.collate(y, idx, torch.device("cpu"))).backward()


def recalibrate_batchnorm(state, model: nn.Module) -> None:
    """Re-estimates batch-norm running statistics on training samples after a cut (forward passes only). A cut shifts
    every following layer's statistics; the stale ones collapsed MobileNetV2 to one class right after it (EagleEye,
    Li et al. ECCV 2020, "adaptive BN"; benchmarks/pruning.py measures it, not yet recorded)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    x = state.data.x["train"]
    order = np.random.default_rng(state.train_config.seed).permutation(len(x))[:RECALIBRATION_SAMPLES]
    size = max(state.train_config.batch_size, 2)
    model.train()
    with torch.no_grad():
        for i in range(0, len(order), size):
            if len(order[i : i + size]) > 1:  # a batch of one has no batch statistics
                model(torch.from_numpy(x[np.sort(order[i : i + size])]))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def validation_row(state, model: nn.Module) -> dict:
    task = get_task(state.spec.task)
    x = state.data.x["val"]
    return task.score(predict(model, x), x, state.data.y["val"], state.data.groups["val"]).metrics


def run_schedule(state, s: Schedule, goal=None) -> tuple[nn.Module, dict]:
    """Prunes state.model by the schedule; returns (model, details). With state.max_drop set, the cut stops at the
    last step whose validation score is within it of the parent's (details['target_missed'] says where)."""
    task = get_task(state.spec.task)
    shape = state.spec.input_shape
    example = torch.zeros(1, *shape)
    model = copy.deepcopy(state.model)  # cut in place: the caller's model stays the unpruned parent
    check_layer_ratios(model, s.layer_ratios)
    parent_val = validation_row(state, model)
    parent_cost = profile_model(model, shape)
    _, excluded = structured_prune(
        model, shape, s.ratio, importance=s.importance, global_pruning=s.global_pruning, layer_ratios=s.layer_ratios
    )
    teacher = copy.deepcopy(model).eval() if s.distill_from_parent else None
    loss_fn = parent_loss(state.spec.task, teacher)
    ignored = fixed_layers(model, example) + excluded
    pruner = _pruner(
        model,
        example,
        s.ratio,
        s.importance,
        s.global_pruning,
        s.layer_ratios,
        ignored,
        steps=s.steps,
        reg=s.reg if s.sparsity_epochs else None,
    )
    if s.sparsity_epochs:
        model = _fit(state, model, s.sparsity_epochs, _regularised(loss_fn, task, model, pruner), "sparse training")
    with torch.no_grad():
        expected = tuple(model.eval()(example).shape)
    before = dict(model.named_modules())
    names = {m: n for n, m in before.items()}
    rows, missed, kept, kept_cut = [], None, None, None
    for k, epochs in enumerate(s.epochs_between(), 1):
        if state.max_drop is not None:
            kept = copy.deepcopy(model)
        if s.importance in NEEDS_GRADIENTS:
            _accumulate_gradients(state, model)
        cut(pruner, model, example, expected, before, names)
        model.zero_grad(set_to_none=True)
        recalibrate_batchnorm(state, model)
        if epochs:
            model = _fit(state, model, epochs, loss_fn, f"fine-tune cut {k}/{s.steps}")
        cost = profile_model(model, shape)
        val = validation_row(state, model)
        row = {"cut": k, "ratio": round(s.ratio * k / s.steps, 4), "macs": cost.macs, "params": cost.params, "epochs": epochs}
        row.update({f"val_{key}": v for key, v in val.items()})
        if goal is not None and goal.quantity != "macs":
            row[goal.quantity] = round(goal.measure(model), 4)
        rows.append(row)
        drop = task.drop(parent_val, val) if val.get(task.quality) is not None and parent_val.get(task.quality) is not None else None
        checked = epochs > 0 or k == s.steps  # a cut not yet fine-tuned says little about the score it will reach
        if checked and state.max_drop is not None and drop is not None and drop > state.max_drop:
            missed = (
                f"pruning stopped at cut {k}/{s.steps}: the validation {task.quality} fell {drop:.2f} {task.unit}, more than "
                f"--max-drop {state.max_drop}; kept cut {k - 1} ({(rows[-2]['macs'] if k > 1 else parent_cost.macs) / parent_cost.macs:.2f}x MACs)"
            )
            model = kept
            if k > 1 and rows[-2]["epochs"] < epochs:
                # the kept cut was fine-tuned less than a last cut is: it gets the final fine-tune the stopped cut
                # would have had, so the model kept is not one left half-trained between two cuts
                model = _fit(state, model, epochs, loss_fn, f"fine-tune cut {k - 1}/{s.steps} (kept)")
                kept_row = {f"val_{key}": v for key, v in validation_row(state, model).items()}
                kept_cut = {"cut": k - 1, "epochs": rows[-2]["epochs"] + epochs, **kept_row}
            break
    details = {
        "importance": s.importance,
        "ratio": round(s.ratio, 4),
        "iterative_steps": s.steps,
        "sparsity_epochs": s.sparsity_epochs,
        "finetune_epochs": s.finetune,
        "distill_from_parent": s.distill_from_parent,
        "schedule": rows,
        "parent_val": parent_val,
    }
    if s.sparsity_epochs:
        details["reg"] = s.reg
    if excluded:
        details["excluded_layers"] = excluded
    if missed:
        details["target_missed"] = missed
    if kept_cut:
        details["kept_cut"] = kept_cut
    return model.eval(), details
