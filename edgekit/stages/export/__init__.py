"""`edgekit export`: device profiles → artifacts of any registered format, with proof of parity in the real runtime."""

from .api import Artifact, export_run

__all__ = ["Artifact", "export_run"]
