"""edgekit/device/preprocess.py against independent implementations.

References (none of them share code with preprocess.py):
  - images: Pillow's Image.resize / Image.convert (the C code the host data sets use);
  - log-mel / MFCC: librosa.feature.melspectrogram and librosa.feature.mfcc (scipy.fft.dct, norm="ortho");
    the anomaly preset against the DCASE 2020 task 2 baseline front end, written out as the baseline does it;
  - resampling: scipy.signal.resample_poly;
  - WAV: the stdlib `wave` module, soundfile (libsndfile) and espeak-ng's writer.

Tolerances (each test prints what it achieved; run with -s to see them):
  - resize / to_channels on uint8: max |delta| <= 1 grey level (the brief's bound; the achieved figure on
    Pillow 13 is 0: the integer arithmetic and Pillow 13's pass order are replicated exactly).
  - natural-log mel: abs <= 1e-4.  Both sides run float32 FFTs and float32 filterbank products, so the
    spectra agree to ~1e-6 relative; log turns that into ~1e-6 absolute.  1e-4 leaves room for other FFT/BLAS
    builds (e.g. ARM) without hiding a real bug (a one-bin shift or a wrong window is >1e-2).
  - MFCC: max |delta| / max |reference| <= 1e-5 (float32 rounding of a 40-point sum is ~1e-7 relative).
  - anomaly dB features (10*log10): abs <= 1e-3 dB.
  - resample vs resample_poly: abs <= 1e-6 for signals in [-1, 1] (same filter design; the difference is the
    float32 rounding of the output, ~3e-8).
"""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool
from PIL import Image

from edgekit.device import preprocess as P

PACKAGE_DIR = Path(P.__file__).parent
RNG = np.random.default_rng(1234)


def _scipy_signal():
    return pytest.importorskip("scipy.signal", reason="needs scipy (pip install scipy)")


def _librosa():
    return pytest.importorskip("librosa", reason="needs librosa (pip install librosa)")


def _report(name, value, tol):
    print(f"{name:<58s} max|delta| = {float(value):.3g}  (tolerance {tol:g})")


# ---------------------------------------------------------------------------------------------------------
# The package must stay device-portable: stdlib + numpy only, Python 3.8 syntax, its own modules by relative import.
# (tests/test_device_package.py checks the whole device package the same way and runs a shipped copy.)
# ---------------------------------------------------------------------------------------------------------


def test_package_is_numpy_only_python38():
    allowed = {"numpy", "__future__"} | set(sys.stdlib_module_names)
    files = sorted(PACKAGE_DIR.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "schema.py", "image.py", "audio.py", "wav.py"}
    for path in files:
        roots = set()
        for node in ast.walk(ast.parse(path.read_text(), feature_version=(3, 8))):
            if isinstance(node, ast.Import):
                roots.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots.add(node.module.split(".")[0])
        assert roots <= allowed, (path.name, roots - allowed)
    assert P.PIPELINE_VERSION == 1


# ---------------------------------------------------------------------------------------------------------
# Images vs Pillow
# ---------------------------------------------------------------------------------------------------------


