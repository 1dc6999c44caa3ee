"""The split data set every stage consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass
class DataBundle:
    spec: str
    x: dict[str, np.ndarray]  # split → float32 samples, raw (not normalised), channels first
    y: dict[str, np.ndarray]  # split → int64 labels
    labels: list[str]
    seed: int
    fractions: tuple[float, float, float]
    meta: dict = field(default_factory=dict)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x["train"].shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def record(self) -> dict:
        """What model.json keeps, so later stages rebuild exactly the same splits."""
        return {"spec": self.spec, "seed": self.seed, "fractions": list(self.fractions),
                "sizes": {s: int(len(self.y[s])) for s in SPLITS}, **self.meta}
