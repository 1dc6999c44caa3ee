"""What made an artifact: tool versions recorded in deploy.json."""

from __future__ import annotations

from importlib import metadata


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def base_toolchain() -> dict:
    import torch

    from ..._version import __version__

    return {"edgekit": __version__, "torch": torch.__version__}
