"""metrics.json for a training run, including the DDP rank-agreement record."""

from __future__ import annotations

import torch

from ..evaluate import evaluate
from .distributed import all_gather_floats


def param_checksum(model: torch.nn.Module) -> float:
    # Position-weighted sum: equal only if every rank holds the same weights.
    total = 0.0
    for i, p in enumerate(model.state_dict().values()):
        if p.is_floating_point():
            total += float((p.double().flatten() * (i + 1)).sum())
    return total


def run_metrics(result, spec, x: dict, y: dict, config) -> dict:
    test = evaluate(result.model, spec.task, x["test"], y["test"], device=result.device)
    val = evaluate(result.model, spec.task, x["val"], y["val"], device=result.device)
    metrics = {
        "task": spec.task,
        "test": test,
        "val": val,
        "best_epoch": result.best_epoch,
        "epochs": config.epochs,
        "history": result.history,
        "train_config": config.to_json(),
        "device": result.device,
        "amp": result.amp,
        "wall_seconds": round(result.wall_seconds, 3),
    }
    checksums = all_gather_floats(result.ctx, param_checksum(result.model))
    metrics["distributed"] = {"world_size": result.ctx.world_size, "writer_rank": result.ctx.rank, "param_checksums": checksums}
    return metrics
