"""How the harness reaches a device: one module per kind of device, each a Transport (base.py) and a
`parse(device, ...)`. Adding one = its module and a line in DEVICES; nothing else names a device kind."""

from __future__ import annotations

import importlib
from typing import NamedTuple

from ....errors import EdgekitError
from .base import Completed, DeviceUnreachable, Layout, Transport, write_layout
from .local import LocalTransport
from .ssh import SshTransport

__all__ = [
    "DEVICES",
    "Completed",
    "DeviceUnreachable",
    "Layout",
    "LocalTransport",
    "SshTransport",
    "Transport",
    "parse_device",
    "write_layout",
]


class DeviceKind(NamedTuple):
    module: str  # in this package, imported when a --device names it (the emulated one reads its root folder)
    form: str  # how --device writes it, for messages
    counts_instructions: bool = False  # edgekit's qemu plugin counts guest instructions only there


# The part of --device before its first ':' → its kind.
DEVICES = {
    "local": DeviceKind("local", "local"),
    "ssh": DeviceKind("ssh", "ssh://[user@]host[:port]"),
    "emu": DeviceKind("emulated", "emu:rpi4 / emu:rpi5", counts_instructions=True),
}


def parse_device(device: str, *, python: str | None = None, ssh_config: str | None = None, count_instructions: bool = False) -> Transport:
    scheme = device.partition(":")[0]
    kind = DEVICES.get(scheme)
    if kind is None or (scheme == "local" and device != "local"):
        forms = [k.form for k in DEVICES.values()]
        raise EdgekitError(f"unknown device '{device}'", f"use {', '.join(forms[:-1])} or {forms[-1]}")
    module = importlib.import_module(f"{__name__}.{kind.module}")
    if not count_instructions:
        return module.parse(device, python=python, ssh_config=ssh_config)
    if not kind.counts_instructions:
        # only edgekit's qemu plugin counts instructions: elsewhere the flag would be silently ignored
        counting = " or ".join(k.form.replace(" / ", " or ") for k in DEVICES.values() if k.counts_instructions)
        raise EdgekitError(f"--count-instructions cannot count on '{device}'", f"use --device {counting}, or drop the flag")
    return module.parse(device, python=python, ssh_config=ssh_config, count_instructions=True)
