"""Benchmark reports: report.json (versioned), report.md and a self-contained report.html with plots."""

from .build import REPORT_SCHEMA, build_report
from .write import write_report

__all__ = ["REPORT_SCHEMA", "build_report", "write_report"]
