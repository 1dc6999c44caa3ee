"""One trust rule for every way a file can name code to import: a run folder's model.json, an interrupted run's
.checkpoint/train_args.json, a model recipe's `arch`, a pipeline's [train] model, a distillation `student` in a
compression recipe or pipeline.

What the user types (--model, --distill-to, an argument of the Python API) is trusted: they asked for it. Code a
*file* names is imported only when
  - it is a model constructor of a pure-factory package installed here: `timm:NAME` or `torchvision.models[.x]:NAME`.
    The decision is about the reference itself, never about what else the file records (a `code` record saying
    torchvision while the reference says os:system), and arguments that make the factory load or download files
    are refused;
  - or it is a file (or module) the user named on this machine's command line, unchanged since (the trust store:
    path → sha256s; written only when the user typed the reference);
  - or the user read it and passed --trust-code.
Everything else is one UntrustedCode line naming the file that names the code, and the code.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from .device.integrity import sha256
from .errors import UntrustedCode
from .util.cache import cache_root

TRUST_STORE = "trusted-code.json"
TRUST_FIX = "read that code, then pass --trust-code to allow it"
# Packages whose named constructors only build models, and the module each one's constructors live in: timm only
# as `timm:NAME` (timm.create_model), torchvision.models and its sub-packages only for registered model builders.
PURE_FACTORIES = {"timm": "timm", "torchvision": "torchvision.models"}
# Factory arguments that make a constructor read, download or unpickle files (timm's checkpoint_path is torch.load).
FILE_KWARGS = ("weights", "weights_backbone", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path", "cache_dir")


class StoreProblem(Exception):
    """The trust store exists but cannot be read: edgekit cannot tell what the user trained with."""


def split_ref(ref: str) -> tuple[str, str]:
    target, _, entry = ref.rpartition(":")
    return target, entry


def store_path() -> Path:
    return cache_root() / TRUST_STORE


def _os_reason(e: OSError) -> str:
    where = f": {e.filename}" if e.filename else ""
    hint = "; is $EDGEKIT_CACHE a folder?" if os.environ.get("EDGEKIT_CACHE") else ""
    return f"{e.strerror or type(e).__name__}{where}{hint}"


def read_store() -> dict[str, list[str]]:
    path = store_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}  # nothing trained with user code on this machine yet
    except OSError as e:
        raise StoreProblem(f"the trust store {path} could not be read ({_os_reason(e)})") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise StoreProblem(f"the trust store {path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise StoreProblem(f"the trust store {path} does not hold an object")
    return {k: v for k, v in data.items() if isinstance(v, list)}


def remember(source: Path, digest: str, module: str | None = None) -> str | None:
    """The user named this code on the command line and trained with it here: their own, loadable later without
    --trust-code. Returns a warning when the store cannot be written (then later loads will ask for the flag)."""
    from .util.fsutil import write_json

    try:
        known = read_store()
    except StoreProblem:
        known = {}  # unreadable: rewritten below (or the write fails and says so)
    changed = False
    for key in [str(source), *([f"module:{module}"] if module else [])]:
        digests = known.setdefault(key, [])
        if digest not in digests:
            digests.append(digest)
            changed = True
    if not changed:
        return None
    try:
        write_json(store_path(), known)
    except OSError as e:
        return (
            f"the trust store {store_path()} could not be written ({_os_reason(e)}): "
            f"opening runs of {source.name} later will need --trust-code"
        )
    return None


def untrusted(named_by: str, ref: str, why: str, detail: str = "") -> UntrustedCode:
    return UntrustedCode(f"{named_by} would import and run code: {ref}{detail}; {why}", TRUST_FIX)


def pure_factory(ref: str) -> bool:
    """`timm:NAME` or `torchvision.models[.sub]:BUILDER`, with that package installed here."""
    target, entry = split_ref(ref)
    if not entry:
        return False
    top = target.split(".")[0]
    module = PURE_FACTORIES.get(top)
    if module is None or not (target == module or (top == "torchvision" and target.startswith(module + "."))):
        return False  # timm's other modules hold utilities that download and load files
    if top == "torchvision" and not entry.isidentifier():
        return False
    try:
        if importlib.util.find_spec(top) is None:  # a top-level name: nothing runs
            return False
    except (ImportError, ValueError):
        return False
    return top != "torchvision" or _torchvision_builder(entry)


def _torchvision_builder(entry: str) -> bool:
    """A registered model builder, not any function of torchvision.models (its utilities download files)."""
    try:
        import torchvision.models as models  # the installed package itself, as resolving would import it
    except ImportError:
        return False
    listed = getattr(models, "list_models", None)  # torchvision ≥ 0.14
    return listed is None or entry in listed()


def check(
    ref: str, *, named_by: str, trust_code: bool, kwargs: dict | None = None, recorded: str | None = None, detail: str = ""
) -> Path | None:
    """Allow importing `ref`, which the file `named_by` names, or raise UntrustedCode.

    Returns the verified source file when the trust store allowed it (import exactly that file), None when the
    reference may be resolved as it is (--trust-code, or a pure factory). `recorded`: the sha256 a run folder
    recorded for the code, which the file must still have."""
    if trust_code:
        return None
    if pure_factory(ref):
        for key in FILE_KWARGS:
            if (kwargs or {}).get(key) not in (None, False):
                raise untrusted(named_by, ref, f"its argument {key}={kwargs[key]!r} makes the constructor load or download files", detail)
        return None
    return _own_code(ref, named_by, recorded, detail)


def _own_code(ref: str, named_by: str, recorded: str | None, detail: str) -> Path:
    """The file `ref` names, when the user named it on this machine's command line and it is unchanged since."""
    target, _ = split_ref(ref)
    try:
        store = read_store()
    except StoreProblem as e:
        raise untrusted(named_by, ref, f"{e}, so edgekit cannot tell whether it is code you trained with", detail) from None
    if target.endswith(".py"):
        source = Path(target).expanduser().resolve()
        digests = store.get(str(source), [])
    else:
        # Only a module the user named themselves is looked up: finding a dotted module imports its parent packages.
        digests = store.get(f"module:{target}", [])
        source = _module_file(target) if digests else None
    if not digests or source is None:
        raise untrusted(named_by, ref, "it is not code you trained with on this machine", detail)
    if not source.is_file():
        raise untrusted(named_by, ref, f"{source} is not on this machine any more", detail)
    now = sha256(source)
    if now not in digests:
        raise untrusted(
            named_by, ref, f"{source} changed since you trained with it (sha256 {now[:12]}…, trained with {digests[-1][:12]}…)", detail
        )
    if recorded is not None and now != recorded:
        raise untrusted(
            named_by,
            ref,
            f"{source} changed since this run was trained with it (sha256 {now[:12]}…, the run records {recorded[:12]}…)",
            detail,
        )
    return source


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except Exception:  # a parent package failing to import: not findable, so not trusted
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None
