"""`edgekit train`."""

from __future__ import annotations

from pathlib import Path

import click

from ..fsutil import read_json
from ..train import train_run
from ..train.distributed import is_main_process
from .options import SHAPE
from .tables import console, human, human_bytes, table


@click.command("train")
@click.option("--model", "-m", default="digits-cnn", show_default=True,
              help="Zoo name (see `edgekit models`), a recipe .toml, or your module as file.py:Class / pkg.mod:factory.")
@click.option("--dataset", "-d", default=None, help="digits, npz:PATH, imagefolder:DIR or synthetic:C,H,W:N (default: the recipe's).")
@click.option("--input-shape", type=SHAPE, default=None, help="Model input C,H,W (default: the recipe's).")
@click.option("--epochs", type=int, default=None, help="Default: the recipe's.")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--weight-decay", type=float, default=None)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the split, the weights and the shuffles.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if available), cpu, cuda, cuda:N.")
@click.option("--no-amp", is_flag=True, help="Disable mixed precision on CUDA.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Run folder (default: runs/<model>).")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue the interrupted run in this folder.")
def train_cmd(model, dataset, input_shape, epochs, batch_size, lr, weight_decay, seed, device, no_amp, out, resume):
    """Train a zoo model or your own nn.Module; writes a run folder.

    Under torchrun (several GPUs or nodes) it trains with DistributedDataParallel; only rank 0 writes.
    """
    if resume and out:
        raise click.UsageError("--resume takes the run folder itself; drop --out")
    path = train_run(model, dataset, out=out, input_shape=input_shape, seed=seed, epochs=epochs, batch_size=batch_size,
                     lr=lr, weight_decay=weight_decay, device=device, amp=not no_amp, resume=resume)
    if not is_main_process():  # under torchrun, rank 0 reports
        return
    m = read_json(path / "metrics.json")
    cost = m["cost"]
    headline = ("test accuracy", f"{m['test']['accuracy']:.4f}") if "accuracy" in m["test"] else ("test mse", f"{m['test']['mse']:.5f}")
    rows = [list(headline), ["best epoch", f"{m['best_epoch']} / {m['epochs']}"], ["params", f"{cost['params']:,}"],
            ["MACs", human(cost["macs"])], ["weights", human_bytes(m["file_bytes"])],
            ["device", m["device"] + (f" ({m['amp']} AMP)" if m["amp"] else "")], ["wall time", f"{m['wall_seconds']:.1f} s"]]
    console.print(table(f"trained {path}", ["", ""], rows))
    console.print(f"saved run to {path}")
