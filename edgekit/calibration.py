"""Calibration samples for int8: drawn from the train split by the run's seed, with a sane minimum."""

from __future__ import annotations

import numpy as np

from .errors import EdgekitError

MIN_CALIBRATION = 32


def calibration_samples(x_train: np.ndarray, samples: int, *, seed: int = 0, force: bool = False) -> np.ndarray:
    if samples < MIN_CALIBRATION and not force:
        raise EdgekitError(
            f"{samples} calibration samples is too few for stable int8 ranges",
            f"use at least {MIN_CALIBRATION} (--calib), or add --force-calib to accept it",
        )
    idx = np.sort(np.random.default_rng(seed).permutation(len(x_train))[:samples])
    return x_train[idx]
