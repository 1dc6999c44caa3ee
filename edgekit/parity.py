"""Artifacts exported with --no-parity: a latency and size look at any network (an untrained one too), never
mistaken for a checked one.

deploy.json records `parity: {"passed": false, "rule": "not proven", ...}`: a reader that only looks at `passed`
sees a failure, never a pass. The export table, every bench report and the bench's exit code say "not proven", and
quality budgets never PASS on such an artifact (edgekit/stages/bench/budgets.py). Every reader asks `proven()` here.
"""

from __future__ import annotations

import numpy as np

from .errors import EdgekitError

NOT_PROVEN = "not proven"
NOTE = "exported with --no-parity: never compared with the host model, so its outputs may be wrong; latency and size only"
FLAG = "parity not proven (exported with --no-parity): quality budgets cannot pass; re-export without --no-parity to prove it"
SMOKE_SAMPLES = 8  # the artifact still runs in its runtime at export: it must load and give finite outputs


def proven(parity: dict) -> bool:
    return parity.get("rule") != NOT_PROVEN


def unproven(outputs: np.ndarray, reference: np.ndarray) -> dict:
    """The parity record of a --no-parity export, after the runtime ran the artifact on a few samples: refused when
    it gives outputs of another shape than the model's, or NaN/inf."""
    if outputs.shape[1:] != reference.shape[1:]:
        raise EdgekitError(
            f"the artifact's outputs have shape {tuple(outputs.shape[1:])} in its runtime, the model's {tuple(reference.shape[1:])}",
            "re-export (with --debug to see the build), or try another --format",
        )
    if not np.isfinite(outputs).all():
        raise EdgekitError(
            "the artifact gives NaN or infinite outputs in its runtime", "check the model's weights, or try another --precision"
        )
    return {"passed": False, "rule": NOT_PROVEN, "samples": int(len(outputs)), "note": NOTE}
