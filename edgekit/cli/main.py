"""The `edgekit` command. Each sub-command lives in its own module and only wraps the Python API."""

from __future__ import annotations

import os
import sys

import click

from ..errors import EdgekitError
from .bench import bench_cmd
from .compress import compress_cmd
from .device import device_group
from .export import export_cmd, targets_cmd
from .listing import datasets_cmd, models_cmd
from .pipeline import pipeline_cmd
from .train import train_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgekit")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """edgekit: train, compress, export and benchmark models for edge devices."""
    if debug:
        os.environ["EDGEKIT_DEBUG"] = "1"


for command in (train_cmd, compress_cmd, export_cmd, bench_cmd, pipeline_cmd, device_group, models_cmd, datasets_cmd, targets_cmd):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except EdgekitError as e:
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        click.secho(f"error: {e.message}", fg="red", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    # standalone_mode=False returns the exit code of ctx.exit() instead of raising SystemExit
    sys.exit(0)
