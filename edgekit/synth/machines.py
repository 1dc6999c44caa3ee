"""A machine-sound set for anomaly detection, in the layout of DCASE 2020 task 2, made in numpy (no download).

    out/train/normal_id_00_<n>.wav     normal sounds only, for fitting the detector
    out/test/normal_id_00_<n>.wav      normal sounds held out
    out/test/anomaly_id_00_<n>.wav     the same machine with a fault
    out/manifest.json                  the machine, every clip's SNR and every anomaly's kind and level

(<n> is 8 digits, as in DCASE; 16 kHz, 16-bit mono PCM.)

The machine (drawn once from `seed`) is a harmonic hum: a fundamental of 50-120 Hz and 12 harmonics with fixed
relative levels, plus the airflow of its body (noise through two fixed resonances). Every clip lets the pitch
and the loudness drift slowly (±0.3 %, ±5 %), starts the harmonics at random phases and adds factory noise
(pink noise with a rumble) at a random SNR of 6-15 dB. An anomalous clip adds one fault, dealt in turn:

    clicks     periodic impacts (4-15 per second): short decaying resonances at 1.5-5 kHz
    harmonic   a partial that should not be there: half-way between two harmonics, or one harmonic moved
    rattle     broadband bursts gated at 8-25 Hz (a loose part)
    whine      a narrow-band tone at 2.5-6 kHz with a little vibrato (a worn bearing)

at a level drawn between just audible and plain (ANOMALY_LEVEL_DB, relative to the machine's RMS), so that a
log-mel autoencoder such as the MLPerf Tiny / DCASE baseline finds most faults but not all of them.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..util.fsutil import staged_dir
from .keywords import wav_bytes

ANOMALY_KINDS = ("clicks", "harmonic", "rattle", "whine")
# Fault level in dB relative to the machine's RMS, drawn uniformly per clip: the low end is hard to hear.
# Tuned so that a linear autoencoder (8-32 principal components of 128 log-mel x 5 frames) scores ROC AUC
# 0.87-0.95 over seeds 0-2 on the defaults: a 640-input FC autoencoder should pass 0.85 without scoring 1.0.
ANOMALY_LEVEL_DB = {"clicks": (-27.0, -13.0), "harmonic": (-22.0, -8.0), "rattle": (-22.0, -8.0), "whine": (-29.0, -15.0)}
SNR_DB = (6.0, 15.0)  # machine to factory noise, per clip
PITCH_DRIFT = 0.003  # slow pitch wander, fraction of f0
LEVEL_DRIFT = 0.05  # slow loudness wander, fraction
CLIP_GAIN_DB = 1.0  # per clip: gain ± 1 dB
PEAK_DBFS = -6.0  # a clip's mean level is set so that a typical peak sits near here
MACHINE_ID = "id_00"


def _rng(seed: int, *parts) -> np.random.Generator:
    words = [seed] + [zlib.crc32(str(p).encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(words))


def _shaped_noise(rng: np.random.Generator, n: int, sr: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Gaussian noise coloured in the frequency domain by gain(f), unit RMS."""
    f = np.fft.rfftfreq(n, 1 / sr)
    y = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * gain(f), n)
    return y / (np.sqrt(np.mean(y**2)) + 1e-12)


