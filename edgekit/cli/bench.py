"""`edgekit bench`."""

from __future__ import annotations

from pathlib import Path

import click

from .tables import console, note, safe, table

COUNTED_INFERENCES = 50  # enough to average out per-call overheads; counts are exact, not sampled


def print_report(rep, paths=None) -> None:
    from ..report import LEGEND, comparison

    header, rows = comparison(rep)
    console.print(table(f"benchmark on {rep.device['name']}", header, rows))
    console.print(LEGEND, style="dim", highlight=False)
    for e in rep.entries:  # errors and flags carry text from received files and devices: shown, never obeyed
        if e.error:
            console.print(f"[red]✗ {safe(e.folder)}: {safe(e.error)}[/]", markup=True, highlight=False)
        for f in e.flags:
            console.print(f"[yellow]⚑ {safe(f)}[/]", highlight=False)
    if rep.caveat:
        note(rep.caveat)
    if paths:
        console.print(f"report: {safe(paths['html'])} (+ .json, .md)", highlight=False)


@click.command("bench")
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", "-d", default="local", show_default=True, help="local, ssh://[user@]host[:port], emu:rpi4 or emu:rpi5.")
@click.option("--threads", type=int, default=None, help="Runtime threads (default: the target profile's, capped at the device's cores).")
@click.option("--min-queries", type=int, default=1024, show_default=True, help="At least this many timed queries…")
@click.option("--min-seconds", type=float, default=10.0, show_default=True, help="…and at least this long (MLPerf Tiny: 60).")
@click.option("--warmup", type=int, default=50, show_default=True)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds allowed per artifact on the device.")
@click.option("--report", type=click.Path(path_type=Path), default=None, help="report.html path (json and md beside it).")
@click.option("--python", "python", default=None, help="Python on the device (default python3; local: this one).")
@click.option("--ssh-config", default=None, help="ssh -F config file (default: your ~/.ssh/config).")
@click.option("--target", default=None, help="Check against this profile's budgets instead of each artifact's.")
@click.option(
    "--count-instructions",
    is_flag=True,
    help="Emulated boards: count the ARM instructions per inference (load-independent work, 1 thread).",
)
def bench_cmd(
    artifacts, device, threads, min_queries, min_seconds, warmup, timeout, report, python, ssh_config, target, count_instructions
):
    """Benchmark exported artifacts on a device with its own runtime. Exit 1: a budget failed; exit 2: an artifact
    could not be measured (the others still are, and the report shows both)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ..errors import EdgekitError
    from ..stages.bench import Measurement, bench

    m = Measurement(
        min_queries=min_queries,
        min_seconds=min_seconds,
        warmup=warmup,
        threads=threads,
        timeout=timeout,
        count_instructions=COUNTED_INFERENCES if count_instructions else 0,
    )
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console.real, transient=True) as bar:
        job = bar.add_task(f"benchmarking {len(artifacts)} artifact(s) on {device}", total=len(artifacts))

        def done(entry):
            bar.advance(job)
            if entry.result is None:
                console.print(f"{safe(entry.folder)}: FAILED", highlight=False)
            else:
                verdict = "FAIL" if any(c.failed for c in entry.checks) else "PASS" if entry.passed else "NOT PROVEN"
                console.print(f"{safe(entry.folder)}: p50 {entry.result.latency_ms.p50:.4f} ms — {verdict}", highlight=False)

        try:
            rep, paths = bench(
                list(artifacts),
                device=device,
                measurement=m,
                report=report,
                python=python,
                ssh_config=ssh_config,
                target=target,
                on_result=done,
            )
        except EdgekitError as e:
            if getattr(e, "report", None):
                print_report(e.report)
            raise
    print_report(rep, paths)
