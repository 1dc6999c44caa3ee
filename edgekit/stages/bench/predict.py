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
    result["task"] = deploy.task
    return result


def _saved_names(files: list[Path]) -> list[str]:
    """One output name per input: its stem as a PNG, numbered when two inputs share a stem."""
    names, seen = [], {}
    for f in files:
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(f).stem).strip(".") or "image"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(f"{stem}.png" if seen[stem] == 1 else f"{stem}-{seen[stem]}.png")
    return names


def check_save(folder: Path, save: Path, files: list[Path]) -> None:
    """--save: refused before the device runs when the task draws nothing, an input is not an image, or the folder
    exists (nothing of the user's is overwritten)."""
    from ...device import rawfile
    from ...tasks import get_task
    from ...tasks.base import Task
    from ...util.fsutil import check_out_folder

    deploy = check_artifact_folder(folder)
    task = get_task(deploy.task)
    if type(task).draw is Task.draw:
        raise EdgekitError(f"--save draws detections, and {folder} is a {deploy.task} artifact", "leave out --save")
    for f in files:
        if Path(f).suffix.lower() not in rawfile.IMAGE_SUFFIXES:
            raise EdgekitError(f"--save draws on images, and {f} is not one", "pass image files (PNG, JPEG, ...) with --save")
    check_out_folder(save, flag="--save")


def save_drawn(folder: Path, save: Path, rows: list[dict]) -> list[Path]:
    """Each input image with its predictions drawn (the task's drawing), written to `save` as one set."""
    import io

    from PIL import Image

    from ...device import rawfile
    from ...tasks import get_task
    from ...util.fsutil import staged_dir

    task = get_task(check_artifact_folder(folder).task)
    written = []
    with staged_dir(Path(save)) as tmp:
        for row, name in zip(rows, _saved_names([Path(r["file"]) for r in rows])):
            try:
                raw = rawfile.decode_image(io.BytesIO(Path(row["file"]).read_bytes()))  # as the device read it
            except (OSError, ValueError) as e:
                raise EdgekitError(f"cannot read image {row['file']}: {e}", "pass readable image files") from None
            task.draw(Image.fromarray(raw), row).save(tmp / name)
            written.append(Path(save) / name)
    return written
