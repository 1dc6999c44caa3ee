"""The pipeline schema: which ops exist, which keys each takes, and validate(), which refuses a bad pipeline in one
line naming the key before anything runs (a received deploy.json is data)."""

from __future__ import annotations

import math

import numpy as np

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
    "letterbox": {"size": (True, _size_hw, "a list [H, W] of 2 positive ints, H*W at most {}".format(MAX_ELEMENTS)),
                  "pad": (False, _nonneg_num, "a number >= 0 (the padding's value in raw pixel units)"),
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
    "image": ("resize", "letterbox", "to_channels", "layout") + _GENERIC,
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
        if op in ("resize", "letterbox", "to_channels", "layout") and chw:
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
