"""Pipelines of the usual front ends (keyword spotting MFCC, DCASE anomaly log-mel, images), built on the host."""

from __future__ import annotations

import sys

from .schema import PIPELINE_VERSION, _is_int

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
