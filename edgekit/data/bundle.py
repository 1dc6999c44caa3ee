"""The split data set every stage consumes: raw samples as the device sees them, and the model inputs the
recorded preprocessing makes of them (one numpy implementation: edgekit/device/preprocess.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass
class DataBundle:
    spec: str
    raw: dict[str, list]  # split → raw samples (uint8 images, PCM clips, arrays), as a sensor delivers them
    x: dict[str, np.ndarray]  # split → model inputs before normalisation, float32, one row per model input
    y: dict[str, np.ndarray]  # split → one label per sample (class index; anomaly: 1 = anomalous; boxes: BoxLabels)
    groups: dict[str, np.ndarray | None]  # split → the sample each row of x belongs to (None: one row per sample)
    labels: list[str]
    seed: int
    fractions: tuple[float, float, float]
    kind: str  # "image" | "audio" | "tensor": the raw input's kind
    pipeline: dict  # raw → x, without the normalisation (added once the train split's statistics are known)
    meta: dict = field(default_factory=dict)
    task: str = "classification"  # what the data is for (anomaly data sets turn a reconstruction model into a detector)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x["train"].shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def row_labels(self, split: str) -> np.ndarray:
        """One label per row of x (a clip's label repeated over its vectors)."""
        g = self.groups[split]
        return self.y[split] if g is None else self.y[split][g]

    def in_order(self, labels: list[str]) -> DataBundle:
        """The same samples with the classes numbered as `labels` orders the same names (a model adopted with its own
        class order, edgekit/stages/adopt.py). Other names leave the numbering as it is."""
        if not labels or labels == self.labels or len(set(labels)) != len(labels) or sorted(labels) != sorted(self.labels):
            return self
        index = np.array([labels.index(name) for name in self.labels], dtype=np.int64)
        renumbered = {s: v.renumber(index) if hasattr(v, "renumber") else index[v] for s, v in self.y.items()}
        return replace(self, y=renumbered, labels=list(labels))

    def record(self) -> dict:
        """What model.json keeps, so later stages rebuild exactly the same splits."""
        return {
            "spec": self.spec,
            "seed": self.seed,
            "fractions": list(self.fractions),
            "kind": self.kind,
            "sizes": {s: int(len(self.y[s])) for s in SPLITS},
            **self.meta,
        }


@dataclass
class Splits:
    """Model-ready splits: normalised inputs, per-sample labels, and which sample each row belongs to."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    groups: dict[str, np.ndarray | None]
    shapes: dict[str, list] = field(default_factory=dict)  # split → each raw sample's shape (a box's frame on the device)

    def row_labels(self, split: str) -> np.ndarray:
        g = self.groups.get(split)
        return self.y[split] if g is None else self.y[split][g]

    @classmethod
    def of(cls, bundle: DataBundle, norm: dict) -> Splits:
        from .normalize import apply_normalization

        shapes = {s: [np.shape(r) for r in raws] for s, raws in bundle.raw.items()}
        return cls({s: apply_normalization(v, norm) for s, v in bundle.x.items()}, dict(bundle.y), dict(bundle.groups), shapes)
