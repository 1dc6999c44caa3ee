"""`edgekit export`: device profiles → ONNX / TFLite / microcontroller / Edge TPU artifacts, with proof of parity."""

from .api import export_run

__all__ = ["export_run"]
