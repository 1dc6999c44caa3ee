"""What flows from one compression step to the next: the model, its spec, the data and training defaults."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch.nn as nn

from ..data import apply_normalization, load_run_data
from ..evaluate import evaluate
from ..profile import profile_model
from ..spec import ModelSpec
from ..train import TrainConfig


@dataclass
class ChainState:
    model: nn.Module
    spec: ModelSpec
    x: dict[str, np.ndarray]  # normalised splits
    y: dict[str, np.ndarray]
    train_config: TrainConfig
    progress: bool = True

    def measure(self) -> dict:
        """Test metrics and cost, the row every step reports."""
        cost = profile_model(self.model, self.spec.input_shape).to_json()
        result = evaluate(self.model, self.spec.task, self.x["test"], self.y["test"])
        if self.spec.quantization:
            # int8 storage: one byte per weight of quantized layers, the rest (biases) at 4 bytes.
            cost["size_bytes"] = quantized_bytes(self.model)
        return {**result, **cost}


def quantized_bytes(model: nn.Module) -> int:
    total = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            total += m.weight.numel() + (m.bias.numel() * 4 if m.bias is not None else 0)
    return total


def initial_state(model: nn.Module, spec: ModelSpec, metrics: dict, *, progress: bool = True) -> ChainState:
    data = load_run_data(spec)
    x = {s: apply_normalization(v, spec.normalization) for s, v in data.x.items()}
    cfg = metrics.get("train_config", {})
    config = TrainConfig(**{k: v for k, v in cfg.items() if k in TrainConfig.__dataclass_fields__})
    return ChainState(model=model.cpu().eval(), spec=spec, x=x, y=data.y, train_config=config, progress=progress)
