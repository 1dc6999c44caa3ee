"""Artifacts exported with --no-parity: a latency and size look at any network (an untrained one too), never
mistaken for a checked one.

deploy.json records `parity: {"passed": false, "rule": "not proven", "proven": false, ...}`: a reader that only looks at
`passed` sees a failure, never a pass. The export table, every bench report and the bench's exit code say "not proven", and
quality budgets never PASS on such an artifact (edgekit/stages/bench/budgets.py). Every reader asks `proven()` here.
"""

from __future__ import annotations

import numpy as np

from .errors import EdgekitError
from .records import Parity

NOT_PROVEN = "not proven"
NOTE = "exported with --no-parity: never compared with the host model, so its outputs may be wrong; latency and size only"
FLAG = "parity not proven (exported with --no-parity): quality budgets cannot pass; re-export without --no-parity to prove it"
SMOKE_SAMPLES = 8  # the artifact still runs in its runtime at export: it must load and give finite outputs


def proven(parity: Parity) -> bool:
    return parity.proven and parity.rule != NOT_PROVEN


def unproven(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], samples: int) -> Parity:
    """The parity record of a --no-parity export, after the runtime ran the artifact on a few samples: refused when
    it gives outputs of other shapes than the model's, or NaN/inf (outputs and reference: by output name)."""
    for (name, out), ref in zip(outputs.items(), reference.values()):
        if out.shape[1:] != ref.shape[1:]:
            raise EdgekitError(
                f"the artifact's output {name} has shape {tuple(out.shape[1:])} in its runtime, the model's {tuple(ref.shape[1:])}",
                "re-export (with --debug to see the build), or try another --format",
            )
        if not np.isfinite(out).all():
            raise EdgekitError(
                "the artifact gives NaN or infinite outputs in its runtime", "check the model's weights, or try another --precision"
            )
    return Parity(passed=False, rule=NOT_PROVEN, proven=False, samples=samples, note=NOTE)
