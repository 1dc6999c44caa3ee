"""Raw sensor input -> model input, as a declarative, versioned pipeline.

This file is copied as-is to small devices (Raspberry Pi, Python 3.8+, numpy only) and imported by the host,
so the host's training data and the device's live input go through the very same code.  It therefore imports
only the standard library and numpy.

A pipeline is a JSON-able dict::

    {"version": 1,
     "input": {"kind": "image", "channels": "RGB"},          # or {"kind": "audio", "sample_rate": 16000}
     "steps": [{"op": "resize", "size": [96, 96]}, ...]}     # or {"kind": "tensor"}

`run(pipeline, raw)` returns float32 of shape (n, *model_input_shape): n = 1 unless a `context` step turns one
clip into several model inputs (anomaly detection).  `validate(pipeline)` raises a one-line ValueError naming
the bad key.  `input.channels` of an image is the layout the model was built for; the raw array's own shape
(HW, or HWC with 1-4 channels) is what resize/to_channels read.

Ops (key=default; keys without a default are required):
  image   resize {size [H, W], method="bilinear"|"nearest"}   Pillow Image.resize, bit-exact on uint8
          to_channels {channels 1|3}                          Pillow convert: L = 601-2 luma, alpha dropped
          layout {to "CHW"|"HWC"}                             from HWC
  audio   pcm_to_float {}                                     int16 /32768 (any int PCM by full scale)
          resample {rate}                                     polyphase Kaiser windowed sinc = resample_poly
          fix_length {samples}                                zero-pad the end / keep the first samples
          frames {length, stride, window="hann"|"hamming"|"none", n_fft=length, center=false,
                  pad_mode="reflect"|"constant"}              periodic window, frame zero-padded to n_fft
          power_spectrum {}                                   |rfft|^2
          mel {bins, sample_rate, f_min=0, f_max=sample_rate/2, scale="slaney"|"htk", norm="slaney"|null}
          log {offset, base="e"|"10", multiplier=1}           multiplier * log_base(x + offset)
          dct {count}                                         DCT-II, orthonormal, first `count`
          context {frames}                                    stack consecutive rows, stride 1 -> n vectors
  any     scale {factor, offset=0}                            x * factor + offset
          reshape {shape}                                     per output sample
          normalize {mean, std, axis=null}                    (x - mean) / std along a per-sample axis
"""

from __future__ import annotations

import math
import struct
import sys

import numpy as np
from numpy.lib.stride_tricks import as_strided

PIPELINE_VERSION = 1
# Caps on sizes a pipeline or a file may ask for, so that an absurd value is refused in one line before any
# allocation (a WAV header claiming 10^9 Hz, a resize to 300000 x 300000) rather than as a MemoryError later.
MAX_SAMPLE_RATE = 384000          # the highest rate audio interfaces record at
MAX_ELEMENTS = 1 << 24            # samples of a fixed-length clip, pixels of a resized image, values of a reshape
MAX_FRAME = 1 << 16               # frame length / n_fft, mel bins, DCT coefficients, context frames

# ----------------------------------------------------------------------------------------------------------
# Schema.  Each op maps key -> (required, check, what it must be).  Checks are tiny predicates so that the
# error message can say exactly what was expected.
# ----------------------------------------------------------------------------------------------------------


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_num(v):
    return (_is_int(v) or isinstance(v, (float, np.floating))) and math.isfinite(float(v))


def _pos_int(v):
    return _is_int(v) and v > 0


def _nonneg_num(v):
    return _is_num(v) and v >= 0


def _num_or_nums(v):
    if isinstance(v, (list, tuple)):
        return len(v) > 0 and all(_is_num(x) for x in v)
    return _is_num(v)


def _one_of(*choices):
    return lambda v: any(v == c and type(v) is type(c) for c in choices)


def _optional(check):
    return lambda v: v is None or check(v)


def _capped(limit):
    return lambda v: _pos_int(v) and v <= limit


def _size_hw(v):
    return (isinstance(v, (list, tuple)) and len(v) == 2 and all(_pos_int(x) for x in v)
            and v[0] * v[1] <= MAX_ELEMENTS)


def _shape(v):
    if not isinstance(v, (list, tuple)) or not v or not all(_is_int(x) and (x > 0 or x == -1) for x in v):
        return False
    known = 1
    for x in v:
        known *= max(int(x), 1)
    return sum(1 for x in v if x == -1) <= 1 and known <= MAX_ELEMENTS


