"""Data sets made on this machine: spoken keywords (espeak-ng, Speech Commands layout) and machine sounds
(numpy, DCASE 2020 task 2 layout). Small counts: every test runs in a few seconds on two cores."""

from __future__ import annotations

import json
import re
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool

from edgekit.synth import keywords as kw
from edgekit.synth.keywords import ESPEAK_MISSING, make_keywords, read_wav, resample
from edgekit.synth.machines import ANOMALY_KINDS, ANOMALY_LEVEL_DB, make_machine_sounds

WORDS, EXTRA = ("yes", "no"), ("cat",)
SMALL = {"words": WORDS, "extra_words": EXTRA, "speakers": 3, "repeats": 2, "noise_clips": 1}
CLIP_NAME = re.compile(r"^(?P<speaker>[0-9a-f]{8})_nohash_(?P<n>\d+)\.wav$")
DCASE_NAME = re.compile(r"^(?P<label>normal|anomaly)_id_00_(?P<n>\d{8})\.wav$")


def require_espeak():
    require_tool("espeak-ng", "espeak-ng")


def wav_params(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def keyword_set(tmp_path_factory) -> tuple[Path, dict, list[str]]:
    require_espeak()
    out = tmp_path_factory.mktemp("kw") / "speech_commands"
    messages: list[str] = []
    summary = make_keywords(out, seed=0, say=messages.append, **SMALL)
    return out, summary, messages


# ------------------------------------------------------------------------------------------------- keywords


def test_keyword_layout_and_names(keyword_set):
    out, summary, messages = keyword_set
    manifest = json.loads((out / "manifest.json").read_text())
    speakers = {sp["id"] for sp in manifest["speakers"]}
    assert len(speakers) == 3 and all(re.fullmatch(r"[0-9a-f]{8}", s) for s in speakers)
    assert (out / "README.txt").read_text().startswith("Spoken keywords")
    assert manifest["espeak_ng_version"] == summary["espeak_ng_version"] and manifest["seed"] == 0
    assert {p.name for p in out.iterdir() if p.is_dir()} == {*WORDS, *EXTRA, "_background_noise_"}
    for word in (*WORDS, *EXTRA):
        found = {}
        for f in (out / word).iterdir():
            m = CLIP_NAME.match(f.name)
            assert m, f.name
            found.setdefault(m["speaker"], set()).add(int(m["n"]))
        assert set(found) == speakers  # speaker ids parse from the names
        assert all(ns == {0, 1} for ns in found.values())  # `repeats` takes per speaker
        assert summary["counts"][word] == manifest["counts"][word] == 6
    assert summary["clips"] == 18 and sorted(summary["speakers"]) == sorted(speakers)
    assert messages and "18" in messages[-1]  # progress went through `say`
    # Speech Commands' split files: each held-out list names real files, speakers never straddle lists
    listed = {}
    for which in ("validation", "testing"):
        names = (out / f"{which}_list.txt").read_text().split()
        assert names, which  # 3 speakers: one held out each
        for name in names:
            assert (out / name).is_file() and kw.which_set(name) == which
            listed.setdefault(which, set()).add(CLIP_NAME.match(Path(name).name)["speaker"])
    assert not listed["validation"] & listed["testing"]


def test_keyword_wav_format(keyword_set):
    out, _, _ = keyword_set
    clips = [p for w in (*WORDS, *EXTRA) for p in (out / w).glob("*.wav")]
    starts = set()
    for p in clips:
        assert wav_params(p) == (16000, 1, 2, 16000), p  # 16 kHz, mono, int16, exactly 1 s
        x, _ = read_wav(p)
        assert 0.05 < np.abs(x).max() < 1.0  # a spoken word, not clipped
        starts.add(int(np.argmax(np.abs(x) > 0.02)))
    assert len(starts) > len(clips) // 2  # words sit at different offsets


def test_background_noise(keyword_set):
    out, _, _ = keyword_set
    files = sorted((out / "_background_noise_").glob("*.wav"))
    kinds = {re.sub(r"_\d+\.wav$", "", p.name) for p in files}
    assert kinds == {"white_noise", "pink_noise", "brown_noise", "running_tap", "hum"}
    for p in files:
        rate, channels, width, frames = wav_params(p)
        assert (rate, channels, width) == (16000, 1, 2) and 10 * 16000 <= frames <= 30 * 16000
        x, _ = read_wav(p)
        assert 0.01 < np.sqrt(np.mean(x**2)) < 0.3


def test_keywords_same_seed_same_bytes(keyword_set, tmp_path):
    out, _, _ = keyword_set
    again = make_keywords(tmp_path / "again", seed=0, **SMALL)
    assert again["speakers"] == keyword_set[1]["speakers"]
    assert tree_bytes(out) == tree_bytes(tmp_path / "again")  # bit-identical, manifest included
    make_keywords(tmp_path / "other", seed=1, **SMALL)
    a, b = tree_bytes(out), tree_bytes(tmp_path / "other")
    clips = lambda t: {k: v for k, v in t.items() if k.endswith(".wav") and "_background_noise_" not in k}
    assert set(clips(a)) != set(clips(b))  # other speakers, so other names
    assert a["_background_noise_/white_noise_0.wav"] != b["_background_noise_/white_noise_0.wav"]


def test_speaker_ids_come_from_the_voice():
    sps = kw.make_speakers(12, seed=3)
    assert len({sp["id"] for sp in sps}) == 12
    for sp in sps:
        assert sp["id"] == kw.speaker_id(sp["voice"], sp["variant"], sp["speed_wpm"], sp["pitch"], sp["level_dbfs"])
        assert kw.which_set(f"{sp['id']}_nohash_0.wav") == sp["split"]
    assert len({sp["voice"] for sp in sps}) == len(kw.VOICE_FAMILIES)  # families dealt round-robin
    assert len({sp["variant"] for sp in sps}) == 12  # variants without replacement
    held_out = [sp for sp in sps if sp["split"] != "training"]
    assert len(held_out) == 2 and held_out[0]["voice"] != held_out[1]["voice"]
    assert kw.make_speakers(12, seed=3) == sps and kw.make_speakers(12, seed=4) != sps


def test_existing_folder_and_failure_leave_nothing_behind(keyword_set, tmp_path, monkeypatch):
    out, _, _ = keyword_set
    with pytest.raises(FileExistsError):
        make_keywords(out, **SMALL)
    calls = []

    def broken(*args):
        calls.append(args)
        time.sleep(0.05)
        raise RuntimeError("espeak-ng failed on 'no' with voice en-us+m1: boom")

    monkeypatch.setattr(kw, "_speak", broken)
    with pytest.raises(RuntimeError, match="boom"):
        make_keywords(tmp_path / "ds", **SMALL)
    assert list(tmp_path.iterdir()) == []  # no half-written folder
    assert len(calls) < 18  # stopped early


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(RuntimeError) as e:
        make_keywords(tmp_path / "ds", **SMALL)
    assert str(e.value) == "espeak-ng is not installed — install it: sudo apt-get install espeak-ng" == ESPEAK_MISSING
    assert not (tmp_path / "ds").exists()


def test_resampler_is_the_devices_and_keeps_the_band_and_removes_aliases():
    """The data set is resampled by the device package's one resampler (scipy's resample_poly design, checked against
    scipy in test_preprocess.py): Kaiser beta 5, so a passband ripple of about 0.1 % and aliases near -57 dB."""
    from edgekit.device import preprocess

    assert resample is preprocess.resample
    t = np.arange(22050) / 22050
    for freq, lo, hi in ((1000, 0.998, 1.002), (5000, 0.99, 1.01), (10000, 0.0, 2e-3)):
        y = resample(np.sin(2 * np.pi * freq * t), 22050, 16000)
        assert len(y) == 16000
        amplitude = np.sqrt(2 * np.mean(y[500:-500] ** 2))
        assert lo <= amplitude <= hi, (freq, amplitude)
    y = resample(np.sin(2 * np.pi * 1000 * t), 22050, 16000)
    ref = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert np.max(np.abs(y[500:-500] - ref[500:-500])) < 2e-3  # in phase, no delay


# ---------------------------------------------------------------------------------------------- machine set

MACHINE_SMALL = {"train_normal": 16, "test_normal": 8, "test_anomaly": 16, "seconds": 1.0}


@pytest.fixture(scope="module")
def machine_set(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("mach") / "toy"
    return out, make_machine_sounds(out, seed=0, **MACHINE_SMALL)


def test_machine_layout_and_format(machine_set):
    out, summary = machine_set
    assert {p.name for p in out.iterdir()} == {"train", "test", "manifest.json"}
    train = sorted(p.name for p in (out / "train").iterdir())
    test = sorted(p.name for p in (out / "test").iterdir())
    assert all(DCASE_NAME.match(n) and n.startswith("normal_") for n in train) and len(train) == 16
    assert all(DCASE_NAME.match(n) for n in test)
    assert sum(n.startswith("normal_") for n in test) == 8 and sum(n.startswith("anomaly_") for n in test) == 16
    assert "normal_id_00_00000000.wav" in train and "anomaly_id_00_00000015.wav" in test
    for p in [*(out / "train").iterdir(), *(out / "test").iterdir()]:
        assert wav_params(p) == (16000, 1, 2, 16000)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["anomaly_kinds"] == {k: 4 for k in ANOMALY_KINDS} == summary["counts"]["anomaly_kinds"]
    for clip in manifest["clips"]:
        if "anomaly" in clip:
            lo, hi = ANOMALY_LEVEL_DB[clip["anomaly"]]
            assert clip["file"].startswith("test/anomaly_") and lo <= clip["anomaly_level_db"] <= hi


def test_machine_same_seed_same_bytes(machine_set, tmp_path):
    out, _ = machine_set
    make_machine_sounds(tmp_path / "again", seed=0, **MACHINE_SMALL)
    make_machine_sounds(tmp_path / "other", seed=1, **MACHINE_SMALL)
    a, b, c = tree_bytes(out), tree_bytes(tmp_path / "again"), tree_bytes(tmp_path / "other")
    assert a == b
    assert set(a) == set(c) and all(a[k] != c[k] for k in a)


def _log_spectrum(path: Path) -> np.ndarray:
    x, _ = read_wav(path)
    frames = x[: len(x) // 512 * 512].reshape(-1, 512) * np.hanning(512)
    return 10 * np.log10(np.mean(np.abs(np.fft.rfft(frames)) ** 2, axis=0) + 1e-10)


def test_anomalies_differ_spectrally_but_not_trivially(machine_set):
    """Per clip, the largest deviation (dB, over 257 frequency bins) of its mean log spectrum from the mean of
    the training normals. Anomalies must deviate clearly more than held-out normals on average (margin 1.4x),
    yet some must hide among the normals: a detector has work to do."""
    out, _ = machine_set
    ref = np.mean([_log_spectrum(p) for p in (out / "train").iterdir()], axis=0)
    dev = lambda p: float(np.max(np.abs(_log_spectrum(p) - ref)))
    normal = [dev(p) for p in (out / "test").glob("normal_*.wav")]
    anomaly = [dev(p) for p in (out / "test").glob("anomaly_*.wav")]
    assert np.mean(anomaly) > 1.4 * np.mean(normal), (normal, anomaly)
    assert sum(a > max(normal) for a in anomaly) >= len(anomaly) // 2  # most stand out ...
    assert min(anomaly) < max(normal)  # ... but not all of them


def test_machine_existing_folder(machine_set, tmp_path):
    out, _ = machine_set
    with pytest.raises(FileExistsError):
        make_machine_sounds(out, **MACHINE_SMALL)
    target = tmp_path / "m"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    make_machine_sounds(target, overwrite=True, train_normal=2, test_normal=1, test_anomaly=1, seconds=0.5)
    assert not (target / "stale.txt").exists() and len(list((target / "test").iterdir())) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folders left
