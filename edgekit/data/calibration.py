"""Calibration samples for int8: drawn from the train split by the run's seed, with a sane minimum."""

from __future__ import annotations

import numpy as np

from ..errors import EdgekitError

MIN_CALIBRATION = 32


def check_calib(samples: int, force: bool = False) -> None:
    """At least one sample always (--force-calib only lowers the safe minimum, it never makes -5 mean "all but 5")."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise EdgekitError(f"--calib must be ≥ 1, got {samples}", f"pass e.g. --calib 300 (at least {MIN_CALIBRATION} for stable ranges)")
    if samples < MIN_CALIBRATION and not force:
        raise EdgekitError(
            f"{samples} calibration samples is too few for stable int8 ranges",
            f"use at least {MIN_CALIBRATION} (--calib), or add --force-calib to accept it",
        )


def calibration_samples(x_train: np.ndarray, samples: int, *, seed: int = 0, force: bool = False) -> np.ndarray:
    check_calib(samples, force)
    idx = np.sort(np.random.default_rng(seed).permutation(len(x_train))[:samples])
    return x_train[idx]
