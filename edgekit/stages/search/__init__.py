"""`edgekit search`: device-in-the-loop multi-objective search on Optuna (run.py is the entry point)."""

from .run import run_search

__all__ = ["run_search"]
