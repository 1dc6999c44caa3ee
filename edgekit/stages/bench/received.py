"""A received artifact folder, checked on the host before any device work: it holds its files themselves (no
symbolic links), deploy.json's schema and values hold, every file it ships matches its sha256 (the eval file's
too), the eval file is plain arrays that fit together, the preprocessing is one the device runs, and the task
fits the model's output. Each problem is one line naming the file and the key; the device checks the hashes again.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from ...contracts import DEPLOY_FIX, Deploy, load_deploy
from ...device import preprocess
from ...device.integrity import bad_files
from ...errors import EdgekitError

MAX_EVAL_BYTES = 4 << 30  # what the declared arrays of an eval file may add up to (headers are read first)


def check_artifact_folder(folder: Path) -> Deploy:
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgekitError(f"artifact folder not found: {folder}", "pass a folder written by `edgekit export`")
    deploy_json = folder / "deploy.json"
    if not deploy_json.is_file() and not deploy_json.is_symlink():
        raise EdgekitError(f"{folder} holds no exported artifact (no deploy.json)", "pass a folder written by `edgekit export`")
    # A link would make bench read, hash and send whatever it points at (scp would ship /etc/passwd to a board).
    links = sorted(p.name for p in folder.iterdir() if p.is_symlink())
    if links:
        raise EdgekitError(
            f"{folder} holds symbolic links ({', '.join(links)}): a received artifact folder must hold its files themselves",
            "copy the real files in, or re-export it with `edgekit export`",
        )
    deploy = load_deploy(deploy_json)
    bad = bad_files(folder, deploy.artifact.model_dump(), deploy.eval.model_dump())
    if bad:
        raise EdgekitError(
            f"{folder}: {', '.join(bad)} missing or not matching the sha256 in deploy.json (changed or corrupt)",
            "re-export with `edgekit export`",
        )
    task = _task(deploy_json, deploy)
    labels, reference, first = _check_eval(folder / deploy.eval.file, deploy, task)
    try:
        preprocess.validate(deploy.preprocess)
    except ValueError as e:
        raise EdgekitError(f"{deploy_json}: key 'preprocess': {e}", DEPLOY_FIX) from None
    _check_preprocess_output(deploy_json, deploy, first)
    _check_task(deploy_json, deploy, task, labels, reference)
    return deploy


def _check_preprocess_output(deploy_json: Path, deploy: Deploy, first: np.ndarray) -> None:
    """The recorded preprocessing, run here on the first eval sample, must make what the model takes."""
    try:
        out = preprocess.run(deploy.preprocess, first)
    except ValueError as e:
        raise EdgekitError(f"{deploy_json}: key 'preprocess' fails on the first eval sample: {e}", DEPLOY_FIX) from None
    if len(deploy.inputs) != 1:  # the runner feeds the pipeline's one model input
        names = ", ".join(t.name for t in deploy.inputs)
        raise EdgekitError(
            f"{deploy_json}: key 'inputs' lists {len(deploy.inputs)} tensors ({names}), its preprocess makes one", DEPLOY_FIX
        )
    want = deploy.inputs[0].shape[1:]
    if all(d > 0 for d in want) and list(out.shape[1:]) != list(want):
        raise EdgekitError(
            f"{deploy_json}: key 'preprocess' makes samples of shape {list(out.shape[1:])}, the model's input takes {want}", DEPLOY_FIX
        )


def _headers(path: Path) -> None:
    """Every array's declared dtype and size, read from the .npy headers before numpy allocates anything (a few
    bytes on disk may declare terabytes)."""
    total = 0
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read is None:
                    raise ValueError(f"member {info.filename!r} is a version {version} .npy file")
                shape, _, dtype = read(f)
            if dtype.hasobject:
                raise ValueError(f"array {info.filename!r} holds Python objects (pickled data is never loaded)")
            total += math.prod(shape) * dtype.itemsize
    if total > MAX_EVAL_BYTES:
        raise EdgekitError(f"{path} declares {total / 2**30:,.0f} GiB of arrays (at most {MAX_EVAL_BYTES >> 30} GiB)", DEPLOY_FIX)


class _Read(dict):
    """The eval file's arrays, remembering which keys the device task read (named in messages)."""

    def __init__(self, arrays: dict):
        super().__init__(arrays)
        self.read: list[str] = []

    def __getitem__(self, key):
        self.read.append(key)
        return super().__getitem__(key)


