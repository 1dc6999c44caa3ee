"""Per-channel normalisation computed on the train split; stored with the model for every later stage."""

from __future__ import annotations

import numpy as np


def compute_normalization(x_train: np.ndarray) -> dict:
    # Channel axis 1 for (N, C, ...) data; 1-D feature vectors get one global statistic.
    if x_train.ndim >= 3:
        axes = (0,) + tuple(range(2, x_train.ndim))
        mean, std = x_train.mean(axis=axes), x_train.std(axis=axes)
        axis = 1
    else:
        mean, std = np.array([x_train.mean()]), np.array([x_train.std()])
        axis = None
    std = np.where(std < 1e-6, 1.0, std)
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std], "axis": axis}


def apply_normalization(x: np.ndarray, norm: dict) -> np.ndarray:
    if not norm:
        return x.astype(np.float32)
    mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
    if norm.get("axis") == 1:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean, std = mean.reshape(shape), std.reshape(shape)
    return ((x - mean) / std).astype(np.float32)
