"""An image-folder data set drawn here with Pillow (no download): circles, squares and triangles of random size,
colour, position and rotation on textured backgrounds, saved as JPEG/PNG photos of varying sizes — so the
recorded preprocessing (resize, channels, scaling) has real work to do, as with a camera."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..util.fsutil import staged_dir

CLASSES = ("circle", "square", "triangle")


def _shape(draw, kind: str, cx: float, cy: float, r: float, angle: float, colour) -> None:
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        return
    n = 4 if kind == "square" else 3
    points = [(cx + r * math.cos(angle + 2 * math.pi * i / n), cy + r * math.sin(angle + 2 * math.pi * i / n)) for i in range(n)]
    draw.polygon(points, fill=colour)


def make_shapes(out: Path, *, per_class: int = 60, seed: int = 0, say=lambda m: None) -> dict:
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    out = Path(out)
    with staged_dir(out) as tmp:
        for kind in CLASSES:
            (tmp / kind).mkdir()
            say(f"drawing {per_class} {kind}s")
            for i in range(per_class):
                w, h = int(rng.integers(48, 160)), int(rng.integers(48, 160))
                noise = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
                img = Image.fromarray(noise).resize((w, h), Image.BILINEAR).filter(ImageFilter.GaussianBlur(2))
                draw = ImageDraw.Draw(img)
                r = float(rng.uniform(0.2, 0.4) * min(w, h))
                cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
                _shape(draw, kind, cx, cy, r, float(rng.uniform(0, 2 * math.pi)), tuple(int(v) for v in rng.integers(0, 256, 3)))
                name = tmp / kind / f"{i:04d}.{'jpg' if i % 2 else 'png'}"
                img.save(name, quality=90) if name.suffix == ".jpg" else img.save(name)
    return {"path": str(out), "images": per_class * len(CLASSES), "classes": list(CLASSES)}
