"""Data sets by spec string: digits, npz:PATH, imagefolder:DIR, synthetic:C,H,W:N_CLASSES[:N_SAMPLES].

Every data set is split train/val/test by a seed (recorded with the model), and normalisation statistics
come from the train split only.
"""

from __future__ import annotations

from .bundle import DataBundle
from .for_spec import load_run_data
from .loaders import load_dataset
from .normalize import apply_normalization, compute_normalization

__all__ = ["DataBundle", "load_dataset", "load_run_data", "apply_normalization", "compute_normalization", "DATASETS"]

DATASETS = {
    "digits": "scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes); no download",
    "npz:PATH": "arrays x (N, *input_shape or N,H,W,C) and y (N,), optional labels",
    "imagefolder:DIR": "one sub-folder per class; images read with Pillow and resized to the model input",
    "synthetic:C,H,W:N_CLASSES[:N]": "random class-conditional data at any shape, for shape and speed work",
}
