"""predict: run an artifact on raw files (images, .wav clips, .npy arrays) on a device, with the same runner,
preprocessing and runtime adapter as `edgekit bench` — the first thing to try after an export."""

from __future__ import annotations

from pathlib import Path

from ...errors import EdgekitError
from .harness import Measurement, RunFailed, check_artifact_folder, run_on_device
from .transports import parse_device


def predict(
    folder: Path,
    files: list[Path],
    *,
    device: str = "local",
    python: str | None = None,
    ssh_config: str | None = None,
    timeout: float = 600.0,
) -> dict:
    """Returns the runner's result: {"predictions": [{file, label, score, index, frontend_ms, model_ms, output}], "env"}."""
    deploy = check_artifact_folder(folder)
    files = [Path(f) for f in files]
    if not files:
        raise EdgekitError("no input file given", "pass image, .wav or .npy files after the artifact folder")
    for f in files:
        if f.is_dir():
            raise EdgekitError(f"input {f} is a folder, not a file", "pass the files in it (e.g. FOLDER/*.png)")
        if not f.is_file():
            raise EdgekitError(f"input file not found: {f}", "check the path")
    transport = parse_device(device, python=python, ssh_config=ssh_config)
    try:
        # The device gets the files under generated names (input-0000.png, ...): a user's name never clashes with
        # the artifact's, is never read as an option, never lands on an import path; results carry the user's names.
        result = run_on_device(
            transport, Path(folder), deploy, Measurement(min_queries=1, min_seconds=0, warmup=0, timeout=timeout), inputs=files
        )
    except RunFailed as e:
        raise EdgekitError(e.problem, e.fix) from None
    for row, f in zip(result.get("predictions", []), files):
        row["file"] = str(f)
    return result
