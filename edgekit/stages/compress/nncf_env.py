"""Import NNCF safely for users' runs: telemetry off, a private extension cache, and no silent waits.

NNCF compiles a C++ extension on first use (about half a minute on 2 cores). An interrupted build leaves a
lock in the torch-extensions cache, and torch then waits on it forever with no output. Here a lock whose
builder is gone is removed, and one held by a live build is waited for with a message saying so.
`EDGEKIT_NNCF_KERNELS=native` skips the extension for NNCF's native-torch kernels (its own fallback when the
build fails): nothing compiled or locked, but QAT runs slower (benchmarks/results/nncf_extension.md).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ...util.cache import cache_root

KERNELS_ENV = "EDGEKIT_NNCF_KERNELS"


def _use_native_kernels() -> None:
    """Serve NNCF's CPU quantize functions from its reference (native torch) implementation: no build, no lock."""
    from nncf.torch.quantization import extensions
    from nncf.torch.quantization.reference import ReferenceQuantizedFunctions

    extensions.QuantizedFunctionsCPULoader.load = classmethod(lambda cls: ReferenceQuantizedFunctions)


def _builder_alive(lock: Path) -> bool:
    """torch's FileBaton lock holds no PID. A live build runs its compiler with the build folder as working
    directory, and keeps writing there; a dead one does neither."""
    folder = lock.parent.resolve()
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if cwd.resolve() == folder or folder in cwd.resolve().parents:
                return True
        except OSError:
            continue
    newest = max((p.stat().st_mtime for p in folder.iterdir()), default=0)
    return time.time() - newest < 10


def _clear_dead_locks(ext_dir: Path, poll: float = 1.0) -> None:
    """Remove locks of dead builds; wait (saying so) while another process really builds."""
    for lock in ext_dir.glob("**/lock"):
        said = False
        while lock.exists():
            if not _builder_alive(lock):
                lock.unlink(missing_ok=True)
                break
            if not said:
                print(f"edgekit: waiting for another process to finish building NNCF's kernels ({lock.parent})", file=sys.stderr)
                said = True
            time.sleep(poll)


def kernels() -> str:
    return "native" if os.environ.get(KERNELS_ENV) == "native" else "compiled"


def import_nncf():
    import torch

    # NNCF replaces its telemetry with a no-op when NNCF_CI is set; users' private models send nothing.
    os.environ.setdefault("NNCF_CI", "1")
    import logging

    from ...util.quiet import quiet_import
    from ...util.telemetry import declined

    quiet_import("torchao")
    with declined():  # nncf imports openvino where it is installed, and that import reports to Intel
        nncf = quiet_import("nncf")
    logging.getLogger("nncf").setLevel(logging.WARNING)
    if kernels() == "compiled":
        os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")
        ext_dir = Path(os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(cache_root() / "torch_extensions" / torch.__version__)))
        ext_dir.mkdir(parents=True, exist_ok=True)
        _clear_dead_locks(ext_dir)
    else:
        _use_native_kernels()
    return nncf