def _axes(v):
    return isinstance(v, (list, tuple)) and bool(v) and sorted(v) == list(range(len(v))) and all(_is_int(a) for a in v)


def _bool(v):
    return isinstance(v, bool)


_NUM = (_is_num, "a number")
_POS_INT = (_pos_int, "a positive int")
_RATE = (_capped(MAX_SAMPLE_RATE), "a positive int, at most {} (Hz)".format(MAX_SAMPLE_RATE))
_FRAME = (_capped(MAX_FRAME), "a positive int, at most {}".format(MAX_FRAME))

_OPS = {
    # image
    "resize": {"size": (True, _size_hw, "a list [H, W] of 2 positive ints, H*W at most {}".format(MAX_ELEMENTS)),
               "method": (False, _one_of("bilinear", "nearest"), '"bilinear" or "nearest"')},
    "to_channels": {"channels": (True, _one_of(1, 3), "1 or 3")},
    "layout": {"to": (True, _one_of("CHW", "HWC"), '"CHW" or "HWC"')},
    # audio
    "pcm_to_float": {},
    "resample": {"rate": (True,) + _RATE},
    "fix_length": {"samples": (True, _capped(MAX_ELEMENTS), "a positive int, at most {}".format(MAX_ELEMENTS))},
    "frames": {"length": (True,) + _FRAME, "stride": (True,) + _POS_INT,
               "window": (False, _one_of("hann", "hamming", "none"), '"hann", "hamming" or "none"'),
               "n_fft": (False,) + _FRAME,
               "center": (False, _bool, "true or false"),
               "pad_mode": (False, _one_of("reflect", "constant"), '"reflect" or "constant"')},
    "power_spectrum": {},
    "mel": {"bins": (True,) + _FRAME, "sample_rate": (True,) + _RATE,
            "f_min": (False, _nonneg_num, "a number >= 0"), "f_max": (False, _optional(_is_num), "a number or null"),
            "scale": (False, _one_of("htk", "slaney"), '"htk" or "slaney"'),
            "norm": (False, _optional(_one_of("slaney")), '"slaney" or null')},
    "log": {"offset": (True, _nonneg_num, "a number >= 0"),
            "base": (False, _one_of("e", "10"), '"e" or "10"'),
            "multiplier": (False,) + _NUM},
    "dct": {"count": (True,) + _FRAME},
    "context": {"frames": (True,) + _FRAME},
    # any kind
    "scale": {"factor": (True,) + _NUM, "offset": (False,) + _NUM},
    "reshape": {"shape": (True, _shape, "a non-empty list of positive ints (at most one -1), at most {} values".format(
        MAX_ELEMENTS))},
    "transpose": {"axes": (True, _axes, "a permutation of the sample's axes, e.g. [2, 0, 1]")},
    "normalize": {"mean": (True, _num_or_nums, "a number or a non-empty list of numbers"),
                  "std": (True, _num_or_nums, "a number or a non-empty list of numbers"),
                  "axis": (False, _optional(_is_int), "an int or null")},
}

_GENERIC = ("scale", "reshape", "transpose", "normalize")
_KIND_OPS = {
    "image": ("resize", "to_channels", "layout") + _GENERIC,
    "audio": ("pcm_to_float", "resample", "fix_length", "frames", "power_spectrum", "mel", "log", "dct",
              "context") + _GENERIC,
    "tensor": _GENERIC,
}
_INPUT_KEYS = {
    "image": {"channels": (True, _one_of("RGB", "L"), '"RGB" or "L"')},
    "audio": {"sample_rate": (True,) + _RATE},
    "tensor": {},
}
# Audio ops that only make sense at one stage of the chain: (stage needed, stage after).  Checked statically
# so that a mis-ordered pipeline fails in validate() rather than with a numpy shape error on the device.
_STAGES = {"pcm_to_float": ("signal", "signal"), "resample": ("signal", "signal"),
           "fix_length": ("signal", "signal"), "frames": ("signal", "frames"),
           "power_spectrum": ("frames", "spectrum"), "mel": ("spectrum", "features")}
_STAGE_HINT = {"signal": "a 1-D signal (put it before frames)", "frames": "frames (put frames before it)",
               "spectrum": "a power spectrum (put power_spectrum before it)"}


def _fail(where, what, value):
    raise ValueError("{} must be {}, got {!r}".format(where, what, value))


