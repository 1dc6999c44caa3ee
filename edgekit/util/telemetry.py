"""Tools edgekit drives must not report users' work: OpenVINO's usage telemetry is declined around the calls that send it.

OpenVINO (openvino-telemetry, installed with it) writes a client id and counters under ~/intel and sends events
whenever `openvino` is first imported in a process — `import nncf` imports it too when it is installed — and on
every model conversion, unless the user opted out or it runs in CI. It has no switch of its own besides those, so
edgekit says "CI" for the duration of those calls only (NNCF's own telemetry is off through NNCF_CI, nncf_env.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def declined() -> Iterator[None]:
    before = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = before
