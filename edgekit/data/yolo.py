"""yolo:DIR — the Ultralytics/Darknet layout: DIR/images/** with DIR/labels/** beside them (same relative path,
.txt), class names from DIR/data.yaml (`names:` a list, or a mapping id -> name) or DIR/classes.txt (one a line).

A label line is `class x_center y_center width height`, coordinates 0..1 of the image; boxes are kept in raw
pixels. An image without a label file, or with an empty one, holds no objects (legal). Every file is received
data: a line of the wrong shape, a class without a name or a box outside the image is one line naming the file
and the line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..device import rawfile
from ..errors import EdgekitError
from . import fingerprint
from .detect_common import checked_box, detection_source, image_in, read_images
from .source import Source

MAX_NAMES = 10000
MAX_LABEL_BYTES = 4 << 20


def _names(root: Path) -> list[str]:
    yaml_path, txt_path = root / "data.yaml", root / "classes.txt"
    for p in (yaml_path, txt_path):
        if p.is_symlink():
            raise EdgekitError(f"{p} is a symbolic link", "copy the file into the data set's folder")
    if yaml_path.is_file():
        import yaml

        try:
            data = yaml.safe_load(fingerprint.read_bytes(yaml_path)[:MAX_LABEL_BYTES])
        except yaml.YAMLError as e:
            raise EdgekitError(f"{yaml_path} is not valid YAML ({str(e).splitlines()[0][:80]})", "fix data.yaml") from None
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, dict) and all(isinstance(k, int) and not isinstance(k, bool) for k in names):
            if sorted(names) != list(range(len(names))):
                raise EdgekitError(f"{yaml_path}: key 'names' must number the classes 0..{len(names) - 1}", "fix data.yaml")
            names = [names[k] for k in range(len(names))]
        if not isinstance(names, list) or not names or len(names) > MAX_NAMES or not all(isinstance(n, str) and n for n in names):
            raise EdgekitError(
                f"{yaml_path}: key 'names' must list the class names (a list, or a mapping 0: name, 1: name, ...)",
                "write e.g. names: [person, car]",
            )
        return names
    if txt_path.is_file():
        names = [n.strip() for n in fingerprint.read_bytes(txt_path)[:MAX_LABEL_BYTES].decode("utf-8", "replace").splitlines()]
        names = [n for n in names if n]
        if not names:
            raise EdgekitError(f"{txt_path} names no class", "write one class name a line")
        return names
    raise EdgekitError(f"no class names in {root} (looked for data.yaml and classes.txt)", "add classes.txt with one class name a line")


def _read_labels(path: Path, hw, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    h, w = hw
    boxes, classes = [], []
    if path.is_symlink():
        raise EdgekitError(f"{path} is a symbolic link", "copy the label file into the data set's folder")
    text = fingerprint.read_bytes(path)
    if len(text) > MAX_LABEL_BYTES:
        raise EdgekitError(f"{path} is over {MAX_LABEL_BYTES >> 20} MiB", "one line per object")
    fix = "write `class x_center y_center width height` (5 numbers, coordinates 0..1 of the image)"
    for n, line in enumerate(text.decode("utf-8", "replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path} line {n}"
        if len(parts) != 5:
            raise EdgekitError(f"{where} has {len(parts)} numbers, a box line has 5", fix)
        try:
            values = [float(v) for v in parts]
        except ValueError:
            raise EdgekitError(f"{where}: {line.strip()[:60]!r} is not 5 numbers", fix) from None
        c = values[0]
        if not np.isfinite(c) or c != int(c) or not 0 <= c < len(names):
            raise EdgekitError(
                f"{where}: class {parts[0]} is not one of the {len(names)} named classes (0..{len(names) - 1})",
                "name the class in data.yaml / classes.txt, or fix the line",
            )
        xc, yc, bw, bh = values[1:]
        box = [(xc - bw / 2) * w, (yc - bh / 2) * h, (xc + bw / 2) * w, (yc + bh / 2) * h]
        boxes.append(checked_box(box, hw, where, fix))
        classes.append(int(c))
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64)


def read_yolo(spec: str, root: Path) -> Source:
    if not root.is_dir():
        raise EdgekitError(f"data folder not found: {root}", "check the path after 'yolo:'")
    images_dir, labels_dir = root / "images", root / "labels"
    if not images_dir.is_dir() or images_dir.is_symlink():
        raise EdgekitError(f"{root} has no images/ folder", "put the images in DIR/images/ and their labels in DIR/labels/")
    if labels_dir.is_symlink():
        raise EdgekitError(f"{labels_dir} is a symbolic link", "copy the label files into the data set's folder")
    names = _names(root)
    found = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in rawfile.IMAGE_SUFFIXES and not p.is_dir())
    if not found:
        raise EdgekitError(f"{images_dir} holds no images", "add images (PNG, JPEG, ...)")
    paths = [image_in(images_dir, p.relative_to(images_dir).as_posix(), f"{images_dir}") for p in found]
    raws = read_images(paths)
    boxes, classes = [], []
    for p, raw in zip(paths, raws):
        label = (labels_dir / p.relative_to(images_dir)).with_suffix(".txt")
        if label.is_file() or label.is_symlink():
            b, c = _read_labels(label, raw.shape[:2], names)
        else:
            b, c = np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
        boxes.append(b)
        classes.append(c)
    return detection_source(spec, paths, boxes, classes, names, raws)
