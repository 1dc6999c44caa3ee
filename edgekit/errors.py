"""User-facing errors and edgekit's own bugs, kept apart.

`EdgekitError`: the user's input or environment is wrong; the CLI prints `error: <problem> — <fix>`, exit 2 (1 for
a missed budget). `InternalError` (and any exception edgekit did not expect): edgekit itself is wrong; the CLI
prints `edgekit bug: <what> — rerun with --debug and report it`, exit 70 (EX_SOFTWARE in sysexits.h, so scripts
tell a bug from bad input). `--debug` adds the traceback to either."""

from __future__ import annotations

import errno
import os


class EdgekitError(Exception):
    """A problem with the user's input or environment, with the fix to try."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.problem} — {self.fix}" if self.fix else self.problem


class BudgetFailed(EdgekitError):
    """A result was produced but misses a budget the user asked for (exit 1, so CI can gate on it)."""

    exit_code = 1


BUG_EXIT_CODE = 70  # EX_SOFTWARE: "an internal software error has been detected"
BUG_FIX = "rerun with --debug and report it"


class InternalError(Exception):
    """edgekit broke its own contract (not the user's input): raised with `from e` so --debug shows the cause.
    Deliberately not an EdgekitError: nothing that catches user errors may swallow a bug."""

    exit_code = BUG_EXIT_CODE


class UntrustedCode(EdgekitError):
    """Opening a run folder would import code it names; the user has not said --trust-code."""


# What an OSError means for the user, by errno: the message names the cause, not a layer to replace.
_OS_FIXES = {
    errno.EROFS: ("is on a read-only file system", "write somewhere else (--out)"),
    errno.ENOSPC: ("cannot be written: the disk is full", "free some space or write to another disk (--out)"),
    errno.EDQUOT: ("cannot be written: the disk quota is exceeded", "free some space or write elsewhere (--out)"),
    errno.EACCES: ("is not accessible (permission denied)", "check its permissions, or use another path"),
    errno.EPERM: ("is not accessible (operation not permitted)", "check its permissions, or use another path"),
    errno.ENOTDIR: ("has a file where a folder is expected", "check the path"),
    errno.EISDIR: ("is a folder where a file is expected", "pass a file"),
    errno.ENOENT: ("does not exist", "check the path"),
    errno.ENAMETOOLONG: ("is too long a name", "use a shorter path"),
}


def from_os_error(e: OSError, what: str | None = None) -> EdgekitError:
    """One line for an OSError: which path, what is wrong with it, and what to do."""
    path = e.filename or what or "a file"
    problem, fix = _OS_FIXES.get(e.errno, (f"failed: {e.strerror or e}", "check the path and the disk"))
    cache = os.environ.get("EDGEKIT_CACHE")
    if cache and os.path.commonpath([os.path.abspath(str(path)), os.path.abspath(cache)]) == os.path.abspath(cache):
        # the user did not name this path: the environment did (a cache variable pointing at a file, say)
        return EdgekitError(
            f"{path} {problem} (it lies under EDGEKIT_CACHE={cache})", "point EDGEKIT_CACHE at a folder you can write, or unset it"
        )
    return EdgekitError(f"{path} {problem}", fix)


# ---------------------------------------------------------------- who is to blame for an exception
# A model's forward() runs edgekit's code, torch's and the model's own. The innermost frame that is neither
# torch nor another library decides: a file of the model's own classes (the user's, torchvision's, timm's or a zoo
# module) or any other user code → the user's error (or input), naming the line; edgekit's other code → a bug.


def _dirs() -> tuple[str, tuple[str, ...]]:
    import site
    import sysconfig

    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= set(site.getsitepackages()) | {site.getusersitepackages()}
    return here, tuple(sorted({os.path.abspath(p) + os.sep for p in paths if p}, key=len, reverse=True))  # innermost first


def _frames(e: BaseException) -> list:
    """(file, line number, qualified function name) of each frame, outermost first."""
    out, tb = [], e.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        out.append((os.path.abspath(code.co_filename), tb.tb_lineno, getattr(code, "co_qualname", code.co_name)))
        tb = tb.tb_next
    return out


def _model_files(model) -> set[str]:
    """Source files of the model's module classes, torch's own layers (nn.Conv2d, ...) excepted."""
    import inspect
    import sys

    torch_dir = os.path.dirname(os.path.abspath(sys.modules["torch"].__file__)) + os.sep if "torch" in sys.modules else None
    files = set()
    for m in model.modules() if hasattr(model, "modules") else ():
        try:
            path = os.path.abspath(inspect.getfile(type(m)))
        except (TypeError, OSError):  # a class without a file (built in, or made in a string)
            continue
        if not (torch_dir and path.startswith(torch_dir)):
            files.add(path)
    return files


def _where(path: str, line: int, lib_dirs: tuple[str, ...], here: str) -> str:
    """A frame's place without host-internal folders: edgekit/..., a library's dotted module, or the file's name."""
    if path.startswith(here):
        return f"edgekit/{path[len(here) :]}:{line}"
    for d in lib_dirs:
        if path.startswith(d):
            return path[len(d) :].removesuffix(".py").replace(os.sep, ".")
    return f"{os.path.basename(path)}:{line}"


def edgekit_frame(e: BaseException) -> str | None:
    """The innermost frame of edgekit's own code in e's traceback, as edgekit/<file>:<line>."""
    here, lib_dirs = _dirs()
    inside = [f for f in _frames(e) if f[0].startswith(here)]
    return _where(inside[-1][0], inside[-1][1], lib_dirs, here) if inside else None


def blame(e: BaseException, model) -> tuple[bool, str]:
    """(whether the model's own or other user code is to blame, where): the innermost frame that is no library's
    decides. `where` reads "at my_net.py:12 `x = self.fc(x)` in torch.nn.modules.linear.Linear.forward" for the
    model, "at edgekit/data/normalize.py:25" for edgekit."""
    import linecache

    here, lib_dirs = _dirs()
    model_files = _model_files(model)
    called = None  # the innermost library function, for "in torch.nn.functional.interpolate"
    for path, line, name in reversed(_frames(e)):
        if path not in model_files and path.startswith(here):
            return False, f"at {_where(path, line, lib_dirs, here)}"
        if path in model_files or not (path.startswith(lib_dirs) or path.startswith("<")):
            source = linecache.getline(path, line).strip()
            at = f"at {os.path.basename(path)}:{line}" + (f" `{source[:80]}`" if source else "")
            return True, at + (f" in {called}" if called else "")
        if called is None and not path.startswith("<"):
            called = f"{_where(path, line, lib_dirs, here)}.{name}"
    return False, f"in {called}" if called else "in a library"


def forward_failure(e: Exception, model, *, mode: str = "", fix: str) -> Exception:
    """What to raise when running `model` raised `e`: the user's error naming the line when the model's (or other
    user) code is to blame (see blame()); else an InternalError. Callers let EdgekitError and InternalError (raised
    by edgekit's own checks) pass through untouched."""
    text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    what = f"{type(e).__name__}: {text}" if text else type(e).__name__
    mine, where = blame(e, model)
    if mine:
        return EdgekitError(f"the model's forward pass failed{mode} {where}: {what}", fix)
    return InternalError(f"{what} ({where}, running the model{mode})")
