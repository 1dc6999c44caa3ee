"""Instruction-count markers for the device runner: under edgekit's qemu counting plugin (edgekit bench
--count-instructions on an emulated board) mark(tag) makes the plugin write its running totals of guest
instructions; anywhere else it does nothing. Python 3.8+, stdlib only (copied to the device)."""

import os

MARK_NR = 0x6564  # no Linux syscall on any architecture: qemu and real kernels answer -ENOSYS
MARK_MAGIC = 0x45444745  # "EDGE", first syscall argument; the second is the marker's tag
ENV_FLAG = "EDGEKIT_INSN_COUNT"


def _marker():
    if os.environ.get(ENV_FLAG) != "1":
        def mark(tag=0):
            """No instruction counter here: nothing to do."""
        return mark
    import ctypes

    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    nr, magic = ctypes.c_long(MARK_NR), ctypes.c_long(MARK_MAGIC)

    def mark(tag=0):
        """Ask edgekit's qemu instruction counter to write its running totals (harmless without it)."""
        syscall(nr, magic, ctypes.c_long(int(tag)))
    return mark


mark = _marker()
counting = os.environ.get(ENV_FLAG) == "1"
