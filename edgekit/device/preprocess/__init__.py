"""Raw sensor input -> model input, as a declarative, versioned pipeline.

This package ships to small devices inside the device package (Raspberry Pi, Python 3.8+, numpy only) and is
imported by the host, so the host's training data and the device's live input go through the very same code.  It
therefore imports only the standard library and numpy.  Modules: schema (validate), image, audio, generic (ops),
wav (the one WAV reader), presets (the usual front ends), cache.

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
          letterbox {size [H, W], pad=114, method="bilinear"}  keep the aspect ratio, centre on a padded canvas
                                                              (Pillow ImageOps.pad); boxes map both ways (letterbox.py)
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

import numpy as np

from .audio import (
    _op_context,
    _op_dct,
    _op_fix_length,
    _op_frames,
    _op_log,
    _op_mel,
    _op_pcm_to_float,
    _op_power_spectrum,
    _op_resample,
    pcm_to_float,
    resample,
)
from .generic import _op_normalize, _op_reshape, _op_scale, _op_transpose
from .image import _op_layout, _op_resize, _op_to_channels
from .letterbox import _op_letterbox, boxes_to_input, boxes_to_raw, find_letterbox, letterbox_geometry
from .presets import anomaly_pipeline, image_pipeline, kws_pipeline
from .schema import MAX_ELEMENTS, MAX_FRAME, MAX_SAMPLE_RATE, PIPELINE_VERSION, validate
from .wav import decode_wav, to_pcm16

__all__ = ["MAX_ELEMENTS", "MAX_FRAME", "MAX_SAMPLE_RATE", "PIPELINE_VERSION", "anomaly_pipeline", "boxes_to_input",
           "boxes_to_raw", "decode_wav", "find_letterbox", "image_pipeline", "kws_pipeline", "letterbox_geometry",
           "pcm_to_float", "resample", "run", "to_pcm16", "validate"]


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



_APPLY = {
    "resize": _op_resize, "letterbox": _op_letterbox, "to_channels": _op_to_channels, "layout": _op_layout,
    "scale": _op_scale, "reshape": _op_reshape, "transpose": _op_transpose, "normalize": _op_normalize,
    "pcm_to_float": _op_pcm_to_float, "resample": _op_resample, "fix_length": _op_fix_length, "frames": _op_frames,
    "power_spectrum": _op_power_spectrum, "mel": _op_mel, "log": _op_log, "dct": _op_dct,
    "context": _op_context,
}
