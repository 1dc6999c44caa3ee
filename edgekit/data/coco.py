"""coco:DIR — images and one COCO instances JSON: DIR/annotations/*.json (the one there), else DIR/instances*.json.

Images are found by their `file_name` under DIR/images/ (the layout `edgekit datasets make objects` writes), else
under DIR itself. Boxes stay in raw pixels (COCO's x, y, w, h made x1, y1, x2, y2); categories are numbered
0..C-1 in the order of their ids; an image without annotations is legal (nothing to find in it); crowd
annotations are left out (COCO evaluation ignores them too). The JSON is received data: every key is checked,
every path confined to DIR.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from . import fingerprint
from .detect_common import checked_box, detection_source, image_in, read_images
from .source import Source

MAX_JSON_BYTES = 512 << 20


def find_annotations(root: Path) -> Path:
    found = sorted((root / "annotations").glob("*.json")) if (root / "annotations").is_dir() else []
    if not found:
        found = sorted(root.glob("instances*.json"))
    if len(found) != 1:
        where = f"{root}/annotations/*.json or {root}/instances*.json"
        if not found:
            raise EdgekitError(f"no COCO annotation file in {root} (looked for {where})", "put the instances JSON in DIR/annotations/")
        raise EdgekitError(
            f"{len(found)} annotation files in {root} ({', '.join(p.name for p in found)}): which one is meant is not clear",
            "keep one instances JSON per data-set folder",
        )
    if found[0].is_symlink():
        raise EdgekitError(f"{found[0]} is a symbolic link", "copy the annotation file into the data set's folder")
    return found[0]


def _load(path: Path) -> dict:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise EdgekitError(f"{path} is over {MAX_JSON_BYTES >> 20} MiB", "split the data set")
    try:
        data = json.loads(fingerprint.read_bytes(path))
    except (ValueError, RecursionError) as e:
        raise EdgekitError(f"{path} is not valid JSON ({str(e)[:80]})", "write the annotations as COCO instances JSON") from None
    if not isinstance(data, dict):
        raise EdgekitError(f"{path} holds a {type(data).__name__}, not a COCO object", "write the annotations as COCO instances JSON")
    return data


def _list(data: dict, key: str, path: Path, fix: str) -> list:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise EdgekitError(f"{path}: key '{key}' {'is missing' if value is None else 'must be a list of objects'}", fix)
    return value


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def read_coco(spec: str, root: Path) -> Source:
    if not root.is_dir():
        raise EdgekitError(f"data folder not found: {root}", "check the path after 'coco:'")
    path = find_annotations(root)
    data = _load(path)
    cats = _list(data, "categories", path, 'add \'categories\': [{"id": 1, "name": "..."}, ...], one per class')
    if not cats:
        raise EdgekitError(f"{path}: key 'categories' is empty", 'list every class as {"id": ..., "name": ...}')
    for i, c in enumerate(cats):
        if not _int(c.get("id")) or not isinstance(c.get("name"), str) or not c["name"]:
            raise EdgekitError(f"{path}: categories[{i}] needs an integer 'id' and a non-empty 'name'", "fix that category")
    ids = sorted(c["id"] for c in cats)
    if len(set(ids)) != len(ids):
        raise EdgekitError(f"{path}: key 'categories' repeats an id", "give each category its own id")
    index = {cid: k for k, cid in enumerate(ids)}
    names = [next(c["name"] for c in cats if c["id"] == cid) for cid in ids]
    images = _list(data, "images", path, 'add \'images\': [{"id": 1, "file_name": "..."}, ...]')
    anns = _list(data, "annotations", path, "add 'annotations': [] (a list, empty when no image holds an object)")
    image_root = root / "images" if (root / "images").is_dir() else root
    by_id, paths = {}, []
    for i, im in enumerate(images):
        if not _int(im.get("id")) or im["id"] in by_id:
            raise EdgekitError(f"{path}: images[{i}] needs an integer 'id' of its own", "fix that image entry")
        by_id[im["id"]] = len(paths)
        paths.append(image_in(image_root, im.get("file_name"), f"{path}: images[{i}]"))
    if not paths:
        raise EdgekitError(f"{path}: key 'images' is empty", "list the data set's images")
    raws = read_images(paths)
    boxes = [[] for _ in paths]
    classes = [[] for _ in paths]
    fix = "fix or remove that annotation"
    for i, a in enumerate(anns):
        where = f"{path}: annotations[{i}]"
        if a.get("iscrowd") in (1, True):
            continue
        if not _int(a.get("image_id")) or a["image_id"] not in by_id:
            raise EdgekitError(f"{where}: image_id {a.get('image_id')!r} is not one of the images' ids", fix)
        if not _int(a.get("category_id")) or a["category_id"] not in index:
            raise EdgekitError(
                f"{where}: category_id {a.get('category_id')!r} is not in key 'categories' (ids {', '.join(map(str, ids[:20]))})",
                "add that category, or fix the annotation's category_id",
            )
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise EdgekitError(f"{where}: 'bbox' must be [x, y, width, height] (4 numbers), got {str(bbox)[:60]}", fix)
        k = by_id[a["image_id"]]
        x, y, w, h = (float(v) for v in bbox)
        where += f" (image {paths[k].name})"
        boxes[k].append(checked_box([x, y, x + w, y + h], raws[k].shape[:2], where, fix))
        classes[k].append(index[a["category_id"]])
    boxes = [np.asarray(b, np.float32).reshape(-1, 4) for b in boxes]
    classes = [np.asarray(c, np.int64) for c in classes]
    return detection_source(spec, paths, boxes, classes, names, raws)
