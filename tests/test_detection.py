"""The detection and centroid tasks (issue 23): NMS against a plain reference, COCO mAP by the library (the
adapter agrees with pycocotools), the int8 parity rule that refuses a collapsed class, centroid matching, and a
small detector end to end through the real CLI: train, export, bench (mAP from the device's boxes = export parity's,
the report's detection section), predict --json in raw pixels and --save."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgekit.device.tasks import get as device_task
from edgekit.device.tasks.boxes import iou_matrix, nms
from edgekit.tasks import get_task
from edgekit.tasks.base import Compared
from edgekit.tasks.coco_eval import evaluate

TOY = '''
import torch
import torch.nn as nn


class ToyDetector(nn.Module):
    """Cells at stride 8, each predicting a box around its centre and per-class scores."""

    def __init__(self, num_classes=2, input_shape=(3, 64, 64)):
        super().__init__()
        c, h, w = input_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU()
        )
        self.box, self.cls = nn.Conv2d(32, 4, 1), nn.Conv2d(32, num_classes, 1)
        gy, gx = torch.meshgrid(torch.arange(h // 8) + 0.5, torch.arange(w // 8) + 0.5, indexing="ij")
        cx, cy = gx.flatten() * 8 / w, gy.flatten() * 8 / h
        self.register_buffer("centre", torch.stack([cx, cy, cx, cy], 1)[None])
        self.register_buffer("sign", torch.tensor([-1.0, -1.0, 1.0, 1.0]))

    def forward(self, x):
        f = self.body(x)
        d = torch.sigmoid(self.box(f)).flatten(2).transpose(1, 2) * 0.5
        return {"boxes": (self.centre + self.sign * d).clamp(0, 1), "scores": torch.sigmoid(self.cls(f)).flatten(2).transpose(1, 2)}
'''


def _naive_nms(boxes, scores, classes, thr, keep_max):
    order, keep = list(np.argsort(-scores, kind="stable")), []
    while order and len(keep) < keep_max:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if classes[j] != classes[i] or iou_matrix(boxes[i : i + 1], boxes[j : j + 1])[0, 0] <= thr]
    return np.asarray(keep, np.int64)


def _random(rng, n, span=1.0):
    xy = rng.uniform(0, span, (n, 2))
    return np.c_[xy, xy + rng.uniform(0.01 * span, 0.4 * span, (n, 2))]


def test_class_aware_nms_is_plain_greedy_nms_per_class():
    rng = np.random.default_rng(0)
    for _ in range(15):
        n = int(rng.integers(0, 80))
        b, s, c = _random(rng, n), rng.uniform(0, 1, n), rng.integers(0, 3, n)
        for thr in (0.3, 0.6):
            assert np.array_equal(nms(b, s, c, thr, 40), _naive_nms(b, s, c, thr, 40))


def test_device_postprocess_thresholds_suppresses_and_maps_to_raw_pixels():
    task = device_task("detection")
    boxes = np.array([[[0.1, 0.1, 0.5, 0.5], [0.11, 0.1, 0.5, 0.52], [0.6, 0.6, 0.9, 0.9], [0.6, 0.6, 0.9, 0.9]]], np.float32)
    scores = np.array([[[0.9, 0.0], [0.8, 0.0], [0.0, 0.7], [0.0005, 0.0]]], np.float32)  # last: under 0.001
    value = task.reduce(None, task.postprocess({"boxes": boxes, "scores": scores}, {}))
    assert list(value["classes"]) == [0, 1] and np.allclose(value["scores"], [0.9, 0.7])  # the overlapping twin suppressed
    pipeline = {"steps": [{"op": "letterbox", "size": [100, 100], "pad": 114}]}
    placed = task.place(value, (50, 200, 3), pipeline)  # 200x50 → 100x25, 38 px on top (round(37.5): half to even)
    assert np.allclose(placed["boxes"][0], [20, 0, 100, 24], atol=0.01)  # y1 clipped to the image: the box reached the pad
    row = task.describe(placed, ["cat", "dog"], {"display_threshold": 0.8})
    assert row["label"] == "1 cat" and [d["label"] for d in row["detections"]] == ["cat"]


def test_coco_adapter_gives_pycocotools_figures():
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(3)
    labels, values = [], []
    for _ in range(60):
        m = int(rng.integers(0, 5))
        b, c = _random(rng, m, 100), rng.integers(0, 3, m)
        labels.append({"boxes": b, "classes": c})
        k = int(rng.integers(0, 6))
        values.append(
            {
                "boxes": np.r_[b + rng.normal(0, 2, b.shape), _random(rng, k, 100)],
                "scores": rng.uniform(0, 1, m + k),
                "classes": np.r_[c, rng.integers(0, 3, k)],
            }
        )
    fast, ref = evaluate(values, labels, 3), evaluate(values, labels, 3, library="pycocotools")
    for key in ("map50_95", "map50", "map75"):
        assert fast[key] == pytest.approx(ref[key], abs=1e-12) and 0 < fast[key] < 1
    assert np.allclose(fast["class_ap"], ref["class_ap"], atol=1e-12)
    perfect = evaluate([{**lab, "scores": np.ones(len(lab["classes"]))} for lab in labels], labels, 3)
    assert perfect["map50_95"] == pytest.approx(1.0)


def _compared(task, values, reference, labels):
    return Compared(
        outputs={"scores": np.random.default_rng(0).uniform(size=(len(labels), 8))},
        reference={"scores": np.random.default_rng(1).uniform(size=(len(labels), 8))},
        labels=labels,
        samples=len(labels),
        quality=task.device_score(values, reference, labels),
        reference_quality=task.device_score(reference, reference, labels),
    )


def test_int8_parity_refuses_a_collapsed_class_even_within_the_map_floor():
    """40 classes, one of them lost: the mean drops 2.5 points (inside a 3-point floor) yet the class is gone."""
    task = get_task("detection")
    rng = np.random.default_rng(4)
    labels = [{"boxes": _random(rng, 2, 100).astype(np.float32), "classes": np.array([i % 40, (i + 1) % 40])} for i in range(80)]
    reference = [{"boxes": lab["boxes"], "scores": np.array([0.9, 0.8], np.float32), "classes": lab["classes"]} for lab in labels]
    collapsed = [{**r, "scores": np.where(r["classes"] == 7, 0.0005, r["scores"]).astype(np.float32)} for r in reference]
    collapsed = [{k: v[c["scores"] > 0.001] for k, v in c.items()} for c in collapsed]
    c = _compared(task, collapsed, reference, labels)
    assert c.quality["map_drop_points"] == pytest.approx(2.5) and c.quality["collapsed_classes"] == 1
    verdict = task.parity(c, precision="int8", floor=3.0)
    assert not verdict.passed and "no class's AP collapsed" in verdict.rule
    kept = task.parity(_compared(task, reference, reference, labels), precision="int8", floor=3.0)
    assert kept.passed and kept.metrics["map_drop_points"] == 0


def test_centroids_join_hot_cells_and_match_inside_true_boxes():
    task = device_task("centroids")
    heat = np.zeros((1, 3, 8, 8), np.float32)
    heat[0, 0] = 1.0
    heat[0, :, 1:3, 1:3] = [[[0.1]], [[0.9]], [[0.0]]]  # a 2x2 blob of class 0
    heat[0, :, 6, 6] = [0.2, 0.0, 0.8]  # one cell of class 1
    heat[0, :, 4, 0] = [0.6, 0.4, 0.0]  # background wins
    value = task.reduce(None, task.postprocess({"heatmap": heat}, {}))
    assert list(value["classes"]) == [0, 1] and np.allclose(value["points"], [[2 / 8, 2 / 8], [6.5 / 8, 6.5 / 8]])
    # a cell the model is sure holds an object but not which (0.45 / 0.45) is found; an object whose cells lean to
    # different classes is one blob, of the class with the most probability over its cells, at the weighted centre
    unsure = np.zeros((1, 3, 8, 8), np.float32)
    unsure[0, 0] = 1.0
    unsure[0, :, 5, 5] = [0.1, 0.45, 0.45]
    unsure[0, :, 1, 1], unsure[0, :, 1, 2] = [0.0, 0.7, 0.3], [0.2, 0.3, 0.5]
    both = task.reduce(None, task.postprocess({"heatmap": unsure}, {}))
    assert list(both["classes"]) == [0, 0] and np.allclose(both["scores"], [1.0, 0.9]), both
    assert np.allclose(both["points"], [[(1.5 * 1.0 + 2.5 * 0.8) / 1.8 / 8, 1.5 / 8], [5.5 / 8, 5.5 / 8]])
    placed = task.place(value, (64, 64), {"steps": [{"op": "letterbox", "size": [64, 64]}]})
    labels = [{"boxes": np.array([[8, 8, 24, 24], [40, 40, 60, 60], [0, 0, 4, 4]], np.float32), "classes": np.array([0, 0, 1])}]
    got = task.score([placed], [placed], labels)  # class 1's point sits in a class-0 box: not a match
    assert got["precision"] == 0.5 and got["recall"] == pytest.approx(1 / 3) and got["f1_drop_points"] == 0


def test_ragged_labels_travel_through_the_eval_file_as_plain_arrays(tmp_path):
    from edgekit.data.boxlabels import BoxLabels

    task = get_task("detection")
    y = BoxLabels(
        boxes=[np.zeros((0, 4), np.float32), np.array([[1, 2, 3, 4]], np.float32)],
        classes=[np.zeros(0, np.int64), np.array([1])],
        sizes=np.array([[5, 5], [9, 9]]),
    )
    np.savez(tmp_path / "e.npz", **task.store_labels(y))
    with np.load(tmp_path / "e.npz", allow_pickle=False) as ev:
        back = task.device.load_labels(ev)
    assert len(back[0]["boxes"]) == 0 and np.array_equal(back[1]["boxes"], [[1, 2, 3, 4]]) and list(back[1]["classes"]) == [1]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A toy detector trained 2 epochs on 60 made scenes at 64 px, exported to ONNX fp32."""
    from edgekit.stages.export import export_run
    from edgekit.stages.train import train_run
    from edgekit.synth.objects import make_objects

    root = tmp_path_factory.mktemp("det")
    make_objects(root / "objects", images=60, size=64, classes=["circle", "square"], seed=0)
    (root / "toy.py").write_text(TOY)
    run = train_run(
        f"{root / 'toy.py'}:ToyDetector", f"coco:{root / 'objects'}", out=root / "run", input_shape=[3, 64, 64], epochs=2, progress=False
    )
    art = export_run(run.path, target="x86-64", fmt="onnx", precision="fp32", out=root / "art", progress=False)
    return {"root": root, "run": run, "artifact": art}


