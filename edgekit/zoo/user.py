"""Users' own modules, named `path/to/file.py:ClassName` or `package.module:factory`."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

import torch.nn as nn

from ..errors import EdgekitError


def is_user_ref(ref: str) -> bool:
    return ":" in ref


def normalize_ref(ref: str) -> str:
    """Make a file reference absolute, so a run folder rebuilds the module from any working directory."""
    target, _, name = ref.rpartition(":")
    if target.endswith(".py"):
        return f"{Path(target).resolve()}:{name}"
    return ref


def _load_callable(ref: str):
    target, _, name = ref.rpartition(":")
    if not target or not name:
        raise EdgekitError(f"bad model reference '{ref}'", "write it as path/to/file.py:ClassName or package.module:factory")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise EdgekitError(f"model file not found: {path}", "check the path before ':' in --model")
        mod_name = f"edgekit_user_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module  # dataclasses and pickling-free tracing need the module registered
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise EdgekitError(f"importing {path} failed: {type(e).__name__}: {e}", "fix the error in that file") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise EdgekitError(f"cannot import module '{target}': {e}", "install it or put it on PYTHONPATH") from None
    if not hasattr(module, name):
        raise EdgekitError(f"'{name}' not found in {target}", "check the name after ':' in --model")
    return getattr(module, name)


def build_user_model(ref: str, input_shape, num_classes, kwargs: dict) -> nn.Module:
    factory = _load_callable(ref)
    # Pass what edgekit knows only to the parameters the user's constructor declares.
    offered = {"num_classes": num_classes, "input_shape": tuple(input_shape), "in_channels": input_shape[0]}
    try:
        params = inspect.signature(factory).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        call_kwargs = {k: v for k, v in offered.items() if k in params and not takes_any} | dict(kwargs)
        model = factory(**call_kwargs)
    except Exception as e:
        raise EdgekitError(f"constructing {ref} failed: {type(e).__name__}: {e}", "check its constructor arguments") from None
    if not isinstance(model, nn.Module):
        raise EdgekitError(f"{ref} returned {type(model).__name__}, not a torch.nn.Module", "point --model at an nn.Module class or factory")
    return model
