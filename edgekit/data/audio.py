"""Audio data sets: raw PCM clips as a microphone delivers them; the recorded front end (log-mel / MFCC in
edgekit/device/preprocess.py) makes the model inputs.

    audiofolder:DIR[?keywords=yes,no,...]   Speech Commands layout: DIR/<word>/<speaker>_nohash_<n>.wav and an
                                            optional DIR/_background_noise_/. With keywords, the other words fold
                                            into _unknown_ and a _silence_ class is cut from the noise (MLPerf
                                            Tiny's 12-class KWS). Speakers never straddle two splits; training
                                            clips get background noise mixed in at random levels.
    machines:DIR                            DCASE 2020 task 2 layout: DIR/train/normal_*.wav, DIR/test/normal_*.wav,
                                            DIR/test/anomaly_*.wav; anomaly detection on 128 log-mel x 5 frames.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..device import preprocess
from ..errors import EdgekitError
from . import fingerprint
from .source import Source

NOISE_DIR = "_background_noise_"
SPEAKER = re.compile(r"^(?P<speaker>[^_]+)_nohash_\d+\.wav$", re.IGNORECASE)
UNKNOWN, SILENCE = "_unknown_", "_silence_"
SHARE = 0.1  # _silence_ and _unknown_ each about 10% of the keyword clips, as Speech Commands' training recipe
NOISE_FREQUENCY, NOISE_VOLUME = 0.8, 0.1  # share of training clips with noise mixed in, and its largest gain


def read_pcm(path: Path) -> tuple[np.ndarray, int]:
    """(int16 samples, rate): the clip as the device's predict reads it (preprocess.to_pcm16 clips loud floats)."""
    try:
        samples, rate = preprocess.decode_wav(fingerprint.read_bytes(path))  # recorded in the data's sha256
        return preprocess.to_pcm16(samples)[0], rate
    except (ValueError, OSError) as e:
        raise EdgekitError(f"cannot read audio file {path}: {e}", "remove or replace that file (16-bit PCM or float WAV)") from None


