"""A Speech Commands v2-style keyword folder, spoken by espeak-ng voices on this machine (no download).

Layout, as Google Speech Commands v2 ships it:

    out/<word>/<speaker>_nohash_<n>.wav    16 kHz, 16-bit mono PCM, exactly 1 s
    out/_background_noise_/<kind>_<i>.wav  10-30 s of white, pink, brown noise, a running tap, a mains hum
    out/validation_list.txt, out/testing_list.txt   Speech Commands' hash split (10 % / 10 % of speakers)
    out/README.txt, out/manifest.json      how it was made (voices, speeds, pitches, seed, espeak-ng version)

A *speaker* is one espeak-ng voice definition: an English voice family (en-gb, en-us, en-gb-scotland, ...)
with a variant (+m3, +f2, +klatt4, +Andy, ...), a speed in words per minute, a pitch and a level. Families
are dealt round-robin and variants without replacement, so a speaker held out of training differs in accent
*and* timbre, as a new person would. Speaker ids are the first 8 hex digits of the SHA-1 of those
parameters, so the same voice always gets the same id. Each clip varies a little around its speaker (speed
±8 %, pitch ±5, end punctuation for the intonation, gain ±2 dB, placement inside the second, a faint noise
floor). Everything is drawn from `seed`: the same seed and espeak-ng build give bit-identical files.

espeak-ng writes 22.05 kHz; the device package's one resampler (the `resample` preprocessing op: a Kaiser-windowed
sinc polyphase filter in numpy, scipy's resample_poly design) brings it to 16 kHz and its one WAV reader reads
espeak-ng's output, so espeak-ng is the only program needed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import time
import wave
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..device.preprocess import decode_wav, pcm_to_float, resample
from ..util.fsutil import staged_dir

ESPEAK_MISSING = "espeak-ng is not installed — install it: sudo apt-get install espeak-ng"

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "house", "tree", "wow", "happy", "marvin", "sheila")
BACKGROUND = "_background_noise_"
NOISE_KINDS = ("white_noise", "pink_noise", "brown_noise", "running_tap", "hum")

# English voice families of espeak-ng 1.5x (`espeak-ng --voices=en`, the gmw/ ones; mbrola voices need mbrola).
VOICE_FAMILIES = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# Variants (`espeak-ng --voices=variant`, files under voices/!v) that sound like a person talking. Left out on
# purpose: whisper, whisperf, Demonic, announcer, robosoft*, RicishayMax*, UniRobot, anikaRobot, fast,
# "Mr serious" (a space in its name): robotic, whispered or effect voices a real recording would not have.
VARIANTS = tuple(
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 croak klatt klatt2 klatt3 klatt4 klatt5 klatt6 adam Alex "
    "Alicia Andrea Andy Annie AnxiousAndy antonio aunty belinda benjamin boris caleb david Denis Diogo ed "
    "edward edward2 Gene Gene2 grandma grandpa gustave Henrique Hugo iven iven2 iven3 iven4 Jacky john "
    "kaukovalta Lee linda marcelo Marco Mario max Michael michel miguel Mike norbert Nguyen pablo paul "
    "pedro quincy rob robert sandro shelby steph steph2 steph3 Storm travis Tweaky victor zac anika".split()
)

SPEED_WPM = (120, 200)  # speaker's base speed, words per minute (espeak-ng -s)
PITCH = (20, 80)  # speaker's base pitch, 0-99 (espeak-ng -p)
LEVEL_DBFS = (-16.0, -3.0)  # speaker's peak level: how loud this person is in front of the microphone
ESPEAK_AMPLITUDE = 60  # espeak-ng -a: low enough that no variant saturates; the level is set afterwards
CLIP_SPEED_JITTER = 0.08  # per clip: speed × (1 ± 8 %)
CLIP_PITCH_JITTER = 5  # per clip: pitch ± 5
CLIP_GAIN_DB = 2.0  # per clip: gain ± 2 dB
NOISE_FLOOR_DB = (50.0, 65.0)  # per clip: a white noise floor this far below the speaker's peak level
ENDINGS = (("", 0.4), (".", 0.3), ("!", 0.2), ("?", 0.1))  # end punctuation: falling, flat, rising intonation
MAX_PARALLEL = 2  # espeak-ng processes at once
ESPEAK_TIMEOUT_S = 30

_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # Speech Commands' which_set() constant


# ----------------------------------------------------------------------------------------------- WAV helpers


def wav_bytes(x: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono PCM WAV bytes of float samples in [-1, 1] (clipped) or of int16 samples."""
    if x.dtype != np.int16:
        x = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(x.astype("<i2").tobytes())
    return buf.getvalue()


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(float32 samples in [-1, 1), sample rate) of a WAV file, read by the device package's one WAV reader."""
    samples, rate = decode_wav(Path(path).read_bytes())
    return pcm_to_float(samples), rate


