"""Audio ops: PCM to float, resampling (the one resampler: the data set makers use it too), framing, power
spectrum, mel filterbank, log, DCT, context stacking."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .cache import cached

def _need_float(x, what):
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError("{} needs float samples, got {}: put pcm_to_float before it".format(what, x.dtype))


def _need_ndim(x, ndim, what):
    if x.ndim != ndim:
        raise ValueError("needs {}, got shape {}".format(what, x.shape))


def _op_pcm_to_float(x, step, state):
    return pcm_to_float(x)


def pcm_to_float(x):
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


def resample(x, rate_in, rate_out):
    """Rational-ratio polyphase resampling (windowed-sinc, Kaiser beta=5), aligned like scipy's resample_poly.

    Output sample n sits at input time n*down/up; the signal is taken as zero outside [0, len).  Output length
    is ceil(len*up/down).  Computed and returned in float64.  The one resampler: the `resample` op and the
    synthetic data sets (edgekit/synth) both use it.
    """
    x = np.asarray(x)
    g = math.gcd(int(rate_in), int(rate_out))
    up, down = int(rate_out) // g, int(rate_in) // g
    if up == down:
        return x.astype(np.float64)
    half, table = cached(("poly", up, down), lambda: _poly_filter(up, down))
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
    return acc


def _op_resample(x, step, state):
    """resample() from the current rate to `rate`, returned as float32."""
    _need_ndim(x, 1, "a 1-D signal")
    _need_float(x, "resample")
    rate_in, state.rate = state.rate, int(step["rate"])
    return resample(x, rate_in, state.rate).astype(np.float32)


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
        window = cached(("window", step.get("window", "hann"), length),
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
    matrix = cached(key, lambda: _mel_matrix(*key[1:]))
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
    return np.dot(x, cached(("dct", n, count), lambda: _dct_matrix(n, count)))


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
