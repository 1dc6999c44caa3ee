"""The exact splits a run was trained on, rebuilt from what its model.json recorded.

A data path recorded in a run folder (which may come from elsewhere) is read only when it still holds the data
this run was trained on: the sha256 recorded at train time (edgekit/data/fingerprint.py) must match what is read.
Otherwise the user names the data with --dataset, which is their word (checked to fit the run's classes).
"""

from __future__ import annotations

import json
from typing import Callable

from ..contracts import RUN_FIX, ModelSpec
from ..device import preprocess
from ..errors import EdgekitError
from .bundle import DataBundle
from .loaders import data_path, load_dataset, read_fingerprinted
from .normalize import normalize_step
from .source import Source


def load_run_data(
    spec: ModelSpec, dataset: str | None = None, *, where: str = "the run's model.json", say: Callable[[str], None] | None = None
) -> DataBundle:
    """`dataset` points at the same data elsewhere (a run folder from another machine). `where` names the
    model.json in messages; `say` hears which recorded file was read. Classes are numbered in the run's label
    order (an adopted model's may differ from the data set's)."""
    return _recorded_data(spec, dataset, where, say).in_order(spec.labels)


def _recorded_data(spec: ModelSpec, dataset: str | None, where: str, say: Callable[[str], None] | None) -> DataBundle:
    d = spec.dataset
    kwargs = {"seed": d.seed, "fractions": tuple(d.fractions), "task": spec.task, "steps": recorded_steps(spec, where)}
    if dataset is not None:
        source, _ = read_fingerprinted(dataset)
        check_fits(spec, source, f"--dataset {dataset}", where)
        return load_dataset(dataset, spec.input_shape, source=source, **kwargs)
    path = data_path(d.spec)
    if path is None:  # digits, synthetic: nothing read from a path
        source, _ = read_fingerprinted(d.spec)
        check_fits(spec, source, d.spec, where)
        return load_dataset(d.spec, spec.input_shape, source=source, **kwargs)
    kind = d.spec.partition(":")[0]
    fix = f"pass --dataset {kind}:PATH with the data this run was trained on"
    if not path.exists():
        raise EdgekitError(
            f"{where} names data {d.spec}, which is not on this machine (moved or deleted?)",
            f"pass --dataset {kind}:NEW_PATH (the same data at its new place)",
        )
    if d.sha256 is None:
        raise EdgekitError(f"{where} names data {d.spec} without the sha256 of its contents, so it is not read", fix)
    source, found = read_fingerprinted(d.spec)  # compared before anything is made of the samples
    found = found or "nothing"
    if found != d.sha256:
        raise EdgekitError(
            f"{where} names data {d.spec} that is not the data it was trained on (sha256 {found[:12]}…, recorded {d.sha256[:12]}…)", fix
        )
    check_fits(spec, source, d.spec, where)
    bundle = load_dataset(d.spec, spec.input_shape, source=source, **kwargs)
    if say is not None:
        say(f"data: {d.spec}, recorded in {where} (the same files as at training, by sha256)")
    return bundle


def recorded_steps(spec: ModelSpec, where: str) -> list[dict] | None:
    """The preprocessing steps the run recorded, before its normalisation: export and compress make their data with
    exactly these, so the parity check runs the pipeline deploy.json ships to the device (not a rebuilt one).
    Checked first with the device's own validator: a received model.json may hold anything."""
    recorded = spec.preprocess
    if not recorded:
        return None  # a run without a recorded pipeline: the data set's own steps
    try:
        preprocess.validate(recorded)
    except ValueError as e:
        raise EdgekitError(f"{where}: key 'preprocess': {e}", RUN_FIX) from None
    steps = list(recorded["steps"])
    if spec.normalization:
        norm = normalize_step({k: spec.normalization.get(k) for k in ("mean", "std", "axis")})
        if not steps or _plain(steps[-1]) != _plain(norm):
            raise EdgekitError(f"{where}: key 'preprocess' does not end with the run's normalization (key 'normalization')", RUN_FIX)
        steps = steps[:-1]
    return steps


def _plain(value):
    """As JSON has it (tuples are lists): the recorded pipeline went through model.json."""
    return json.loads(json.dumps(value))


def check_fits(spec: ModelSpec, source: Source, what: str, where: str) -> None:
    """The data's classes are the run's: a 10-class data set cannot test a 3-class run. Its raw input is the kind the
    run's recorded pipeline takes (images of the same channels, audio at the same rate, arrays)."""
    if spec.num_classes is not None and spec.labels and len(source.labels) != spec.num_classes:
        raise EdgekitError(
            f"{what} has {len(source.labels)} classes, the run {spec.num_classes} ({where})",
            "pass the data set this run was trained on (or one with the same classes)",
        )
    if spec.preprocess and _plain(spec.preprocess.get("input")) != _plain(source.input):
        raise EdgekitError(
            f"{what} delivers raw input {_plain(source.input)}, the run's key 'preprocess.input' takes "
            f"{_plain(spec.preprocess.get('input'))} ({where})",
            "pass the data set this run was trained on (or one of the same kind)",
        )
