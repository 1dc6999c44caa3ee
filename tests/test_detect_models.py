"""The detector families (issue 23): the box detector's outputs on every backbone, the task-aligned assignment, the
losses (CIoU, DFL, FOMO's weighted cross-entropy) against hand-worked cases, a detector that learns a scene, and
the export of a trained detector to every format with boxes and scores as two named tensors, each with its own
int8 scale (the layout that keeps int8 from rounding the scores to zero, ultralytics#1695)."""

from __future__ import annotations

import math

import pytest
import torch

from edgekit.tasks import centroid_loss, detection_loss
from edgekit.zoo import build_architecture, detector, fomo


@pytest.mark.parametrize("family", ["tiny", "mobilenet_v2", "lcnet", "shufflenet_v2", "mobilenet_v3_small"])
def test_the_box_detector_gives_normalised_boxes_and_scores_on_every_backbone(family):
    model = detector.build((3, 64, 96), 4, family=family, width=0.25)
    cells = 8 * 12 + 4 * 6 + 2 * 3  # strides 8, 16, 32 on a 64x96 input
    out = model.eval()(torch.rand(2, 3, 64, 96))
    assert set(out) == {"boxes", "scores"}
    assert out["boxes"].shape == (2, cells, 4) and out["scores"].shape == (2, cells, 4)
    assert out["boxes"].min() >= 0 and out["boxes"].max() <= 1 and out["scores"].min() >= 0 and out["scores"].max() <= 1
    trained = model.train()(torch.rand(2, 3, 64, 96))
    assert {"cls_logits", "dist_logits", "centres", "strides"} <= set(trained)
    assert torch.allclose(trained["centres"][0], torch.tensor([4 / 96, 4 / 64]))  # the first cell's centre, normalised


def test_a_detector_input_must_reach_stride_32():
    with pytest.raises(TypeError, match="multiples of 32"):
        detector.build((3, 100, 100), 2, family="tiny")


def test_boxes_decode_from_distances_around_the_cell_centre():
    """Logits that put all of a distance's mass on one bin decode to exactly that many strides."""
    model = detector.build((3, 64, 64), 1, family="tiny", reg_max=8).eval()
    for branch in model.reg:  # constant logits: bin 2 for left/top, bin 3 for right/bottom
        last = branch[-1]
        torch.nn.init.zeros_(last.weight)
        bias = torch.full((4, 8), -50.0)
        bias[:2, 2] = 50.0
        bias[2:, 3] = 50.0
        last.bias.data[:] = bias.flatten()
    boxes = model(torch.zeros(1, 3, 64, 64))["boxes"][0]
    # first cell of stride 8: centre (4, 4) px → x1 = 4 - 2*8 (clipped to 0), x2 = 4 + 3*8 = 28 px; of 64
    assert torch.allclose(boxes[0], torch.tensor([0.0, 0.0, 28 / 64, 28 / 64]), atol=1e-5)
    # a stride-16 cell at (24, 40): x1 = 24 - 32 → 0, y1 = 40 - 32 = 8, x2 = 24 + 48 → 64 clipped, y2 = 88 → 64
    assert torch.allclose(boxes[64 + 2 * 4 + 1], torch.tensor([0.0, 8 / 64, 1.0, 1.0]), atol=1e-5)


def test_ciou_of_equal_boxes_is_one_and_of_far_boxes_below_zero():
    a = torch.tensor([[10.0, 10, 30, 30]])
    assert torch.allclose(detection_loss.box_iou(a, a, ciou=True), torch.ones(1), atol=1e-6)
    half = detection_loss.box_iou(a, torch.tensor([[20.0, 10, 40, 30]]))  # overlap 10x20 of a union 30x20
    assert torch.allclose(half, torch.tensor([1 / 3]), atol=1e-6)
    assert detection_loss.box_iou(a, torch.tensor([[60.0, 60, 80, 80]]), ciou=True) < 0


def test_dfl_is_smallest_at_the_target_between_two_bins():
    target = torch.tensor([[2.25, 2.25, 2.25, 2.25]])
    right = torch.full((1, 4, 8), -20.0)
    right[..., 2], right[..., 3] = math.log(0.75), math.log(0.25)  # the two nearest bins, weighted by nearness
    wrong = torch.full((1, 4, 8), -20.0)
    wrong[..., 5] = 0.0
    assert detection_loss.dfl_loss(right, target) < detection_loss.dfl_loss(wrong, target)


def _outputs(boxes, scores, centres):
    return torch.tensor(scores)[None], torch.tensor(boxes)[None], torch.tensor(centres)


def test_assignment_takes_only_cells_inside_a_box_and_gives_a_shared_cell_to_the_box_it_overlaps_most():
    # four cells; boxes: A covers cells 0, 1, 2; B covers cells 2, 3; cell 2 predicts a box like B's
    centres = torch.tensor([[5.0, 5], [15, 5], [25, 5], [35, 5]])
    pred = torch.tensor([[[0.0, 0, 10, 10], [10, 0, 20, 10], [20, 0, 40, 10], [30, 0, 40, 10]]])
    scores = torch.full((1, 4, 2), 0.5)
    gt = torch.tensor([[[0.0, 0, 30, 10], [20, 0, 40, 10]]])
    fg, target_boxes, target_scores = detection_loss.assign(scores, pred, centres, gt, torch.tensor([[0, 1]]), torch.tensor([[True, True]]))
    assert fg.tolist() == [[True, True, True, True]]
    assert torch.equal(target_boxes[0, 2], gt[0, 1]) and torch.equal(target_boxes[0, 0], gt[0, 0])
    assert target_scores[0, 2, 1] > 0 and target_scores[0, 2, 0] == 0 and target_scores[0, 0, 0] > 0
    # a padded (unreal) box assigns nothing
    fg, _, _ = detection_loss.assign(scores, pred, centres, gt, torch.tensor([[0, 1]]), torch.tensor([[True, False]]))
    assert fg.tolist() == [[True, True, True, False]]


