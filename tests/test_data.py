"""Data sets: seeded, recorded splits; every reader; normalisation from the train split only."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgekit.data import apply_normalization, compute_normalization, load_dataset
from edgekit.errors import EdgekitError


def test_digits_splits_are_fixed_by_seed_disjoint_and_recorded():
    a, b, c = load_dataset("digits", seed=3), load_dataset("digits", seed=3), load_dataset("digits", seed=4)
    assert np.array_equal(a.x["test"], b.x["test"]) and not np.array_equal(a.x["test"], c.x["test"])
    total = sum(len(a.y[s]) for s in ("train", "val", "test"))
    assert total == 1797 and a.num_classes == 10
    rec = a.record()
    assert rec["spec"] == "digits" and rec["seed"] == 3 and sum(rec["sizes"].values()) == 1797
    # stratified: every class in every split
    assert all(len(np.unique(a.y[s])) == 10 for s in ("train", "val", "test"))


def test_digits_resized_to_a_bigger_rgb_model_input():
    d = load_dataset("digits", (3, 32, 32))
    assert d.sample_shape == (3, 32, 32)


def test_normalisation_uses_train_statistics_per_channel():
    d = load_dataset("synthetic:3,4,4:2", seed=0)
    norm = compute_normalization(d.x["train"])
    assert len(norm["mean"]) == 3 and norm["axis"] == 0  # the channel axis of one sample (C, H, W)
    z = apply_normalization(d.x["train"], norm)
    assert np.allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-4) and np.allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-3)


def test_npz_with_nhwc_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((60, 5, 5, 3)), y=np.arange(60) % 3, labels=np.array(["a", "b", "c"]))
    d = load_dataset(f"npz:{tmp_path / 'd.npz'}", (3, 5, 5))
    assert d.sample_shape == (3, 5, 5) and d.labels == ["a", "b", "c"]


def test_npz_shape_mismatch_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((30, 7)), y=np.arange(30) % 2)
    with pytest.raises(EdgekitError, match="have shape"):
        load_dataset(f"npz:{tmp_path / 'd.npz'}", (1, 8, 8))


def _write_images(root, classes, n=4, size=(12, 10)):
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((size[1], size[0], 3), 40 * k + i, np.uint8)).save(root / name / f"{i}.png")


def test_imagefolder_reads_and_resizes_with_pillow(tmp_path):
    _write_images(tmp_path, ["cat", "dog", "owl"], n=6)
    d = load_dataset(f"imagefolder:{tmp_path}", (3, 16, 16))
    assert d.labels == ["cat", "dog", "owl"] and d.sample_shape == (3, 16, 16)
    assert sum(len(d.y[s]) for s in ("train", "val", "test")) == 18


def test_imagefolder_empty_class_folder_is_an_error(tmp_path):
    _write_images(tmp_path, ["cat", "dog"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgekitError, match="empty.*holds no images"):
        load_dataset(f"imagefolder:{tmp_path}", (3, 8, 8))


def test_synthetic_is_learnable_and_shaped():
    d = load_dataset("synthetic:1,49,10:12:240")
    assert d.sample_shape == (1, 49, 10) and d.num_classes == 12


@pytest.mark.parametrize(
    "spec", ["synthetic:3,8,8:0", "synthetic:3,8,8:10:20", "synthetic:3,0,8:2", "synthetic:3,x,8:2", "synthetic:3,8,8"]
)
def test_bad_synthetic_specs_are_refused(spec):
    with pytest.raises(EdgekitError, match="bad synthetic spec"):
        load_dataset(spec)