def _check_keys(where, given, schema):
    for key in given:
        if key not in schema:
            allowed = ", ".join(sorted(schema)) or "no keys"
            raise ValueError("{}: unknown key {!r} (allowed: {})".format(where, key, allowed))
    for key, (required, check, what) in schema.items():
        if key not in given:
            if required:
                raise ValueError("{}.{} is missing: it must be {}".format(where, key, what))
            continue
        if not check(given[key]):
            _fail("{}.{}".format(where, key), what, given[key])


def _check_normalize(where, step):
    mean, std, axis = step["mean"], step["std"], step.get("axis")
    means = mean if isinstance(mean, (list, tuple)) else [mean]
    stds = std if isinstance(std, (list, tuple)) else [std]
    if any(float(s) == 0.0 for s in stds):
        _fail(where + ".std", "non-zero", std)
    if axis is None and (len(means) != 1 or len(stds) != 1):
        raise ValueError("{}: mean and std must be single numbers when axis is null (one global scalar)".format(where))
    if len(means) != len(stds) and 1 not in (len(means), len(stds)):
        raise ValueError("{}: mean has {} values but std has {}".format(where, len(means), len(stds)))


def validate(pipeline: dict) -> None:
    """Raise ValueError (one line, naming the bad key) unless `pipeline` is a well-formed version-1 pipeline."""
    if not isinstance(pipeline, dict):
        _fail("pipeline", "a dict", type(pipeline).__name__)
    _check_keys("pipeline", pipeline, {"version": (True, _is_int, "an int"),
                                       "input": (True, lambda v: isinstance(v, dict), "a dict"),
                                       "steps": (True, lambda v: isinstance(v, (list, tuple)), "a list")})
    if pipeline["version"] != PIPELINE_VERSION:
        raise ValueError("version must be {} (the version this preprocess.py runs), got {!r}".format(
            PIPELINE_VERSION, pipeline["version"]))
    inp = pipeline["input"]
    kind = inp.get("kind")
    if kind not in _KIND_OPS:
        _fail("input.kind", '"image", "audio" or "tensor"', kind)
    _check_keys("input", {k: v for k, v in inp.items() if k != "kind"}, _INPUT_KEYS[kind])
    rate, stage, chw = inp.get("sample_rate"), "signal", False
    for i, step in enumerate(pipeline["steps"]):
        where = "steps[{}]".format(i)
        if not isinstance(step, dict):
            _fail(where, "a dict", step)
        op = step.get("op")
        if op not in _OPS:
            raise ValueError("{}.op must be one of {}, got {!r}".format(where, ", ".join(sorted(_OPS)), op))
        if op not in _KIND_OPS[kind]:
            raise ValueError("{}.op {!r} does not apply to {} input (allowed: {})".format(
                where, op, kind, ", ".join(_KIND_OPS[kind])))
        where = "{} ({})".format(where, op)
        _check_keys(where, {k: v for k, v in step.items() if k != "op"}, _OPS[op])
        if op == "normalize":
            _check_normalize(where, step)
        if op == "frames" and step.get("n_fft", step["length"]) < step["length"]:
            _fail(where + ".n_fft", ">= length ({})".format(step["length"]), step["n_fft"])
        if op in _STAGES:
            need, after = _STAGES[op]
            if stage != need:
                raise ValueError("{}: needs {}".format(where, _STAGE_HINT[need]))
            stage = after
        if op in ("resize", "to_channels", "layout") and chw:
            raise ValueError("{}: image ops read HWC, but an earlier layout step made it CHW".format(where))
        chw = chw or (op == "layout" and step["to"] == "CHW")
        if op == "resample":
            rate = step["rate"]
        if op == "mel":
            _check_mel(where, step, rate)


def _check_mel(where, step, rate):
    if step["sample_rate"] != rate:
        raise ValueError("{}.sample_rate must equal the audio rate at this step ({}), got {!r}".format(
            where, rate, step["sample_rate"]))
    f_min, f_max = step.get("f_min", 0.0), step.get("f_max")
    f_max = rate / 2.0 if f_max is None else f_max
    if not f_min < f_max <= rate / 2.0:
        raise ValueError("{}: need 0 <= f_min < f_max <= sample_rate/2, got f_min={!r} f_max={!r}".format(
            where, f_min, f_max))


# ----------------------------------------------------------------------------------------------------------
# Small per-parameter cache (mel matrix, DCT matrix, windows, resize taps, resample filters).  Keyed by the
# parameter tuple; bounded so a long-running device process never grows it without limit.
# ----------------------------------------------------------------------------------------------------------

