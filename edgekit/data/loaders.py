"""Parse a data-set spec, read the raw samples, run the recorded preprocessing, split them by seed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..device import preprocess
from ..errors import EdgekitError
from . import fingerprint
from .bundle import SPLITS, DataBundle
from .source import Source, image_steps, tensor_steps

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
MAX_BYTES = 8 << 30  # a data set edgekit would hold in memory (float32 model inputs)


def _digits(spec: str) -> Source:
    from sklearn.datasets import load_digits

    d = load_digits()
    # The raw form is the data set's own: 8x8 intensities 0..16 (uint8). The model sees them /16.
    raw = list(d.images.astype(np.uint8))
    return Source(
        raw=raw,
        y=d.target.astype(np.int64),
        labels=[str(c) for c in d.target_names],
        kind="image",
        input={"kind": "image", "channels": "L"},
        natural_shape=(1, 8, 8),
        steps=image_steps(spec, 1, 1 / 16),
    )


def _npz(spec: str, path: str) -> Source:
    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"data file not found: {p}", "check the path after 'npz:'")
    try:
        with fingerprint.open_hashed(p) as fh, np.load(fh, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise EdgekitError(f"{p} has arrays {sorted(f.files)}, not 'x' and 'y'", "save it with np.savez(path, x=..., y=...)")
            x, y = f["x"], f["y"].reshape(-1)
            labels = [str(v) for v in f["labels"]] if "labels" in f else None
    except EdgekitError:
        raise
    except Exception as e:
        raise EdgekitError(f"cannot read {p}: {str(e)[:160]}", "pass an .npz written by numpy.savez (no pickled objects)") from None
    integral = y.dtype.kind in "biu" or (y.dtype.kind == "f" and np.isfinite(y).all() and np.array_equal(y, np.round(y)))
    if x.dtype.kind not in "biuf" or not integral or x.ndim < 2:
        raise EdgekitError(
            f"{p}: x must be numeric (N, ...) and y whole-number labels, got x {x.dtype} {x.shape}, y {y.dtype}",
            "save numeric arrays with np.savez",
        )
    if len(x) != len(y):
        raise EdgekitError(f"{p}: x has {len(x)} samples but y has {len(y)}", "give one label per sample")
    if 0 in x.shape[1:]:
        raise EdgekitError(f"{p}: x has shape {x.shape}, samples of no values", "save samples with at least one value each")
    y = y.astype(np.int64)
    n_classes = len(labels) if labels is not None else (int(y.max()) + 1 if len(y) else 0)
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise EdgekitError(
            f"{p}: labels must lie in 0..{n_classes - 1}, found {int(y.min())}..{int(y.max())}",
            "fix y, or give a 'labels' array with one name per class",
        )
    return Source(
        raw=list(x),
        y=y,
        labels=labels or [str(i) for i in range(n_classes)],
        kind="tensor",
        input={"kind": "tensor"},
        natural_shape=tuple(x.shape[1:]),
        steps=tensor_steps(spec, tuple(x.shape[1:])),
    )


def _synthetic(spec: str, arg: str) -> Source:
    parts = arg.split(":")
    try:
        shape = tuple(int(d) for d in parts[0].split(","))
        n_classes = int(parts[1])
        n = int(parts[2]) if len(parts) > 2 else 1200
        if len(parts) > 3 or n_classes < 1 or n < 3 * n_classes or not all(d > 0 for d in shape):
            raise ValueError  # an assert would vanish under `python -O`
    except (ValueError, IndexError):
        raise EdgekitError(
            f"bad synthetic spec '{spec}'", "write synthetic:C,H,W:N_CLASSES[:N_SAMPLES], e.g. synthetic:3,32,32:10"
        ) from None
    need = n * math.prod(shape) * 4 * 2
    if need > MAX_BYTES:
        raise EdgekitError(
            f"'{spec}' would need {need / 2**30:,.0f} GiB of memory", f"ask for fewer samples (at most {MAX_BYTES >> 30} GiB)"
        )
    rng = np.random.default_rng(1234)
    # Class prototypes plus noise: learnable, so accuracy means something even on random data.
    prototypes = rng.normal(0, 1, (n_classes, *shape)).astype(np.float32)
    y = np.arange(n) % n_classes
    x = prototypes[y] + rng.normal(0, 1.5, (n, *shape)).astype(np.float32)
    return Source(
        raw=list(x),
        y=y.astype(np.int64),
        labels=[f"class{i}" for i in range(n_classes)],
        kind="tensor",
        input={"kind": "tensor"},
        natural_shape=shape,
        steps=tensor_steps(spec, shape),
    )


def canonical_spec(spec: str) -> str:
    """File-based specs get absolute paths, so a run folder finds its data from any working directory."""
    kind, _, arg = spec.partition(":")
    if kind not in FILE_KINDS or not arg:
        return spec
    path, sep, options = arg.partition("?")
    return f"{kind}:{Path(path).resolve()}{sep}{options}"


def read_source(spec: str) -> Source:
    kind, _, arg = spec.partition(":")
    if kind == "digits" and not arg:
        return _digits(spec)
    if kind == "npz" and arg:
        return _npz(spec, arg)
    if kind == "imagefolder" and arg:
        from .imagefolder import read_imagefolder

        return read_imagefolder(spec, Path(arg))
    if kind == "synthetic" and arg:
        return _synthetic(spec, arg)
    if kind == "coco" and arg:
        from .coco import read_coco

        return read_coco(spec, Path(arg))
    if kind == "yolo" and arg:
        from .yolo import read_yolo

        return read_yolo(spec, Path(arg))
    if kind == "audiofolder" and arg:
        from .audio import read_audiofolder

        return read_audiofolder(spec, arg)
    if kind == "machines" and arg:
        from .audio import read_machines

        return read_machines(spec, arg)
    raise EdgekitError(
        f"unknown data set '{spec}'",
        "use digits, npz:PATH, imagefolder:DIR, audiofolder:DIR, machines:DIR, coco:DIR, yolo:DIR or synthetic:C,H,W:N_CLASSES "
        "(see `edgekit datasets`)",
    )


FILE_KINDS = ("npz", "imagefolder", "audiofolder", "machines", "coco", "yolo")
BOX_TASKS = ("detection", "centroids")  # tasks that read box labels (data/boxlabels.py)


def read_fingerprinted(spec: str) -> tuple[Source, str | None]:
    """The data set's raw samples and the sha256 of the files read for them (None: digits, synthetic)."""
    root = data_path(spec)
    with fingerprint.recording(root or Path()) as reading:  # the files' contents, for model.json's record
        source = read_source(spec)
    return source, (reading.digest() if root is not None else None)


