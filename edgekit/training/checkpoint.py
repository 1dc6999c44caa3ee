"""Per-epoch training state in one safetensors file (tensors + JSON metadata), written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STATE_FILE = "state.safetensors"


def save_state(folder: Path, *, model_state: dict, best_state: dict, optimizer: torch.optim.Optimizer, info: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model_state.items()}
    tensors |= {f"best.{k}": v.detach().cpu().contiguous() for k, v in best_state.items()}
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


def load_state(folder: Path, optimizer: torch.optim.Optimizer) -> tuple[dict, dict, dict] | None:
    """Returns (model_state, best_state, info) and restores the optimizer, or None if no epoch finished yet."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    best_state = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for key, value in json.loads(meta["opt_scalars"]).items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return model_state, best_state, json.loads(meta["info"])
