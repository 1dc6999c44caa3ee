"""Ragged data (a variable number of boxes per image, ...) as plain arrays: every item's rows one after another in
one flat array, and offsets (n + 1 integers) saying where each item starts. eval.npz never needs pickle for it."""

import numpy as np


def join(items, dtype=None):
    """[array, ...] (same trailing shape) -> (flat, offsets)."""
    items = [np.asarray(a, dtype) for a in items]
    counts = [len(a) for a in items]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    flat = np.concatenate(items) if items else np.zeros((0,), dtype or np.float32)
    return flat, offsets


def split(flat, offsets, what="ragged array"):
    """(flat, offsets) -> [array, ...]; ValueError when the offsets do not cut `flat` into items (received data)."""
    flat, offsets = np.asarray(flat), np.asarray(offsets)
    if offsets.ndim != 1 or offsets.dtype.kind not in "iu" or len(offsets) < 1:
        raise ValueError("%s: offsets must be a 1-D integer array, not %s of shape %s" % (what, offsets.dtype, list(offsets.shape)))
    if offsets[0] != 0 or offsets[-1] != len(flat) or (np.diff(offsets) < 0).any():
        raise ValueError("%s: offsets must rise from 0 to %d (the flat array's length)" % (what, len(flat)))
    return [flat[int(a):int(b)] for a, b in zip(offsets[:-1], offsets[1:])]


def store(key, items, dtype=None):
    """eval.npz entries for ragged items: `key` (flat) and `key_offsets`."""
    flat, offsets = join(items, dtype)
    return {key: flat, key + "_offsets": offsets}


def load(npz, key):
    return split(npz[key], npz[key + "_offsets"], "key '%s'" % key)