# -------------------------------------------------------------------------------------------------- espeak-ng


def espeak_path() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError(ESPEAK_MISSING)
    return exe


def espeak_version(exe: str | None = None) -> str:
    out = subprocess.run([exe or espeak_path(), "--version"], check=False, capture_output=True, text=True, timeout=ESPEAK_TIMEOUT_S).stdout
    m = re.search(r"text-to-speech:\s*(\S+)", out)
    return m.group(1) if m else out.strip()


def _installed(exe: str, which: str) -> set[str]:
    """Names espeak-ng lists for `--voices=<which>`: the language column and the file's last path part."""
    out = subprocess.run([exe, f"--voices={which}"], check=False, capture_output=True, text=True, timeout=ESPEAK_TIMEOUT_S).stdout
    names = set()
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names.add(cols[1])
            names.add(cols[4].split("/", 1)[-1])
    return names


def _speak(exe: str, voice: str, speed: int, pitch: int, text: str) -> tuple[np.ndarray, int]:
    cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(ESPEAK_AMPLITUDE), "-z", "--stdout", text]
    try:
        r = subprocess.run(cmd, check=False, capture_output=True, timeout=ESPEAK_TIMEOUT_S)
    except FileNotFoundError:
        raise RuntimeError(ESPEAK_MISSING) from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"espeak-ng took over {ESPEAK_TIMEOUT_S} s on {text!r} with voice {voice}") from None
    if r.returncode != 0:
        tail = r.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"espeak-ng failed on {text!r} with voice {voice}: {tail[0]}")
    try:  # espeak-ng --stdout writes a streaming WAV (placeholder sizes): the reader takes what follows `data`
        samples, rate = decode_wav(r.stdout)
    except ValueError as e:
        raise RuntimeError(f"espeak-ng wrote an unreadable WAV for {text!r} with voice {voice}: {e}") from None
    return pcm_to_float(samples).astype(np.float64), rate


# ---------------------------------------------------------------------------------------------------- speakers


def speaker_id(voice: str, variant: str, speed: int, pitch: int, level_dbfs: float) -> str:
    """8 hex digits derived from the voice parameters only (not from the seed), like Speech Commands' hashes."""
    key = f"{voice}+{variant}|s{speed}|p{pitch}|l{level_dbfs:.1f}"
    return hashlib.sha1(key.encode()).hexdigest()[:8]


