"""Accuracy and loss of a model on a split; shared by training, compression and export parity checks."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, *, batch_size: int = 256, device="cpu") -> np.ndarray:
    model.eval()
    outs = [model(torch.from_numpy(x[i:i + batch_size]).to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(outs).numpy() if outs else np.zeros((0,), np.float32)


def task_loss(task: str, output: torch.Tensor, x: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0):
    if task == "reconstruction":
        return F.mse_loss(output, x.reshape(output.shape))
    return F.cross_entropy(output, y, label_smoothing=label_smoothing)


def score(task: str, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict:
    """accuracy + loss for classifiers, mse for autoencoders (lower is better)."""
    out, xt, yt = torch.from_numpy(outputs), torch.from_numpy(x), torch.from_numpy(y)
    loss = float(task_loss(task, out, xt, yt)) if len(y) else float("nan")
    if task == "reconstruction":
        return {"loss": loss, "mse": loss}
    return {"loss": loss, "accuracy": float((out.argmax(1) == yt).float().mean())}


def evaluate(model: nn.Module, task: str, x: np.ndarray, y: np.ndarray, *, device="cpu") -> dict:
    return score(task, predict(model, x, device=device), x, y)
