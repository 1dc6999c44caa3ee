"""Model outputs and task scores on a split; shared by training, compression and export."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..errors import EdgekitError


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, *, batch_size: int = 256, device="cpu") -> np.ndarray:
    model.eval()
    outs = []
    for i in range(0, len(x), batch_size):
        try:
            outs.append(model(torch.from_numpy(x[i : i + batch_size]).to(device)).float().cpu())
        except (RuntimeError, TypeError, ValueError, IndexError) as e:
            raise EdgekitError(
                f"the model's forward pass failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}",
                "fix the model's forward() for inputs of its input shape",
            ) from None
    return torch.cat(outs).numpy() if outs else np.zeros((0,), np.float32)


def evaluate(model: nn.Module, task: str, x: np.ndarray, y: np.ndarray, groups=None, *, device="cpu") -> dict:
    from ..tasks import get_task

    return get_task(task).score(predict(model, x, device=device), x, y, groups)