_CACHE = {}
_CACHE_MAX = 64


def _cached(key, build):
    value = _CACHE.get(key)
    if value is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        value = _CACHE[key] = build()
    return value


# ----------------------------------------------------------------------------------------------------------
# run()
# ----------------------------------------------------------------------------------------------------------


class _State(object):
    """What later steps need to know about the data that the array alone does not say."""

    def __init__(self, rate):
        self.rate = rate          # current audio sample rate
        self.n_fft = None         # set by frames, needed by mel
        self.batched = False      # True once a step (context) made axis 0 the output-sample axis


def run(pipeline: dict, raw) -> np.ndarray:
    """Apply `pipeline` to one raw input; return float32 of shape (n, *model_input_shape)."""
    validate(pipeline)
    inp = pipeline["input"]
    x = _as_input(inp["kind"], raw)
    state = _State(inp.get("sample_rate"))
    for i, step in enumerate(pipeline["steps"]):
        try:
            x = _APPLY[step["op"]](x, step, state)
        except ValueError as e:
            raise ValueError("steps[{}] ({}): {}".format(i, step["op"], e)) from None
    x = np.asarray(x, dtype=np.float32)
    return x if state.batched else x[None]


def _as_input(kind, raw):
    x = np.asarray(raw)
    if x.dtype.kind not in "biuf":
        raise ValueError("input must be a numeric array, got dtype {}".format(x.dtype))
    if x.size == 0:
        raise ValueError("input is empty (shape {})".format(x.shape))
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        # NaN would flow through every step and come out as a score of nan: refuse it where it enters.
        raise ValueError("input holds NaN or infinite values")
    if kind == "image":
        if x.ndim == 2:
            x = x[:, :, None]         # grayscale HW -> HW1 so every image op sees HWC
        if x.ndim != 3 or x.shape[2] not in (1, 2, 3, 4):
            raise ValueError("image input must be HW or HWC with 1-4 channels, got shape {}".format(x.shape))
        return x
    if kind == "audio":
        if x.ndim != 1:
            raise ValueError("audio input must be a 1-D array of mono samples, got shape {}".format(x.shape))
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ValueError("audio input must be integer PCM or float samples, got dtype {}".format(x.dtype))
        return x
    return x.astype(np.float32)


# ---- image ops -------------------------------------------------------------------------------------------

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
    x_taps = _cached(("taps", in_w, out_w), lambda: _pillow_taps(in_w, out_w, 1.0))
    y_taps = _cached(("taps", in_h, out_h), lambda: _pillow_taps(in_h, out_h, 1.0))
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
        rows = _cached(("nearest", x.shape[0], out_h), lambda: _nearest_index(x.shape[0], out_h))
        cols = _cached(("nearest", x.shape[1], out_w), lambda: _nearest_index(x.shape[1], out_w))
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


# ---- generic ops -----------------------------------------------------------------------------------------

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


# ---- audio ops -------------------------------------------------------------------------------------------

def _need_float(x, what):
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError("{} needs float samples, got {}: put pcm_to_float before it".format(what, x.dtype))


def _need_ndim(x, ndim, what):
    if x.ndim != ndim:
        raise ValueError("needs {}, got shape {}".format(what, x.shape))


def _op_pcm_to_float(x, step, state):
    """Integer PCM -> float32 in [-1, 1) by the full-scale value (int16: /32768, as librosa and TF do)."""
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32)
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - 128.0) / 128.0       # 8-bit WAV PCM is unsigned
    return (x.astype(np.float64) / float(2 ** (8 * x.dtype.itemsize - 1))).astype(np.float32)


