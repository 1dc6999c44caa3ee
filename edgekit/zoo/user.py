"""Users' own modules: `path/to/file.py:Class`, `package.module:factory` (torchvision.models:mobilenet_v3_small)
or `timm:NAME` (timm.create_model), with arguments from --model-arg / a recipe's [kwargs].

At train time the user's command names the code, so it is trusted: it is imported and its source copied into
the run folder with its sha256. Code a file names (a run folder, a recipe, a pipeline, an interrupted run's
train_args.json) goes through the one trust rule in edgekit/trust.py first (`resolve_named`, `resolve_from_run`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from .. import trust
from ..device.integrity import sha256
from ..errors import EdgekitError

# How a package's **kwargs factories name the input-channel argument (torchvision's models take none).
CHANNEL_KWARG = {"timm": "in_chans"}


def is_user_ref(ref: str) -> bool:
    return ":" in ref


@dataclass
class Resolved:
    factory: object
    module_name: str
    entry: str
    source: Path | None  # the file the code lives in (None: a compiled or built-in module)
    package: str | None  # the installed distribution, when it came from one
    warning: str | None = None  # the trust store could not record it (said once, at train time)


def _split(ref: str) -> tuple[str, str]:
    target, _, name = ref.rpartition(":")
    if not target or not name:
        raise EdgekitError(
            f"bad model reference '{ref}'", "write it as path/to/file.py:ClassName, package.module:factory or timm:MODEL_NAME"
        )
    return target, name


def _import_file(path: Path, *, fail_fix: str = "fix the error in that file"):
    mod_name = f"edgekit_user_{sha256(path)[:16]}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # dataclasses and tracing need the module registered
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(mod_name, None)
        raise EdgekitError(f"importing {path} failed: {type(e).__name__}: {e}", fail_fix) from None
    return module


def _distribution(module) -> str | None:
    file = getattr(module, "__file__", None) or ""
    if "site-packages" not in file and "dist-packages" not in file:
        return None
    from importlib import metadata

    top = module.__name__.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            pass
    return top


def resolve(ref: str) -> Resolved:
    """Import what `ref` names (the user asked for it on the command line)."""
    target, name = _split(ref)
    if target == "timm":  # timm:lcnet_050 → timm.create_model("lcnet_050", ...)
        module = _import_module("timm")
        return Resolved(module.create_model, "timm", name, _file_of(module), _distribution(module))
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise EdgekitError(f"model file not found: {path}", "check the path before ':' in --model")
        module = _import_file(path.resolve())
        source = path.resolve()
    else:
        module = _import_module(target)
        source = _file_of(module)
    if not hasattr(module, name):
        raise EdgekitError(f"'{name}' not found in {target}", "check the name after ':' in --model")
    return Resolved(getattr(module, name), module.__name__, name, source, _distribution(module))


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise EdgekitError(f"cannot import module '{name}': {e}", "install it or put it on PYTHONPATH") from None
    except Exception as e:
        raise EdgekitError(f"importing module '{name}' failed: {type(e).__name__}: {e}", "fix or reinstall that module") from None


def _file_of(module) -> Path | None:
    f = getattr(module, "__file__", None)
    return Path(f) if f and f.endswith(".py") else None


def call_arguments(res: Resolved, *, num_classes, input_shape, kwargs: dict) -> tuple[list, dict]:
    """Positional and keyword arguments for the factory: what edgekit knows, where the factory takes it."""
    params = inspect.signature(res.factory).parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    args: list = []
    if res.module_name == "timm" and getattr(res.factory, "__name__", "") == "create_model" and res.entry != "create_model":
        args = [res.entry]  # timm:NAME
    known = {"num_classes": num_classes, "input_shape": tuple(input_shape), "in_channels": input_shape[0], "in_chans": input_shape[0]}
    call = {k: v for k, v in known.items() if k in params and v is not None}
    if var_kw:
        if num_classes is not None:
            call.setdefault("num_classes", num_classes)
        channel_kw = CHANNEL_KWARG.get(res.module_name.split(".")[0])
        if channel_kw:
            call.setdefault(channel_kw, input_shape[0])
    check_kwargs(res, kwargs)
    return args, call | dict(kwargs)


def check_kwargs(res: Resolved, kwargs: dict) -> None:
    """Constructor arguments from a file: JSON scalars and lists only, and names the constructor takes."""
    params = inspect.signature(res.factory).parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key, value in kwargs.items():
        if not _json_plain(value):
            raise EdgekitError(f"model argument {key}={value!r} is not a JSON scalar or list", "pass numbers, strings, booleans or lists")
        if not var_kw and key not in params:
            raise EdgekitError(f"{res.entry} takes no argument '{key}'", f"its arguments: {', '.join(params) or 'none'}")


def _json_plain(v) -> bool:
    if isinstance(v, (str, bool, int, float)) or v is None:
        return True
    return isinstance(v, list) and all(_json_plain(i) and not isinstance(i, dict) for i in v)


def construct(res: Resolved, ref: str, *, num_classes, input_shape, kwargs: dict) -> nn.Module:
    args, call = call_arguments(res, num_classes=num_classes, input_shape=input_shape, kwargs=kwargs)
    try:
        model = res.factory(*args, **call)
    except Exception as e:
        raise EdgekitError(
            f"constructing {ref} failed: {type(e).__name__}: {e}", "check its constructor arguments (--model-arg KEY=VALUE passes more)"
        ) from None
    if not isinstance(model, nn.Module):
        raise EdgekitError(
            f"{ref} returned {type(model).__name__}, not a torch.nn.Module", "point --model at an nn.Module class or factory"
        )
    return model


# ------------------------------------------------------------------ trust


def resolve_named(ref: str, *, named_by: str | None = None, trust_code: bool = False, kwargs: dict | None = None) -> Resolved:
    """Import the code `ref` names. `named_by` None: the user typed it (trusted, and remembered as their own code);
    otherwise the file that names it, and the trust rule decides first."""
    if named_by is None:
        res = resolve(ref)
        if res.source is not None:
            target, _ = _split(ref)
            module = None if target.endswith(".py") or target == "timm" else target
            res.warning = trust.remember(res.source, sha256(res.source), module)
        return res
    source = trust.check(ref, named_by=named_by, trust_code=trust_code, kwargs=kwargs)
    return resolve(ref) if source is None else _resolve_trusted(ref, source, named_by)


def _resolve_trusted(ref: str, source: Path, named_by: str) -> Resolved:
    """Import exactly the file the trust store vouched for (a module by name only when it is that file), and take
    a class or factory that file defines: the hash covers its code, not a function it imports (subprocess.run)."""
    target, name = _split(ref)
    if target.endswith(".py"):
        module = _import_file(source)
        if not hasattr(module, name):
            raise EdgekitError(f"'{name}' not found in {source}", "check the name after ':'")
        res = Resolved(getattr(module, name), module.__name__, name, source, _distribution(module))
    else:
        res = resolve(ref)
    if getattr(res.factory, "__module__", None) != res.module_name:
        raise trust.untrusted(named_by, ref, f"{source} does not define {name}, it imports it from elsewhere")
    return res


def resolve_from_run(run_path: Path, code, arch: str, *, trust_code: bool, kwargs: dict | None = None) -> Resolved:
    """Resolve a run folder's user model without running code the folder names unless the trust rule allows it."""
    run_path = Path(run_path)
    copy = run_path / "code" / code.file
    if trust_code:
        if copy.is_file():
            if sha256(copy) != code.sha256:
                raise EdgekitError(f"{copy} does not match the sha256 in model.json (changed or corrupt)", "re-create the run folder")
            module = _import_file(copy)
            if not hasattr(module, code.entry):
                raise EdgekitError(f"'{code.entry}' not found in {copy}", "re-create the run folder")
            return Resolved(getattr(module, code.entry), module.__name__, code.entry, copy, None)
        # Installed code (no copy): trust covers the code that was recorded, not whatever the file now names.
        if code.module is None or arch.rpartition(":")[0] not in (code.module, "timm"):
            raise trust.untrusted(f"{run_path / 'model.json'}", arch, "its model.json names code it does not carry")
        try:
            spec = importlib.util.find_spec(code.module)
        except (ImportError, ValueError):
            spec = None
        origin = Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None
        if origin is None or sha256(origin) != code.sha256:
            raise EdgekitError(
                f"{run_path} names {code.module}:{code.entry}, but the module installed here is not the one it "
                f"was trained with (sha256 {code.sha256[:12]}…)",
                f"install {code.package or code.module} as recorded",
            )
        return resolve(arch)
    where = str(run_path / "model.json")
    detail = f" (a copy is {copy})" if copy.is_file() and _split(arch)[1] == code.entry else ""  # what --trust-code imports
    source = trust.check(arch, named_by=where, trust_code=False, kwargs=kwargs, recorded=code.sha256, detail=detail)
    if source is not None and _split(arch)[1] != code.entry:  # the run trained code.entry: anything else is not its model
        raise trust.untrusted(where, arch, f"its code record names {code.entry}, not {_split(arch)[1]}")
    return resolve(arch) if source is None else _resolve_trusted(arch, source, where)


def code_record(res: Resolved, ref: str):
    """What model.json records about user code, and the bytes to copy into the run folder (None: installed package)."""
    from ..contracts import UserCode

    target, _ = _split(ref)
    module = None if target.endswith(".py") else target
    digest = sha256(res.source) if res.source else "none"
    if res.package or res.source is None:  # installed code: recorded by name and version, not copied
        return UserCode(
            file=f"{(module or 'module').replace('.', '_')}.ref",
            sha256=digest,
            origin=str(res.source or module),
            entry=res.entry,
            module=module,
            package=res.package,
        ), None
    return UserCode(file=res.source.name, sha256=digest, origin=str(res.source), entry=res.entry, module=module), res.source.read_bytes()
