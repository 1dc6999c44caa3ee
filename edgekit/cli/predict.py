"""`edgekit predict`."""

from __future__ import annotations

from pathlib import Path

import click

from .tables import console, safe, table


@click.command("predict")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", "-d", default="local", show_default=True, help="local, ssh://[user@]host[:port], emu:rpi4 or emu:rpi5.")
@click.option("--python", "python", default=None, help="Python on the device (default python3; local: this one).")
@click.option("--ssh-config", default=None, help="ssh -F config file.")
def predict_cmd(artifact, files, device, python, ssh_config):
    """Run an exported artifact on raw files (photos, .wav clips, .npy arrays) on a device: label, score, time.

    The files go through the preprocessing recorded in deploy.json, exactly as a device's sensor data would.
    """
    from ..stages.bench.predict import predict

    result = predict(artifact, list(files), device=device, python=python, ssh_config=ssh_config)
    rows = [[p["file"], p["label"], f"{p['score']:.4f}", f"{p['frontend_ms']:.2f}", f"{p['model_ms']:.2f}"] for p in result["predictions"]]
    env = result.get("env", {})
    console.print(
        table(
            f"{artifact} on {device} ({env.get('machine')}, {env.get('runtime_version')})",
            ["file", "prediction", "score", "front end ms", "model ms"],
            rows,
        )
    )
    for p in result["predictions"]:  # legal but lossy input, e.g. a clip beyond full scale clipped
        for note in p.get("notes") or []:
            console.print(safe(f"note: {p['file']}: {note}"), highlight=False)
