"""Fit samples to the model's input shape: images are resized, arrays must already match."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EdgekitError


def fit_images(x: np.ndarray, shape, spec: str) -> np.ndarray:
    if len(shape) != 3:
        raise EdgekitError(f"data set '{spec}' holds images but the model takes input shape {tuple(shape)}",
                           "pass --input-shape C,H,W for an image model")
    c, h, w = shape
    t = torch.from_numpy(x)
    if t.shape[1] != c:
        if t.shape[1] == 1:
            t = t.expand(-1, c, -1, -1)
        elif c == 1:
            t = t.mean(dim=1, keepdim=True)
        else:
            raise EdgekitError(f"cannot map {t.shape[1]}-channel images of '{spec}' to {c} channels", "pass --input-shape with 1 or 3 channels")
    if t.shape[2:] != (h, w):
        t = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
    return t.contiguous().numpy().astype(np.float32)


def fit_arrays(x: np.ndarray, shape, spec: str) -> np.ndarray:
    shape = tuple(shape)
    if x.ndim == 4 and len(shape) == 3 and x.shape[1:] == (shape[1], shape[2], shape[0]):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # NHWC images → channels first
    if x.ndim == 3 and len(shape) == 3 and shape[0] == 1 and x.shape[1:] == shape[1:]:
        return x[:, None]
    raise EdgekitError(f"samples of '{spec}' have shape {tuple(x.shape[1:])}, the model takes {shape}",
                       f"pass --input-shape {','.join(map(str, x.shape[1:]))} or reshape the data")
