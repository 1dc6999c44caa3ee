"""`edgekit bench`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .tables import console, table


@click.command("bench")
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", "-d", default="local", show_default=True, help="local or ssh://[user@]host[:port].")
@click.option("--threads", type=int, default=None, help="Runtime threads (default: the target profile's, capped at the device's cores).")
@click.option("--min-queries", type=int, default=1024, show_default=True, help="At least this many timed queries…")
@click.option("--min-seconds", type=float, default=10.0, show_default=True, help="…and at least this long (MLPerf Tiny: 60).")
@click.option("--warmup", type=int, default=50, show_default=True)
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds allowed per artifact on the device.")
@click.option("--report", type=click.Path(path_type=Path), default=None, help="report.html path (json and md beside it).")
@click.option("--python", "python", default=None, help="Python on the device (default python3; local: this one).")
@click.option("--ssh-config", default=None, help="ssh -F config file (default: your ~/.ssh/config).")
@click.option("--target", default=None, help="Check against this profile's budgets instead of each artifact's.")
def bench_cmd(artifacts, device, threads, min_queries, min_seconds, warmup, timeout, report, python, ssh_config, target):
    """Benchmark exported artifacts on a device with its own runtime; exits 1 if a budget fails."""
    from ..bench import Measurement, bench
    from ..errors import BudgetFailed
    from ..report.build import COMPARISON_HEADER, comparison_rows

    m = Measurement(min_queries=min_queries, min_seconds=min_seconds, warmup=warmup, threads=threads, timeout=timeout)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True) as bar:
        job = bar.add_task(f"benchmarking {len(artifacts)} artifact(s) on {device}", total=len(artifacts))

        def done(folder, result, checks):
            bar.advance(job)
            verdict = "PASS" if all(c["passed"] for c in checks) else "FAIL"
            console.print(f"{folder}: p50 {result['latency_ms']['p50']:.4f} ms, accuracy {result.get('accuracy', float('nan')):.4f} — {verdict}")

        try:
            rep, paths = bench(list(artifacts), device=device, measurement=m, report=report, python=python,
                               ssh_config=ssh_config, target=target, on_result=done)
        except BudgetFailed as e:
            rep = getattr(e, "report", None)
            if rep:
                console.print(table(f"benchmark on {rep['device']['name']}", COMPARISON_HEADER, comparison_rows(rep)))
            raise
    console.print(table(f"benchmark on {rep['device']['name']}", COMPARISON_HEADER, comparison_rows(rep)))
    for e in rep["entries"]:
        for f in e["flags"]:
            console.print(f"[yellow]⚑ {f}[/]")
    if rep.get("caveat"):
        console.print(f"[yellow]note:[/] {rep['caveat']}")
    console.print(f"report: {paths['html']} (+ .json, .md)")
