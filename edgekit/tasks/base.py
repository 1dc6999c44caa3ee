"""The Task protocol: loss, score and its direction, validation key, parity rule, budget checks, report columns."""

from __future__ import annotations

from typing import Any

import numpy as np

# A model is degenerate when its outputs hardly move across inputs: parity on it proves nothing.
DEGENERATE_SPREAD = 1e-3


def output_spread(reference: np.ndarray) -> float:
    """How much the reference outputs vary across samples, relative to their size (0 = constant)."""
    r = reference.reshape(len(reference), -1).astype(np.float64)
    if len(r) < 2:
        return float("inf")
    return float(r.std(axis=0).max() / (np.abs(r).mean() + 1e-6))


def centred_cosine(o: np.ndarray, r: np.ndarray) -> float:
    """Cosine after removing the reference's per-output mean: a constant bias no longer reads as agreement."""
    o, r = o.reshape(len(o), -1).astype(np.float64), r.reshape(len(r), -1).astype(np.float64)
    mu = r.mean(axis=0, keepdims=True)
    o, r = o - mu, r - mu
    return float((o * r).sum() / (np.linalg.norm(o) * np.linalg.norm(r) + 1e-12))


def per_sample(values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Mean of per-vector values per sample (anomaly clips are several vectors each)."""
    if groups is None:
        return values
    return np.bincount(groups, weights=values) / np.maximum(np.bincount(groups), 1)


def check(name: str, value, limit: float, direction: str, unit: str = "", on_target: bool = True, note: str | None = None) -> dict:
    ok = value is not None and (value <= limit if direction == "max" else value >= limit)
    status = "not the target" if not on_target else ("PASS" if ok else "FAIL")
    return {
        "check": name,
        "value": None if value is None else float(value),
        "limit": float(limit),
        "unit": unit,
        "direction": direction,
        "status": status,
        "note": note,
    }


class Task:
    name: str
    quality: str  # headline metric key of `score`
    higher_is_better: bool
    has_classes: bool
    stratify: bool  # stratified splits by label
    unit: str  # what --max-drop counts in
    device: Any  # the numpy scorer in edgekit/device/quality.py

    def loss(self, output, x, y, label_smoothing: float = 0.0): ...

    def score(self, outputs: np.ndarray, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> dict: ...

    def validation_key(self, scores: dict) -> tuple: ...

    def drop(self, parent: dict, child: dict) -> float:
        """Quality lost from parent to child in this task's points (positive = worse)."""
        sign = 1 if self.higher_is_better else -1
        return sign * (parent[self.quality] - child[self.quality]) * 100

    def fmt(self, scores: dict) -> str:
        return f"{scores[self.quality]:.4f}"

    def reference_values(self, reference: np.ndarray, x: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        """The per-sample values the device scores (device/quality.py `reduce`), from full model outputs."""
        ...

    def parity(
        self, outputs: np.ndarray, reference: np.ndarray, x: np.ndarray, y: np.ndarray, groups, *, precision: str, floor: float
    ) -> dict: ...

    def budget_checks(self, quality: dict, budgets, precision: str, floor: float, on_target: bool) -> list[dict]: ...

    def options(self, values: np.ndarray, y: np.ndarray) -> dict:
        """What the device needs beyond the model to label a sample (per-sample values of the validation split)."""
        return {}

    def columns(self) -> list[tuple[str, str, str]]:
        """Report columns: (header, key in the device quality dict, format)."""
        ...
