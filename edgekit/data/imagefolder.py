"""imagefolder:DIR — one sub-folder per class, read with Pillow and resized to the model's input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgekitError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def read_imagefolder(root: Path, input_shape) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image, UnidentifiedImageError

    if not root.is_dir():
        raise EdgekitError(f"image folder not found: {root}", "check the path after 'imagefolder:'")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise EdgekitError(f"{root} has no class sub-folders", "put each class's images in a sub-folder named after it")
    if input_shape is None or len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise EdgekitError(f"imagefolder needs an image input shape, got {input_shape}", "pass --input-shape 3,H,W or 1,H,W")
    c, h, w = input_shape
    mode = "L" if c == 1 else "RGB"
    xs, ys = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise EdgekitError(f"class folder {root / name} holds no images", "add images to it or remove the folder")
        for f in files:
            try:
                with Image.open(f) as img:
                    arr = np.asarray(img.convert(mode).resize((w, h), Image.BILINEAR), np.float32) / 255.0
            except (UnidentifiedImageError, OSError) as e:
                raise EdgekitError(f"cannot read image {f}: {e}", "remove or replace that file") from None
            xs.append(arr[None] if c == 1 else arr.transpose(2, 0, 1))
            ys.append(label)
    return np.stack(xs), np.asarray(ys, np.int64), classes
