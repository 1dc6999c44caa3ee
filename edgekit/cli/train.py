"""`edgekit train`."""

from __future__ import annotations

from pathlib import Path

import click

from .options import class_names, input_shape_option, model_arg_option, model_args, run_out_option, trust_code_option, weights_key_option
from .tables import note, show_run


@click.command("train")
@click.option(
    "--model",
    "-m",
    default=None,
    help="Zoo name (see `edgekit models`), a recipe .toml, your module as file.py:Class / package.module:factory, or timm:NAME "
    "(default: the data set's default model: the detector for coco:/yolo: data, else digits-cnn).",
)
@model_arg_option("width_mult=0.5")
@click.option(
    "--dataset",
    "-d",
    default=None,
    help="digits, npz:PATH, imagefolder:DIR, audiofolder:DIR, machines:DIR or synthetic:... (default: the recipe's).",
)
@click.option(
    "--keywords", default=None, help="audiofolder: the words to spot (comma-separated); the rest fold into _unknown_, plus _silence_."
)
@input_shape_option
@click.option("--epochs", type=int, default=None, help="Default: the recipe's.")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--weight-decay", type=float, default=None)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the split, the weights and the shuffles.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA if available), cpu, cuda, cuda:N.")
@click.option("--no-amp", is_flag=True, help="Disable mixed precision on CUDA.")
@run_out_option
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue the interrupted run in this folder.")
@click.option(
    "--weights",
    type=click.Path(path_type=Path),
    default=None,
    help="Fine-tune from these pretrained weights (.safetensors, .pt, .pth, .bin, .ckpt; read as tensors only). "
    "Another class count re-initialises the classifier.",
)
@weights_key_option
@click.option(
    "--freeze",
    type=int,
    is_flag=False,
    flag_value=-1,
    default=None,
    metavar="[N]",
    help="With --weights: train the classifier alone, the backbone frozen (every epoch, or the first N).",
)
@click.option(
    "--preprocess",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON or TOML file in deploy.json's preprocess form: your resize/scale/mean/std instead of the data set's.",
)
@click.option("--labels", default=None, metavar="A,B,...", help="The class order of the model's outputs (the data set's classes).")
@trust_code_option
def train_cmd(
    model,
    margs,
    dataset,
    keywords,
    input_shape,
    epochs,
    batch_size,
    lr,
    weight_decay,
    seed,
    device,
    no_amp,
    out,
    resume,
    weights,
    weights_key,
    freeze,
    preprocess,
    labels,
    trust_code,
):
    """Train a zoo model or your own nn.Module; writes a run folder.

    With --weights it fine-tunes from pretrained weights (a file you have, e.g. in ~/.cache/torch/hub); the
    manifest records the file and its sha256. A model trained elsewhere that needs no training: `edgekit import`.

    Under torchrun (several GPUs or nodes) it trains with DistributedDataParallel; only rank 0 writes.
    """
    from ..stages.train import train_run
    from ..stages.train.distributed import is_main_process

    if resume and out:
        raise click.UsageError("--resume takes the run folder itself; drop --out")
    given = [
        flag for flag, value in (("--weights", weights), ("--freeze", freeze), ("--preprocess", preprocess), ("--labels", labels)) if value
    ]
    if resume and given:
        raise click.UsageError(f"--resume continues the run as it was started; drop {given[0]}")
    if freeze is not None and (freeze == 0 or freeze < -1):
        raise click.BadParameter("give a number of epochs ≥ 1, or --freeze alone for every epoch", param_hint="--freeze")
    if keywords:
        if not (dataset or "").startswith("audiofolder:") or "?" in dataset:
            raise click.UsageError("--keywords goes with --dataset audiofolder:DIR")
        dataset = f"{dataset}?keywords={keywords}"
    run = train_run(
        model,
        dataset,
        out=out,
        input_shape=input_shape,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        device=device,
        amp=not no_amp,
        resume=resume,
        model_args=model_args(margs),
        trust_code=trust_code,
        weights=weights,
        weights_key=weights_key,
        freeze=freeze or False,
        preprocess=preprocess,
        labels=class_names(labels),
        say=note,
    )
    if not is_main_process():  # under torchrun, rank 0 reports
        return
    m = run.metrics
    show_run(
        run,
        "trained",
        after_test=[["best epoch", f"{m.best_epoch} / {m.epochs}"]],
        after_cost=[["device", m.device + (f" ({m.amp} AMP)" if m.amp else "")], ["wall time", f"{m.wall_seconds:.1f} s"]],
    )
