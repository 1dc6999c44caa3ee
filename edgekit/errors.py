"""User-facing errors. The CLI prints them as one line and exits with their code; bugs stay tracebacks."""

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
