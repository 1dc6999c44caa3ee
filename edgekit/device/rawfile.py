"""Raw sensor files -> the raw arrays a preprocessing pipeline takes: images, .wav clips, .npy arrays.

The one reader of such files in training (edgekit/data/imagefolder.py, audio.py) and on the device (runner.py
predict), so that a phone photo, a 16-bit PNG or a loud float clip becomes the same array in both.  Copied to
devices in the device package: Python 3.8, stdlib + numpy, Pillow only when an image is read.  Every problem is a
one-line ValueError describing the file's content ("not an image Pillow can read"); the caller puts the file's
name in front.
"""

import os
import warnings

import numpy as np

from . import preprocess

MAX_PIXELS = 50000000  # a decompression bomb is refused before it is decoded
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_GRAY = ("1", "L") + _SIXTEEN_BIT


class _Refused(ValueError):
    """A problem this module found itself (kept apart from Pillow's own ValueErrors)."""


def decode_image(source, channels=None):
    """An image file (path or file object) -> uint8 pixels, HW (channels "L") or HWC with 3 channels ("RGB").

    channels None keeps the file's own: HW for grayscale files, HWC RGB for everything else.  EXIF orientation
    is applied (a phone photo is stored sideways with a rotate-me tag), alpha dropped, palettes expanded, and
    16-bit grayscale scaled to 8 bits (x * 255 / 65535, rounded: Pillow's convert would clip it to 255).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise _Refused("{}x{} pixels, over edgekit's limit of {} (a decompression bomb?)".format(
                        img.width, img.height, MAX_PIXELS))
                return _pixels(ImageOps.exif_transpose(img), channels)
    except _Refused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _Refused("decompresses to too many pixels (a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise _Refused("not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise _Refused("a damaged image: {}".format(_first_line(e))) from None


def _pixels(img, channels):
    mode = img.mode
    if mode == "F":
        raise _Refused("32-bit float pixels, which have no fixed range: save it as an 8- or 16-bit image")
    if mode in _SIXTEEN_BIT:
        wide = np.asarray(img).astype(np.int64)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            raise _Refused("32-bit pixel values outside 0..65535: save it as an 8- or 16-bit image")
        gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2) if channels == "RGB" else gray
    want = channels or ("L" if mode in _GRAY else "RGB")
    return np.asarray(img.convert(want))


def read_npy(path):
    """A .npy file -> its numeric array; the header is checked against the file before anything is allocated."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise _Refused("an empty file (0 bytes), not a .npy array")
        try:
            version = fmt.read_magic(f)
        except (ValueError, EOFError):
            raise _Refused("not a .npy array (no numpy .npy header)") from None
        try:
            header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = header(f)
        except (ValueError, EOFError) as e:
            raise _Refused("a damaged .npy header ({})".format(_first_line(e))) from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise _Refused("an array of {} values; edgekit reads numeric arrays only (never pickled objects)".format(
                dtype))
        if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > size - f.tell():
            raise _Refused("cut short: its header says {} {} values".format(tuple(shape), dtype))
    return np.load(path, allow_pickle=False)


def read(path, pipeline_input):
    """One raw input file -> (raw array for the pipeline, notes: things said about it, e.g. clipping).

    `pipeline_input` is the pipeline's "input" section: its kind says which files fit (images or .npy for an
    image artifact, .wav or .npy for audio, .npy for tensors) and images come in its channel layout.
    """
    kind = pipeline_input.get("kind")
    suffix = os.path.splitext(path)[1].lower()
    notes = []
    if suffix == ".npy":
        x = read_npy(path)
        _check_array(x, pipeline_input)
    elif kind == "image":
        x = decode_image(path, pipeline_input.get("channels"))
    elif kind == "audio" and suffix == ".wav":
        with open(path, "rb") as f:
            x, rate = preprocess.decode_wav(f.read())
        want = pipeline_input.get("sample_rate")
        if rate != want:
            raise _Refused("recorded at {} Hz, the artifact takes {} Hz clips".format(rate, want))
    elif kind == "audio":
        raise _Refused("neither a .wav clip nor a .npy array (what this audio artifact reads)")
    else:
        raise _Refused("not a .npy array (this artifact's input is an array)")
    if kind == "audio":
        x, clipped = preprocess.to_pcm16(x)
        if clipped:
            notes.append("{} of {} samples beyond full scale clipped, as in training".format(clipped, x.size))
    return x, notes


def _check_array(x, pipeline_input):
    """A .npy must already be in the raw layout the artifact's pipeline starts from."""
    kind = pipeline_input.get("kind")
    if kind == "audio" and x.ndim != 1:
        raise _Refused("an array of shape {}, the artifact takes 1-D arrays of mono samples".format(x.shape))
    if kind == "image":
        rgb = pipeline_input.get("channels") == "RGB"
        fits = x.ndim == 3 and x.shape[2] == 3 if rgb else x.ndim == 2 or (x.ndim == 3 and x.shape[2] == 1)
        if not fits:
            raise _Refused("an array of shape {}, the artifact takes {} images as {} arrays".format(
                x.shape, "RGB" if rgb else "grayscale", "(H, W, 3)" if rgb else "(H, W)"))


def _first_line(e):
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else ""
