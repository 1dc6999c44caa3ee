"""ModelSpec: everything needed to rebuild a model and feed it, stored as model.json in every run folder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SPEC_FORMAT = "edgekit.model/1"
TASKS = ("classification", "reconstruction")


@dataclass
class ModelSpec:
    name: str
    source: str  # "zoo" or "user"
    arch: str  # zoo architecture key, or the user's "path.py:Class" / "pkg.mod:factory"
    input_shape: list[int]  # one sample, no batch axis
    task: str = "classification"
    num_classes: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    # Per-channel statistics of the train split; every stage and the device runner apply (x - mean) / std.
    normalization: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    # Layer shapes that differ from what `arch` + `kwargs` build (set by structured pruning).
    resized_layers: dict[str, list[int]] = field(default_factory=dict)
    bn_folded: bool = False
    # Set by quantization: {"tool": "nncf", "method": "ptq"|"qat", "config": <nncf config>, "calibration": {...}}
    quantization: dict[str, Any] = field(default_factory=dict)
    input_dtype: str = "float32"

    @property
    def layout(self) -> str:
        return {1: "NC", 2: "NCL", 3: "NCHW"}.get(len(self.input_shape), "N" + "C" * len(self.input_shape))

    def to_json(self) -> dict:
        return {"format": SPEC_FORMAT, **asdict(self), "layout": self.layout}

    @classmethod
    def from_json(cls, data: dict) -> "ModelSpec":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
