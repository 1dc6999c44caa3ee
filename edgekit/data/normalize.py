"""Per-channel normalisation computed on the train split; it ends the recorded preprocessing."""

from __future__ import annotations

import numpy as np


def compute_normalization(x_train: np.ndarray) -> dict:
    """`axis` counts within one sample (no batch axis), as edgekit/device/preprocess.py's normalize step does."""
    if x_train.ndim >= 3:  # (N, C, ...): per channel
        axes = (0,) + tuple(range(2, x_train.ndim))
        mean, std = x_train.mean(axis=axes, dtype=np.float64), x_train.std(axis=axes, dtype=np.float64)
        axis = 0
    else:  # (N, F) feature vectors: one global statistic
        mean, std = np.array([x_train.mean(dtype=np.float64)]), np.array([x_train.std(dtype=np.float64)])
        axis = None
    std = np.where(std < 1e-6, 1.0, std)
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std], "axis": axis}


def apply_normalization(x: np.ndarray, norm: dict) -> np.ndarray:
    """The same formula as preprocess's normalize step, on a batch (N, ...)."""
    if not norm:
        return x.astype(np.float32)
    mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    if norm.get("axis") is not None:
        shape = [1] * x.ndim
        shape[norm["axis"] + 1] = -1
        mean, std = mean.reshape(shape), std.reshape(shape)
    return ((x - mean) / std).astype(np.float32)


def normalize_step(norm: dict) -> dict:
    return {"op": "normalize", "mean": norm["mean"], "std": norm["std"], "axis": norm["axis"]}
