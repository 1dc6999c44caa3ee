"""Benchmark reports: report.json (versioned), report.md and a self-contained report.html with plots."""

from .build import LEGEND, comparison, finish_entries
from .write import write_report

__all__ = ["LEGEND", "comparison", "finish_entries", "write_report"]
