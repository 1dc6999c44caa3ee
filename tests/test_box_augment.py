"""The detector's training augmentation moves each box with its pixels: an image holding one bright rectangle keeps
its box on the rectangle through mosaic, zoom and flip."""

from __future__ import annotations

import torch

from edgekit.tasks.box_augment import augment


def _scene(x1, y1, x2, y2, size=64):
    image = torch.zeros(1, size, size)
    image[:, round(y1 * size) : round(y2 * size), round(x1 * size) : round(x2 * size)] = 1.0
    return image, {"boxes": torch.tensor([[x1, y1, x2, y2]]), "classes": torch.tensor([3])}


def test_every_augmented_box_lies_on_its_bright_pixels(monkeypatch):
    import edgekit.tasks.box_augment as box_augment

    monkeypatch.setattr(box_augment, "KEEP_AREA", 1e-3)  # every box kept, however little of it a crop leaves
    monkeypatch.setattr(box_augment, "MIN_SIDE_PX", 0.01)
    torch.manual_seed(0)
    scenes = [_scene(0.1, 0.2, 0.45, 0.5), _scene(0.5, 0.55, 0.9, 0.8), _scene(0.3, 0.1, 0.6, 0.35), _scene(0.05, 0.6, 0.3, 0.95)]
    xb, yb = torch.stack([s[0] for s in scenes]), [s[1] for s in scenes]
    seen_boxes, bright, outside = 0, 0, 0
    for _ in range(30):
        images, targets = augment(xb, yb, progress=0.0)
        assert images.shape == xb.shape and len(targets) == len(yb)
        for image, t in zip(images, targets):
            assert (t["classes"] == 3).all() and len(t["boxes"]) == len(t["classes"])
            mask = torch.zeros_like(image[0], dtype=torch.bool)
            for x1, y1, x2, y2 in (t["boxes"] * 64).tolist():
                assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
                inner = image[0, round(y1) + 1 : round(y2) - 1, round(x1) + 1 : round(x2) - 1]
                assert inner.numel() == 0 or inner.mean() > 0.9  # the box's inside is the rectangle
                mask[max(0, round(y1) - 1) : round(y2) + 1, max(0, round(x1) - 1) : round(x2) + 1] = True
                seen_boxes += 1
            bright += int((image[0] > 0.5).sum())
            outside += int((image[0][~mask] > 0.5).sum())
    assert seen_boxes > 100
    assert outside < 0.02 * bright  # outside every box: only edge pixels the resizing blurred


def test_a_box_a_crop_leaves_mostly_outside_is_dropped():
    from edgekit.tasks.box_augment import _place

    t = {"boxes": torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.6, 0.6, 0.8, 0.8]]), "classes": torch.tensor([1, 2])}
    moved = _place(t, 1.0, -0.35, -0.35, (64, 64))  # the first keeps 0.15 x 0.15 of 0.5 x 0.5 (9 %), the second all
    assert moved["classes"].tolist() == [2] and torch.allclose(moved["boxes"], torch.tensor([[0.25, 0.25, 0.45, 0.45]]))


def test_mosaic_closes_for_the_last_epochs_and_other_tasks_keep_their_batches():
    from edgekit.tasks import get_task

    torch.manual_seed(1)
    xb, yb = torch.stack([_scene(0.1, 0.1, 0.9, 0.9)[0]] * 2), [_scene(0.1, 0.1, 0.9, 0.9)[1]] * 2
    for _ in range(20):
        _, targets = augment(xb, yb, progress=0.9)
        assert all(len(t["boxes"]) <= 1 for t in targets)  # no tile of four scenes
    x = torch.rand(4, 3, 8, 8)
    assert get_task("classification").augment(x, "labels", 0.5) == (x, "labels")
