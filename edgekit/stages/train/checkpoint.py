"""An interrupted run's .checkpoint/: what the run was started with (train_args.json, validated on read like every
contract: a received folder is data) and the per-epoch state in one safetensors file (tensors + JSON metadata),
written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import torch
from pydantic import Field, field_validator
from safetensors.torch import load_file, save_file

from ...contracts import KwargValue, WeightsSource
from ...errors import EdgekitError, from_os_error
from ...schema import Strict, parse

STATE_FILE = "state.safetensors"
INIT_FILE = "init.safetensors"  # the fitted pretrained weights a fine-tuning run started from
ARGS_FILE = "train_args.json"
ARGS_FORMAT = "edgekit.train-args/1"
REDO = "remove the run folder and train again (or restore it)"


# A validation score may be NaN (a diverged epoch's loss): still a number, which is all a key needs to be
Score = Annotated[float, Field(allow_inf_nan=True)]


class StateInfo(Strict):
    """fit()'s progress after each epoch, in state.safetensors' metadata. A resumed folder may come from elsewhere:
    read back only through this, so a wrong value is one line (corrupt state), not a failure deep in training."""

    epoch: int = Field(ge=1)
    history: list[dict[str, Any]]
    best_epoch: int = Field(ge=0)
    best_key: list[Score]
    start_key: Optional[list[Score]] = None  # keep_start's starting key (fit: an epoch must be no worse on all of it)
    wall_seconds: float = Field(ge=0)
    average_updates: Optional[int] = Field(default=None, ge=0)


def _state_info(text: str) -> dict:
    return StateInfo.model_validate_json(text).model_dump(exclude_none=True)


class TrainOverrides(Strict):
    """The settings given on the command line (None: the recipe's default)."""

    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    amp: bool = True


class TrainArgs(Strict):
    format: Literal["edgekit.train-args/1"] = ARGS_FORMAT
    model: str  # a zoo name, a recipe path or a user reference: goes through the trust rule on resume
    dataset: Optional[str] = None
    input_shape: list[int]
    seed: int
    device: str
    started: str
    model_args: dict[str, KwargValue] = Field(default_factory=dict)
    overrides: TrainOverrides = Field(default_factory=TrainOverrides)
    weights: Optional[WeightsSource] = None  # fine-tuning: the file the start came from (its tensors: INIT_FILE)
    freeze: Optional[int] = None  # epochs the backbone stays frozen
    preprocess: Optional[dict[str, Any]] = None  # the user's, checked again on resume (edgekit/data/user_preprocess.py)
    labels: Optional[list[str]] = None

    @field_validator("input_shape")
    @classmethod
    def _shape(cls, v):
        from ...limits import check_shape

        return check_shape(v)

    @field_validator("seed")
    @classmethod
    def _seed(cls, v):
        from ...limits import check_seed

        return check_seed(v)


def write_args(folder: Path, args: TrainArgs) -> None:
    from ...util.fsutil import write_json

    write_json(Path(folder) / ARGS_FILE, args.model_dump(mode="json"))


def read_args(folder: Path) -> TrainArgs:
    """train_args.json, validated: one line naming the file and the key."""
    from ...util.fsutil import read_json

    path = Path(folder) / ARGS_FILE
    try:
        data = read_json(path)
    except (ValueError, UnicodeDecodeError) as e:
        raise EdgekitError(f"{path} is not valid JSON ({str(e)[:80]})", REDO) from None
    except OSError as e:
        raise from_os_error(e, str(path)) from None
    if isinstance(data, dict) and data.get("format") != ARGS_FORMAT:
        found = f"a {data['format']}" if data.get("format") else "an unversioned"
        raise EdgekitError(f"{path} is {found} file, this edgekit reads {ARGS_FORMAT}", REDO)
    return parse(TrainArgs, data, str(path), REDO)


def save_init(folder: Path, state: dict) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    tmp = Path(folder) / f".{INIT_FILE}.writing"
    save_file(tensors, str(tmp))
    os.replace(tmp, Path(folder) / INIT_FILE)


def load_init(folder: Path, model: torch.nn.Module) -> None:
    """Load the pretrained start of an interrupted fine-tuning run into `model` (the run's own file: no path is taken
    from train_args.json); a file that does not fit it is corrupt, not a bug."""
    from safetensors import SafetensorError

    from ...nn.weights import check_weights

    path = Path(folder) / INIT_FILE
    try:
        state = load_file(str(path))
        check_weights(state, model, path, REDO)
        model.load_state_dict(state)
    except (SafetensorError, OSError, RuntimeError) as e:
        raise _corrupt(path, e) from None


class CorruptState(EdgekitError):
    """state.safetensors cannot be read back: resuming is impossible, and the run did not fail at training."""


def check_state(folder: Path) -> None:
    """Read the saved state once before resuming, so a corrupt file is one line before any work."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:  # the header and every tensor's extent are checked here
            meta = f.metadata() or {}
        for key in ("param_groups", "opt_scalars"):
            json.loads(meta[key])
        _state_info(meta["info"])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise _corrupt(path, e) from None


def _corrupt(path: Path, e: Exception) -> CorruptState:
    return CorruptState(f"{path} is corrupt ({type(e).__name__}: {str(e)[:80]})", REDO)


def save_state(
    folder: Path, *, model_state: dict, best_state: dict, optimizer: torch.optim.Optimizer, info: dict, average: dict | None = None
) -> None:
    """`average`: the weight average's state (ema.py), when the run keeps one."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model_state.items()}
    tensors |= {f"best.{k}": v.detach().cpu().contiguous() for k, v in best_state.items()}
    tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in (average or {}).items()}
    opt = optimizer.state_dict()
    scalars: dict = {}
    for idx, slots in opt["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"opt.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{name}"] = value
    meta = {"info": json.dumps(info), "param_groups": json.dumps(opt["param_groups"]), "opt_scalars": json.dumps(scalars)}
    # safetensors writes to a path: stage it beside the target, then rename (atomic on POSIX).
    tmp = Path(folder) / f".{STATE_FILE}.writing"
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, Path(folder) / STATE_FILE)


def load_state(folder: Path, optimizer: torch.optim.Optimizer) -> tuple[dict, dict, dict, dict] | None:
    """Returns (model_state, best_state, info, average_state: {} when the run keeps no weight average) and restores the
    optimizer, or None if no epoch finished yet."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return None
    from safetensors import SafetensorError

    try:
        return _load_state(path, optimizer)
    except (SafetensorError, ValueError, KeyError, TypeError, RecursionError) as e:  # not this run's state
        raise _corrupt(path, e) from None


def _load_state(path: Path, optimizer: torch.optim.Optimizer) -> tuple[dict, dict, dict, dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    average = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for key, value in json.loads(meta["opt_scalars"]).items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return model_state, best_state, _state_info(meta["info"]), average
