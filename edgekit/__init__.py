"""edgekit: from training on a workstation to a checked model on a small device."""

__version__ = "0.1.0"
