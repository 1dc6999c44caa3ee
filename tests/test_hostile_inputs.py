"""Raw sensor input read safely: images, WAV clips and .npy arrays, at predict and in training (issue 20's A* and P*
rows). A file that cannot be read, or whose content would make the answer noise (NaN, an empty clip, absurd header
values, the wrong shape), is refused in one line naming the file; a legal but lossy one (a float clip beyond full
scale) is predicted the way training reads it, and the table says it was clipped; a phone photo is upright and any
size, and a 16-bit PNG is scaled to 8 bits (not clipped to white), in training and on the device alike."""

from __future__ import annotations

import ast
import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import REPO, BadInput, assert_one_line_error, export, train
from PIL import Image, ImageOps

RATE = 16000


def wav(path: Path, payload: bytes, rate: int = RATE, bits: int = 16, fmt: int = 1, ch: int = 1) -> Path:
    """A RIFF file with exactly these fmt fields (odd headers included), written by hand."""
    align = ch * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", fmt, ch, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data" + struct.pack("<I", len(payload)) + payload
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def tone(freq: float, seed: int, n: int = RATE) -> np.ndarray:
    t = np.arange(n) / RATE
    return 0.5 * np.sin(2 * np.pi * freq * t) + np.random.default_rng(seed).normal(0, 0.05, n)


def pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def float_wav(path: Path, x: np.ndarray) -> Path:
    return wav(path, np.asarray(x, "<f4").tobytes(), bits=32, fmt=3)


def audiofolder(root: Path, speakers: int = 1, clips: int = 2) -> Path:
    """Two easy words: 440 Hz and 1200 Hz tones with a little noise, Speech Commands names."""
    for k, (word, freq) in enumerate((("yes", 440), ("no", 1200))):
        (root / word).mkdir(parents=True)
        for s in range(speakers):
            for i in range(clips):
                wav(root / word / f"spk{s}_nohash_{i}.wav", pcm16(tone(freq, 100 * k + 10 * s + i)))
    return root