def _poly_filter(up, down):
    """Anti-alias FIR as scipy.signal.resample_poly designs it by default.

    firwin(2*half+1, 1/max(up, down), window=("kaiser", 5.0)), scaled to unit DC gain, times `up`; with
    half = 10*max(up, down).  Returned as a (up, taps) polyphase table: row r holds h[r], h[r+up], ...
    """
    max_rate = max(up, down)
    half = 10 * max_rate
    m = np.arange(2 * half + 1) - half
    cutoff = 1.0 / max_rate
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(2 * half + 1, 5.0)
    h = h / h.sum() * up
    taps = -(-(2 * half + 1) // up)
    table = np.zeros(taps * up)
    table[:h.size] = h
    return half, table.reshape(taps, up).T.copy()


def _op_resample(x, step, state):
    """Rational-ratio polyphase resampling (windowed-sinc, Kaiser beta=5), aligned like resample_poly.

    Output sample n sits at input time n*down/up; the signal is taken as zero outside [0, len).  Output length
    is ceil(len*up/down).  Computed in float64, returned as float32.
    """
    _need_ndim(x, 1, "a 1-D signal")
    _need_float(x, "resample")
    g = math.gcd(int(state.rate), int(step["rate"]))
    up, down = int(step["rate"]) // g, int(state.rate) // g
    state.rate = int(step["rate"])
    if up == down:
        return x.astype(np.float32)
    half, table = _cached(("poly", up, down), lambda: _poly_filter(up, down))
    taps = table.shape[1]
    n_out = -(-x.size * up // down)
    t = np.arange(n_out, dtype=np.int64) * down + half   # position of each output, shifted by the filter half
    phase, first = t % up, t // up                       # newest input sample under the filter, and its tap row
    pad = taps
    xp = np.concatenate([np.zeros(pad), x.astype(np.float64), np.zeros(pad)])
    acc = np.zeros(n_out)
    for j in range(taps):
        idx = first - j + pad
        acc += xp[np.clip(idx, 0, xp.size - 1)] * table[phase, j]
    return acc.astype(np.float32)


def _op_fix_length(x, step, state):
    _need_ndim(x, 1, "a 1-D signal")
    n = int(step["samples"])
    if x.size >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - x.size, dtype=x.dtype)])


def _window(kind, length):
    """Periodic (DFT-even) windows, as librosa.filters.get_window(fftbins=True) and tf.signal default."""
    n = np.arange(length)
    if kind == "hann":
        w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)
    elif kind == "hamming":
        w = 0.54 - 0.46 * np.cos(2.0 * np.pi * n / length)
    else:
        w = np.ones(length)
    return w.astype(np.float32)