def _slow(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A smooth random curve of unit RMS that changes at about rate_hz."""
    return _shaped_noise(rng, n, sr, lambda f: np.exp(-0.5 * (f / rate_hz) ** 2) * (f > 0))


def _resonance(f0: float, q: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda f: 1.0 / np.sqrt(1.0 + (q * (f / f0 - f0 / np.maximum(f, 1e-3))) ** 2)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


def make_machine(seed: int, sample_rate: int = 16000) -> dict:
    """The machine's fixed signature: fundamental, harmonic levels, body resonances."""
    rng = _rng(seed, "machine")
    f0 = float(rng.uniform(50.0, 120.0))
    n_harm = 12
    levels_db = -20.0 * rng.uniform(0.6, 1.0) * np.log10(np.arange(1, n_harm + 1)) + rng.normal(0.0, 4.0, n_harm)
    levels_db -= levels_db.max()
    return {
        "id": MACHINE_ID,
        "f0_hz": round(f0, 2),
        "harmonic_levels_db": [round(float(v), 2) for v in levels_db],
        "body_resonances_hz": [round(float(rng.uniform(400, 900)), 1), round(float(rng.uniform(1500, 3500)), 1)],
        "body_level_db": round(float(rng.uniform(-16.0, -10.0)), 1),
    }


def _normal(machine: dict, rng: np.random.Generator, n: int, sr: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(machine sound, instantaneous f0 in Hz, per-clip facts) for one clip, before factory noise."""
    f0 = machine["f0_hz"] * (1.0 + rng.normal(0.0, PITCH_DRIFT / 2))
    f_inst = f0 * (1.0 + PITCH_DRIFT * _slow(rng, n, sr, 0.5))
    phase = 2 * np.pi * np.cumsum(f_inst) / sr
    x = np.zeros(n)
    for k, level_db in enumerate(machine["harmonic_levels_db"], start=1):
        if k * f0 < 0.45 * sr:
            x += 10 ** (level_db / 20) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    r1, r2 = machine["body_resonances_hz"]
    body = _shaped_noise(rng, n, sr, lambda f: _resonance(r1, 2.0)(f) + 0.6 * _resonance(r2, 3.0)(f))
    x += body * _rms(x) * 10 ** (machine["body_level_db"] / 20)
    x *= 1.0 + LEVEL_DRIFT * _slow(rng, n, sr, 0.7)
    return x, f_inst, {"f0_hz": round(float(f0), 3)}


def _anomaly(kind: str, rng: np.random.Generator, n: int, sr: int, f_inst: np.ndarray) -> tuple[np.ndarray, dict]:
    """One fault's sound at unit RMS, and what it is."""
    t = np.arange(n) / sr
    if kind == "clicks":
        rate, centre, decay = rng.uniform(4.0, 15.0), rng.uniform(1500.0, 5000.0), rng.uniform(0.003, 0.008)
        m = int(6 * decay * sr)
        tt = np.arange(m) / sr
        ping = np.exp(-tt / decay) * (np.sin(2 * np.pi * centre * tt) + 0.5 * rng.standard_normal(m))
        y = np.zeros(n + m)
        at = rng.uniform(0, 1 / rate)
        while at * sr < n:
            i = int(at * sr)
            y[i : i + m] += ping * rng.uniform(0.7, 1.0)
            at += (1 / rate) * (1 + rng.normal(0, 0.03))
        y = y[:n]
        info = {"rate_hz": round(float(rate), 2), "centre_hz": round(float(centre), 1)}
    elif kind == "harmonic":
        k = int(rng.integers(2, 8))
        if rng.uniform() < 0.5:
            ratio = k + 0.5  # an extra, inharmonic partial
        else:
            ratio = k + float(rng.choice([-1, 1])) * rng.uniform(0.25, 0.4)  # a harmonic moved off its place
        y = np.sin(2 * np.pi * ratio * np.cumsum(f_inst) / sr + rng.uniform(0, 2 * np.pi))
        info = {"ratio_to_f0": round(float(ratio), 3)}
    elif kind == "rattle":
        rate, duty = rng.uniform(8.0, 25.0), rng.uniform(0.25, 0.5)
        lo, hi = rng.uniform(300.0, 800.0), rng.uniform(2500.0, 5000.0)
        band = lambda f: 1.0 / (1 + (lo / np.maximum(f, 1e-3)) ** 4) / (1 + (f / hi) ** 4)
        noise = _shaped_noise(rng, n, sr, band)
        cycle = (t * rate + rng.uniform()) % 1.0
        gate = np.clip((duty - cycle) / 0.05, 0.0, 1.0) * (1 + 0.3 * _slow(rng, n, sr, 3.0))
        y = noise * np.clip(gate, 0, None)
        info = {"rate_hz": round(float(rate), 2), "band_hz": [round(float(lo)), round(float(hi))]}
    elif kind == "whine":
        fw = rng.uniform(2500.0, 6000.0)
        vib = 1 + 0.005 * np.sin(2 * np.pi * rng.uniform(3, 8) * t)
        y = np.sin(2 * np.pi * np.cumsum(fw * vib) / sr + rng.uniform(0, 2 * np.pi))
        info = {"tone_hz": round(float(fw), 1)}
    else:
        raise ValueError(f"unknown anomaly {kind!r}; use one of {', '.join(ANOMALY_KINDS)}")
    return y / _rms(y), info


def _factory_noise(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    pink = _shaped_noise(rng, n, sr, lambda f: 1.0 / np.sqrt(np.maximum(f, 20.0)) / (1 + (20.0 / np.maximum(f, 1e-3)) ** 4))
    rumble = _shaped_noise(rng, n, sr, _resonance(rng.uniform(80.0, 200.0), 1.5))
    return (pink + 0.5 * rumble) / _rms(pink + 0.5 * rumble)


def machine_clip(
    machine: dict, seed: int, split: str, index: int, *, anomaly: str | None = None, seconds: float = 2.0, sample_rate: int = 16000
) -> tuple[np.ndarray, dict]:
    """One clip (float samples) and its facts; the same arguments always give the same samples."""
    rng = _rng(seed, "clip", split, "anomaly" if anomaly else "normal", index)
    n = round(seconds * sample_rate)
    x, f_inst, info = _normal(machine, rng, n, sample_rate)
    level = _rms(x)
    if anomaly:
        lo, hi = ANOMALY_LEVEL_DB[anomaly]
        fault_db = float(rng.uniform(lo, hi))
        y, details = _anomaly(anomaly, rng, n, sample_rate, f_inst)
        x = x + y * level * 10 ** (fault_db / 20)
        info.update(anomaly=anomaly, anomaly_level_db=round(fault_db, 2), **details)
    snr = float(rng.uniform(*SNR_DB))
    x = x + _factory_noise(rng, n, sample_rate) * level * 10 ** (-snr / 20)
    gain_db = float(rng.uniform(-CLIP_GAIN_DB, CLIP_GAIN_DB))
    x = x / _rms(x) * 10 ** ((PEAK_DBFS - 10.0 + gain_db) / 20)  # RMS 10 dB under the nominal peak
    info.update(snr_db=round(snr, 2), gain_db=round(gain_db, 2))
    return np.clip(x, -0.99, 0.99), info


def make_machine_sounds(
    out: Path,
    *,
    train_normal: int = 200,
    test_normal: int = 60,
    test_anomaly: int = 60,
    seconds: float = 2.0,
    sample_rate: int = 16000,
    seed: int = 0,
    say: Callable[[str], None] = lambda m: None,
    overwrite: bool = False,
) -> dict:
    """Write a DCASE 2020 task 2-style folder at `out` (train/ normal only, test/ normal and anomalous clips).

    The folder is assembled next to `out` and renamed into place at the end; an existing `out` is replaced only
    with overwrite=True. Returns a summary: counts per split and kind, seconds taken.
    """
    t0 = time.monotonic()
    out = Path(out)
    if min(train_normal, test_normal, test_anomaly) < 0 or seconds <= 0 or sample_rate < 8000:
        raise ValueError("counts must be at least 0, seconds positive, sample_rate at least 8000")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists")
    machine = make_machine(seed, sample_rate)
    order = _rng(seed, "anomaly order").permutation(len(ANOMALY_KINDS))
    jobs = (
        [("train", "normal", i, None) for i in range(train_normal)]
        + [("test", "normal", i, None) for i in range(test_normal)]
        + [("test", "anomaly", i, ANOMALY_KINDS[order[i % len(ANOMALY_KINDS)]]) for i in range(test_anomaly)]
    )
    say(f"machine {MACHINE_ID}: hum at {machine['f0_hz']} Hz; {len(jobs)} clips of {seconds:g} s")
    clips, kinds = [], {k: 0 for k in ANOMALY_KINDS}
    step = max(1, len(jobs) // 10)
    with staged_dir(out, replace=overwrite) as tmp:
        (tmp / "train").mkdir()
        (tmp / "test").mkdir()
        for done, (split, label, i, kind) in enumerate(jobs, start=1):
            x, info = machine_clip(machine, seed, split, i, anomaly=kind, seconds=seconds, sample_rate=sample_rate)
            name = f"{split}/{label}_{MACHINE_ID}_{i:08d}.wav"
            (tmp / name).write_bytes(wav_bytes(x, sample_rate))
            clips.append({"file": name, **info})
            if kind:
                kinds[kind] += 1
            if done % step == 0 or done == len(jobs):
                say(f"made {done}/{len(jobs)} clips")
        manifest = {
            "format": "dcase2020_task2",
            "generator": "edgekit.synth.machines.make_machine_sounds",
            "seed": seed,
            "sample_rate": sample_rate,
            "seconds": seconds,
            "sample_format": "int16 mono PCM WAV",
            "machine": machine,
            "normal": {"pitch_drift": PITCH_DRIFT, "level_drift": LEVEL_DRIFT, "snr_db": list(SNR_DB), "gain_db": CLIP_GAIN_DB},
            "anomaly_level_db": {k: list(v) for k, v in ANOMALY_LEVEL_DB.items()},
            "counts": {"train_normal": train_normal, "test_normal": test_normal, "test_anomaly": test_anomaly, "anomaly_kinds": kinds},
            "clips": clips,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    seconds_taken = time.monotonic() - t0
    say(f"wrote {len(jobs)} clips to {out} in {seconds_taken:.0f} s")
    return {"path": str(out), "clips": len(jobs), "counts": manifest["counts"], "machine": machine, "seconds": round(seconds_taken, 1)}
