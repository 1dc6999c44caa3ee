"""`edgekit pipeline`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from .tables import console


@click.command("pipeline")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Pipeline folder (default runs/pipeline-<name>).")
@click.option("--device", "-d", default=None, help="Override the pipeline's bench device (local, ssh://...).")
def pipeline_cmd(file, out, device):
    """Train → compress → export → bench from one TOML file (default: the embedded digits pipeline).

    Re-running resumes at the first unfinished stage.
    """
    from ..pipeline import load_pipeline, run_pipeline

    p = load_pipeline(file)
    out = out or Path("runs") / f"pipeline-{p.name}"
    console.print(f"[bold]pipeline {p.name}[/] → {out}")
    folders = run_pipeline(p, out, device=device, say=lambda m: console.print(escape(m)))
    import json

    from ..report.build import COMPARISON_HEADER, comparison_rows
    from .tables import table

    rep = json.loads(folders["report"].with_suffix(".json").read_text())
    console.print(table(f"{p.name} on {rep['device']['name']}", COMPARISON_HEADER, comparison_rows(rep)))
    if rep.get("caveat"):
        console.print(f"[yellow]note:[/] {rep['caveat']}")
    console.print(f"report: {folders['report']} (+ .json, .md)")
