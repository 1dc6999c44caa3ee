"""metrics.json for a training run, including the DDP rank-agreement record and the degenerate-model warning."""

from __future__ import annotations

import torch

from ...contracts import Cost, Metrics
from ...nn.evaluate import predict
from ...nn.profile import profile_model
from ...tasks import get_task
from ...tasks.base import DEGENERATE_SPREAD, output_spread
from .distributed import all_gather_floats


def param_checksum(model: torch.nn.Module) -> float:
    # Position-weighted sum: equal only if every rank holds the same weights.
    total = 0.0
    for i, p in enumerate(model.state_dict().values()):
        if p.is_floating_point():
            total += float((p.double().flatten() * (i + 1)).sum())
    return total


def quality_warnings(task, spec, outputs, scores: dict) -> list[str]:
    """A model that learned nothing still exports and "agrees" with itself: say so where it is made."""
    warnings = []
    spread = output_spread(outputs)
    if spread < DEGENERATE_SPREAD:
        warnings.append(
            f"the model's outputs hardly depend on its input (spread {spread:.1e}): it learned nothing usable; "
            "train longer, raise --lr, or check the data"
        )
    return warnings + task.warnings(spec, scores)  # e.g. a classifier near chance


def run_metrics(result, spec, data, config) -> Metrics:
    task = get_task(spec.task)
    out_test = predict(result.model, data.x["test"], device=result.device)
    test = task.score(out_test, data.x["test"], data.y["test"], data.groups["test"]).metrics
    val = task.score(predict(result.model, data.x["val"], device=result.device), data.x["val"], data.y["val"], data.groups["val"]).metrics
    checksums = all_gather_floats(result.ctx, param_checksum(result.model))
    cost = profile_model(result.model.to("cpu"), spec.input_shape)
    return Metrics(
        stage="train",
        task=spec.task,
        quality=task.quality,
        higher_is_better=task.higher_is_better,
        test=test,
        val=val,
        cost=Cost(**cost.to_json()),
        best_epoch=result.best_epoch,
        epochs=config.epochs,
        history=result.history,
        train_config=config.to_json(),
        device=result.device,
        amp=result.amp,
        wall_seconds=round(result.wall_seconds, 3),
        distributed={"world_size": result.ctx.world_size, "writer_rank": result.ctx.rank, "param_checksums": checksums},
        warnings=quality_warnings(task, spec, out_test, test),
    )
