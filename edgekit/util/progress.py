"""Progress bars for long loops (calibration, conversion, training) on stderr, so results stay on stdout."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields advance(n). Disabled (tests, notebooks asking for quiet), it is a no-op."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}")]
    if total:
        columns += [BarColumn(), MofNCompleteColumn()]
    # No stdout/stderr redirection: converters inside print to file descriptors edgekit captures itself.
    with Progress(
        *columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True, redirect_stdout=False, redirect_stderr=False
    ) as bar:
        job = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(job, n)


@contextmanager
def status(message: str, enabled: bool = True) -> Iterator[None]:
    """A spinner that says what is being waited for (a conversion, a compile, a lock)."""
    with progress_bar(message, None, enabled):
        yield
