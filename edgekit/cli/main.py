"""The `edgekit` command. Each sub-command lives in its own module, imports its work lazily (so `edgekit --help`
is instant) and only wraps the Python API."""

from __future__ import annotations

import os
import sys

import click

from ..errors import BUG_EXIT_CODE, BUG_FIX, EdgekitError, InternalError, edgekit_frame, from_os_error
from .bench import bench_cmd
from .compress import compress_cmd
from .device import device_group
from .export import export_cmd, targets_cmd
from .import_cmd import import_cmd
from .listing import datasets_cmd, models_cmd
from .noise import Held, held_warnings
from .pipeline import pipeline_cmd
from .predict import predict_cmd
from .search import search_cmd
from .train import train_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgekit")
@click.option("--debug", is_flag=True, help="Also show the traceback of an error (the exit code stays the same).")
def cli(debug: bool) -> None:
    """edgekit: train, compress, export and benchmark models for edge devices."""
    if debug:
        os.environ["EDGEKIT_DEBUG"] = "1"


for command in (
    train_cmd,
    import_cmd,
    compress_cmd,
    export_cmd,
    bench_cmd,
    predict_cmd,
    pipeline_cmd,
    search_cmd,
    device_group,
    models_cmd,
    datasets_cmd,
    targets_cmd,
):
    cli.add_command(command)


def _show(held: Held | None) -> None:
    for message in held.shown() if held else []:
        click.secho(f"warning: {message}", fg="yellow", err=True)


def _fail(message: str, code: int, held: Held | None = None, prefix: str = "error") -> None:
    if os.environ.get("EDGEKIT_DEBUG"):
        _show(held)  # an error line comes alone; library warnings only with --debug
        import traceback  # only here: it costs the CLI's start ~15 ms

        traceback.print_exc()
    from .tables import printable  # text from received files never reaches the terminal as control codes

    click.secho(f"{prefix}: {printable(message)}", fg="red", err=True)
    sys.exit(code)


def _bug(e: BaseException) -> str:
    """What broke, for an exception edgekit did not expect: its type, first line and the innermost edgekit line."""
    text = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    if isinstance(e, InternalError):
        return text or "an internal error"  # it says what and where itself
    where = edgekit_frame(e)
    what = f"{type(e).__name__}: {text}" if text else type(e).__name__
    return f"{what} (at {where})" if where else what


def main() -> None:
    held = None
    try:
        with held_warnings() as held:
            cli.main(standalone_mode=False)
    except EdgekitError as e:
        _fail(e.message, e.exit_code, held)
    except OSError as e:  # read-only file system, disk full, permissions: name the cause, not a layer
        _fail(from_os_error(e).message, 2, held)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as e:  # `edgekit` or `edgekit device` alone: the help, not an error
        click.echo(e.ctx.get_help() if e.ctx else e.format_message())
        sys.exit(0)
    except click.UsageError as e:  # one line too, with where to look
        where = e.ctx.command_path.replace("python -m ", "").replace("__main__.py", "edgekit") if e.ctx else "edgekit"
        _fail(f"{e.format_message()} — see `{where} --help`", 2, held)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except (SystemExit, GeneratorExit):
        _show(held)
        raise
    except Exception as e:  # edgekit's bug, not the user's input: say so, and how to report it
        _fail(f"{_bug(e)} — {BUG_FIX}", BUG_EXIT_CODE, held, prefix="edgekit bug")
    _show(held)
    # standalone_mode=False returns the exit code of ctx.exit() instead of raising SystemExit
    sys.exit(0)