def _clip(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def _parse(spec_arg: str) -> tuple[Path, list[str] | None]:
    root, _, query = spec_arg.partition("?")
    keywords = None
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key != "keywords" or not value:
            raise EdgekitError(f"unknown audiofolder option '{part}'", "write audiofolder:DIR?keywords=yes,no,up")
        keywords = [w for w in value.split(",") if w]
    return Path(root), keywords


def read_audiofolder(spec: str, arg: str) -> Source:
    root, keywords = _parse(arg)
    if not root.is_dir():
        raise EdgekitError(
            f"audio folder not found: {root}", "check the path after 'audiofolder:' (edgekit datasets make keywords DIR builds one)"
        )
    words = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not words:
        raise EdgekitError(f"{root} has no word folders", "put each word's clips in a folder named after it")
    missing = [k for k in keywords or [] if k not in words]
    if missing:
        raise EdgekitError(f"keyword(s) {', '.join(missing)} have no folder in {root}", f"choose from {', '.join(words)}")
    rng = np.random.default_rng(0)  # which unknown clips are kept and where silence is cut: fixed, like the data
    clips, labels_of, speakers, rates = [], [], [], set()
    for word in words:
        for f in sorted((root / word).glob("*.wav")):
            m = SPEAKER.match(f.name)
            clips.append(f)
            labels_of.append(word)
            speakers.append(m.group("speaker") if m else f.stem)
    if not clips:
        raise EdgekitError(f"{root} holds no .wav clips", "add 1 s clips in one folder per word")
    raw = []
    for f in clips:
        x, rate = read_pcm(f)
        rates.add(rate)
        raw.append(x)
    if len(rates) != 1:
        raise EdgekitError(f"{root} mixes sample rates {sorted(rates)}", "resample the clips to one rate")
    rate = rates.pop()
    n = rate  # one second
    raw = [_clip(x, n) for x in raw]
    noise = [read_pcm(f)[0] for f in sorted((root / NOISE_DIR).glob("*.wav"))] if (root / NOISE_DIR).is_dir() else []
    if keywords:
        classes = [SILENCE, UNKNOWN, *keywords]
        keep = [i for i, w in enumerate(labels_of) if w in keywords]
        unknown = [i for i, w in enumerate(labels_of) if w not in keywords]
        n_unknown = min(len(unknown), max(1, int(round(SHARE * len(keep)))))
        keep += sorted(rng.choice(unknown, n_unknown, replace=False).tolist()) if unknown else []
        y = [classes.index(labels_of[i]) if labels_of[i] in keywords else 1 for i in keep]
        raw, speakers = [raw[i] for i in keep], [speakers[i] for i in keep]
        n_silence = max(1, int(round(SHARE * len(keep))))
        for j in range(n_silence):  # silence: quiet stretches of background noise, or true zeros without any
            if noise:
                src = noise[j % len(noise)]
                start = int(rng.integers(0, max(1, len(src) - n)))
                raw.append((_clip(src[start : start + n], n) * rng.uniform(0, 0.3)).astype(np.int16))
            else:
                raw.append(np.zeros(n, np.int16))
            y.append(0)
            speakers.append(f"silence{j}")
    else:
        classes = words
        y = [words.index(w) for w in labels_of]
    pipeline = preprocess.kws_pipeline(input_rate=rate)

    def steps(shape):
        natural = (1, 49, 10)
        if tuple(shape) != natural:
            raise EdgekitError(
                f"the keyword-spotting front end makes {natural} MFCC inputs, the model takes {tuple(shape)}",
                "use a model for 1x49x10 input (ds-cnn) or --input-shape 1,49,10",
            )
        return pipeline["steps"]

    def augment(split: str, samples: list, seed: int) -> list:
        """Training clips get background noise mixed in at random levels (Speech Commands' recipe)."""
        if split != "train" or not noise:
            return samples
        r = np.random.default_rng([seed, 7])
        out = []
        for x in samples:
            if r.random() < NOISE_FREQUENCY:
                src = noise[int(r.integers(len(noise)))]
                start = int(r.integers(0, max(1, len(src) - n)))
                mixed = x.astype(np.float64) + _clip(src[start : start + n], n).astype(np.float64) * r.uniform(0, NOISE_VOLUME)
                x = np.clip(np.round(mixed), -32768, 32767).astype(np.int16)
            out.append(x)
        return out

    return Source(
        raw=raw,
        y=np.asarray(y, np.int64),
        labels=classes,
        kind="audio",
        input=pipeline["input"],
        natural_shape=(1, 49, 10),
        steps=steps,
        keep_together=np.asarray(speakers),
        augment=augment,
        meta={"sample_rate": rate, "keywords": keywords, "speakers": len(set(speakers))},
    )


def read_machines(spec: str, arg: str) -> Source:
    root = Path(arg)
    files = {"train": sorted((root / "train").glob("*.wav")), "test": sorted((root / "test").glob("*.wav"))}
    if not root.is_dir() or not files["train"] or not files["test"]:
        raise EdgekitError(
            f"{root} is not a machine-sound folder (train/*.wav and test/*.wav)",
            "use the DCASE 2020 task 2 layout (edgekit datasets make machines DIR builds one)",
        )
    raw, y, split, rates = [], [], [], set()
    for part, paths in files.items():
        for f in paths:
            kind = f.name.split("_", 1)[0].lower()
            if kind not in ("normal", "anomaly") or (part == "train" and kind != "normal"):
                raise EdgekitError(
                    f"{f} is not named normal_*.wav{' or anomaly_*.wav' if part == 'test' else ''}",
                    "train/ holds normal clips only; test/ holds normal_* and anomaly_* clips",
                )
            x, rate = read_pcm(f)
            rates.add(rate)
            raw.append(x)
            y.append(int(kind == "anomaly"))
            split.append(part)
    if len(rates) != 1:
        raise EdgekitError(f"{root} mixes sample rates {sorted(rates)}", "resample the clips to one rate")
    rate = rates.pop()
    if not any(y):
        raise EdgekitError(f"{root}/test holds no anomaly_*.wav clips", "AUC needs anomalous test clips")
    pipeline = preprocess.anomaly_pipeline(input_rate=rate)
    features = pipeline["steps"]

    def steps(shape):
        if tuple(shape) != (640,):
            raise EdgekitError(
                f"the anomaly front end makes 640 features (128 log-mel x 5 frames), the model takes {tuple(shape)}",
                "use a 640-input model (fc-autoencoder)",
            )
        return features

    return Source(
        raw=raw,
        y=np.asarray(y, np.int64),
        labels=["normal", "anomaly"],
        kind="audio",
        input=pipeline["input"],
        natural_shape=(640,),
        steps=steps,
        task="anomaly",
        fixed_split=np.asarray(split),
        meta={"sample_rate": rate},
    )