def _rng(seed: int, *parts) -> np.random.Generator:
    words = [seed] + [zlib.crc32(str(p).encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(words))


def split_targets(n: int) -> list[str]:
    """Which Speech Commands split each speaker index should land in: 10 % validation, 10 % testing (at least
    one of each from 3 speakers on), spread evenly over the indices so that the held-out speakers come from
    different voice families."""
    k = max(1, round(0.1 * n)) if n >= 3 else 0
    targets = ["training"] * n
    for j in range(k):
        targets[int((j + 0.25) * n / k)] = "testing"
        targets[int((j + 0.75) * n / k)] = "validation"
    return targets


def make_speakers(n: int, seed: int, families=VOICE_FAMILIES, variants=VARIANTS) -> list[dict]:
    """`n` distinct voices: families dealt round-robin (in a seeded order), variants without replacement.

    Speech Commands splits by a hash of the speaker id, which leaves a small set's testing list empty as often
    as not; so speed, pitch and level are redrawn until each speaker's id hashes into the split
    `split_targets` gives its index. The rule stays Speech Commands' own `which_set`.
    """
    rng = _rng(seed, "speakers")
    families = [families[i] for i in rng.permutation(len(families))]
    pool: list[str] = []
    speakers, seen = [], set()
    for i, target in enumerate(split_targets(n)):
        if not pool:
            pool = [variants[k] for k in rng.permutation(len(variants))]
        sp = {"voice": families[i % len(families)], "variant": pool.pop()}
        while True:
            sp.update(
                speed_wpm=int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1)),
                pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
                level_dbfs=round(float(rng.uniform(*LEVEL_DBFS)), 1),
            )
            sp_id = speaker_id(sp["voice"], sp["variant"], sp["speed_wpm"], sp["pitch"], sp["level_dbfs"])
            if sp_id not in seen and which_set(f"{sp_id}_nohash_0.wav") == target:
                break
        seen.add(sp_id)
        speakers.append({"id": sp_id, **sp, "split": target})
    return speakers


# --------------------------------------------------------------------------------------------------- clips


def _trim(x: np.ndarray, sr: int, floor_db: float = 40.0) -> np.ndarray:
    """Cut leading and trailing silence: 10 ms frames quieter than the loudest by `floor_db`, keeping 20 ms."""
    frame = sr // 100
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.nonzero(rms > rms.max() * 10 ** (-floor_db / 20))[0]
    if len(loud) == 0:
        return x[:0]
    keep = 2 * frame
    return x[max(0, loud[0] * frame - keep) : min(len(x), (loud[-1] + 1) * frame + keep)]


def _render_clip(exe: str, word: str, speaker: dict, n: int, seed: int, sample_rate: int) -> tuple[bytes, dict]:
    rng = _rng(seed, "clip", word, speaker["id"], n)
    speed = round(speaker["speed_wpm"] * (1 + rng.uniform(-CLIP_SPEED_JITTER, CLIP_SPEED_JITTER)))
    pitch = int(np.clip(speaker["pitch"] + rng.integers(-CLIP_PITCH_JITTER, CLIP_PITCH_JITTER + 1), 0, 99))
    ending = ENDINGS[rng.choice(len(ENDINGS), p=[p for _, p in ENDINGS])][0]
    gain_db = rng.uniform(-CLIP_GAIN_DB, CLIP_GAIN_DB)
    floor_db = rng.uniform(*NOISE_FLOOR_DB)
    offset_u = rng.uniform()

    raw, sr = _speak(exe, f"{speaker['voice']}+{speaker['variant']}", speed, pitch, word + ending)
    x = _trim(resample(raw, sr, sample_rate), sample_rate)
    if len(x) == 0:
        voice = f"{speaker['voice']}+{speaker['variant']}"
        raise RuntimeError(f"espeak-ng produced silence for {word!r} with voice {voice}")
    if len(x) > sample_rate:  # longer than a second: keep the start, fade the cut
        x = x[:sample_rate].copy()
        fade = sample_rate // 100
        x[-fade:] *= np.linspace(1.0, 0.0, fade)
    level = 10 ** ((speaker["level_dbfs"] + gain_db) / 20)
    x = x * (level / np.max(np.abs(x)))
    out = np.zeros(sample_rate)
    start = int(offset_u * (sample_rate - len(x) + 1))
    out[start : start + len(x)] = x
    out += rng.standard_normal(sample_rate) * 10 ** ((speaker["level_dbfs"] - floor_db) / 20)
    return wav_bytes(out, sample_rate), {"speech_s": len(x) / sample_rate}