def _smooth(h, w, c):
    y, x = np.mgrid[0:h, 0:w]
    planes = [127.5 + 127.5 * np.sin(x / (3.0 + k) + y / (5.0 + 2 * k)) * np.cos(y / 7.0) for k in range(c)]
    return np.clip(np.round(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


IN_SIZES = [(480, 640), (37, 53), (224, 224), (5, 7), (1, 9)]
OUT_SIZES = [(96, 96), (224, 224), (32, 48), (300, 17), (1, 1)]


def _resize_step(size, method):
    return {"version": 1, "input": {"kind": "image", "channels": "RGB"}, "steps": [{"op": "resize", "size": list(size), "method": method}]}


@pytest.mark.parametrize("method,flag", [("bilinear", Image.Resampling.BILINEAR), ("nearest", Image.Resampling.NEAREST)])
def test_resize_matches_pillow(method, flag):
    worst, cases = 0, 0
    for h, w in IN_SIZES:
        for make in (lambda hh, ww, c: RNG.integers(0, 256, (hh, ww, c), dtype=np.uint8), _smooth):
            for channels in (3, 1):
                img = make(h, w, channels)
                raw = img if channels == 3 else img[:, :, 0]  # grayscale given as HW, Pillow mode "L"
                for oh, ow in OUT_SIZES + [(h * 2 + 1, w), (h, max(w // 3, 1))]:
                    ref = np.asarray(Image.fromarray(raw).resize((ow, oh), flag)).reshape(oh, ow, channels)
                    got = P.run(_resize_step((oh, ow), method), raw)[0]
                    assert got.shape == (oh, ow, channels)
                    worst = max(worst, int(np.abs(got - ref.astype(np.float32)).max()))
                    cases += 1
    _report(f"resize {method} vs Pillow ({cases} cases, uint8 grey levels)", worst, 1)
    assert worst <= 1


def test_resize_rgba_is_channelwise_like_pillow_rgb():
    # Pillow resizes RGBA premultiplied; preprocess resizes channels independently and drops alpha later,
    # which equals converting to RGB first, the way data sets load images (convert("RGB").resize(...)).
    img = RNG.integers(0, 256, (61, 83, 4), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(img, "RGBA").convert("RGB").resize((40, 50), Image.Resampling.BILINEAR))
    pipe = _resize_step((50, 40), "bilinear")
    pipe["steps"].append({"op": "to_channels", "channels": 3})
    got = P.run(pipe, img)[0]
    _report("resize RGBA->RGB vs Pillow convert(RGB).resize", np.abs(got - ref).max(), 1)
    assert np.abs(got - ref).max() <= 1


def test_resize_float_image_matches_pillow_mode_f():
    img = RNG.random((45, 70)).astype(np.float32) * 10
    ref = np.asarray(Image.fromarray(img, "F").resize((31, 90), Image.Resampling.BILINEAR))
    pipe = {
        "version": 1,
        "input": {"kind": "image", "channels": "L"},
        "steps": [{"op": "scale", "factor": 1.0}, {"op": "resize", "size": [90, 31]}],
    }
    got = P.run(pipe, img)[0, :, :, 0]
    _report("resize float32 vs Pillow mode F", np.abs(got - ref).max(), 1e-4)
    assert np.abs(got - ref).max() <= 1e-4


def test_to_channels_matches_pillow_convert():
    rgb = RNG.integers(0, 256, (33, 47, 3), dtype=np.uint8)
    rgba = RNG.integers(0, 256, (33, 47, 4), dtype=np.uint8)
    gray = RNG.integers(0, 256, (33, 47), dtype=np.uint8)
    cases = [
        (rgb, "RGB", 1, "L"),
        (rgba, "RGBA", 1, "L"),
        (rgba, "RGBA", 3, "RGB"),
        (gray, "L", 3, "RGB"),
        (rgb, "RGB", 3, "RGB"),
        (gray, "L", 1, "L"),
    ]
    worst = 0
    for raw, mode, n, pil_mode in cases:
        ref = np.asarray(Image.fromarray(raw, mode).convert(pil_mode)).reshape(33, 47, n)
        pipe = {
            "version": 1,
            "input": {"kind": "image", "channels": "RGB" if n == 3 else "L"},
            "steps": [{"op": "to_channels", "channels": n}],
        }
        worst = max(worst, np.abs(P.run(pipe, raw)[0] - ref).max())
    _report("to_channels vs Pillow convert (L, RGB, RGBA)", worst, 1)
    assert worst <= 1


@pytest.mark.parametrize("channels", ["RGB", "L"])
def test_image_preset_matches_pillow_and_numpy(channels):
    raw = _smooth(300, 401, 3)
    mean, std = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]) if channels == "RGB" else ([0.5], [0.25])
    pipe = P.image_pipeline([96, 128], channels, mean, std)
    pipe = json.loads(json.dumps(pipe))  # the pipeline is plain JSON
    got = P.run(pipe, raw)
    im = Image.fromarray(raw).resize((128, 96), Image.Resampling.BILINEAR).convert(channels)
    ref = np.asarray(im, dtype=np.float32).reshape(96, 128, -1) / 255.0
    ref = (ref.transpose(2, 0, 1) - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    assert got.shape == (1, 3 if channels == "RGB" else 1, 96, 128) and got.dtype == np.float32
    _report(f"image_pipeline({channels}) vs Pillow + numpy", np.abs(got[0] - ref).max(), 1e-5)
    assert np.abs(got[0] - ref).max() <= 1e-5


# ---------------------------------------------------------------------------------------------------------
# Audio signals
# ---------------------------------------------------------------------------------------------------------


def _chirp_noise(sr, seconds, seed):
    signal = _scipy_signal()
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.4 * signal.chirp(t, 60, t[-1], 0.45 * sr, method="logarithmic")
    x += 0.2 * signal.chirp(t, 3000, t[-1], 200) * (t > 0.2 * seconds)
    x += 0.03 * rng.standard_normal(t.size)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def spoken_word_or_none(tmp_path_factory):
    """'yes' spoken by espeak-ng: 22.05 kHz 16-bit mono WAV bytes, or None without espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    out = tmp_path_factory.mktemp("espeak") / "yes.wav"
    subprocess.run([exe, "-w", str(out), "yes"], check=True, capture_output=True, timeout=60)
    return out.read_bytes()


@pytest.fixture
def spoken_word(spoken_word_or_none):
    if spoken_word_or_none is None:
        require_tool("espeak-ng", "espeak-ng")
    return spoken_word_or_none


def _kws_reference(x_float, sr=16000):
    """MFCC front end of kws_pipeline() computed by librosa + scipy.

    librosa centres a win_length window inside each n_fft frame, tf.signal/preprocess put the frame's first
    `length` samples at its start; zero-padding the signal by (n_fft - length)/2 on both sides makes librosa's
    frames hold exactly the same samples (|FFT| is unchanged by the circular shift).
    """
    librosa = _librosa()
    fixed = np.zeros(sr, dtype=np.float32)
    fixed[: min(sr, x_float.size)] = x_float[:sr]
    mel = librosa.feature.melspectrogram(
        y=np.pad(fixed, 16),
        sr=sr,
        n_fft=512,
        hop_length=320,
        win_length=480,
        window="hann",
        center=False,
        power=2.0,
        n_mels=40,
        fmin=20.0,
        fmax=4000.0,
        htk=True,
        norm=None,
    )
    logmel = np.log(mel + 1e-6)
    mfcc = librosa.feature.mfcc(S=logmel.astype(np.float64), n_mfcc=10, dct_type=2, norm="ortho")
    return logmel.T, mfcc.T


def _kws_logmel_pipeline(**kw):
    pipe = P.kws_pipeline(**kw)
    assert [s["op"] for s in pipe["steps"][-2:]] == ["dct", "reshape"]
    pipe["steps"] = pipe["steps"][:-2]
    return pipe


def _compare_kws(name, raw, reference_float, **kw):
    logmel_ref, mfcc_ref = _kws_reference(reference_float)
    got = P.run(P.kws_pipeline(**kw), raw)
    assert got.shape == (1, 1, 49, 10) and got.dtype == np.float32
    logmel = P.run(_kws_logmel_pipeline(**kw), raw)[0]
    d_log = np.abs(logmel - logmel_ref).max()
    rel = np.abs(got[0, 0] - mfcc_ref).max() / np.abs(mfcc_ref).max()
    _report("kws log-mel vs librosa, " + name, d_log, 1e-4)
    _report("kws MFCC vs librosa.feature.mfcc (relative), " + name, rel, 1e-5)
    assert d_log <= 1e-4 and rel <= 1e-5


def test_kws_preset_matches_librosa_on_chirps():
    x = _chirp_noise(16000, 1.0, seed=1)
    _compare_kws("chirps+noise 1 s", x, x.astype(np.float32) / 32768)
    short = x[:11000]  # fix_length pads the rest with zeros
    _compare_kws("chirps+noise 0.69 s (zero-padded)", short, short.astype(np.float32) / 32768)


def test_kws_preset_matches_librosa_on_spoken_word(spoken_word):
    signal = _scipy_signal()
    pcm, rate = P.decode_wav(spoken_word)
    assert rate == 22050 and pcm.dtype == np.int16
    ref_16k = signal.resample_poly(pcm.astype(np.float64) / 32768, 320, 441).astype(np.float32)
    _compare_kws("espeak-ng 'yes' 22.05 kHz resampled", pcm, ref_16k, input_rate=rate)


def _dcase_reference(y, sr=16000, n_mels=128, frames=5, n_fft=1024, hop_length=512, power=2.0):
    """file_to_vector_array() of the DCASE 2020 task 2 baseline (= MLPerf Tiny AD), on samples.

    The baseline pins librosa 0.6, whose melspectrogram pads with pad_mode="reflect" (librosa >= 0.10 defaults
    to "constant"), so that is passed explicitly here.
    """
    librosa = _librosa()
    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=power, center=True, pad_mode="reflect"
    )
    log_mel = 20.0 / power * np.log10(mel + sys.float_info.epsilon)
    size = log_mel.shape[1] - frames + 1
    if size < 1:
        return np.empty((0, n_mels * frames))
    vectors = np.zeros((size, n_mels * frames))
    for t in range(frames):
        vectors[:, n_mels * t : n_mels * (t + 1)] = log_mel[:, t : t + size].T
    return vectors


def test_anomaly_preset_matches_dcase_baseline(spoken_word_or_none):
    signal = _scipy_signal()
    clips = [("chirps+noise 2 s", _chirp_noise(16000, 2.0, seed=2)), ("chirps+noise 0.3 s", _chirp_noise(16000, 0.3, seed=3))]
    if spoken_word_or_none is not None:
        pcm, rate = P.decode_wav(spoken_word_or_none)
        word = signal.resample_poly(pcm.astype(np.float64), 320, 441)
        clips.append(("espeak-ng 'yes' at 16 kHz", np.clip(np.round(word), -32768, 32767).astype(np.int16)))
    for name, pcm in clips:
        ref = _dcase_reference(pcm.astype(np.float32) / 32768)
        got = P.run(P.anomaly_pipeline(), pcm)
        assert got.shape == ref.shape and got.shape[1] == 640 and got.dtype == np.float32
        assert got.shape[0] == 1 + pcm.size // 512 - 4
        d = np.abs(got - ref).max()
        _report("anomaly dB features vs DCASE baseline, " + name, d, 1e-3)
        assert d <= 1e-3


def test_anomaly_uncentred_logmel_matches_librosa():
    librosa = _librosa()
    x = _chirp_noise(16000, 1.5, seed=4).astype(np.float32) / 32768
    pipe = {
        "version": 1,
        "input": {"kind": "audio", "sample_rate": 16000},
        "steps": [
            {"op": "frames", "length": 1024, "stride": 512, "window": "hamming", "n_fft": 1024},
            {"op": "power_spectrum"},
            {"op": "mel", "bins": 64, "f_min": 50.0, "f_max": 7000.0, "sample_rate": 16000, "scale": "slaney", "norm": "slaney"},
            {"op": "log", "offset": 1e-10},
        ],
    }
    got = P.run(pipe, x)[0]
    mel = librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=1024, hop_length=512, window="hamming", center=False, power=2.0, n_mels=64, fmin=50.0, fmax=7000.0
    )
    d = np.abs(got - np.log(mel + 1e-10).T).max()
    _report("uncentred hamming slaney log-mel vs librosa", d, 1e-4)
    assert d <= 1e-4


def test_resample_matches_scipy_resample_poly():
    signal = _scipy_signal()
    worst = 0.0
    for rate_in, rate_out in [(22050, 16000), (44100, 16000), (48000, 16000), (8000, 16000), (16000, 11025)]:
        x = _chirp_noise(rate_in, 0.5, seed=rate_in).astype(np.float32) / 32768
        pipe = {"version": 1, "input": {"kind": "audio", "sample_rate": rate_in}, "steps": [{"op": "resample", "rate": rate_out}]}
        got = P.run(pipe, x)[0]
        ref = signal.resample_poly(x.astype(np.float64), rate_out, rate_in)
        assert got.shape == ref.shape
        worst = max(worst, np.abs(got - ref).max())
    _report("resample vs scipy.signal.resample_poly (5 ratios)", worst, 1e-6)
    assert worst <= 1e-6


def test_frames_power_dct_context_shapes():
    x = np.arange(1000, dtype=np.float32) / 1000
    pipe = {
        "version": 1,
        "input": {"kind": "audio", "sample_rate": 8000},
        "steps": [{"op": "frames", "length": 100, "stride": 30, "window": "none", "n_fft": 128}],
    }
    frames = P.run(pipe, x)[0]
    assert frames.shape == (1 + (1000 - 100) // 30, 128)
    assert np.array_equal(frames[3, :100], x[90:190]) and not frames[:, 100:].any()
    pipe["steps"] += [
        {"op": "power_spectrum"},
        {"op": "dct", "count": 7},
        {"op": "context", "frames": 4},
        {"op": "reshape", "shape": [4, 7]},
    ]
    out = P.run(pipe, x)
    assert out.shape == (frames.shape[0] - 3, 4, 7)
    tiny = P.run(pipe, x[:150])  # 2 frames < 4: no vectors, like the baseline
    assert tiny.shape == (0, 4, 7)


def test_pcm_to_float_and_fix_length():
    pcm = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    pipe = {
        "version": 1,
        "input": {"kind": "audio", "sample_rate": 16000},
        "steps": [{"op": "pcm_to_float"}, {"op": "fix_length", "samples": 7}],
    }
    assert np.array_equal(P.run(pipe, pcm)[0], np.r_[pcm / 32768.0, 0, 0].astype(np.float32))
    pipe["steps"][1]["samples"] = 3
    assert np.array_equal(P.run(pipe, pcm.astype(np.float32) / 4)[0], pcm[:3].astype(np.float32) / 4)


def test_tensor_kind_and_normalize_axes():
    x = RNG.random((4, 6)).astype(np.float32)
    pipe = {
        "version": 1,
        "input": {"kind": "tensor"},
        "steps": [
            {"op": "scale", "factor": 2.0, "offset": -1.0},
            {"op": "normalize", "mean": [0.1, 0.2, 0.3, 0.4], "std": [1, 2, 3, 4], "axis": 0},
            {"op": "reshape", "shape": [2, 12]},
            {"op": "normalize", "mean": 0.5, "std": 2.0, "axis": None},
        ],
    }
    ref = ((x * 2 - 1) - np.array([[0.1], [0.2], [0.3], [0.4]])) / np.array([[1], [2], [3], [4]])
    ref = (ref.reshape(2, 12) - 0.5) / 2.0
    got = P.run(pipe, x)
    assert got.shape == (1, 2, 12) and got.dtype == np.float32
    assert np.abs(got[0] - ref).max() < 1e-6


def test_normalize_axis_is_per_sample_after_context():
    samples = RNG.random(30).astype(np.float32)
    feats = samples.reshape(10, 3)  # frames of 3, stride 3, no window
    pipe = {
        "version": 1,
        "input": {"kind": "audio", "sample_rate": 16000},
        "steps": [
            {"op": "frames", "length": 3, "stride": 3, "window": "none"},
            {"op": "context", "frames": 2},
            {"op": "reshape", "shape": [2, 3]},
            {"op": "normalize", "mean": [1, 2, 3], "std": [2, 2, 2], "axis": 1},
        ],
    }
    got = P.run(pipe, samples)
    ref = (np.stack([feats[:-1], feats[1:]], axis=1) - np.array([1, 2, 3])) / 2
    assert got.shape == (9, 2, 3) and np.abs(got - ref).max() < 1e-6


# ---------------------------------------------------------------------------------------------------------
# validate()
# ---------------------------------------------------------------------------------------------------------


def _kws():
    return P.kws_pipeline()


def _bad(mutate):
    pipe = _kws()
    mutate(pipe)
    return pipe


BAD = [
    (lambda p: p["steps"].append({"op": "fft"}), "steps[8].op"),
    (lambda p: p["steps"][2].pop("stride"), "steps[2] (frames).stride is missing"),
    (lambda p: p["steps"][2].update(stride="320"), "steps[2] (frames).stride must be a positive int"),
    (lambda p: p["steps"][2].update(stride=True), "steps[2] (frames).stride"),
    (lambda p: p["steps"][2].update(hop=3), "steps[2] (frames): unknown key 'hop'"),
    (lambda p: p["steps"][2].update(window="kaiser"), "steps[2] (frames).window"),
    (lambda p: p["steps"][4].update(scale="mel"), "steps[4] (mel).scale"),
    (lambda p: p["steps"][4].update(sample_rate=8000), "steps[4] (mel).sample_rate must equal"),
    (lambda p: p["steps"][4].update(f_max=9000.0), "steps[4] (mel)"),
    (lambda p: p["steps"][5].update(base=10), "steps[5] (log).base"),
    (lambda p: p["steps"][7].update(shape=[1, "49", 10]), "steps[7] (reshape).shape"),
    (lambda p: p["steps"].insert(0, {"op": "resize", "size": [2, 2]}), "steps[0].op 'resize' does not apply"),
    (lambda p: p["steps"].insert(0, {"op": "mel", "bins": 4, "sample_rate": 16000}), "steps[0] (mel): needs"),
    (lambda p: p["steps"].append({"op": "normalize", "mean": [0, 1], "std": [1, 1]}), "steps[8] (normalize)"),
    (lambda p: p["steps"].append({"op": "normalize", "mean": 0, "std": 0, "axis": None}), "(normalize).std"),
    (lambda p: p.update(version=2), "version must be 1"),
    (lambda p: p.pop("steps"), "pipeline.steps is missing"),
    (lambda p: p.update(extra=1), "pipeline: unknown key 'extra'"),
    (lambda p: p["input"].update(kind="video"), "input.kind"),
    (lambda p: p["input"].pop("sample_rate"), "input.sample_rate is missing"),
    (lambda p: p["input"].update(sample_rate=16000.0), "input.sample_rate must be a positive int"),
    (lambda p: p["steps"].__setitem__(0, "pcm_to_float"), "steps[0] must be a dict"),
]


@pytest.mark.parametrize("mutate,fragment", BAD, ids=[f for _, f in BAD])
def test_validate_rejects_with_one_line_naming_the_key(mutate, fragment):
    with pytest.raises(ValueError) as info:
        P.validate(_bad(mutate))
    message = str(info.value)
    assert "\n" not in message and fragment in message, message


def test_validate_accepts_presets_and_image_kind_errors():
    for pipe in (
        P.kws_pipeline(),
        P.kws_pipeline(input_rate=44100),
        P.anomaly_pipeline(),
        P.image_pipeline(224, "RGB", [0.5] * 3, [0.5] * 3),
        P.image_pipeline([32, 48], 1, None, None),
    ):
        P.validate(json.loads(json.dumps(pipe)))
    pipe = P.image_pipeline(96, 3, None, None)
    pipe["steps"][0]["size"] = [96]
    with pytest.raises(ValueError, match=r"steps\[0\] \(resize\)\.size must be a list \[H, W\]"):
        P.validate(pipe)
    pipe["steps"][0]["size"] = [96, 96]
    pipe["steps"][1]["channels"] = 2
    with pytest.raises(ValueError, match=r"steps\[1\] \(to_channels\)\.channels must be 1 or 3"):
        P.validate(pipe)
    pipe["steps"][1]["channels"] = 3
    pipe["steps"].append({"op": "resize", "size": [48, 48]})
    with pytest.raises(ValueError, match=r"steps\[4\] \(resize\): image ops read HWC"):
        P.validate(pipe)


def test_run_errors_name_the_step():
    pipe = P.kws_pipeline()
    pipe["steps"] = pipe["steps"][1:]  # no pcm_to_float: int16 would be unscaled
    with pytest.raises(ValueError, match=r"steps\[1\] \(frames\): frames needs float samples"):
        P.run(pipe, np.zeros(16000, dtype=np.int16))
    with pytest.raises(ValueError, match="audio input must be a 1-D array"):
        P.run(P.kws_pipeline(), np.zeros((16000, 2), dtype=np.int16))


# ---------------------------------------------------------------------------------------------------------
# decode_wav vs the writers
# ---------------------------------------------------------------------------------------------------------


def _wave_bytes(frames, rate, width):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(frames.shape[1] if frames.ndim == 2 else 1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return buf.getvalue()


def test_decode_wav_int16_mono_and_stereo_from_wave_module():
    mono = RNG.integers(-32768, 32768, 1001).astype(np.int16)
    samples, rate = P.decode_wav(_wave_bytes(mono, 16000, 2))
    assert rate == 16000 and samples.dtype == np.int16 and np.array_equal(samples, mono)
    stereo = RNG.integers(-32768, 32768, (999, 2)).astype(np.int16)
    samples, rate = P.decode_wav(_wave_bytes(stereo, 44100, 2))
    assert rate == 44100 and samples.dtype == np.float32
    assert np.abs(samples - stereo.mean(axis=1) / 32768).max() < 1e-7
    unsigned8 = RNG.integers(0, 256, 500).astype(np.uint8)
    samples, _ = P.decode_wav(_wave_bytes(unsigned8, 8000, 1))
    assert np.abs(samples - (unsigned8 / 128.0 - 1.0)).max() < 1e-7


def test_decode_wav_espeak(spoken_word):
    samples, rate = P.decode_wav(spoken_word)
    with wave.open(io.BytesIO(spoken_word)) as w:
        ref = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2)
    assert rate == 22050 and samples.dtype == np.int16 and np.array_equal(samples, ref)
    assert np.abs(samples).max() > 1000  # it is speech, not silence


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_24", "PCM_32", "DOUBLE"])
def test_decode_wav_other_encodings_vs_soundfile(subtype):
    sf = pytest.importorskip("soundfile", reason="needs soundfile (pip install soundfile)")
    x = (RNG.random((777, 3)) * 1.8 - 0.9).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, 12000, subtype=subtype, format="WAV")
    samples, rate = P.decode_wav(buf.getvalue())
    ref, ref_rate = sf.read(io.BytesIO(buf.getvalue()), dtype="float64")
    assert rate == ref_rate == 12000 and samples.dtype == np.float32
    assert np.abs(samples - ref.mean(axis=1)).max() < 1e-6
