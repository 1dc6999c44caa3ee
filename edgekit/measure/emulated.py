"""emu:rpi4 / emu:rpi5 — the local copy-run-clean cycle, with the board's arm64 Python under qemu-user."""

from __future__ import annotations

from ..emulate.rootfs import python_argv, python_env, ready_rootfs
from .transports import LocalTransport

CAVEAT = ("Emulated {board} (arm64 under qemu-user, CPU model {cpu}): accuracy, agreement with the host reference, "
          "memory and runtime versions are what this run proves; latency under emulation is NOT a board figure.")


class EmulatedTransport(LocalTransport):
    def __init__(self, board: str):
        folder = ready_rootfs(board)
        super().__init__(python=f"the emulated {board}'s Python 3.11", env=python_env(folder, board))
        self.name = f"emu:{board}"
        self._argv = python_argv(folder)
        from ..emulate.boards import BOARDS

        self.caveat = CAVEAT.format(board=board, cpu=BOARDS[board].qemu_cpu)

    def is_target(self, target) -> bool:
        return False  # qemu's timing is nobody's board

    @property
    def python_argv(self) -> list[str]:
        return self._argv

    def install_hint(self, package: str) -> str:
        from ..emulate.rootfs import OPTIONAL_WHEELS

        board = self.name.split(":", 1)[1]
        extra = next((e for e, wheels in OPTIONAL_WHEELS.items() if package in {w for w, _ in wheels}), None)
        if extra:
            return f"add it to the emulated board: edgekit device emulate {board} --with {extra}"
        return f"rebuild the emulated board, which installs it: edgekit device emulate {board} --rebuild"