def _load(path: Path, read, arrays: _Read):
    """(what the device task's loader returns, the keys it read); a missing key or bad data is one line."""
    before = len(arrays.read)
    try:
        return read(arrays), ", ".join(arrays.read[before:])
    except KeyError as e:
        raise EdgekitError(f"{path}: key {str(e.args[0])!r} missing", DEPLOY_FIX) from None
    except ValueError as e:
        raise EdgekitError(f"{path}: {e}", DEPLOY_FIX) from None


def _check_eval(path: Path, deploy: Deploy, task) -> tuple:
    """The eval file as the runner reads it: the labels and the reference (as the device task loads them) and the raw
    samples (`raw`, or `raw_00000`...), as many of each, at least one, numbers only, finite. Returns (labels,
    reference, the first raw sample) for the checks after."""
    fix = DEPLOY_FIX
    try:
        _headers(path)
        with np.load(path, allow_pickle=False) as ev:
            arrays = _Read({k: ev[k] for k in ev.files})
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        # numpy's own words would advise loading it "unsafely using allow_pickle": never that for a received file
        why = str(e).splitlines()[0][:120] if "pickle" not in str(e) else "it holds pickled Python objects"
        raise EdgekitError(f"{path} is not a plain array file ({why})", fix) from None
    labels, label_keys = _load(path, task.device.load_labels, arrays)
    reference, _ = _load(path, task.device.load_reference, arrays)
    stacked = "raw" in arrays  # else one array per sample: raw_00000, raw_00001, ...
    raws = [("raw", arrays["raw"])] if stacked else [(k, arrays[k]) for k in sorted(k for k in arrays if k.startswith("raw_"))]
    if not raws:
        raise EdgekitError(f"{path}: key 'raw' missing (the raw samples the device checks accuracy on)", fix)
    count = len(raws[0][1]) if stacked and raws[0][1].ndim else len(raws)
    for key, a in dict.items(arrays):
        if a.dtype.kind not in "biuf" or a.ndim == 0:
            raise EdgekitError(f"{path}: key '{key}' must be an array of numbers, not {a.dtype} of shape {list(a.shape)}", fix)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise EdgekitError(f"{path}: key '{key}' holds NaN or infinite values", fix)
    if count < 1 or not count == len(labels) == len(reference):
        raise EdgekitError(
            f"{path}: {count} raw samples, {len(labels)} labels ({label_keys}) and {len(reference)} reference outputs "
            "(needs as many of each, at least one)",
            fix,
        )
    if count != deploy.eval.samples:
        raise EdgekitError(f"{path} holds {count} samples, deploy.json's key 'eval.samples' says {deploy.eval.samples}", fix)
    return labels, reference, raws[0][1][0] if stacked else raws[0][1]


def _task(deploy_json: Path, deploy: Deploy):
    from ...tasks import get_task

    try:
        return get_task(deploy.task)
    except EdgekitError as e:
        raise EdgekitError(f"{deploy_json}: key 'task': {e.problem}", DEPLOY_FIX) from None


def _check_task(deploy_json: Path, deploy: Deploy, task, labels, reference: np.ndarray) -> None:
    """The task scores the model's outputs: it says what does not fit between them, the labels and the reference."""
    problem = task.check_eval(deploy, labels, reference)
    if problem:
        raise EdgekitError(f"{deploy_json} says task '{deploy.task}' but {problem}", DEPLOY_FIX)
