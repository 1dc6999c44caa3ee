"""Detection data (issue 23): coco:DIR and yolo:DIR read into raw-pixel boxes that split like labels, the made
objects data set, the letterbox checked against Pillow's ImageOps.pad (an independent implementation) and its box
mapping against the pixels themselves, and hostile label files as a table: one line naming the file and the key,
exit 2, nothing written."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgekit.device import preprocess

TOY = """
import torch
import torch.nn as nn


class Toy(nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = nn.Conv2d(3, 4 + num_classes, 8, 8)

    def forward(self, x):
        f = self.conv(x).flatten(2).transpose(1, 2)
        return {"boxes": torch.sigmoid(f[..., :4]), "scores": torch.sigmoid(f[..., 4:])}
"""


def _images(folder: Path, n: int = 12, size=(48, 64)) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        name = f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def _coco(tmp: Path, edit: Callable[[dict], None] = lambda d: None) -> str:
    root = tmp / "coco"
    names = _images(root / "images")
    data = {
        "images": [{"id": i + 1, "file_name": n, "width": 64, "height": 48} for i, n in enumerate(names)],
        "annotations": [
            {"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2, "bbox": [10, 8, 20, 16], "area": 320, "iscrowd": 0}
            for i in range(len(names) - 2)  # the last two images hold no object: legal
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    edit(data)
    (root / "annotations").mkdir()
    (root / "annotations" / "instances.json").write_text(json.dumps(data))
    return f"coco:{root}"


def _yolo(tmp: Path, line: str = "0 0.5 0.5 0.25 0.5", names: str = "a\nb\n") -> str:
    root = tmp / "yolo"
    files = _images(root / "images")
    (root / "labels").mkdir()
    for i, f in enumerate(files[:-1]):  # the last image has no label file: no objects, legal
        (root / "labels" / f.replace(".png", ".txt")).write_text(line if i == 3 else "1 0.5 0.5 0.2 0.2\n")
    (root / "classes.txt").write_text(names)
    return f"yolo:{root}"


def _edit_ann(**change):
    def edit(d):
        d["annotations"][0].update(change)

    return edit


def _toy(tmp: Path) -> str:
    (tmp / "toy.py").write_text(TOY)
    return f"{tmp / 'toy.py'}:Toy"


@dataclass
class Case:
    name: str
    data: Callable[[Path], str]
    fragment: str


CASES = [
    Case("H1 coco box outside the image", lambda t: _coco(t, _edit_ann(bbox=[50, 8, 30, 16])), "lies outside the 64x48 image"),
    Case("H1 yolo box outside the image", lambda t: _yolo(t, "0 0.95 0.5 0.5 0.5"), "line 1: box x1,y1,x2,y2"),
    Case("H2 no image holds an object", lambda t: _coco(t, lambda d: d.update(annotations=[])), "labels no object in any image"),
    Case("H3 unknown category id", lambda t: _coco(t, _edit_ann(category_id=7)), "category_id 7 is not in key 'categories'"),
    Case("H3 yolo class without a name", lambda t: _yolo(t, "5 0.5 0.5 0.2 0.2"), "class 5 is not one of the 2 named classes"),
    Case("H4 yolo label line with 4 numbers", lambda t: _yolo(t, "0 0.5 0.5 0.2"), "line 1 has 4 numbers, a box line has 5"),
    Case("H5 coco json without categories", lambda t: _coco(t, lambda d: d.pop("categories")), "key 'categories' is missing"),
    Case(
        "H6 coco file_name climbs out of the folder",
        lambda t: _coco(t, lambda d: d["images"][0].update(file_name="../x.png")),
        "must be a plain name",
    ),
    Case("H7 coco bbox of 3 numbers", lambda t: _coco(t, _edit_ann(bbox=[1, 2, 3])), "'bbox' must be [x, y, width, height]"),
    Case("H7 coco box with no area", lambda t: _coco(t, _edit_ann(bbox=[1, 2, 0, 5])), "has no area"),
    Case("H8 coco image_id of no image", lambda t: _coco(t, _edit_ann(image_id=999)), "image_id 999 is not one of the images' ids"),
    Case("H9 yolo without class names", lambda t: _yolo(t, names=""), "names no class"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_detection_data_is_one_line(case, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = case.data(tmp_path)
    result = run_cli(
        "train", "--model", _toy(tmp_path), "--dataset", spec, "--input-shape", "3,64,64", "--epochs", "1", "--out", tmp_path / "out"
    )
    assert_one_line_error(result, case.fragment)
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_a_symlinked_image_is_refused_and_never_read(tmp_path, run_cli):
    spec = _coco(tmp_path)
    root = Path(spec.split(":", 1)[1])
    secret = tmp_path / "secret.png"
    os.replace(root / "images" / "000.png", secret)
    os.symlink(secret, root / "images" / "000.png")
    result = run_cli("train", "--model", _toy(tmp_path), "--dataset", spec, "--input-shape", "3,64,64", "--out", tmp_path / "out")
    assert_one_line_error(result, "is a symbolic link")


def test_coco_and_yolo_give_raw_pixel_boxes_and_keep_empty_images(tmp_path):
    from edgekit.data.loaders import read_source

    coco = read_source(_coco(tmp_path))
    assert coco.task == "detection" and coco.labels == ["cat", "dog"] and coco.natural_shape == (3, 48, 64)
    assert np.allclose(coco.y.boxes[0], [[10, 8, 30, 24]]) and list(coco.y.classes[1]) == [1]
    assert [len(b) for b in coco.y.boxes[-2:]] == [0, 0]  # images without objects stay, with no boxes
    yolo = read_source(_yolo(tmp_path, "0 0.5 0.5 0.25 0.5"))
    assert np.allclose(yolo.y.boxes[3], [[24, 12, 40, 36]]) and list(yolo.y.classes[3]) == [0]  # 64x48 image
    assert len(yolo.y.boxes[-1]) == 0 and yolo.labels == ["a", "b"]


def test_yolo_names_from_data_yaml_as_a_list_or_a_mapping(tmp_path):
    from edgekit.data.loaders import read_source

    spec = _yolo(tmp_path)
    root = Path(spec.split(":", 1)[1])
    (root / "classes.txt").unlink()
    (root / "data.yaml").write_text("names:\n  0: person\n  1: car\n")
    assert read_source(spec).labels == ["person", "car"]
    (root / "data.yaml").write_text("names: [x, y]\n")
    assert read_source(spec).labels == ["x", "y"]


def test_splits_are_seeded_and_boxes_land_in_the_model_input_frame(tmp_path):
    from edgekit.data import load_dataset

    spec = _coco(tmp_path)
    a = load_dataset(spec, (3, 32, 32), task="detection", seed=3)
    b = load_dataset(spec, (3, 32, 32), task="detection", seed=3)
    assert [len(a.y[s]) for s in ("train", "val", "test")] == [len(a.x[s]) for s in ("train", "val", "test")]
    assert all(np.array_equal(x, y) for x, y in zip(a.y["test"].boxes, b.y["test"].boxes))
    y = a.y["train"]
    for boxes, frames, geometry in zip(y.boxes, y.frames, y.geometry):
        # 64x48 → 32x24 inside a 32x32 canvas, 4 px of padding on top
        assert geometry == (0.5, 0.5, 0, 4)
        assert np.allclose(frames * 32, boxes * 0.5 + [0, 4, 0, 4])


@pytest.mark.parametrize("channels", ["RGB", "L"])
def test_letterbox_is_pillow_imageops_pad_exactly(channels):
    from PIL import Image, ImageOps

    rng = np.random.default_rng(1)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(3, 200, 2))
        out_h, out_w = (int(v) for v in rng.integers(8, 120, 2))
        img = rng.integers(0, 256, (h, w, 3) if channels == "RGB" else (h, w), dtype=np.uint8)
        pipe = {
            "version": 1,
            "input": {"kind": "image", "channels": channels},
            "steps": [{"op": "letterbox", "size": [out_h, out_w], "pad": 114}],
        }
        mine = preprocess.run(pipe, img)[0]
        fill = (114, 114, 114) if channels == "RGB" else 114
        ref = np.asarray(ImageOps.pad(Image.fromarray(img), (out_w, out_h), method=Image.Resampling.BILINEAR, color=fill))
        assert np.array_equal(mine.reshape(ref.shape), ref), (h, w, out_h, out_w)


def test_boxes_map_where_the_pixels_go_and_back():
    """A filled rectangle letterboxed by Pillow lands where boxes_to_input says (within the resize's blur)."""
    from PIL import Image, ImageOps

    rng = np.random.default_rng(2)
    for _ in range(20):
        h, w = (int(v) for v in rng.integers(40, 300, 2))
        x1, y1 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        x2, y2 = int(rng.integers(x1 + 10, w + 1)), int(rng.integers(y1 + 10, h + 1))
        img = np.zeros((h, w), np.uint8)
        img[y1:y2, x1:x2] = 255
        step = {"op": "letterbox", "size": [96, 128], "pad": 0}
        out = np.asarray(ImageOps.pad(Image.fromarray(img), (128, 96), method=Image.Resampling.BILINEAR, color=0))
        ys, xs = np.nonzero(out >= 128)  # the rectangle after resize: half-intensity edge
        geometry = preprocess.letterbox_geometry((h, w), step)
        box = preprocess.boxes_to_input([[x1, y1, x2, y2]], geometry, [96, 128])[0] * [128, 96, 128, 96]
        assert np.allclose(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.0), (h, w, box)
        back = preprocess.boxes_to_raw(box[None] / [128, 96, 128, 96], geometry, [96, 128], (h, w))[0]
        assert np.allclose(back, [x1, y1, x2, y2], atol=1e-3)


def test_made_objects_are_coco_with_several_objects_per_scene_and_varied_sizes(tmp_path):
    from edgekit.data.loaders import read_source
    from edgekit.synth.objects import make_objects

    made = make_objects(tmp_path / "o", images=24, size=64, seed=1)
    again = make_objects(tmp_path / "p", images=24, size=64, seed=1)
    assert (tmp_path / "o" / "annotations" / "instances.json").read_bytes() == (
        tmp_path / "p" / "annotations" / "instances.json"
    ).read_bytes()
    src = read_source(f"coco:{tmp_path / 'o'}")
    counts = [len(b) for b in src.y.boxes]
    sides = np.concatenate([np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) for b in src.y.boxes])
    assert made["objects"] == again["objects"] == sum(counts) and max(counts) >= 3
    assert sides.max() / sides.min() > 2.5  # small and large objects
    assert len({r.shape for r in src.raw}) > 1  # images of varied size: the letterbox has work to do


def test_datasets_make_objects_writes_a_coco_folder_edgekit_reads(tmp_path, run_cli):
    from edgekit.data.loaders import read_source

    made = run_cli("datasets", "make", "objects", tmp_path / "o", "--images", "12", "--size", "48", "--classes", "circle,star")
    assert made.code == 0 and "--dataset coco:" in made.out, made.err
    assert read_source(f"coco:{tmp_path / 'o'}").labels == ["circle", "star"]
    bad = run_cli("datasets", "make", "objects", tmp_path / "p", "--classes", "circle,hexagon")
    assert_one_line_error(bad, "unknown or repeated shape class 'hexagon'")
    assert not (tmp_path / "p").exists()