def _op_frames(x, step, state):
    """Windowed frames zero-padded (at the end) to n_fft: (n_frames, n_fft).

    Default (center false): no padding, n_frames = 1 + (len - length) // stride, frame t = x[t*stride:][:length]
    (tf.signal.stft framing).  center true pads length//2 samples on both sides first (pad_mode "reflect" as
    librosa < 0.10 / the DCASE 2020 baseline, or "constant" zeros), so frame t is centred on sample t*stride.
    """
    _need_ndim(x, 1, "a 1-D signal")
    _need_float(x, "frames")
    length, stride = int(step["length"]), int(step["stride"])
    n_fft = int(step.get("n_fft", length))
    x = np.ascontiguousarray(x, dtype=np.float32)
    if step.get("center", False):
        mode = step.get("pad_mode", "reflect")
        if mode == "reflect" and x.size < 2:
            raise ValueError("reflect padding needs at least 2 samples, got {}".format(x.size))
        x = np.pad(x, (length // 2, length // 2), mode=mode)
    state.n_fft = n_fft
    n_frames = 1 + (x.size - length) // stride if x.size >= length else 0
    out = np.zeros((n_frames, n_fft), dtype=np.float32)
    if n_frames:
        view = as_strided(x, shape=(n_frames, length), strides=(stride * x.strides[0], x.strides[0]),
                          writeable=False)
        window = _cached(("window", step.get("window", "hann"), length),
                         lambda: _window(step.get("window", "hann"), length))
        np.multiply(view, window, out=out[:, :length])
    return out


def _op_power_spectrum(x, step, state):
    _need_ndim(x, 2, "frames (n_frames, n_fft)")
    spec = np.fft.rfft(x, axis=-1)
    return (spec.real ** 2 + spec.imag ** 2).astype(np.float32)


def _hz_to_mel(f, htk):
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    mel = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mel)


def _mel_to_hz(m, htk):
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def _mel_matrix(sample_rate, n_fft, bins, f_min, f_max, htk, slaney_norm):
    """(n_fft//2+1, bins) triangle filterbank, the construction of librosa.filters.mel.

    Band edges are equally spaced on the mel scale (HTK 2595*log10(1+f/700), or Slaney's linear-below-1 kHz /
    log-above); triangles are linear in Hz; "slaney" norm divides each by its width (2 / (f_hi - f_lo)).
    """
    fft_freqs = np.arange(n_fft // 2 + 1) * (float(sample_rate) / n_fft)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(f_min, htk), _hz_to_mel(f_max, htk), bins + 2), htk)
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if slaney_norm:
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return np.ascontiguousarray(weights.T, dtype=np.float32)


def _op_mel(x, step, state):
    _need_ndim(x, 2, "a power spectrum (n_frames, n_fft//2+1)")
    rate = int(step["sample_rate"])
    f_max = step.get("f_max")
    key = ("mel", rate, state.n_fft, int(step["bins"]), float(step.get("f_min", 0.0)),
           float(rate / 2.0 if f_max is None else f_max), step.get("scale", "slaney") == "htk",
           step.get("norm", "slaney") == "slaney")
    matrix = _cached(key, lambda: _mel_matrix(*key[1:]))
    if x.shape[1] != matrix.shape[0]:
        raise ValueError("expects {} spectrum bins (n_fft {}), got {}".format(matrix.shape[0], state.n_fft,
                                                                            x.shape[1]))
    return np.dot(x, matrix)


def _op_log(x, step, state):
    """multiplier * log_base(x + offset); base "10" with multiplier 10 gives dB of a power."""
    log = np.log10 if step.get("base", "e") == "10" else np.log
    y = log(x.astype(np.float32) + np.float32(step["offset"]))
    multiplier = step.get("multiplier", 1.0)
    return y * np.float32(multiplier) if multiplier != 1.0 else y


def _dct_matrix(n, count):
    """(n, count) orthonormal DCT-II basis: scipy.fft.dct(type=2, norm="ortho")[..., :count] as a matmul."""
    k = np.arange(count)[None, :]
    i = np.arange(n)[:, None]
    basis = np.cos(np.pi * k * (2 * i + 1) / (2.0 * n)) * math.sqrt(2.0 / n)
    basis[:, 0] *= math.sqrt(0.5)
    return basis.astype(np.float32)


def _op_dct(x, step, state):
    n, count = x.shape[-1], int(step["count"])
    if count > n:
        raise ValueError("count {} exceeds the {} input coefficients".format(count, n))
    return np.dot(x, _cached(("dct", n, count), lambda: _dct_matrix(n, count)))


def _op_context(x, step, state):
    """Stack `frames` consecutive feature rows into one vector, stride 1 (DCASE 2020 / MLPerf Tiny AD).

    (n_frames, F) -> (n_frames - frames + 1, frames * F); vector i = rows i..i+frames-1, row-major.  Too few
    rows gives zero vectors, like the baseline's "skip too short clips".
    """
    _need_ndim(x, 2, "features (n_frames, n_features)")
    k = int(step["frames"])
    n = max(x.shape[0] - k + 1, 0)
    state.batched = True
    if n == 0:
        return np.zeros((0, k * x.shape[1]), dtype=np.float32)
    return np.concatenate([x[t:t + n] for t in range(k)], axis=1)


_APPLY = {
    "resize": _op_resize, "to_channels": _op_to_channels, "layout": _op_layout, "scale": _op_scale,
    "reshape": _op_reshape, "transpose": _op_transpose, "normalize": _op_normalize, "pcm_to_float": _op_pcm_to_float,
    "resample": _op_resample, "fix_length": _op_fix_length, "frames": _op_frames,
    "power_spectrum": _op_power_spectrum, "mel": _op_mel, "log": _op_log, "dct": _op_dct,
    "context": _op_context,
}


# ----------------------------------------------------------------------------------------------------------
# WAV decoding (manual RIFF parsing: the stdlib `wave` module cannot read float or WAVE_FORMAT_EXTENSIBLE)
# ----------------------------------------------------------------------------------------------------------

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def _wav_chunks(data):
    """Yield (chunk id, payload) from a RIFF/WAVE byte string; a truncated last chunk yields what is there."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file (RIFX big-endian and RF64 are not supported)")
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        yield cid, data[pos + 8:pos + 8 + size]          # streaming writers may leave size 0xFFFFFFFF
        pos += 8 + size + (size & 1)                      # chunks are word aligned


def _wav_samples(payload, fmt, bits, channels):
    width = bits // 8
    n = len(payload) // (width * channels) * channels
    if fmt == _FLOAT and bits in (32, 64):
        with np.errstate(over="ignore", invalid="ignore"):   # a float64 beyond float32 becomes inf: refused later
            return np.frombuffer(payload, dtype="<f{}".format(width), count=n).astype(np.float32)
    if fmt != _PCM or bits not in (8, 16, 24, 32):
        raise ValueError("unsupported WAV encoding: format {} with {} bits".format(fmt, bits))
    if bits == 8:
        return np.frombuffer(payload, dtype=np.uint8, count=n)
    if bits == 24:
        raw = np.frombuffer(payload, dtype=np.uint8, count=n * 3).reshape(-1, 3).astype(np.uint32)
        # Place the 3 bytes in the top of an int32 so full scale is 2**31, like 32-bit PCM.
        return ((raw[:, 0] << 8) | (raw[:, 1] << 16) | (raw[:, 2] << 24)).view(np.int32)
    return np.frombuffer(payload, dtype="<i{}".format(width), count=n).astype("=i{}".format(width))


def decode_wav(data: bytes) -> "tuple[np.ndarray, int]":
    """WAV bytes -> (mono samples, sample_rate).

    16-bit PCM mono comes back as int16 (feed it to pcm_to_float); every other supported encoding (8/24/32-bit
    PCM, 32/64-bit float) and every multi-channel file comes back as float32 (full scale 1.0), channels averaged.
    A clip with no samples, NaN/infinite samples, 0 bits or a rate outside 1..MAX_SAMPLE_RATE is a ValueError.
    """
    fmt_info, payload = None, None
    for cid, chunk in _wav_chunks(bytes(data)):
        if cid == b"fmt ":
            if len(chunk) < 16:
                raise ValueError("WAV fmt chunk too short")
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", chunk[:16])
            if fmt == _EXTENSIBLE and len(chunk) >= 26:
                fmt = struct.unpack("<H", chunk[24:26])[0]   # first two bytes of the sub-format GUID
            fmt_info = (fmt, channels, rate, bits)
        elif cid == b"data" and payload is None:
            payload = chunk
    if fmt_info is None or payload is None:
        raise ValueError("WAV file has no {} chunk".format("fmt " if fmt_info is None else "data"))
    fmt, channels, rate, bits = fmt_info
    if channels < 1 or bits < 8 or bits % 8:
        raise ValueError("unsupported WAV layout: {} bits per sample, {} channel(s)".format(bits, channels))
    if not 1 <= rate <= MAX_SAMPLE_RATE:
        # Checked before anything is sized by the rate (a 1 s clip at 10^9 Hz would be 2 GB of padding).
        raise ValueError("WAV header says {} Hz, outside 1..{} Hz".format(rate, MAX_SAMPLE_RATE))
    samples = _wav_samples(payload, fmt, bits, channels)
    if samples.size == 0:
        raise ValueError("WAV file holds no samples (its data chunk is empty)")
    if channels == 1 and samples.dtype == np.int16:
        return samples, int(rate)
    samples = _op_pcm_to_float(samples, None, None)
    if not np.isfinite(samples).all():
        raise ValueError("WAV file holds NaN or infinite samples")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float64).astype(np.float32)
    return samples, int(rate)


def to_pcm16(samples) -> "tuple[np.ndarray, int]":
    """Mono samples (int PCM of any width, or float with full scale 1.0) -> (int16 PCM, samples clipped).

    The one conversion of a clip to the form training stores and the device predicts from, so a float WAV
    louder than full scale is clipped the same way in both; the count of samples beyond full scale lets the
    caller say so.  NaN or infinite samples are refused.
    """
    x = np.asarray(samples)
    if x.dtype == np.int16:
        return x, 0
    if x.dtype.kind not in "iuf":
        raise ValueError("{} values are not audio samples".format(x.dtype))
    x = x.astype(np.float64) if x.dtype.kind == "f" else _op_pcm_to_float(x, None, None).astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("NaN or infinite samples")
    clipped = int(np.count_nonzero(np.abs(x) > 1.0))
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16), clipped


# ----------------------------------------------------------------------------------------------------------
# Presets
# ----------------------------------------------------------------------------------------------------------


def _signal_steps(sample_rate, input_rate):
    steps = [{"op": "pcm_to_float"}]
    if input_rate is not None and int(input_rate) != int(sample_rate):
        steps.append({"op": "resample", "rate": int(sample_rate)})
    return steps


def kws_pipeline(sample_rate=16000, clip_seconds=1.0, frame_ms=30, stride_ms=20, n_fft=512, mel_bins=40,
                 f_min=20.0, f_max=4000.0, mfcc=10, log_offset=1e-6, input_rate=None) -> dict:
    """Keyword spotting MFCC front end (MLPerf Tiny KWS / DS-CNN shape): output (1, 1, 49, 10) by default.

    1 s at 16 kHz, 30 ms Hann frames every 20 ms zero-padded to 512, power spectrum, 40 HTK-mel bands 20-4000 Hz
    (unnormalised), natural log (+1e-6), first 10 orthonormal DCT-II coefficients.  `input_rate`: the
    microphone's rate, if it differs (adds a resample step).
    """
    samples = int(round(sample_rate * clip_seconds))
    length = int(round(sample_rate * frame_ms / 1000.0))
    stride = int(round(sample_rate * stride_ms / 1000.0))
    n_frames = 1 + (samples - length) // stride
    steps = _signal_steps(sample_rate, input_rate) + [
        {"op": "fix_length", "samples": samples},
        {"op": "frames", "length": length, "stride": stride, "window": "hann", "n_fft": int(n_fft)},
        {"op": "power_spectrum"},
        {"op": "mel", "bins": int(mel_bins), "f_min": float(f_min), "f_max": float(f_max),
         "sample_rate": int(sample_rate), "scale": "htk", "norm": None},
        {"op": "log", "offset": float(log_offset)},
        {"op": "dct", "count": int(mfcc)},
        {"op": "reshape", "shape": [1, n_frames, int(mfcc)]},
    ]
    return {"version": PIPELINE_VERSION, "input": {"kind": "audio", "sample_rate": int(input_rate or sample_rate)},
            "steps": steps}


def anomaly_pipeline(sample_rate=16000, n_fft=1024, hop=512, mel_bins=128, context=5,
                     log_offset=sys.float_info.epsilon, input_rate=None) -> dict:
    """Machine-sound anomaly detection front end (DCASE 2020 task 2 baseline = MLPerf Tiny AD): (n, 640).

    The baseline (librosa 0.6) computes melspectrogram(n_fft=1024, hop_length=512, n_mels=128, power=2) with
    librosa's defaults -- centred frames, reflect padding, periodic Hann, Slaney mel with Slaney norm, 0 Hz to
    sr/2 -- then 20/power * log10(mel + sys.float_info.epsilon), then 5 consecutive frames per vector.
    """
    steps = _signal_steps(sample_rate, input_rate) + [
        {"op": "frames", "length": int(n_fft), "stride": int(hop), "window": "hann", "n_fft": int(n_fft),
         "center": True, "pad_mode": "reflect"},
        {"op": "power_spectrum"},
        {"op": "mel", "bins": int(mel_bins), "f_min": 0.0, "f_max": sample_rate / 2.0,
         "sample_rate": int(sample_rate), "scale": "slaney", "norm": "slaney"},
        {"op": "log", "offset": float(log_offset), "base": "10", "multiplier": 10.0},
        {"op": "context", "frames": int(context)},
    ]
    return {"version": PIPELINE_VERSION, "input": {"kind": "audio", "sample_rate": int(input_rate or sample_rate)},
            "steps": steps}


def image_pipeline(size, channels, mean, std, method="bilinear") -> dict:
    """uint8 HWC (any size, RGB/RGBA/L) -> resize (Pillow-exact) -> channels -> /255 -> CHW -> normalize.

    `size`: [H, W] or one int for a square; `channels`: 3/"RGB" or 1/"L"; `mean`/`std`: per channel (or one
    number for all), in the 0-1 scale; None for both skips normalisation.
    """
    n = {"RGB": 3, "L": 1, 3: 3, 1: 1}.get(channels)
    if n is None:
        raise ValueError('channels must be 3, 1, "RGB" or "L", got {!r}'.format(channels))
    size = [int(size), int(size)] if _is_int(size) else [int(v) for v in size]
    steps = [{"op": "resize", "size": size, "method": method},
             {"op": "to_channels", "channels": n},
             {"op": "scale", "factor": 1.0 / 255.0, "offset": 0.0},
             {"op": "layout", "to": "CHW"}]
    if mean is not None or std is not None:
        as_list = lambda v: [float(a) for a in v] if isinstance(v, (list, tuple)) else [float(v)]
        steps.append({"op": "normalize", "mean": as_list(0.0 if mean is None else mean),
                      "std": as_list(1.0 if std is None else std), "axis": 0})
    return {"version": PIPELINE_VERSION, "input": {"kind": "image", "channels": "RGB" if n == 3 else "L"},
            "steps": steps}
