"""Library warnings held back while a command runs: an error line comes alone, a success shows each warning once.

torch, numpy, NNCF and friends warn through Python's `warnings` and through `logging` (torch._dynamo's recompile
notices with NNCF's native kernels print five lines each). Printed as they happen they land before an error line,
which then is no longer one line. So the CLI records them for the length of a command and decides at the end:
on an error they are dropped (shown with --debug), on success each distinct one is printed once as `warning: ...`,
except known noise that says nothing to an edgekit user.
"""

from __future__ import annotations

import logging
import re
import warnings
from contextlib import contextmanager
from typing import Iterator

# Messages that are internal to a library edgekit drives and never actionable for its user.
KNOWN_NOISE = (
    re.compile(r"torch\._dynamo hit config\.(recompile|cache_size)_limit"),  # NNCF native kernels recompile per shape
    re.compile(r"^\s*(function:|last reason:|To log all recompilation|To diagnose recompilation)"),  # ...its follow-up lines
)


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


class Held:
    """What a command said through warnings and logging, in order, one entry per distinct message."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        line = _first_line(message)
        if line and line not in self.messages:
            self.messages.append(line)

    def shown(self) -> list[str]:
        return [m for m in self.messages if not any(p.search(m) for p in KNOWN_NOISE)]


@contextmanager
def held_warnings() -> Iterator[Held]:
    from ..util.quiet import silenced

    held = Held()
    original = logging.Logger.callHandlers

    # torch gives its loggers their own stream handlers, without propagation, when it is imported (mid-command,
    # since imports are lazy): a root handler or a filter set up front never sees those records. Every record,
    # whichever logger and handler, passes Logger.callHandlers, so that is where library warnings are held.
    # What a library says inside edgekit's quiet blocks (edgekit/util/quiet.py) was meant to vanish: it is dropped.
    def call_handlers(logger: logging.Logger, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING and not record.name.startswith("edgekit"):
            if not silenced():
                held.add(record.getMessage())
        else:
            original(logger, record)

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        if not silenced():
            held.add(f"{category.__name__}: {message}")

    with warnings.catch_warnings():  # the filters in force stay (deprecations stay hidden); showing is ours
        warnings.showwarning = show_warning
        logging.Logger.callHandlers = call_handlers
        try:
            yield held
        finally:
            logging.Logger.callHandlers = original
