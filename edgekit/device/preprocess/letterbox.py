"""Letterbox: resize keeping the aspect ratio, centre on a padded canvas of the model's size; and the mapping of
boxes between the raw image and the model input, both ways.

One implementation for the host (training labels, export's parity) and the device (predict, bench), so boxes land
where the pixels went. The geometry follows Pillow's ImageOps.pad (contain + centred paste) exactly, so a model
trained here and an app that letterboxes with Pillow agree to the pixel; the resize is the Pillow-exact bilinear
of image.py.
"""

import numpy as np

from .image import _op_resize


def letterbox_geometry(raw_hw, step):
    """(scale_x, scale_y, pad_x, pad_y) of a raw image of size `raw_hw` (h, w) under a letterbox `step`.

    scale_* = resized / raw size per axis (equal up to the rounding of the resized size); pad_* = the canvas's
    left and top margins in model-input pixels. As ImageOps.contain + pad: the longer side fills the canvas, the
    other is round(raw ratio * canvas side), the margin is round(free pixels / 2) (Python's round: half to even).
    """
    h, w = int(raw_hw[0]), int(raw_hw[1])
    out_h, out_w = (int(v) for v in step["size"])
    if h < 1 or w < 1:
        raise ValueError("image of size {}x{} has no pixels".format(h, w))
    new_h, new_w = out_h, out_w
    im_ratio, dest_ratio = w / h, out_w / out_h
    if im_ratio > dest_ratio:
        new_h = max(1, int(round(h / w * out_w)))
    elif im_ratio < dest_ratio:
        new_w = max(1, int(round(w / h * out_h)))
    pad_x = int(round((out_w - new_w) * 0.5))
    pad_y = int(round((out_h - new_h) * 0.5))
    return (new_w / float(w), new_h / float(h), pad_x, pad_y)


def _op_letterbox(x, step, state):
    out_h, out_w = (int(v) for v in step["size"])
    sx, sy, pad_x, pad_y = letterbox_geometry(x.shape[:2], step)
    new_h, new_w = int(round(x.shape[0] * sy)), int(round(x.shape[1] * sx))
    resized = _op_resize(x, {"size": [new_h, new_w], "method": step.get("method", "bilinear")}, state)
    canvas = np.empty((out_h, out_w, x.shape[2]), dtype=resized.dtype)
    canvas[...] = step.get("pad", 114)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    return canvas


def boxes_to_input(boxes, geometry, size):
    """Raw-pixel x1,y1,x2,y2 boxes (M, 4) -> the model input's frame, normalised to 0..1 of `size` [H, W]."""
    sx, sy, pad_x, pad_y = geometry
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, 0::2] = (b[:, 0::2] * sx + pad_x) / float(size[1])
    out[:, 1::2] = (b[:, 1::2] * sy + pad_y) / float(size[0])
    return out.astype(np.float32)


def boxes_to_raw(boxes, geometry, size, raw_hw=None):
    """Model-input boxes normalised to 0..1 of `size` [H, W] (M, 4) -> raw-pixel x1,y1,x2,y2; clipped to the raw
    image when `raw_hw` (h, w) is given (a box may reach into the padding)."""
    sx, sy, pad_x, pad_y = geometry
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, 0::2] = (b[:, 0::2] * float(size[1]) - pad_x) / sx
    out[:, 1::2] = (b[:, 1::2] * float(size[0]) - pad_y) / sy
    if raw_hw is not None:
        out[:, 0::2] = np.clip(out[:, 0::2], 0, raw_hw[1])
        out[:, 1::2] = np.clip(out[:, 1::2], 0, raw_hw[0])
    return out.astype(np.float32)


def find_letterbox(pipeline):
    """The pipeline's letterbox step, or None (boxes have a frame to map through only with one)."""
    steps = [s for s in pipeline.get("steps", []) if isinstance(s, dict) and s.get("op") == "letterbox"]
    return steps[0] if steps else None