@pytest.mark.slow
def test_bench_scores_the_devices_boxes_like_export_parity_and_reports_them(toy, run_cli, tmp_path):
    art = toy["artifact"]
    assert art.deploy.task == "detection" and sorted(t.name for t in art.deploy.outputs) == ["boxes", "scores"]
    assert art.deploy.task_options["iou_threshold"] == 0.6 and art.parity.passed
    result = run_cli("bench", art.path, "--min-queries", "5", "--min-seconds", "0", "--warmup", "1", "--report", tmp_path / "rep")
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    r = report["entries"][0]["result"]
    assert r["quality"]["map50_95"] == pytest.approx(art.parity.metrics["map50_95"], abs=1e-9)  # bench mAP = export parity mAP
    assert r["values"] is None and len(r["details"]["class_ap"]) == 2 and r["postprocess_ms"]["p50"] > 0
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "Detection: art" in page and "precision-recall" in page and "test image 0" in page
    assert "| circle |" in (tmp_path / "rep" / "report.md").read_text()


def test_parity_scores_the_boxes_as_the_device_ships_them():
    """The device ships boxes rounded to 0.01 px and scores to 1e-6; export's parity scores exactly those, so a box
    whose IoU sits on a COCO threshold counts the same in both figures (it once made 0.7818 vs 0.7817)."""
    task = get_task("detection")
    values = [{"boxes": np.array([[1.23456, 2.0, 10.00499, 20.5]]), "scores": np.array([0.12345678]), "classes": np.array([1])}]
    got = task.as_shipped(values)
    assert got[0]["boxes"].dtype == np.float32 and got[0]["boxes"].tolist() == np.float32([[1.23, 2.0, 10.0, 20.5]]).tolist()
    assert got[0]["scores"].tolist() == np.float32([0.123457]).tolist() and got[0]["classes"].tolist() == [1]
    # what bench reads back from a runner's result is the same arrays
    from edgekit.tasks.detection_report import shipped_values

    wire = shipped_values(json.loads(json.dumps(task.device.ship(values))), 1)
    assert all(np.array_equal(wire[0][k], got[0][k]) for k in ("boxes", "scores", "classes"))


