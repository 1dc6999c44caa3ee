"""An artifact's outputs in its real runtime, one model input at a time as on the device, through the device
adapter: what parity judges at export, and what the default-int8 comparison judges on the validation split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..device import runtimes
from ..errors import EdgekitError
from ..util.progress import progress_bar
from ..util.quiet import captured_fds


def run_artifact(folder: Path, deploy_like: dict, x: np.ndarray, *, progress: bool = False, threads: int = 1):
    """→ (the adapter, {output name: outputs on x})."""
    try:
        with captured_fds():  # runtimes print delegate notices on the C-level stderr
            adapter = runtimes.open_artifact(folder, deploy_like, threads)
    except runtimes.MissingRuntime as e:
        raise EdgekitError(
            f"the {deploy_like['runtime']['name']} runtime is not installed here ({e.detail})", f"pip install {e.package}"
        ) from None
    if len(adapter.inputs) != 1:
        names = ", ".join(t["name"] for t in adapter.inputs)
        raise EdgekitError(
            f"the exported model takes {len(adapter.inputs)} input tensors ({names}); edgekit's preprocessing makes one",
            "export a model whose forward() takes one tensor",
        )
    outs = []
    name = adapter.inputs[0]["name"]  # the pipeline's one model input
    with progress_bar(f"running the artifact in {adapter.runtime}", len(x), progress) as advance:
        for i in range(len(x)):
            outs.append(adapter.infer({name: x[i : i + 1]}))
            advance()
    return adapter, {t["name"]: np.concatenate([o[t["name"]] for o in outs]) for t in adapter.outputs}
