"""Ops for any input kind: scale, reshape, transpose, normalize (per-sample axes; a batched array keeps axis 0)."""

from __future__ import annotations

import numpy as np

def _op_scale(x, step, state):
    return x.astype(np.float32) * np.float32(step["factor"]) + np.float32(step.get("offset", 0.0))


def _op_reshape(x, step, state):
    shape = tuple(int(v) for v in step["shape"])
    return x.reshape((x.shape[0],) + shape if state.batched else shape)


def _op_transpose(x, step, state):
    # Per-sample axes (NHWC arrays from a user's .npz → channels first, say); a batched array keeps axis 0.
    axes = [int(a) for a in step["axes"]]
    if x.ndim != len(axes) + (1 if state.batched else 0):
        raise ValueError("axes {} do not fit a sample of shape {}".format(axes, x.shape))
    return np.ascontiguousarray(x.transpose([0] + [a + 1 for a in axes] if state.batched else axes))


def _op_normalize(x, step, state):
    x = x.astype(np.float32)
    mean = np.asarray(step["mean"], dtype=np.float32).reshape(-1)
    std = np.asarray(step["std"], dtype=np.float32).reshape(-1)
    axis = step.get("axis")
    if axis is None:
        return (x - mean[0]) / std[0]
    sample_ndim = x.ndim - 1 if state.batched else x.ndim
    if not -sample_ndim <= axis < sample_ndim:
        raise ValueError("axis {} is out of range for per-sample shape {}".format(
            axis, x.shape[1:] if state.batched else x.shape))
    axis = axis % sample_ndim + (1 if state.batched else 0)
    size = x.shape[axis]
    for name, values in (("mean", mean), ("std", std)):
        if values.size not in (1, size):
            raise ValueError("{} has {} values but axis {} has size {}".format(name, values.size, step["axis"], size))
    shape = [1] * x.ndim
    shape[axis] = -1
    return (x - mean.reshape(shape)) / std.reshape(shape)
