"""Benchmark reports: report.json (versioned), report.md and a self-contained report.html with plots."""

from .build import LEGEND, comparison, finish_entries
from .write import report_paths, write_report

__all__ = ["LEGEND", "comparison", "finish_entries", "report_paths", "write_report"]
