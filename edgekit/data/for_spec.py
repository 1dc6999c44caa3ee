"""The exact splits a run was trained on, rebuilt from what its model.json recorded."""

from __future__ import annotations

from ..spec import ModelSpec
from .bundle import DataBundle
from .loaders import load_dataset


def load_run_data(spec: ModelSpec) -> DataBundle:
    d = spec.dataset
    return load_dataset(d["spec"], spec.input_shape, seed=d["seed"], fractions=tuple(d.get("fractions", (0.7, 0.15, 0.15))),
                        task=spec.task)