def data_path(spec: str) -> Path | None:
    """The file or folder a data-set spec reads (None: digits and synthetic read no file)."""
    kind, _, arg = spec.partition(":")
    if kind not in FILE_KINDS or not arg:
        return None
    return Path(arg.partition("?")[0] if kind == "audiofolder" else arg)


def _split(src: Source, seed: int, fractions, stratify: bool) -> dict[str, np.ndarray]:
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    y, n = src.y, len(src.y)
    idx = np.arange(n)
    val_share = fractions[1] / (fractions[0] + fractions[1])
    if src.fixed_split is not None:  # the layout names its test set (DCASE: train/ and test/)
        test, train_val = idx[src.fixed_split == "test"], idx[src.fixed_split != "test"]
        train, val = train_test_split(train_val, test_size=val_share, random_state=seed)
        return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
    if src.keep_together is not None:  # speakers: each one's clips land in one split
        groups = src.keep_together
        outer = GroupShuffleSplit(n_splits=1, test_size=fractions[2], random_state=seed)
        train_val, test = next(outer.split(idx, y, groups))
        inner = GroupShuffleSplit(n_splits=1, test_size=val_share, random_state=seed)
        tr, va = next(inner.split(train_val, y[train_val], groups[train_val]))
        return {"train": np.sort(train_val[tr]), "val": np.sort(train_val[va]), "test": np.sort(test)}
    strat = y if stratify and np.bincount(y).min() >= 3 else None
    train_val, test = train_test_split(idx, test_size=fractions[2], random_state=seed, stratify=strat)
    train, val = train_test_split(train_val, test_size=val_share, random_state=seed, stratify=None if strat is None else y[train_val])
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def _features(raws: list, pipeline: dict, spec: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the preprocessing on every raw sample; several rows per sample become groups."""
    rows, counts = [], []
    for raw in raws:
        try:
            out = preprocess.run(pipeline, raw)
        except ValueError as e:
            raise EdgekitError(f"preprocessing a sample of '{spec}' failed: {e}", "check the data set's samples") from None
        rows.append(out)
        counts.append(len(out))
    x = np.concatenate(rows) if rows else np.zeros((0,), np.float32)
    if not np.isfinite(x).all():
        raise EdgekitError(f"data set '{spec}' holds NaN or infinite values", "clean the data (np.nan_to_num, or drop those samples)")
    groups = None if all(c == 1 for c in counts) else np.repeat(np.arange(len(raws)), counts)
    return x.astype(np.float32), groups


def default_model(spec: str | None) -> str:
    """The zoo recipe `edgekit train` trains on a data set when no --model is named (by the spec's kind: nothing read)."""
    from .detect_common import DEFAULT_DETECTOR

    kind = (spec or "").partition(":")[0]
    return DEFAULT_DETECTOR if kind in ("coco", "yolo") else "digits-cnn"


def _check_task(spec: str, src: Source, task: str) -> None:
    """Box labels go with a detector, and a detector needs box labels."""
    if src.task == "detection" and task not in BOX_TASKS:
        raise EdgekitError(
            f"data set '{spec}' labels boxes (a detection data set), and the model is a {task} model",
            f"train a detector: leave out --model (the default is {src.default_model}) or see `edgekit models`",
        )
    if task in BOX_TASKS and src.task != "detection":
        raise EdgekitError(f"a {task} model needs box labels, and data set '{spec}' has none", "pass --dataset coco:DIR or yolo:DIR")


def input_shape_of(spec: str) -> tuple[int, ...] | None:
    """The model input shape a data set fixes (None: the model's recipe or --input-shape must say)."""
    src = read_source(spec)
    return src.natural_shape


def load_dataset(
    spec: str,
    input_shape=None,
    *,
    seed: int = 0,
    fractions=DEFAULT_FRACTIONS,
    task: str = "classification",
    source: Source | None = None,
    steps: list[dict] | None = None,
    fingerprint: str | None = None,
) -> DataBundle:
    """Read `spec`, make model inputs of `input_shape` (None: the data's own shape), split by `seed`. `steps`: the
    preprocessing a run recorded (before its normalisation), used instead of the data set's default steps.
    `fingerprint`: the sha256 read_fingerprinted() gave with `source`, recorded with the data."""
    from ..tasks import get_task

    fingerprinted = fingerprint
    if source is None:
        source, fingerprinted = read_fingerprinted(spec)
    src = source
    if src.task == "anomaly" and task in ("reconstruction", "anomaly"):
        task = "anomaly"  # labelled normal/anomalous clips: the autoencoder is scored by AUC
    if src.task == "detection" and task == "classification":
        task = "detection"  # the task follows from the data (a user's module declares none): boxes are detected
    t = get_task(task)
    _check_task(spec, src, task)
    if len(src.y) < 10:
        raise EdgekitError(f"data set '{spec}' has only {len(src.y)} samples", "give at least 10 (train/val/test need some each)")
    ids = src.y.class_ids() if hasattr(src.y, "class_ids") else src.y
    if len(np.unique(ids)) < t.min_classes:
        if not len(ids):
            raise EdgekitError(f"data set '{spec}' labels no object in any image", "label the objects to detect")
        raise EdgekitError(
            f"data set '{spec}' holds a single class ({src.labels[int(ids[0])] if src.labels else ids[0]})",
            "a classifier needs at least two classes",
        )
    shape = tuple(input_shape) if input_shape is not None else src.natural_shape
    if shape is None:
        raise EdgekitError(f"the samples of '{spec}' differ in size, so the data set fixes no input shape", "pass --input-shape C,H,W")
    pipeline = {"version": preprocess.PIPELINE_VERSION, "input": src.input, "steps": src.steps(shape) if steps is None else steps}
    parts = _split(src, seed, fractions, stratify=t.stratify)
    x, y, groups, raw = {}, {}, {}, {}
    for s in SPLITS:
        raw[s] = [src.raw[i] for i in parts[s]]
        y[s] = t.labels_for(src.y.take(parts[s]), pipeline)  # an array's rows, or a box container's images
        shown = src.augment(s, raw[s], seed) if src.augment else raw[s]  # training-time noise; eval keeps the clean clips
        x[s], groups[s] = _features(shown, pipeline, spec)
        if len(x[s]) and tuple(x[s].shape[1:]) != shape:
            if steps is not None:  # a run's recorded pipeline on data it was not made for
                raise EdgekitError(
                    f"the run's recorded preprocessing makes samples of shape {tuple(x[s].shape[1:])} from '{spec}', "
                    f"the model takes {shape}",
                    "pass the data set this run was trained on with --dataset",
                )
            raise EdgekitError(
                f"the preprocessing of '{spec}' makes samples of shape {tuple(x[s].shape[1:])}, the model takes {shape}",
                "pass a matching --input-shape",
            )
    return DataBundle(
        spec=canonical_spec(spec),
        raw=raw,
        x=x,
        y=y,
        groups=groups,
        labels=src.labels,
        seed=seed,
        fractions=tuple(fractions),
        kind=src.kind,
        pipeline=pipeline,
        meta={**src.meta, **({"sha256": fingerprinted} if fingerprinted else {})},
        task=task,
    )
