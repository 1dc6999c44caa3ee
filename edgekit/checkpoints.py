"""Weights files a user trained elsewhere, read as data: `.safetensors`, or `.pt`/`.pth`/`.bin`/`.ckpt` through
`torch.load(weights_only=True)` only. A pickle that needs anything beyond tensors and plain containers (a whole
pickled nn.Module, numpy arrays, a malicious `__reduce__`) is refused by torch's restricted unpickler before any of
it runs; edgekit never falls back to a full unpickle. Training checkpoints (DDP, Lightning, torch.compile, EMA)
give the entry that holds the weights; `edgekit.nn.fit_weights` matches them to an architecture."""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .device.integrity import sha256
from .errors import EdgekitError, from_os_error

SAFETENSORS = (".safetensors",)
PICKLED = (".pt", ".pth", ".bin", ".ckpt")
# Where training scripts keep the weights, most common first (plain PyTorch, Lightning, timm, YOLO-style, EMA).
ENTRIES = (
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "net",
    "network",
    "weights",
    "params",
    "ema",
    "model_ema",
    "state_dict_ema",
    "ema_state_dict",
)
SAVE_FIX = "save the weights alone: torch.save(model.state_dict(), PATH) or safetensors.torch.save_file(model.state_dict(), PATH)"
_ZIP, _PICKLE_PROTO = b"PK\x03\x04", 0x80


@dataclass
class Checkpoint:
    """A weights file's tensors, by name as saved (prefixes still on), and what else it held."""

    path: Path
    sha256: str
    state: dict[str, torch.Tensor]
    entry: str | None = None  # the training checkpoint's entry that held the weights
    ignored: list[str] = field(default_factory=list)  # its other entries (optimizer state, epoch, ...)
    other_weights: list[str] = field(default_factory=list)  # other entries that hold weights too (ema)

    def note(self, also: list[str] = ()) -> str | None:
        """One line on what was taken from the file and what was left (`also`: how the names were fitted)."""
        said = []
        if self.entry is not None:
            said.append(f"weights from its '{self.entry}' entry")
            if self.other_weights:
                said[-1] += f" ('{self.other_weights[0]}' holds weights too: --weights-key {self.other_weights[0]} takes those)"
        if self.ignored:
            said.append(f"ignored: {_listed(self.ignored, 6)}")
        said += list(also)
        return f"{self.path.name}: {'; '.join(said)}" if said else None

    def record(self, reinitialised: str | None = None):
        from .origins import WeightsSource

        return WeightsSource(file=str(self.path.resolve()), sha256=self.sha256, entry=self.entry, reinitialised=reinitialised)


def _listed(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" (+{len(names) - most} more)" if len(names) > most else "")


def read_checkpoint(path, key: str | None = None) -> Checkpoint:
    """The tensors a weights file holds; `key`: the entry of a training checkpoint to take (default: found)."""
    path = Path(path)
    try:
        if not path.exists():
            raise EdgekitError(f"weights file not found: {path}", "check the path")
        if path.is_dir():
            raise EdgekitError(f"{path} is a folder, not a weights file", "pass the file inside it (model.safetensors, pytorch_model.bin)")
        if path.stat().st_size == 0:
            raise EdgekitError(f"{path} is empty", SAVE_FIX)
        suffix = path.suffix.lower()
        if suffix in SAFETENSORS:
            loaded = _read_safetensors(path)
        elif suffix in PICKLED:
            loaded = _read_pickled(path)
        else:
            raise EdgekitError(
                f"{path}: '{suffix or path.name}' is not a weights file edgekit reads",
                f"pass a {', '.join(SAFETENSORS + PICKLED)} file (an ONNX model: `edgekit import MODEL.onnx`)",
            )
        digest = sha256(path)
    except OSError as e:
        raise from_os_error(e, str(path)) from None
    state, entry, ignored, others = _weights_in(loaded, path, key)
    return Checkpoint(path=path, sha256=digest, state=state, entry=entry, ignored=ignored, other_weights=others)


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except SafetensorError as e:
        raise EdgekitError(
            f"{path} is not a readable safetensors file ({_first_line(e)})", "save it again, or pass the original file"
        ) from None


