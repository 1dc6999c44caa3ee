"""Import NNCF safely for users' runs: telemetry off, a private extension cache, no load timeout.

NNCF compiles a C++ extension on first use (about a minute on 2 cores). Its default 60 s load timeout
can fire during that build, and an interrupted build in the shared ~/.cache/torch_extensions leaves a
lock that makes every later run wait forever. A per-torch-version folder of our own, with stale locks
removed, avoids both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .cache import cache_root

STALE_LOCK_SECONDS = 15 * 60


def import_nncf():
    import torch

    # NNCF replaces its telemetry with a no-op when NNCF_CI is set; users' private models send nothing.
    os.environ.setdefault("NNCF_CI", "1")
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")
    ext_dir = Path(os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(cache_root() / "torch_extensions" / torch.__version__)))
    ext_dir.mkdir(parents=True, exist_ok=True)
    for lock in ext_dir.glob("**/lock"):
        if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            lock.unlink(missing_ok=True)
    import logging

    from .quiet import quiet_import

    quiet_import("torchao")
    nncf = quiet_import("nncf")
    logging.getLogger("nncf").setLevel(logging.WARNING)
    return nncf