# ------------------------------------------------------------------------------------------- background noise


def _shaped_noise(rng: np.random.Generator, n: int, sr: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Gaussian noise coloured in the frequency domain by gain(f), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    y = np.fft.irfft(spec * gain(f), n)
    return y / (np.sqrt(np.mean(y**2)) + 1e-12)


def _smooth_envelope(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """Slowly varying random curve around 0 with unit RMS, changing at about rate_hz."""
    return _shaped_noise(rng, n, sr, lambda f: np.exp(-0.5 * (f / rate_hz) ** 2) * (f > 0))


def noise_clip(kind: str, seconds: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One background recording (float, RMS about -20 dBFS) of the given kind."""
    n = round(seconds * sample_rate)
    highpass = lambda f: 1.0 / (1.0 + (20.0 / np.maximum(f, 1e-3)) ** 4)
    if kind == "white_noise":
        y = rng.standard_normal(n)
    elif kind == "pink_noise":
        y = _shaped_noise(rng, n, sample_rate, lambda f: highpass(f) / np.sqrt(np.maximum(f, 20.0)))
    elif kind == "brown_noise":
        y = _shaped_noise(rng, n, sample_rate, lambda f: highpass(f) / np.maximum(f, 20.0))
    elif kind == "running_tap":
        lo, hi = rng.uniform(500, 1200), rng.uniform(4000, 6500)
        band = lambda f: 1.0 / (1 + (lo / np.maximum(f, 1e-3)) ** 4) / (1 + (f / hi) ** 4)
        y = _shaped_noise(rng, n, sample_rate, band)
        gurgle = 1.0 + 0.25 * _smooth_envelope(rng, n, sample_rate, rng.uniform(15, 40))  # water splashing
        swell = 1.0 + 0.15 * _smooth_envelope(rng, n, sample_rate, rng.uniform(0.3, 1.5))  # flow changing
        y = y * np.clip(gurgle, 0.2, None) * np.clip(swell, 0.5, None)
    elif kind == "hum":
        mains = float(rng.choice([50.0, 60.0]))
        t = np.arange(n) / sample_rate
        wobble = 0.002 * np.cumsum(_smooth_envelope(rng, n, sample_rate, 0.5)) / sample_rate
        y = np.zeros(n)
        for k in range(1, 9):
            y += rng.uniform(0.3, 1.0) / k * np.sin(2 * np.pi * k * mains * (t + wobble) + rng.uniform(0, 2 * np.pi))
        y /= np.sqrt(np.mean(y**2))
        y += 0.05 * _shaped_noise(rng, n, sample_rate, lambda f: highpass(f) / np.sqrt(np.maximum(f, 20.0)))
    else:
        raise ValueError(f"unknown noise kind {kind!r}; use one of {', '.join(NOISE_KINDS)}")
    y = y / np.sqrt(np.mean(y**2)) * 10 ** (rng.uniform(-24.0, -18.0) / 20)
    return np.clip(y, -0.99, 0.99)


# -------------------------------------------------------------------------------------------------- the set


def which_set(filename: str, validation_percentage: float = 10.0, testing_percentage: float = 10.0) -> str:
    """Speech Commands' own split rule: a hash of the speaker part of the name, so a speaker stays in one set."""
    base = re.sub(r"_nohash_.*$", "", Path(filename).name)
    h = int(hashlib.sha1(base.encode()).hexdigest(), 16)
    pct = (h % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if pct < validation_percentage:
        return "validation"
    if pct < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def _check_words(words, extra_words) -> list[str]:
    allw = list(words) + list(extra_words)
    for w in allw:
        if not re.fullmatch(r"[a-z][a-z'-]*", w):
            raise ValueError(f"word {w!r}: use lower-case letters (it is also the folder name)")
    if len(set(allw)) != len(allw):
        raise ValueError("words and extra_words must not repeat a word")
    if not words:
        raise ValueError("give at least one keyword")
    return allw


def make_keywords(
    out: Path,
    *,
    words=KEYWORDS,
    extra_words=UNKNOWN_WORDS,
    speakers: int = 40,
    repeats: int = 2,
    seed: int = 0,
    sample_rate: int = 16000,
    noise_clips: int = 4,
    say: Callable[[str], None] = lambda m: None,
    overwrite: bool = False,
) -> dict:
    """Write a Speech Commands v2-style folder at `out` and return a summary.

    `words` are the keywords, `extra_words` more words for the _unknown_ class (each in its own folder, as in
    Speech Commands); every word is spoken `repeats` times by each of `speakers` voices. `noise_clips` is the
    number of recordings of each noise kind in _background_noise_. The folder is assembled next to `out` and
    renamed into place at the end; an existing `out` is replaced only with overwrite=True.
    """
    t0 = time.monotonic()
    out = Path(out)
    allw = _check_words(words, extra_words)
    if speakers < 1 or repeats < 1 or noise_clips < 0:
        raise ValueError("speakers and repeats must be at least 1, noise_clips at least 0")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists")
    exe = espeak_path()
    version = espeak_version(exe)
    families = [v for v in VOICE_FAMILIES if v in _installed(exe, "en")] or ["en"]
    have = _installed(exe, "variant")
    variants = [v for v in VARIANTS if v in have] or ["m1"]
    voices = make_speakers(speakers, seed, families, variants)
    say(f"espeak-ng {version}: {len(voices)} speakers from {len(families)} English voices × {len(variants)} variants")

    jobs = [(w, sp, n) for w in allw for sp in voices for n in range(repeats)]
    total, done, step = len(jobs), 0, max(1, len(jobs) // 20)
    counts = {w: 0 for w in allw}
    with staged_dir(out, replace=overwrite) as tmp:
        for w in allw:
            (tmp / w).mkdir()

        def work(job):
            w, sp, n = job
            data, _ = _render_clip(exe, w, sp, n, seed, sample_rate)
            (tmp / w / f"{sp['id']}_nohash_{n}.wav").write_bytes(data)
            return w

        pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL)
        try:
            for w in pool.map(work, jobs):
                counts[w] += 1
                done += 1
                if done % step == 0 or done == total:
                    say(f"spoken {done}/{total} clips")
        finally:  # on an error or Ctrl-C, start no more espeak-ng processes
            pool.shutdown(wait=True, cancel_futures=True)

        noise = _write_background(tmp / BACKGROUND, noise_clips, seed, sample_rate, say)
        names = sorted(f"{w}/{sp['id']}_nohash_{n}.wav" for w, sp, n in jobs)
        val = [f for f in names if which_set(f) == "validation"]
        test = [f for f in names if which_set(f) == "testing"]
        (tmp / "validation_list.txt").write_text("".join(f + "\n" for f in val))
        (tmp / "testing_list.txt").write_text("".join(f + "\n" for f in test))

        manifest = {
            "format": "speech_commands_v2",
            "generator": "edgekit.synth.keywords.make_keywords",
            "espeak_ng_version": version,
            "seed": seed,
            "sample_rate": sample_rate,
            "clip_seconds": 1.0,
            "sample_format": "int16 mono PCM WAV",
            "words": list(words),
            "extra_words": list(extra_words),
            "repeats": repeats,
            "counts": counts,
            "speakers": voices,
            "per_clip": {
                "speed_jitter": CLIP_SPEED_JITTER,
                "pitch_jitter": CLIP_PITCH_JITTER,
                "gain_db": CLIP_GAIN_DB,
                "noise_floor_db_below_peak": list(NOISE_FLOOR_DB),
                "endings": {e or "none": p for e, p in ENDINGS},
                "espeak_amplitude": ESPEAK_AMPLITUDE,
                "placement": "uniform random offset inside the second; longer words keep their first second",
            },
            "resampler": "edgekit's device resampler (the `resample` preprocessing op): Kaiser-windowed sinc polyphase, "
            "beta 5, scipy.signal.resample_poly's design",
            "background_noise": noise,
            "splits": {
                "validation": len(val),
                "testing": len(test),
                "training": len(names) - len(val) - len(test),
                "rule": "Speech Commands which_set(): SHA-1 of the speaker id, 10 % validation, 10 % testing; "
                "speakers drawn so that each list gets about 10 % of them",
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (tmp / "README.txt").write_text(_readme(manifest, families, variants))
    seconds = time.monotonic() - t0
    say(f"wrote {total} clips and {len(noise)} noise recordings to {out} in {seconds:.0f} s")
    return {
        "path": str(out),
        "clips": total,
        "counts": counts,
        "speakers": [sp["id"] for sp in voices],
        "background_noise": len(noise),
        "espeak_ng_version": version,
        "seconds": round(seconds, 1),
    }


def _write_background(folder: Path, per_kind: int, seed: int, sample_rate: int, say) -> list[dict]:
    folder.mkdir()
    made = []
    for kind in NOISE_KINDS:
        for i in range(per_kind):
            rng = _rng(seed, "noise", kind, i)
            secs = round(float(rng.uniform(10.0, 30.0)), 1)
            name = f"{kind}_{i}.wav"
            (folder / name).write_bytes(wav_bytes(noise_clip(kind, secs, sample_rate, rng), sample_rate))
            made.append({"file": name, "kind": kind, "seconds": secs})
    if made:
        say(f"synthesised {len(made)} background noise recordings")
    return made


def _readme(m: dict, families, variants) -> str:
    lines = [
        "Spoken keywords in the layout of Google Speech Commands v2, made on this machine by edgekit",
        f"(edgekit.synth.keywords) with espeak-ng {m['espeak_ng_version']}, seed {m['seed']}.",
        "No recording, no download.",
        "",
        f"<word>/<speaker>_nohash_<n>.wav: {m['sample_rate']} Hz, 16-bit mono PCM, exactly 1 s.",
        f"Keywords: {', '.join(m['words'])}.",
        f"Other words (for _unknown_): {', '.join(m['extra_words']) or 'none'}.",
        f"{len(m['speakers'])} speakers x {m['repeats']} repeats of each word.",
        "",
        "A speaker is one espeak-ng voice: an English voice family, a variant, a speed (-s, words per minute),",
        "a pitch (-p) and a peak level. Families are dealt round-robin, variants without replacement; the",
        "speaker id is the first 8 hex digits of SHA-1('<voice>+<variant>|s<speed>|p<pitch>|l<level>').",
        f"Families used: {', '.join(families)}.",
        f"Variants drawn from: {', '.join(variants)}.",
        "",
        "Each clip: speed x (1 +- 8 %), pitch +- 5, end punctuation '', '.', '!' or '?' (intonation), espeak-ng",
        "output (22.05 kHz) resampled to 16 kHz as the `resample` preprocessing op does, silence trimmed,",
        "scaled to the speaker's level +- 2 dB, placed at a random offset in the second (zero-padded; words",
        "longer than 1 s keep their first second), plus a white noise floor 50-65 dB below the peak.",
        "",
        "_background_noise_/: white, pink and brown noise, a running tap (band-passed noise with a gurgle)",
        "and a mains hum (50 or 60 Hz and harmonics), 10-30 s each, for the _silence_ class and for mixing.",
        "validation_list.txt / testing_list.txt: Speech Commands' which_set() hash split by speaker; speakers'",
        "speed, pitch and level were redrawn until about 10 % of them hash into each held-out list.",
        "",
        "Speakers:",
    ]
    for sp in m["speakers"]:
        lines.append(
            f"  {sp['id']}  {sp['voice']}+{sp['variant']}  -s {sp['speed_wpm']}  -p {sp['pitch']}  "
            f"level {sp['level_dbfs']} dBFS  {sp['split']}"
        )
    return "\n".join(lines) + "\n"
