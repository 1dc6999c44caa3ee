"""emu:rpi4 / emu:rpi5 — the local copy-run-clean cycle, with the board's arm64 Python under qemu-user."""

from __future__ import annotations

import os
from pathlib import Path

from ....emulate.rootfs import python_argv, python_env, ready_rootfs
from .base import Transport
from .local import LocalTransport

CAVEAT = (
    "Emulated {board} (arm64 under qemu-user, CPU model {cpu}): accuracy, agreement with the host reference, "
    "memory and runtime versions are what this run proves; latency under emulation is NOT a board figure."
)
WORK_CAVEAT = (
    " Instructions per inference are ARM work counted under qemu ({cpu}, 1 thread): load-independent, but work, not "
    "cycles (no cache stalls, issue width or per-instruction cost: they understate int8 gains on an A72), single-thread "
    "only, and comparable only within one CPU model."
)


class EmulatedTransport(LocalTransport):
    def __init__(self, board: str, *, count_instructions: bool = False, say=lambda m: None):
        folder = ready_rootfs(board)
        super().__init__(python=f"the emulated {board}'s Python 3.11", env=python_env(folder, board))
        self.name = f"emu:{board}"
        self._argv = python_argv(folder)
        from ....emulate.boards import BOARDS

        cpu = BOARDS[board].qemu_cpu
        self.caveat = CAVEAT.format(board=board, cpu=cpu) + (WORK_CAVEAT.format(cpu=cpu) if count_instructions else "")
        self.counting = None
        if count_instructions:
            from ....emulate.instructions import build_plugin, counting_env

            self.counting = {"plugin": build_plugin(say=say), "rootfs": folder / "rootfs", "cpu": cpu}
            self.env = counting_env(board)

    def run(self, argv, timeout, cwd=None):
        if self.counting:
            import tempfile

            from ....emulate.instructions import counting_argv

            fd, out = tempfile.mkstemp(prefix="edgekit-insn.", suffix=".txt")  # outside the runner's folder
            os.close(fd)
            self.counting["outfile"] = Path(out)
            argv = counting_argv(self.counting["rootfs"], self.counting["plugin"], Path(out)) + argv[len(self._argv) :]
        return super().run(argv, timeout, cwd)

    def annotate(self, result: dict) -> dict:
        if not self.counting or "instructions" not in result:
            return result
        from ....emulate.instructions import read_marks

        outfile = self.counting["outfile"]
        marks = {m.tag: m for m in read_marks(outfile)}
        outfile.unlink(missing_ok=True)
        if not all(t in marks for t in (1, 2, 3, 4)):
            return result
        n, m = result["instructions"]["inferences"], result["instructions"]["frontend_samples"]
        model_total, model_vector = marks[2].total - marks[1].total, marks[2].vector - marks[1].vector
        result["instructions"] |= {
            "per_inference": model_total / n,
            "vector_share": model_vector / max(model_total, 1),
            "frontend_per_sample": (marks[4].total - marks[3].total) / max(m, 1),
            "cpu": self.counting["cpu"],
            "what": "guest AArch64 instructions under qemu-user (work, not cycles)",
        }
        return result

    def is_target(self, target) -> bool:
        return False  # qemu's timing is nobody's board

    @property
    def python_argv(self) -> list[str]:
        return self._argv

    def install_hint(self, package: str) -> str:
        from ....emulate.rootfs import OPTIONAL_WHEELS

        board = self.name.split(":", 1)[1]
        extra = next((e for e, wheels in OPTIONAL_WHEELS.items() if package in {w.split("==")[0] for w in wheels}), None)
        if extra:
            return f"add it to the emulated board: edgekit device emulate {board} --with {extra}"
        return f"rebuild the emulated board, which installs it: edgekit device emulate {board} --rebuild"


def parse(device: str, *, python: str | None = None, ssh_config: str | None = None, count_instructions: bool = False) -> Transport:
    return EmulatedTransport(device.partition(":")[2], count_instructions=count_instructions)
