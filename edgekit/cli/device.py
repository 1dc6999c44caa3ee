"""`edgekit device emulate`."""

from __future__ import annotations

import click

from .tables import console, escape


@click.group("device")
def device_group() -> None:
    """Devices to benchmark on without owning them."""


@device_group.command("emulate")
@click.argument("board")
@click.option("--rebuild", is_flag=True, help="Build again even if a finished build is cached.")
@click.option(
    "--with", "extras", multiple=True, help="Add a runtime beyond the default ones: executorch (brings torch, 430 MB), openvino (30 MB)."
)
def emulate_cmd(board: str, rebuild: bool, extras: tuple[str, ...]) -> None:
    """Build (once, cached) an emulated BOARD (rpi4, rpi5): Debian bookworm arm64, Python 3.11 and the runtimes
    under qemu-user with the board's CPU model. Then: edgekit bench DIST --device emu:BOARD"""
    from ..emulate import build_rootfs

    with console.status(f"building the emulated {board}") as status:
        folder = build_rootfs(board, rebuild=rebuild, say=lambda m: status.update(escape(m)), extras=extras)
    console.print(f"emulated {board} ready at {folder}; use --device emu:{board}")
