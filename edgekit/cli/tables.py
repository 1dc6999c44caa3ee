"""Rich tables and number formatting shared by the commands."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Off a terminal (logs, CI, pipes) rich would wrap at 80 columns and squeeze the tables.
console = Console(width=int(os.environ.get("COLUMNS", 0)) or (None if sys.stdout.isatty() else 160))


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


def table(title: str, columns: list[str], rows: list[list]) -> Table:
    t = Table(title=escape(title), title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(escape(c), justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in rows:
        t.add_row(*[escape(str(v)) for v in r])
    return t


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/] {escape(message)}")


def note(message: str) -> None:
    console.print(f"[yellow]note:[/] {escape(message)}")
