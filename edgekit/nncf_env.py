"""Import NNCF safely for users' runs: telemetry off, and no compiled extension unless asked for.

NNCF compiles a C++ extension on first use (about a minute on 2 cores). An interrupted build leaves a lock
in the torch-extensions cache, and every later run then waits on it forever with no output. NNCF has a
native-torch implementation of the same quantize functions (its own fallback when the build fails); edgekit
uses it by default, so nothing is compiled, locked or waited for. `EDGEKIT_NNCF_KERNELS=compiled` opts into
the extension (benchmarks/results/nncf_extension.md measures both); then a lock whose builder has died is
removed and a lock held by a live build is waited for with a message saying so.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .cache import cache_root

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


def _clear_dead_locks(ext_dir: Path) -> None:
    for lock in ext_dir.glob("**/lock"):
        if _builder_alive(lock):
            print(f"edgekit: waiting for another process building NNCF's extension ({lock})", file=sys.stderr)
        else:
            lock.unlink(missing_ok=True)


def kernels() -> str:
    return "compiled" if os.environ.get(KERNELS_ENV) == "compiled" else "native"


def import_nncf():
    import torch

    # NNCF replaces its telemetry with a no-op when NNCF_CI is set; users' private models send nothing.
    os.environ.setdefault("NNCF_CI", "1")
    import logging

    from .quiet import quiet_import

    quiet_import("torchao")
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
