"""WAV decoding (manual RIFF parsing: the stdlib `wave` module cannot read float or WAVE_FORMAT_EXTENSIBLE) and the
one conversion of a clip to 16-bit PCM.  The one WAV reader: training, the device and the data set makers use it."""

from __future__ import annotations

import struct

import numpy as np

from .audio import pcm_to_float
from .schema import MAX_SAMPLE_RATE

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
    samples = pcm_to_float(samples)
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
    x = x.astype(np.float64) if x.dtype.kind == "f" else pcm_to_float(x).astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("NaN or infinite samples")
    clipped = int(np.count_nonzero(np.abs(x) > 1.0))
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16), clipped
