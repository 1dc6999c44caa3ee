"""imagefolder:DIR — one sub-folder per class, decoded with Pillow; the raw samples stay uint8 HWC."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..device import rawfile
from ..errors import EdgekitError
from . import fingerprint
from .source import Source, image_steps

IMAGE_SUFFIXES = set(rawfile.IMAGE_SUFFIXES)


def read_image(path: Path) -> np.ndarray:
    """uint8 HWC RGB, or HW grayscale; any size; decoded as the device decodes a photo (EXIF orientation, 16 bits)."""
    try:
        return rawfile.decode_image(io.BytesIO(fingerprint.read_bytes(path)))  # bytes: recorded in the data's sha256
    except ValueError as e:
        raise EdgekitError(f"cannot read image {path}: {e}", "remove or replace that file") from None


def read_imagefolder(spec: str, root: Path) -> Source:
    if not root.is_dir():
        raise EdgekitError(f"image folder not found: {root}", "check the path after 'imagefolder:'")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise EdgekitError(f"{root} has no class sub-folders", "put each class's images in a sub-folder named after it")
    raws, ys = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise EdgekitError(f"class folder {root / name} holds no images", "add images to it or remove the folder")
        for f in files:
            raws.append(read_image(f))
            ys.append(label)
    sizes = {r.shape[:2] for r in raws}
    gray = all(r.ndim == 2 for r in raws)
    if not gray:
        raws = [np.repeat(r[:, :, None], 3, axis=2) if r.ndim == 2 else r for r in raws]
    channels = 1 if gray else 3
    hw = sizes.pop() if len(sizes) == 1 else None
    return Source(
        raw=raws,
        y=np.asarray(ys, np.int64),
        labels=classes,
        kind="image",
        input={"kind": "image", "channels": "L" if gray else "RGB"},
        natural_shape=(channels, *hw) if hw else None,
        steps=image_steps(spec, channels, 1 / 255),
    )
