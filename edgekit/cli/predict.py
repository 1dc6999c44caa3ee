"""`edgekit predict`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .tables import console, safe, table


@click.command("predict")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", "-d", default="local", show_default=True, help="local, ssh://[user@]host[:port], emu:rpi4 or emu:rpi5.")
@click.option("--python", "python", default=None, help="Python on the device (default python3; local: this one).")
@click.option("--ssh-config", default=None, help="ssh -F config file.")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON (a detector's boxes in the raw image's pixels).")
@click.option("--save", type=click.Path(path_type=Path), default=None, help="Write each image with its detections drawn into this folder.")
def predict_cmd(artifact, files, device, python, ssh_config, as_json, save):
    """Run an exported artifact on raw files (photos, .wav clips, .npy arrays) on a device: label, score, time.

    The files go through the preprocessing recorded in deploy.json, exactly as a device's sensor data would.
    """
    from ..stages.bench.predict import check_save, predict, save_drawn

    if save is not None:
        check_save(artifact, save, list(files))  # before the device runs anything
    result = predict(artifact, list(files), device=device, python=python, ssh_config=ssh_config)
    if save is not None:
        save_drawn(artifact, save, result["predictions"])
    if as_json:
        from ..tasks import get_task

        task = get_task(result["task"])
        click.echo(json.dumps([task.predict_row(p) for p in result["predictions"]]))
        return
    rows = [
        [
            p["file"],
            p["label"],
            f"{p['score']:.4f}",
            f"{p['frontend_ms']:.2f}",
            f"{p['model_ms']:.2f}",
            f"{p.get('postprocess_ms', 0.0):.2f}",
        ]
        for p in result["predictions"]
    ]
    env = result.get("env", {})
    console.print(
        table(
            f"{artifact} on {device} ({env.get('machine')}, {env.get('runtime_version')})",
            ["file", "prediction", "score", "front end ms", "model ms", "post-processing ms"],
            rows,
        )
    )
    for p in result["predictions"]:  # legal but lossy input, e.g. a clip beyond full scale clipped
        for note in p.get("notes") or []:
            console.print(safe(f"note: {p['file']}: {note}"), highlight=False)
