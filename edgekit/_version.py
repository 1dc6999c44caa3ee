"""The one place edgekit's version is written: the package, the run manifests and pyproject.toml read it here."""

__version__ = "0.2.0"