def imagefolder(root: Path, n: int = 20) -> Path:
    """16x16 RGB noise around 40 (cat) or 200 (dog): one size, so training alone would need no resize."""
    rng = np.random.default_rng(0)
    for c, level in (("cat", 40), ("dog", 200)):
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.clip(rng.normal(level, 30, (16, 16, 3)), 0, 255).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def image_art(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image")
    run = train("digits-cnn", f"imagefolder:{imagefolder(tmp / 'imgs')}", input_shape=(3, 16, 16), epochs=1, out=tmp / "run")
    return export(run, fmt="onnx", precision="fp32", out=tmp / "art")[0]


@pytest.fixture(scope="module")
def audio_art(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audio")
    data = audiofolder(tmp / "aud", speakers=6, clips=2)
    run = train("ds-cnn", f"audiofolder:{data}", epochs=10, lr=0.01, batch_size=4, out=tmp / "run")
    return export(run, fmt="onnx", precision="fp32", out=tmp / "art")[0]


@pytest.fixture
def ctx(image_art, audio_art):
    return {"image": image_art, "audio": audio_art}


def exif6_jpeg(path: Path) -> Path:
    """A phone photo: stored 32 wide x 16 high (a horizontal gradient) with EXIF Orientation=6 (rotate to view),
    so it is 16 wide x 32 high upright."""
    stored = np.repeat(np.repeat((np.arange(32) * 8).astype(np.uint8)[None, :, None], 16, axis=0), 3, axis=2)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    return path


def without_resize(tmp: Path, art: Path) -> Path:
    """The image artifact as exported before every image pipeline carried its resize step."""
    copy = tmp / "old-art"
    shutil.copytree(art, copy)
    deploy = json.loads((copy / "deploy.json").read_text())
    deploy["preprocess"]["steps"] = [s for s in deploy["preprocess"]["steps"] if s["op"] != "resize"]
    (copy / "deploy.json").write_text(json.dumps(deploy))
    return copy


def with_step(tmp: Path, art: Path, op: str, **values) -> Path:
    copy = tmp / "edited-art"
    shutil.copytree(art, copy)
    deploy = json.loads((copy / "deploy.json").read_text())
    next(s for s in deploy["preprocess"]["steps"] if s["op"] == op).update(values)
    (copy / "deploy.json").write_text(json.dumps(deploy))
    return copy


def bad_audiofolder(tmp: Path, name: str, write: Callable[[Path], None]) -> str:
    root = audiofolder(tmp / "aud")
    write(root / "yes" / name)
    return f"audiofolder:{root}"


def nan_clip() -> np.ndarray:
    x = tone(440, 1).astype(np.float32)
    x[100] = np.nan
    return x


def npy(path: Path, array) -> Path:
    np.save(path, array)
    return path


def lying_npy(path: Path) -> Path:
    """A .npy header claiming 10^12 float32 values over a 64-byte body: nothing may be allocated for it."""
    from numpy.lib import format as npformat

    with open(path, "wb") as f:
        npformat.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
        f.write(b"\0" * 64)
    return path


@dataclass
class Case(BadInput):
    absent: tuple[str, ...] = ()  # only what a row names


TRAIN = ["train", "--model", "ds-cnn", "--epochs", "1", "--out", "out", "--dataset"]

CASES = [
    # --- training: a bad clip in an audiofolder is named before anything is trained or written
    Case(
        "A2 WAV with bits=0 in an audiofolder",
        lambda t, c: [*TRAIN, bad_audiofolder(t, "bits0_nohash_0.wav", lambda p: wav(p, pcm16(tone(440, 1)), bits=0))],
        ("bits0_nohash_0.wav", "0 bits per sample"),
        absent=("out",),
    ),
    Case(
        "A5 WAV header claiming 1,000,000,000 Hz in an audiofolder",
        lambda t, c: [*TRAIN, bad_audiofolder(t, "fast_nohash_0.wav", lambda p: wav(p, pcm16(tone(440, 1)[:1000]), rate=10**9))],
        ("fast_nohash_0.wav", "1000000000 Hz, outside 1..384000 Hz"),
        absent=("out",),
    ),
    Case(
        "A3 float WAV with a NaN sample in an audiofolder",
        lambda t, c: [*TRAIN, bad_audiofolder(t, "nan_nohash_0.wav", lambda p: float_wav(p, nan_clip()))],
        ("nan_nohash_0.wav", "NaN"),
        absent=("out",),
    ),
    Case(
        "A-empty WAV with an empty data chunk in an audiofolder",
        lambda t, c: [*TRAIN, bad_audiofolder(t, "empty_nohash_0.wav", lambda p: wav(p, b""))],
        ("empty_nohash_0.wav", "no samples"),
        absent=("out",),
    ),
    # --- predict: the runner names the user's file and what is wrong with it
    Case(
        "A-bits0 predict on a bits=0 WAV",
        lambda t, c: ["predict", c["audio"], wav(t / "bits0.wav", pcm16(tone(440, 1)), bits=0)],
        ("bits0.wav", "0 bits per sample"),
    ),
    Case(
        "A-nan predict on a float WAV with a NaN",
        lambda t, c: ["predict", c["audio"], float_wav(t / "nan.wav", nan_clip())],
        ("nan.wav", "NaN"),
    ),
    Case(
        "A-empty predict on a WAV with an empty data chunk",
        lambda t, c: ["predict", c["audio"], wav(t / "empty.wav", b"")],
        ("empty.wav", "no samples"),
    ),
    Case(
        "A5 predict on a clip claiming 1,000,000,000 Hz",
        lambda t, c: ["predict", c["audio"], wav(t / "fast.wav", pcm16(tone(440, 1)[:1000]), rate=10**9)],
        ("fast.wav", "1000000000 Hz, outside 1..384000 Hz"),
    ),
    Case(
        "A-8k predict on a clip at another rate names both",
        lambda t, c: ["predict", c["audio"], wav(t / "8k.wav", pcm16(tone(440, 1, n=8000)), rate=8000)],
        ("8k.wav", "8000 Hz", "16000 Hz"),
    ),
    Case(
        "A5 deploy.json asking to pad every clip to 10^9 samples",
        lambda t, c: ["predict", with_step(t, c["audio"], "fix_length", samples=10**9), wav(t / "ok.wav", pcm16(tone(440, 1)))],
        ("fix_length", "at most 16777216"),
    ),
    Case(
        "P-notes.txt predict on a text file",
        lambda t, c: ["predict", c["image"], _text(t / "notes.txt")],
        ("notes.txt", "not an image Pillow can read"),
    ),
    Case(
        "P-empty.npy predict on a zero-byte .npy",
        lambda t, c: ["predict", c["image"], _text(t / "empty.npy", "")],
        ("empty.npy", "empty file"),
    ),
    Case(
        "P-wrongshape.npy predict on a 5x5 array for an RGB artifact",
        lambda t, c: ["predict", c["image"], npy(t / "w.npy", np.zeros((5, 5), np.uint8))],
        ("w.npy", "shape (5, 5)", "RGB images as (H, W, 3)"),
    ),
    Case(
        "P-nan.npy predict on an array with a NaN",
        lambda t, c: ["predict", c["image"], npy(t / "nan.npy", np.where(np.arange(768).reshape(16, 16, 3) == 5, np.nan, 200.0))],
        ("nan.npy", "NaN"),
    ),
    Case(
        "P-hugehdr.npy predict on a .npy whose header lies",
        lambda t, c: ["predict", c["image"], lying_npy(t / "big.npy")],
        ("big.npy", "cut short"),
    ),
    Case(
        "P-exif6.jpg on an artifact exported without a resize step names both shapes",
        lambda t, c: ["predict", without_resize(t, c["image"]), exif6_jpeg(t / "exif6.jpg")],
        ("exif6.jpg", "(3, 32, 16)", "the model takes (3, 16, 16)"),  # 32 high: read upright
    ),
]


def _text(path: Path, text: str = "hello\n") -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_raw_input_is_one_line_naming_the_file(case, tmp_path, ctx, run_cli):
    result = run_cli(*case.make(tmp_path, ctx))
    assert_one_line_error(result, *case.fragments, code=case.code)
    assert "BytesIO" not in result.err and "Traceback" not in result.err and "Warning" not in result.err
    for path in case.absent:
        assert not (tmp_path / path).exists(), path


def _outputs(art: Path, *files: Path) -> list:
    import edgekit as ek

    return [row["output"] for row in ek.predict(art, list(files))]


def test_A_loud_float_wav_is_clipped_as_training_clips_it_and_the_table_says_so(tmp_path, audio_art, run_cli):
    from edgekit.data.audio import read_pcm

    x = tone(440, 3) * 600  # ±300 full scale
    loud = float_wav(tmp_path / "loud.wav", x)
    clipped = tmp_path / "int16.wav"
    wav(clipped, np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes())
    result = run_cli("predict", audio_art, loud)
    beyond = int(np.count_nonzero(np.abs(x.astype(np.float32)) > 1))
    assert result.code == 0 and f"note: {loud}: {beyond} of {RATE} samples beyond full scale clipped" in result.out, result.err
    # predict feeds the model exactly what training makes of the clip: the clipped int16 samples
    assert _outputs(audio_art, loud) == _outputs(audio_art, clipped)
    assert np.array_equal(read_pcm(loud)[0], read_pcm(clipped)[0])
    quiet = run_cli("predict", audio_art, clipped)
    assert quiet.code == 0 and "note:" not in quiet.out, quiet.err


def test_P_photo_jpg_of_any_size_is_resized_although_training_images_all_had_the_model_size(tmp_path, image_art, run_cli):
    deploy = json.loads((image_art / "deploy.json").read_text())
    assert {"op": "resize", "size": [16, 16], "method": "bilinear"} in deploy["preprocess"]["steps"]
    Image.fromarray(np.full((480, 640, 3), 200, np.uint8)).save(tmp_path / "photo.jpg")
    result = run_cli("predict", image_art, tmp_path / "photo.jpg")
    assert result.code == 0 and "photo.jpg" in result.out, result.err


def test_P_exif6_jpg_is_upright_on_the_device_and_in_training(tmp_path, image_art, run_cli):
    from edgekit.data.imagefolder import read_image

    photo = exif6_jpeg(tmp_path / "exif6.jpg")
    with Image.open(photo) as img:
        ImageOps.exif_transpose(img).save(tmp_path / "upright.png")
        img.save(tmp_path / "sideways.png")  # the stored pixels, without the tag
    assert run_cli("predict", image_art, photo).code == 0
    upright, sideways, tagged = _outputs(image_art, tmp_path / "upright.png", tmp_path / "sideways.png", photo)
    assert tagged == upright and tagged != sideways
    assert read_image(photo).shape == (32, 16, 3) and np.array_equal(read_image(photo), read_image(tmp_path / "upright.png"))


def _gray16(path: Path, values: np.ndarray) -> Path:
    Image.fromarray(values.astype(np.uint16)).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I")  # really a 16-bit grayscale PNG
    return path


def test_P_gray16_png_is_scaled_to_8_bits_not_clipped_at_predict_and_in_training(tmp_path, image_art, run_cli):
    """Decision: 16-bit grayscale is scaled (x * 255 / 65535, rounded), not refused; Pillow's convert clipped it."""
    values = np.linspace(23901, 65535, 256).reshape(16, 16)
    png16 = _gray16(tmp_path / "gray16.png", values)
    eight = np.round(values * 255 / 65535).astype(np.uint8)
    Image.fromarray(eight).save(tmp_path / "gray8.png")
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / "white.png")
    assert run_cli("predict", image_art, png16).code == 0
    sixteen, gray8, white = _outputs(image_art, png16, tmp_path / "gray8.png", tmp_path / "white.png")
    assert sixteen == gray8 and sixteen != white
    # training reads the same pixels: its normalisation statistics are those of the 8-bit values
    rng = np.random.default_rng(1)
    pixels = []
    for c, level in (("dark", 10000), ("bright", 50000)):
        (tmp_path / "g16" / c).mkdir(parents=True)
        for i in range(10):
            v = np.clip(rng.normal(level, 2000, (8, 8)), 0, 65535).astype(np.uint16)
            _gray16(tmp_path / "g16" / c / f"{i}.png", v)
            pixels.append(np.round(v.astype(np.float64) * 255 / 65535))
    result = run_cli("train", "--dataset", f"imagefolder:{tmp_path / 'g16'}", "--epochs", "1", "--out", tmp_path / "run")
    assert result.code == 0, result.err
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    assert spec["preprocess"]["input"]["channels"] == "L"
    assert abs(spec["normalization"]["mean"][0] - np.mean(pixels) / 255) < 0.1  # all-white would give 1.0


def test_rawfile_stays_device_portable():
    """rawfile.py goes to boards with the runner: Python 3.8 syntax, stdlib + numpy (+ Pillow, its sibling)."""
    source = (REPO / "edgekit" / "device" / "rawfile.py").read_text()
    roots = set()
    for node in ast.walk(ast.parse(source, feature_version=(3, 8))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert roots <= {"os", "warnings", "numpy", "PIL", "preprocess"}, roots
    assert "rawfile.py" in __import__("edgekit.stages.bench.harness", fromlist=["DEVICE_FILES"]).DEVICE_FILES
