"""Image ops: Pillow-exact resize (bilinear, nearest), channel conversion, layout.  Input is HWC (HW1 for gray)."""

from __future__ import annotations

import math

import numpy as np

from .cache import cached

def _pillow_taps(in_size, out_size, support):
    """Pillow's precompute_coeffs() for a triangle (bilinear) filter, vectorised, same float operations.

    When downscaling the triangle is stretched by the scale factor (antialiasing), exactly as Pillow does.
    Returns (first input index and tap count per output, (out, K) index matrix, (out, K) float64 weights,
    (out, K) int fixed-point weights).  Padding taps point at a valid pixel with weight 0.
    """
    scale = float(in_size) / out_size
    filterscale = max(scale, 1.0)
    support = support * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    center = (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
    xmax = np.minimum(np.trunc(center + support + 0.5), in_size).astype(np.int64) - xmin
    tap = np.arange(ksize)
    pos = xmin[:, None] + tap[None, :]
    w = np.abs(((pos - center[:, None]) + 0.5) * (1.0 / filterscale))
    w = np.where(w < 1.0, 1.0 - w, 0.0)
    w[tap[None, :] >= xmax[:, None]] = 0.0
    # Pillow sums the weights left to right; cumsum does the same, so the normalised weights are bit-equal.
    total = np.cumsum(w, axis=1)[:, -1:]
    w = np.where(total != 0.0, w / np.where(total != 0.0, total, 1.0), w)
    # Pillow's normalize_coeffs_8bpc(): 22-bit fixed point, rounded half away from zero.
    fixed = np.where(w < 0, np.trunc(-0.5 + w * (1 << 22)), np.trunc(0.5 + w * (1 << 22))).astype(np.int64)
    idx = np.minimum(pos, in_size - 1)
    return xmin, xmax, idx, w, fixed


def _resample_axis(img, axis, idx, w, fixed):
    """One Pillow pass along `axis` (0 = rows, 1 = columns) of an HWC image."""
    taps = idx.shape[1]
    shape = [1, 1, 1]
    shape[axis] = idx.shape[0]
    if img.dtype == np.uint8:
        acc = np.full(tuple(s if a == axis else img.shape[a] for a, s in enumerate(shape)), 1 << 21,
                      dtype=np.int64)
        for t in range(taps):
            acc += np.take(img, idx[:, t], axis=axis).astype(np.int64) * fixed[:, t].reshape(shape)
        return np.clip(acc >> 22, 0, 255).astype(np.uint8)
    acc = 0.0
    for t in range(taps):
        acc = acc + np.take(img, idx[:, t], axis=axis).astype(np.float64) * w[:, t].reshape(shape)
    return acc.astype(np.float32)


def _resize_bilinear(img, out_h, out_w):
    """Pillow Image.resize(BILINEAR): two separable passes with a uint8 image between them, as Pillow.

    Pass order follows Pillow 13's ImagingResampleInner: vertical first when the height shrinks by more than
    twice as many pixels as the width does, else horizontal first (older Pillow was always horizontal first;
    the order changes the rounding of the intermediate image, so it matters for bit-exactness).
    """
    in_h, in_w = img.shape[:2]
    x_taps = cached(("taps", in_w, out_w), lambda: _pillow_taps(in_w, out_w, 1.0))
    y_taps = cached(("taps", in_h, out_h), lambda: _pillow_taps(in_h, out_h, 1.0))
    if in_w == out_w:
        return _resample_axis(img, 0, *y_taps[2:])
    if in_h == out_h:
        return _resample_axis(img, 1, *x_taps[2:])
    if in_h - out_h > 0 and in_h - out_h > (in_w - out_w) * 2:
        return _resample_axis(_resample_axis(img, 0, *y_taps[2:]), 1, *x_taps[2:])
    # Horizontal first, on only the rows the vertical pass reads (as Pillow; the result is the same).
    ymin, ycount, yidx, yw, yfix = y_taps
    first, last = int(ymin[0]), int(ymin[-1] + ycount[-1])
    img = _resample_axis(img[first:last], 1, *x_taps[2:])
    return _resample_axis(img, 0, np.clip(yidx - first, 0, last - first - 1), yw, yfix)


def _nearest_index(in_size, out_size):
    """Pillow's ImagingScaleAffine: source = floor(x), x starting at scale/2 and stepping by scale.

    Pillow accumulates x by repeated addition; np.cumsum adds in the same order, so the indices agree even
    where (k + 0.5) * scale lands on an integer boundary.
    """
    step = float(in_size) / out_size
    pos = np.cumsum(np.concatenate([[step * 0.5], np.full(out_size - 1, step)]))
    return np.clip(pos.astype(np.int64), 0, in_size - 1)


def _op_resize(x, step, state):
    out_h, out_w = (int(v) for v in step["size"])
    if x.shape[0] == out_h and x.shape[1] == out_w:
        return x
    if step.get("method", "bilinear") == "nearest":
        rows = cached(("nearest", x.shape[0], out_h), lambda: _nearest_index(x.shape[0], out_h))
        cols = cached(("nearest", x.shape[1], out_w), lambda: _nearest_index(x.shape[1], out_w))
        return x[rows][:, cols]
    if x.dtype != np.uint8:
        x = x.astype(np.float32)      # Pillow mode "F" arithmetic: float weights, no rounding
    return _resize_bilinear(x, out_h, out_w)


def _op_to_channels(x, step, state):
    if x.ndim != 3:
        raise ValueError("needs an HWC image, got shape {}".format(x.shape))
    want, have = step["channels"], x.shape[2]
    if have in (2, 4):
        x, have = x[:, :, :have - 1], have - 1   # LA / RGBA: drop alpha, as Pillow's convert does
    if want == have:
        return x
    if want == 3:
        return np.repeat(x, 3, axis=2)
    if x.dtype == np.uint8:
        # Pillow's convert("L"): ITU-R 601-2 luma in 16-bit fixed point, rounded (299/587/114 per mille).
        rgb = x.astype(np.int32)
        luma = (rgb[:, :, 0] * 19595 + rgb[:, :, 1] * 38470 + rgb[:, :, 2] * 7471 + 0x8000) >> 16
        return luma.astype(np.uint8)[:, :, None]
    rgb = x.astype(np.float32)
    return (rgb[:, :, 0:1] * 0.299 + rgb[:, :, 1:2] * 0.587 + rgb[:, :, 2:3] * 0.114).astype(np.float32)


def _op_layout(x, step, state):
    if x.ndim != 3:
        raise ValueError("needs an HWC image, got shape {}".format(x.shape))
    return np.ascontiguousarray(x.transpose(2, 0, 1)) if step["to"] == "CHW" else x
