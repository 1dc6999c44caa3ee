"""A detection data set drawn here with Pillow (no download), in the COCO layout: scenes of several objects
(circles, squares, triangles, stars, crosses) of widely varied size, colour and rotation on textured backgrounds
with clutter (lines and blobs that are not objects), partly overlapping each other, in images of varied size and
aspect ratio — so the letterbox, the box mapping and the detector all have real work to do.

    DIR/images/000000.png ...          (every 4th image a JPEG, as cameras deliver)
    DIR/annotations/instances.json     COCO instances: images, annotations (bbox x,y,w,h in pixels), categories

Everything is drawn from `seed`: the same seed gives the same files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from ..util.fsutil import staged_dir

SHAPES = ("circle", "square", "triangle", "star", "cross")
MAX_OVERLAP = 0.3  # IoU an object may share with one drawn before it (and at most 60% of the smaller covered)
MIN_CONTRAST = 60  # luma difference from the background under it, so grayscale models see every object


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "star":
        pts = [(r if i % 2 == 0 else 0.45 * r, angle + math.pi * i / 5) for i in range(10)]
    elif kind == "cross":
        a, b = r, 0.35 * r
        corners = [(b, a), (b, b), (a, b), (a, -b), (b, -b), (b, -a), (-b, -a), (-b, -b), (-a, -b), (-a, b), (-b, b), (-b, a)]
        pts = [(math.hypot(x, y), angle + math.atan2(y, x)) for x, y in corners]
    else:
        n = 4 if kind == "square" else 3
        pts = [(r, angle + 2 * math.pi * i / n) for i in range(n)]
    return [(cx + d * math.cos(t), cy + d * math.sin(t)) for d, t in pts]


def _overlap(a, b) -> float:
    """The larger of IoU and the share of the smaller box the other covers: a small object under a large one
    (low IoU) would be hidden, and its label a lie."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    return max(inter / union if union > 0 else 0.0, inter / max(min(area_a, area_b), 1e-9) - 0.3)


def _background(rng, w: int, h: int):
    from PIL import Image, ImageDraw, ImageFilter

    base = rng.integers(40, 200, 3)
    noise = rng.normal(0, 28, (h // 6 + 2, w // 6 + 2, 3)) + base
    img = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).resize((w, h), Image.BILINEAR).filter(ImageFilter.GaussianBlur(1.5))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):  # clutter: lines and small blobs that are not objects
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            x0, y0, x1, y1 = (float(v) for v in rng.uniform(0, 1, 4) * [w, h, w, h])
            draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(1, 3)))
        else:
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1.5, 0.025 * min(w, h) + 2)
            draw.ellipse([cx - r, cy - 0.6 * r, cx + r, cy + 0.6 * r], fill=colour)
    return img


def _colour(rng, img, box) -> tuple[int, int, int]:
    """A colour whose luma stands MIN_CONTRAST off the background under the box (tries, then black or white)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    patch = np.asarray(img)[max(y1, 0) : max(y2, y1 + 1), max(x1, 0) : max(x2, x1 + 1)].reshape(-1, 3)
    luma = float((patch @ [0.299, 0.587, 0.114]).mean()) if len(patch) else 128.0
    for _ in range(20):
        c = rng.integers(0, 256, 3)
        if abs(float(c @ [0.299, 0.587, 0.114]) - luma) >= MIN_CONTRAST:
            return tuple(int(v) for v in c)
    return (0, 0, 0) if luma > 128 else (255, 255, 255)


def _scene(rng, classes: list[str], size: int):
    from PIL import ImageDraw

    w = int(size * rng.uniform(0.75, 1.25))
    h = int(size * rng.uniform(0.75, 1.25))
    img = _background(rng, w, h)
    draw = ImageDraw.Draw(img)
    boxes, labels = [], []
    for _ in range(int(rng.integers(1, 7))):
        for _try in range(30):
            kind = int(rng.integers(len(classes)))
            r = float(min(w, h) * math.exp(rng.uniform(math.log(0.06), math.log(0.24))))  # log-uniform: small and large
            cx, cy = rng.uniform(0.6 * r, w - 0.6 * r), rng.uniform(0.6 * r, h - 0.6 * r)
            angle = float(rng.uniform(0, 2 * math.pi))
            pts = [(cx - r, cy - r), (cx + r, cy + r)] if classes[kind] == "circle" else _polygon(classes[kind], cx, cy, r, angle)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            box = (max(min(xs), 0.0), max(min(ys), 0.0), min(max(xs), float(w)), min(max(ys), float(h)))
            if box[2] - box[0] < 3 or box[3] - box[1] < 3 or any(_overlap(box, b) > MAX_OVERLAP for b in boxes):
                continue
            colour = _colour(rng, img, box)
            if classes[kind] == "circle":
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
            else:
                draw.polygon(pts, fill=colour)
            boxes.append(box)
            labels.append(kind)
            break
    return img, boxes, labels


def make_objects(
    out: Path, *, images: int = 1200, size: int = 160, classes: list[str] | None = None, seed: int = 0, say=lambda m: None
) -> dict:
    classes = list(classes or SHAPES)
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise EdgekitError(f"unknown or repeated shape class '{(unknown or classes or [''])[0]}'", f"choose among {', '.join(SHAPES)}")
    if images < 10 or not 32 <= size <= 2048:
        raise EdgekitError(f"cannot make {images} images of about {size} px", "ask for at least 10 images of 32..2048 px")
    rng = np.random.default_rng(seed)
    coco = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": c, "supercategory": "shape"} for i, c in enumerate(classes)],
    }
    with staged_dir(Path(out)) as tmp:
        (tmp / "images").mkdir()
        (tmp / "annotations").mkdir()
        for i in range(images):
            if i % 100 == 0:
                say(f"drawing scene {i + 1} of {images}")
            img, boxes, labels = _scene(rng, classes, size)
            name = f"{i:06d}.{'jpg' if i % 4 == 3 else 'png'}"
            img.save(tmp / "images" / name, **({"quality": 92} if name.endswith(".jpg") else {}))
            coco["images"].append({"id": i + 1, "file_name": name, "width": img.width, "height": img.height})
            for box, k in zip(boxes, labels):
                x, y, bw, bh = box[0], box[1], box[2] - box[0], box[3] - box[1]
                coco["annotations"].append(
                    {
                        "id": len(coco["annotations"]) + 1,
                        "image_id": i + 1,
                        "category_id": k + 1,
                        "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
                        "area": round(bw * bh, 2),
                        "iscrowd": 0,
                    }
                )
        (tmp / "annotations" / "instances.json").write_text(json.dumps(coco))
    return {"path": str(out), "images": images, "objects": len(coco["annotations"]), "classes": classes}
