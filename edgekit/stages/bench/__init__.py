"""`edgekit bench`: run artifacts on a device with its own runtime; latency, memory, accuracy, budgets, reports."""

from .api import bench
from .harness import Measurement

__all__ = ["bench", "Measurement"]
