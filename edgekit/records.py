"""The typed results a task hands generic code: Quality (a score on a split) and Parity (export's verdict on an
artifact against its PyTorch reference). Generic code reads their fixed fields and shows `metrics` as the task's
columns say; it never picks metric keys by name, so a new task adds no field here or anywhere else."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Optional

from pydantic import StrictBool, StrictInt, field_validator

from .schema import Strict

Metric = Optional[float]


def plain_metrics(values: dict) -> dict[str, Metric]:
    """name -> float or None: numpy scalars made floats, NaN and infinities made None (not measurable; a NaN
    never reads as a pass, and JSON cannot hold it)."""
    out = {}
    for k, v in values.items():
        if v is not None:
            if not isinstance(v, numbers.Real) or isinstance(v, bool):
                raise ValueError(f"metric '{k}' must be a number or null, not {type(v).__name__}")
            v = float(v)
            if not math.isfinite(v):
                v = None
        out[str(k)] = v
    return out


@dataclass(frozen=True)
class Quality:
    """A task's score of a model on one split: every metric, the headline one, and which way is better."""

    metrics: dict[str, Metric]
    headline: str
    higher_is_better: bool

    @property
    def value(self) -> Metric:
        return self.metrics.get(self.headline)


class Parity(Strict):
    """deploy.json's `parity` and parity.json. `passed`/`rule` are the verdict; `metrics` are the task's figures
    (shown as its parity_columns() say); `summary` names the few a one-line verdict quotes."""

    passed: StrictBool
    rule: str  # what was required, in words ("agreement ≥ 98.0% ...", "degenerate", "not proven")
    reference: str = ""  # what the artifact was compared with ("PyTorch fp32")
    runtime: Optional[str] = None  # the runtime (and its version) that ran the artifact
    samples: StrictInt  # raw samples compared
    metrics: dict[str, Metric] = {}
    summary: list[str] = []  # keys of `metrics` a one-line verdict quotes, most telling first
    proven: StrictBool = True  # False: exported with --no-parity (edgekit/parity.py)
    degenerate: Optional[str] = None  # why a parity check on this model would prove nothing
    note: Optional[str] = None
    versus: dict[str, dict[str, Metric]] = {}  # the same metrics against another reference ("the run's own int8")

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, v):
        return plain_metrics(v) if isinstance(v, dict) else v

    @field_validator("versus", mode="before")
    @classmethod
    def _versus(cls, v):
        return {k: plain_metrics(m) if isinstance(m, dict) else m for k, m in v.items()} if isinstance(v, dict) else v

    def brief(self, metrics: dict | None = None) -> str:
        """'top1_agreement 0.975, accuracy 0.9611' from the summary keys (of `metrics`, default this record's)."""
        metrics = self.metrics if metrics is None else metrics
        return ", ".join(f"{k} {metrics[k]:.4g}" for k in self.summary if metrics.get(k) is not None)