def _read_pickled(path: Path):
    with open(path, "rb") as f:
        head = f.read(4)
    if head != _ZIP and head[:1] != bytes([_PICKLE_PROTO]):  # neither torch.save's zip nor its legacy pickle
        raise EdgekitError(f"{path} is not a PyTorch checkpoint (neither torch.save's zip nor its older pickle format)", SAVE_FIX)
    if head == _ZIP:
        _check_archive(path)
    try:  # mmap: a zip checkpoint's tensors are paged in as read, not copied (the legacy format cannot)
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=head == _ZIP)
    except pickle.UnpicklingError as e:  # the restricted unpickler refused a global: nothing of it ran
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        needs = f" (it needs {found.group(1)})" if found else ""
        raise EdgekitError(
            f"{path} holds Python objects, not only tensors{needs}: edgekit never unpickles code", f"{SAVE_FIX}, where it was trained"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, IndexError, TypeError) as e:  # torch's reader on a damaged file
        raise EdgekitError(f"{path} is not a readable PyTorch checkpoint: {_damage(e)}", SAVE_FIX) from None


def _check_archive(path: Path) -> None:
    """torch.save's zip holds ARCHIVE/data.pkl; any other zip (or a cut one) is said as such, not as torch's error."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        raise EdgekitError(f"{path} is not a readable PyTorch checkpoint: truncated or corrupt", SAVE_FIX) from None
    if not any(name.count("/") == 1 and name.endswith("/data.pkl") for name in names):
        raise EdgekitError(f"{path} is not a readable PyTorch checkpoint: a zip archive, but not one torch.save wrote", SAVE_FIX)


def _damage(e: Exception) -> str:
    text = str(e)
    if "central directory" in text or "EOF" in text or isinstance(e, EOFError):
        return "truncated or corrupt"
    return f"{type(e).__name__}: {_first_line(e)}"


def _first_line(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:120] if lines else type(e).__name__


def _tensors(value, prefix: str = "") -> dict[str, torch.Tensor] | None:
    """A (nested) dict of tensors flattened to dotted names; None if anything in it is not a tensor or a dict."""
    if not isinstance(value, dict) or not value:
        return None
    out: dict[str, torch.Tensor] = {}
    for name, item in value.items():
        if not isinstance(name, str):
            return None
        if isinstance(item, torch.Tensor):
            out[prefix + name] = item
        else:
            nested = _tensors(item, f"{prefix}{name}.")
            if nested is None:
                return None
            out.update(nested)
    return out


def _weights_in(loaded, path: Path, key: str | None):
    """(state, entry, ignored entries, other entries holding weights) of what the file held."""
    if not isinstance(loaded, dict):
        raise EdgekitError(f"{path} holds a {type(loaded).__name__}, not a state dict of named tensors", SAVE_FIX)
    if key is not None:
        if key not in loaded:
            raise EdgekitError(
                f"{path} has no entry '{key}' (its entries: {_listed([str(k) for k in loaded], 8)})", "pass one of its entries"
            )
        state = _tensors(loaded[key])
        if state is None:
            raise EdgekitError(f"{path}: its entry '{key}' is not a dict of tensors", "pass the entry that holds the weights")
        return state, key, [str(k) for k in loaded if k != key], []
    if loaded and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()):
        return dict(loaded), None, [], []  # a plain state dict (a dict of dicts is a training checkpoint's entries)
    holding = [k for k in ENTRIES if k in loaded and _tensors(loaded[k]) is not None]
    if not holding:  # an entry under another name: the only one that is a dict of tensors
        holding = [k for k in loaded if isinstance(k, str) and _tensors(loaded[k]) is not None]
        if len(holding) != 1:
            raise EdgekitError(
                f"{path} holds no state dict edgekit can find (its entries: {_listed([str(k) for k in loaded], 8)})",
                "pass --weights-key ENTRY naming the entry that holds the weights, or " + SAVE_FIX.split(": ", 1)[1],
            )
    entry = holding[0]
    others = [k for k in holding[1:] if k in ENTRIES]
    ignored = [str(k) for k in loaded if k != entry and k not in others]
    return _tensors(loaded[entry]), entry, ignored, others
