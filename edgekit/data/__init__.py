"""Data sets by spec string: digits, npz:PATH, imagefolder:DIR, audiofolder:DIR, machines:DIR, coco:DIR, yolo:DIR,
synthetic:...

Readers return raw samples (what a sensor delivers); the recorded preprocessing (edgekit/device/preprocess.py)
turns them into model inputs, in training as on the device. Every data set is split train/val/test by a seed
(recorded with the model), and normalisation statistics come from the train split only.
"""

from __future__ import annotations

from .bundle import DataBundle, Splits
from .for_spec import load_run_data
from .loaders import load_dataset
from .normalize import apply_normalization, compute_normalization

__all__ = ["DataBundle", "Splits", "load_dataset", "load_run_data", "apply_normalization", "compute_normalization", "DATASETS"]

DATASETS = {
    "digits": "scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes); no download",
    "npz:PATH": "arrays x (N, *input_shape or N,H,W,C) and y (N,), optional labels",
    "imagefolder:DIR": "one sub-folder per class; images decoded with Pillow, resized on the fly by the recorded preprocessing",
    "audiofolder:DIR": "Speech Commands layout: one folder per word, optional _background_noise_; keyword spotting",
    "machines:DIR": "DCASE 2020 task 2 layout: train/normal_*.wav, test/normal_*.wav, test/anomaly_*.wav; anomaly detection",
    "coco:DIR": "detection: images + one COCO instances JSON (DIR/annotations/*.json or DIR/instances*.json); boxes in pixels",
    "yolo:DIR": "detection: images/ and labels/*.txt (class x_center y_center width height, 0..1), names in data.yaml or classes.txt",
    "synthetic:C,H,W:N_CLASSES[:N]": "random class-conditional data at any shape, for shape and speed work",
}
