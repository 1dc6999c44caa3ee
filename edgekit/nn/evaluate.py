"""Model outputs and task scores on a split; shared by training, compression and export."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..errors import EdgekitError, InternalError, forward_failure


def _cpu(out):
    """A model's output as float CPU tensors, in its own structure: a tensor, a tuple/list or a dict of tensors."""
    if isinstance(out, dict):
        return {k: _cpu(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return tuple(_cpu(v) for v in out)
    return out.float().cpu()


def _joined(outs: list):
    """Batches joined per output: an array for a one-tensor model, a tuple or dict of arrays for several."""
    first = outs[0]
    if isinstance(first, dict):
        return {k: torch.cat([o[k] for o in outs]).numpy() for k in first}
    if isinstance(first, tuple):
        return tuple(torch.cat([o[i] for o in outs]).numpy() for i in range(len(first)))
    return torch.cat(outs).numpy()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, *, batch_size: int = 256, device="cpu"):
    """The model's outputs on x: one array for a one-tensor model, a tuple or dict of arrays (its own structure) for
    a model giving several (tasks read them: edgekit/tasks/base.py)."""
    model.eval()
    outs = []
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[i : i + batch_size]).to(device)
        try:
            out = model(xb)
        except (EdgekitError, InternalError):
            raise
        except Exception as e:  # the user's forward() is blamed only when the traceback ends in its code
            raise forward_failure(e, model, fix="fix the model's forward() for inputs of its input shape") from e
        outs.append(_cpu(out))
    return _joined(outs) if outs else np.zeros((0,), np.float32)


def evaluate(model: nn.Module, task: str, x: np.ndarray, y: np.ndarray, groups=None, *, device="cpu") -> dict:
    """The task's metrics of the model on a split."""
    from ..tasks import get_task

    return get_task(task).score(predict(model, x, device=device), x, y, groups).metrics
