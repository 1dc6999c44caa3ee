"""Parse a data-set spec, read the samples, fit them to the model's input and split them by seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import EdgekitError
from .bundle import SPLITS, DataBundle
from .reshape import fit_images, fit_arrays

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]  # 0..16 intensities → 0..1, one channel
    return x, d.target.astype(np.int64), [str(c) for c in d.target_names], True


def _npz(path: str):
    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"data file not found: {p}", "check the path after 'npz:'")
    try:
        with np.load(p, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise EdgekitError(f"{p} has arrays {sorted(f.files)}, not 'x' and 'y'", "save it with np.savez(path, x=..., y=...)")
            x, y = f["x"].astype(np.float32), f["y"].astype(np.int64).reshape(-1)
            labels = [str(v) for v in f["labels"]] if "labels" in f else None
    except EdgekitError:
        raise
    except Exception as e:
        raise EdgekitError(f"cannot read {p}: {e}", "pass an .npz written by numpy.savez") from None
    if len(x) != len(y):
        raise EdgekitError(f"{p}: x has {len(x)} samples but y has {len(y)}", "give one label per sample")
    n_classes = int(y.max()) + 1 if len(y) else 0
    return x, y, labels or [str(i) for i in range(n_classes)], False


def _imagefolder(root: str, input_shape):
    from .imagefolder import read_imagefolder

    x, y, labels = read_imagefolder(Path(root), input_shape)
    return x, y, labels, False


def _synthetic(arg: str, input_shape):
    parts = arg.split(":")
    try:
        shape = tuple(int(d) for d in parts[0].split(","))
        n_classes = int(parts[1])
        n = int(parts[2]) if len(parts) > 2 else 1200
        if n_classes < 1 or n < 3 * n_classes or not all(d > 0 for d in shape):
            raise ValueError  # an assert would vanish under `python -O`
    except (ValueError, IndexError):
        raise EdgekitError(f"bad synthetic spec 'synthetic:{arg}'", "write synthetic:C,H,W:N_CLASSES[:N_SAMPLES], e.g. synthetic:3,32,32:10") from None
    rng = np.random.default_rng(1234)
    # Class prototypes plus noise: learnable, so accuracy means something even on random data.
    prototypes = rng.normal(0, 1, (n_classes, *shape)).astype(np.float32)
    y = np.arange(n) % n_classes
    x = prototypes[y] + rng.normal(0, 1.5, (n, *shape)).astype(np.float32)
    return x, y.astype(np.int64), [f"class{i}" for i in range(n_classes)], False


def canonical_spec(spec: str) -> str:
    """File-based specs get absolute paths, so a run folder finds its data from any working directory."""
    kind, _, arg = spec.partition(":")
    return f"{kind}:{Path(arg).resolve()}" if kind in ("npz", "imagefolder") and arg else spec


def _read(spec: str, input_shape):
    kind, _, arg = spec.partition(":")
    if kind == "digits" and not arg:
        return _digits()
    if kind == "npz" and arg:
        return _npz(arg)
    if kind == "imagefolder" and arg:
        return _imagefolder(arg, input_shape)
    if kind == "synthetic" and arg:
        return _synthetic(arg, input_shape)
    raise EdgekitError(f"unknown data set '{spec}'", "use digits, npz:PATH, imagefolder:DIR or synthetic:C,H,W:N_CLASSES (see `edgekit datasets`)")


def _split(x, y, seed, fractions, stratify):
    n = len(y)
    idx = np.arange(n)
    strat = y if stratify and np.bincount(y).min() >= 3 else None
    train_val, test = train_test_split(idx, test_size=fractions[2], random_state=seed, stratify=strat)
    val_share = fractions[1] / (fractions[0] + fractions[1])
    train, val = train_test_split(train_val, test_size=val_share, random_state=seed,
                                  stratify=None if strat is None else y[train_val])
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def load_dataset(spec: str, input_shape=None, *, seed: int = 0, fractions=DEFAULT_FRACTIONS,
                 task: str = "classification") -> DataBundle:
    """Read `spec`, fit samples to `input_shape` (None keeps the data's own shape), split by `seed`."""
    x, y, labels, is_image = _read(spec, input_shape)
    if len(y) < 10:
        raise EdgekitError(f"data set '{spec}' has only {len(y)} samples", "give at least 10 (train/val/test need some each)")
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        x = fit_images(x, input_shape, spec) if is_image else fit_arrays(x, input_shape, spec)
    parts = _split(x, y, seed, fractions, stratify=(task == "classification"))
    return DataBundle(spec=canonical_spec(spec), x={s: x[parts[s]] for s in SPLITS}, y={s: y[parts[s]] for s in SPLITS},
                      labels=labels, seed=seed, fractions=tuple(fractions))
