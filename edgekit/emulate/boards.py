"""The boards edgekit emulates: qemu's CPU model and the /proc/cpuinfo the board shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    name: str
    qemu_cpu: str
    cpu_part: str  # MIDR part number, what runtimes read to pick kernels
    cpu_variant: str
    cpu_revision: str
    features: str
    model: str


BOARDS = {
    # Cortex-A72 has no dot-product (SDOT) instructions: a kernel that uses them crashes here as on a Pi 4.
    "rpi4": Board("rpi4", "cortex-a72", "0xd08", "0x0", "3", "fp asimd evtstrm crc32 cpuid", "Raspberry Pi 4 Model B Rev 1.4"),
    "rpi5": Board(
        "rpi5",
        "cortex-a76",
        "0xd0b",
        "0x4",
        "1",
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
        "Raspberry Pi 5 Model B Rev 1.0",
    ),
}


def cpuinfo(board: Board, cores: int = 4) -> str:
    blocks = [
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {board.features}\nCPU implementer\t: 0x41\n"
        f"CPU architecture: 8\nCPU variant\t: {board.cpu_variant}\nCPU part\t: {board.cpu_part}\n"
        f"CPU revision\t: {board.cpu_revision}\n"
        for i in range(cores)
    ]
    return "\n".join(blocks) + f"\nModel\t\t: {board.model}\n"