@pytest.mark.slow
def test_predict_json_gives_raw_pixel_boxes_and_save_draws_them(toy, run_cli, tmp_path):
    from PIL import Image

    images = sorted((toy["root"] / "objects" / "images").glob("*"))[:2]
    result = run_cli("predict", toy["artifact"].path, *images, "--json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [r["file"] for r in rows] == [str(p) for p in images] and set(rows[0]) == {"file", "detections"}
    for row, path in zip(rows, images):
        w, h = Image.open(path).size
        for d in row["detections"]:
            x1, y1, x2, y2 = d["box"]
            assert 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h and d["score"] >= 0.25 and d["label"] in ("circle", "square")
    saved = run_cli("predict", toy["artifact"].path, *images, "--save", tmp_path / "drawn")
    assert saved.code == 0, saved.err
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == sorted(p.stem + ".png" for p in images)
    again = run_cli("predict", toy["artifact"].path, *images, "--save", tmp_path / "drawn")
    assert_one_line_error(again, "already exists")


@pytest.mark.slow
def test_save_on_a_classifier_is_refused_before_it_runs(run_cli, tmp_path):
    from conftest import export

    from edgekit.stages.train import train_run

    run = train_run("digits-cnn", "synthetic:1,8,8:3:200", out=tmp_path / "r", epochs=1, progress=False)
    art, _ = export(run.path, target="x86-64", fmt="onnx", precision="fp32", out=tmp_path / "a")
    np.save(tmp_path / "x.npy", np.zeros((8, 8), np.uint8))
    result = run_cli("predict", art, tmp_path / "x.npy", "--save", tmp_path / "drawn")
    assert_one_line_error(result, "--save draws detections")
    assert not (tmp_path / "drawn").exists()


def test_the_default_model_of_a_detection_data_set_is_the_detector():
    from edgekit.data.detect_common import DEFAULT_DETECTOR
    from edgekit.data.loaders import default_model

    assert default_model("coco:/x") == default_model("yolo:/x") == DEFAULT_DETECTOR and default_model(None) == "digits-cnn"
    assert Path(__file__).resolve().parents[1].joinpath("models", f"{DEFAULT_DETECTOR}.toml").is_file() or pytest.skip(
        "the detector recipe (helper D2) has not landed yet"
    )


def test_centroid_host_score_places_points_as_the_device_does():
    """A heat map with one hot cell at each object's centre scores F1 = 1 on the host, through the letterbox."""
    from edgekit.data.boxlabels import BoxLabels

    task = get_task("centroids")
    pipeline = {"steps": [{"op": "letterbox", "size": [64, 64], "pad": 114}]}
    boxes = [np.array([[10, 20, 50, 60], [100, 5, 120, 30]], np.float32), np.zeros((0, 4), np.float32)]
    y = task.labels_for(
        BoxLabels(boxes=boxes, classes=[np.array([0, 1]), np.zeros(0, np.int64)], sizes=np.array([[80, 128], [80, 128]])), pipeline
    )
    heat = np.zeros((2, 3, 8, 8), np.float32)
    heat[:, 0] = 1.0
    for box, c in zip(y.frames[0], y.classes[0]):
        col, row = int((box[0] + box[2]) / 2 * 8), int((box[1] + box[3]) / 2 * 8)
        heat[0, :, row, col] = 0.0
        heat[0, c + 1, row, col] = 1.0
    got = task.score({"heatmap": heat}, None, y).metrics
    assert got["f1"] == 1.0 and got["precision"] == 1.0
    heat[0, 1:] = 0.0  # nothing found: recall 0
    heat[0, 0] = 1.0
    assert task.score({"heatmap": heat}, None, y).metrics["f1"] == 0.0


@pytest.mark.slow
def test_the_detect_pipeline_runs_from_raw_images_to_the_device_shortened(tmp_path, run_cli):
    """pipelines/detect.toml as shipped, made small (tiny detector, 80 scenes, 1 QAT epoch): every stage runs and
    bench's mAP is the int8 artifact's export parity mAP, from the raw test images."""
    from edgekit.util.resources import data_dir

    text = (data_dir("pipelines") / "detect.toml").read_text()
    for old, new in {
        "images = 1200": "images = 120",
        "size = 160": "size = 64",
        'model = "detector-csp"\nepochs = 100': 'model = "detector-tiny"\nepochs = 10',
        'kind = "qat"\nepochs = 5': 'kind = "qat"\nepochs = 1',
        "min_queries = 256": "min_queries = 10",
        "min_seconds = 2.0": "min_seconds = 0.1",
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "det.toml").write_text(text + "\n")
    result = run_cli("pipeline", tmp_path / "det.toml", "--out", tmp_path / "p")
    assert result.code in (0, 1), result.err
    rep = json.loads((tmp_path / "p" / "report" / "report.json").read_text())
    entry = next(e for e in rep["entries"] if e["export_parity"]["metrics"].get("map50_95") is not None)
    assert entry["task"] == "detection" and entry["result"]["raw_input"]
    assert entry["result"]["quality"]["map50_95"] == pytest.approx(entry["export_parity"]["metrics"]["map50_95"], abs=1e-9)
