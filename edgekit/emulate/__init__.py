"""Emulated Raspberry Pi boards: Debian bookworm arm64 + Python 3.11 + the runtimes, under qemu-user with
the board's CPU model, so an artifact or runtime that would fail on the board fails here too."""

from .boards import BOARDS
from .rootfs import build_rootfs, ready_rootfs

__all__ = ["BOARDS", "build_rootfs", "ready_rootfs"]
