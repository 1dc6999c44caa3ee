"""What the detection readers (coco.py, yolo.py) share: confined image paths, the box checks, the letterbox
preprocessing and the Source they return."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..contracts import check_plain_name
from ..errors import EdgekitError
from .boxlabels import BoxLabels
from .imagefolder import read_image
from .source import Source, image_input

EDGE_TOLERANCE = 1.0  # pixels a box may reach past the image edge (rounding in labelling tools); clipped to it
PAD = 114  # letterbox padding in raw pixel units (the grey YOLO-family detectors pad with)
DEFAULT_DETECTOR = "detector-tiny"  # the zoo recipe `edgekit train --dataset coco:DIR` trains without --model


def image_in(root: Path, name, what: str) -> Path:
    """`name` (from a received label file) as a file under `root`: relative, plain parts, no links on the way."""
    if not isinstance(name, str) or not name:
        raise EdgekitError(f"{what} names no image file", "give every image a file_name relative to the images folder")
    parts = name.replace("\\", "/").split("/")
    try:
        for part in parts:
            check_plain_name(part, "an image path part")
    except ValueError as e:
        raise EdgekitError(f"{what}: image path {name!r}: {e}", "name images by paths inside the data set's folder") from None
    path = root.joinpath(*parts)
    for p in [root, *(root.joinpath(*parts[: i + 1]) for i in range(len(parts)))]:
        if p.is_symlink():
            raise EdgekitError(f"{what}: {p} is a symbolic link", "copy the file into the data set's folder instead of linking it")
    if not path.is_file():
        raise EdgekitError(f"{what}: image {path} not found", "add the image or remove its entry")
    return path


def checked_box(box, hw, where: str, fix: str) -> np.ndarray:
    """x1,y1,x2,y2 in raw pixels, refused when empty or outside the image (beyond EDGE_TOLERANCE), else clipped."""
    x1, y1, x2, y2 = (float(v) for v in box)
    h, w = hw
    if not all(np.isfinite([x1, y1, x2, y2])):
        raise EdgekitError(f"{where}: box {[x1, y1, x2, y2]} is not finite", fix)
    if x2 <= x1 or y2 <= y1:
        raise EdgekitError(f"{where}: box x1,y1,x2,y2 = {_r(x1, y1, x2, y2)} has no area", fix)
    t = EDGE_TOLERANCE
    if x1 < -t or y1 < -t or x2 > w + t or y2 > h + t:
        raise EdgekitError(f"{where}: box x1,y1,x2,y2 = {_r(x1, y1, x2, y2)} lies outside the {w}x{h} image", fix)
    return np.array([max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))], np.float32)


def _r(*v) -> list:
    return [round(float(a), 2) for a in v]


def letterbox_steps(spec: str, channels: int):
    """Letterbox on the raw uint8 image first (Pillow ImageOps.pad exactly, grey padding), then channels, 0..1, CHW."""

    def steps(shape):
        c, h, w = image_input(spec, shape, "a detector")
        out = [{"op": "letterbox", "size": [h, w], "pad": PAD, "method": "bilinear"}]
        if channels != c:
            out.append({"op": "to_channels", "channels": c})
        return out + [{"op": "scale", "factor": 1 / 255}, {"op": "layout", "to": "CHW"}]

    return steps


def detection_source(spec: str, paths: list[Path], boxes: list, classes: list, names: list[str], raws: list) -> Source:
    """The Source of a detection data set: raw images of any size, their boxes in raw pixels."""
    gray = all(r.ndim == 2 for r in raws)
    if not gray:
        raws = [np.repeat(r[:, :, None], 3, axis=2) if r.ndim == 2 else r for r in raws]
    sizes = np.array([r.shape[:2] for r in raws], np.int64).reshape(-1, 2)
    shared = {tuple(s) for s in sizes.tolist()}
    channels = 1 if gray else 3
    return Source(
        raw=raws,
        y=BoxLabels(boxes=boxes, classes=classes, sizes=sizes),
        labels=names,
        kind="image",
        input={"kind": "image", "channels": "L" if gray else "RGB"},
        natural_shape=(channels, *shared.pop()) if len(shared) == 1 else None,
        steps=letterbox_steps(spec, channels),
        task="detection",
        default_model=DEFAULT_DETECTOR,
    )


def read_images(paths: list[Path]) -> list[np.ndarray]:
    return [read_image(p) for p in paths]
