"""Rich tables and number formatting shared by the commands."""

from __future__ import annotations

import os
import re
import sys


class _Console:
    """rich's Console, made on first use: importing rich costs the CLI's start about a third of its 100 ms budget,
    and `edgekit --help` or an error line never print through it."""

    _made = None

    @property
    def real(self):
        if _Console._made is None:
            from rich.console import Console

            # Off a terminal (logs, CI, pipes) rich would wrap at 80 columns and squeeze the tables.
            _Console._made = Console(width=int(os.environ.get("COLUMNS", 0)) or (None if sys.stdout.isatty() else 160))
        return _Console._made

    def __getattr__(self, name):
        return getattr(self.real, name)


console = _Console()


def escape(text: str) -> str:
    """rich.markup.escape, imported on first use."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


# Terminal control characters (C0, DEL, C1, and the bidi overrides that reorder what is shown): text from a received
# file (a label, a task name, a runner's detail) must never move the cursor, retitle the window or clear the screen.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text) -> str:
    """`text` with every control character shown escaped (ESC as \\x1b): safe to print, and one line stays one."""

    def shown(m):
        c = m.group()
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    return _CONTROL.sub(shown, str(text))


def safe(text) -> str:
    """printable() and no rich markup: for console.print of text that came from elsewhere."""
    return escape(printable(text))


def human(n: float, unit: str = "") -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.2f}{suffix}{unit}"
    return f"{n:.0f}{unit}" if float(n).is_integer() else f"{n:.3g}{unit}"


def human_bytes(n: int) -> str:
    for factor, suffix in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= factor:
            return f"{n / factor:.1f} {suffix}"
    return f"{n} B"


def table(title: str, columns: list[str], rows: list[list]):
    from rich.table import Table

    t = Table(title=safe(title), title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(safe(c), justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in rows:
        t.add_row(*[safe(v) for v in r])
    return t


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/] {safe(message)}")


def note(message: str) -> None:
    console.print(f"[yellow]note:[/] {safe(message)}")


def show_run(run, verb: str, *, after_test=(), after_cost=()) -> None:
    """A new run folder as train and import report it: its test score (then `after_test` rows), cost and weights
    size (then `after_cost` rows) in a table titled "<verb> <folder>", its warnings, and where it was saved."""
    from ..tasks import get_task

    m = run.metrics
    task = get_task(m.task)
    rows = [
        [f"test {task.quality}", task.fmt(m.test)],
        *after_test,
        ["params", f"{m.cost.params:,}"],
        ["MACs", human(m.cost.macs)],
        ["weights", human_bytes(m.file_bytes)],
        *after_cost,
    ]
    console.print(table(f"{verb} {run.path}", ["", ""], rows))
    for w in m.warnings:
        warn(w)
    console.print(f"saved run to {run.path}")
