"""What a data-set reader returns: raw samples, labels, and how to turn raw samples into a model's input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import EdgekitError


@dataclass
class Source:
    raw: list  # one raw sample each (uint8 image, PCM clip, array)
    y: np.ndarray  # one label per sample (an array, or a container with len() and take(): data/boxlabels.py)
    labels: list[str]
    kind: str  # image | audio | tensor
    input: dict  # the preprocessing pipeline's "input" section
    natural_shape: tuple[int, ...] | None  # the model input shape the data fixes, if it fixes one
    steps: Callable[[tuple[int, ...]], list[dict]]  # model input shape → preprocessing steps (before normalisation)
    task: str | None = None  # the task the data implies (anomaly data sets, detection data sets)
    default_model: str | None = None  # the zoo recipe `edgekit train --dataset SPEC` trains without --model
    keep_together: np.ndarray | None = None  # e.g. speaker ids: a group never straddles two splits
    fixed_split: np.ndarray | None = None  # per sample "train" (train or val) or "test", when the layout fixes it
    augment: Callable[[str, list, int], list] | None = None  # (split, raw samples, seed) → raw samples (training noise)
    meta: dict = field(default_factory=dict)


def image_input(spec: str, shape, model: str) -> tuple[int, int, int]:
    """(C, H, W) of a model input that images can feed (C = 1 or 3), else one line naming `model` ("an image
    model", "a detector") in the fix."""
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise EdgekitError(
            f"data set '{spec}' holds images but the model takes input shape {tuple(shape)}",
            f"pass --input-shape C,H,W (C = 1 or 3) for {model}",
        )
    c, h, w = shape
    return c, h, w


def image_steps(spec: str, channels: int | None, scale: float):
    """Steps for images: scale to 0..1 first (float resize loses nothing), resize, channels, CHW.

    The resize step is always there, even when every training image already has the model's size (then it is the
    identity, as Pillow's is): a device's photo can have any size.
    """

    def steps(shape):
        c, h, w = image_input(spec, shape, "an image model")
        out = [{"op": "scale", "factor": scale}, {"op": "resize", "size": [h, w], "method": "bilinear"}]
        if channels != c:
            out.append({"op": "to_channels", "channels": c})
        return out + [{"op": "layout", "to": "CHW"}]

    return steps


def tensor_steps(spec: str, sample_shape: tuple[int, ...]):
    """Arrays: taken as they are, or moved channels-first when they are NHWC images of the model's size."""

    def steps(shape):
        shape = tuple(shape)
        if sample_shape == shape:
            return []
        if len(sample_shape) == 3 and len(shape) == 3 and sample_shape == (shape[1], shape[2], shape[0]):
            return [{"op": "transpose", "axes": [2, 0, 1]}]  # NHWC images → channels first
        if len(shape) == 3 and shape[0] == 1 and sample_shape == shape[1:]:
            return [{"op": "reshape", "shape": list(shape)}]
        raise EdgekitError(
            f"samples of '{spec}' have shape {sample_shape}, the model takes {shape}",
            f"pass --input-shape {','.join(map(str, sample_shape))} or reshape the data",
        )

    return steps