@pytest.mark.slow
def test_the_box_detector_learns_a_scene():
    """A few dozen steps on two images: the loss falls and the best-scored box of each object lands on it."""
    torch.manual_seed(0)
    x = torch.zeros(2, 3, 64, 64)
    x[0, 0, 8:24, 8:32] = 1.0
    x[1, 1, 30:60, 20:44] = 1.0
    targets = [
        {"boxes": torch.tensor([[8 / 64, 8 / 64, 32 / 64, 24 / 64]]), "classes": torch.tensor([0])},
        {"boxes": torch.tensor([[20 / 64, 30 / 64, 44 / 64, 60 / 64]]), "classes": torch.tensor([1])},
    ]
    model = detector.build((3, 64, 64), 2, family="tiny", width=1.0, reg_max=8)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(120):
        loss, parts = detection_loss.loss(model.train()(x), targets, (64, 64))
        first = first if first is not None else float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < first / 3 and set(parts) == {"box", "cls", "dfl"}
    out = model.eval()(x)
    for i, t in enumerate(targets):
        best = out["scores"][i, :, int(t["classes"][0])].argmax()
        assert detection_loss.box_iou(out["boxes"][i, best], t["boxes"][0]) > 0.7


def test_a_model_giving_only_boxes_and_scores_still_gets_a_loss():
    boxes = torch.rand(2, 10, 2).sort(-1).values.repeat_interleave(2, -1)[..., [0, 2, 1, 3]].requires_grad_()
    scores = torch.rand(2, 10, 3, requires_grad=True)
    targets = [
        {"boxes": torch.tensor([[0.1, 0.1, 0.5, 0.5]]), "classes": torch.tensor([2])},
        {"boxes": torch.zeros(0, 4), "classes": torch.zeros(0)},
    ]
    loss, parts = detection_loss.loss({"boxes": boxes, "scores": scores}, targets, (32, 32))
    loss.backward()
    assert torch.isfinite(loss) and parts["dfl"] == 0 and scores.grad.abs().sum() > 0


def test_fomo_is_a_one_eighth_grid_of_softmax_over_background_and_classes():
    model = fomo.build((1, 96, 96), 3)
    out = model.eval()(torch.rand(2, 1, 96, 96))
    assert set(out) == {"heatmap"} and out["heatmap"].shape == (2, 4, 12, 12)
    assert torch.allclose(out["heatmap"].sum(1), torch.ones(2, 12, 12), atol=1e-5)
    assert "logits" in model.train()(torch.rand(2, 1, 96, 96))


def test_the_centroid_loss_marks_centre_cells_and_weights_objects_10x():
    targets = [{"boxes": torch.tensor([[0.0, 0.0, 0.25, 0.25], [0.5, 0.5, 1.0, 1.0]]), "classes": torch.tensor([0, 2])}]
    labels = centroid_loss.cell_labels(targets, (4, 4), "cpu")
    assert labels[0, 0, 0] == 1 and labels[0, 3, 3] == 3 and int((labels > 0).sum()) == 2
    # a large box marks the cells of its middle third; a small box inside it keeps its own cell
    big = [{"boxes": torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.45, 0.45, 0.55, 0.55]]), "classes": torch.tensor([1, 0])}]
    marked = centroid_loss.cell_labels(big, (6, 6), "cpu")[0]
    assert marked[2:4, 2:4].flatten().tolist() == [2, 2, 2, 1] and int((marked > 0).sum()) == 4
    # missing one object cell costs ~10x what a missed background cell costs
    logits = torch.zeros(1, 4, 4, 4)
    logits[0, 0] = 10.0  # background everywhere
    miss_object, _ = centroid_loss.loss({"heatmap": logits.softmax(1), "logits": logits}, targets, (32, 32))
    right = logits.clone()
    right[0, 1, 0, 0], right[0, 3, 3, 3] = 30.0, 30.0
    logits_bg = right.clone()
    logits_bg[0, 2, 1, 1] = 20.0  # one false object on a background cell, as sure (10 logits) as the misses above
    ok, _ = centroid_loss.loss({"heatmap": right.softmax(1), "logits": right}, targets, (32, 32))
    false_alarm, _ = centroid_loss.loss({"heatmap": logits_bg.softmax(1), "logits": logits_bg}, targets, (32, 32))
    assert ok < 1e-3 and 5 < float(miss_object) / 2 / float(false_alarm) < 20


@pytest.mark.parametrize(
    "name",
    [
        "detector-tiny",
        "detector-csp",
        "detector-mobilenet-v2",
        "detector-lcnet",
        "detector-shufflenet-v2",
        "fomo-mobilenet-v2",
        "fomo-tiny",
    ],
)
def test_detector_recipes_count_what_they_build(name):
    from edgekit.nn.profile import profile_model
    from edgekit.recipes import find_recipe

    r = find_recipe(name)
    cost = profile_model(build_architecture(r.arch, r.input_shape, r.counted.num_classes, r.kwargs), r.input_shape)
    assert (cost.params, cost.macs) == (r.counted.params, r.counted.macs)


# Export of the trained detector to every format (two named tensors, each its own int8 scale) is checked in the
# format walk, tests/test_plugins.py, which exports the session's detector-tiny to each of them anyway.
