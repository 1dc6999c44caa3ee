"""The exact splits a run was trained on, rebuilt from what its model.json recorded."""

from __future__ import annotations

from ..contracts import ModelSpec
from .bundle import DataBundle
from .loaders import load_dataset


def load_run_data(spec: ModelSpec, dataset: str | None = None) -> DataBundle:
    """`dataset` points at the same data elsewhere (a run folder from another machine)."""
    d = spec.dataset
    return load_dataset(dataset or d.spec, spec.input_shape, seed=d.seed, fractions=tuple(d.fractions), task=spec.task)
