"""`edgekit pipeline`."""

from __future__ import annotations

from pathlib import Path

import click

from .options import trust_code_option
from .tables import console, escape


@click.command("pipeline")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Pipeline folder (default runs/pipeline-<name>).")
@click.option("--device", "-d", default=None, help="Override the pipeline's bench device (local, ssh://..., emu:rpi4).")
@click.option("--python", default=None, help="Python to run the benchmark with (over the file's [bench] python).")
@click.option("--ssh-config", default=None, help="ssh config file for an ssh:// device (over the file's [bench] ssh_config).")
@trust_code_option
def pipeline_cmd(file, out, device, python, ssh_config, trust_code):
    """Train → compress → export → bench from one TOML file (default: the embedded digits pipeline).

    Re-running resumes at the first unfinished stage. A pipeline file is data: code it names (user models) and
    programs it would run ([bench] python, ssh_config) need --trust-code, or the option given here.
    """
    from ..errors import EdgekitError
    from ..stages.pipeline import load_pipeline, run_pipeline
    from .bench import print_report

    p = load_pipeline(file)
    out = out or Path("runs") / f"pipeline-{p.name}"
    console.print(f"[bold]pipeline {escape(p.name)}[/] → {escape(str(out))}")
    try:
        result = run_pipeline(
            p, out, device=device, say=lambda m: console.print(escape(m)), trust_code=trust_code, python=python, ssh_config=ssh_config
        )
    except EdgekitError as e:
        if getattr(e, "report", None):
            print_report(e.report)
        raise
    print_report(result["report"], {"html": result["folders"]["report"]})
