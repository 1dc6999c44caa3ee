"""What flows from one compression step to the next: the model, its spec, the data and training defaults."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch.nn as nn

from ...contracts import ModelSpec
from ...data import Splits, load_run_data
from ...nn.evaluate import predict
from ...nn.profile import profile_model
from ...tasks import get_task
from ..train import TrainConfig


@dataclass
class ChainState:
    model: nn.Module
    spec: ModelSpec
    data: Splits
    train_config: TrainConfig
    progress: bool = True
    code: bytes | None = None  # the user module's source the model needs (copied into the new run folder)
    trust_code: bool = False  # the user allows code a recipe names (a distillation student)
    quality_keys: tuple = ()  # the task's metric keys in the last measure() row
    max_drop: float | None = None  # --max-drop: a prune schedule stops at the last cut whose validation score is within it

    def measure(self) -> dict:
        """Test scores and cost, the row every step reports."""
        task = get_task(self.spec.task)
        # a PT2E QAT graph holds no nn.Conv2d/Linear modules to count: its float structure is counted
        counted = self.model.float_module() if hasattr(self.model, "float_module") else self.model
        cost = profile_model(counted, self.spec.input_shape).to_json()
        scores = task.score(predict(self.model, self.data.x["test"]), self.data.x["test"], self.data.y["test"], self.data.groups["test"])
        if self.spec.quantization:
            # int8 storage: one byte per weight of quantized layers, the rest (biases) at 4 bytes.
            cost["size_bytes"] = quantized_bytes(counted)
        self.quality_keys = tuple(scores.metrics)  # which keys of the row are the task's (metrics.json's `test`)
        return {**scores.metrics, **cost}


def quantized_bytes(model: nn.Module) -> int:
    total = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            total += m.weight.numel() + (m.bias.numel() * 4 if m.bias is not None else 0)
    return total


def initial_state(
    model: nn.Module,
    spec: ModelSpec,
    train_config: dict,
    *,
    progress: bool = True,
    dataset: str | None = None,
    code: bytes | None = None,
    trust_code: bool = False,
    where: str = "the run's model.json",
    say=None,
) -> ChainState:
    bundle = load_run_data(spec, dataset, where=where, say=say)
    config = TrainConfig(**{k: v for k, v in train_config.items() if k in TrainConfig.__dataclass_fields__})
    # fine-tunes start from trained weights (no warm-up) and are short; QAT's observers are not averaged
    config = replace(config, warmup_epochs=0, ema=False)
    # A copy: steps fold batch-norm and prune in place, and the caller's Run must stay what its folder holds.
    return ChainState(
        model=copy.deepcopy(model).cpu().eval(),
        spec=spec,
        data=Splits.of(bundle, spec.normalization),
        train_config=config,
        progress=progress,
        code=code,
        trust_code=trust_code,
    )
