"""`edgekit import`: a model trained elsewhere becomes a run folder. A PyTorch checkpoint goes through the adopt
stage (edgekit/stages/adopt.py) with the architecture it was trained as; an ONNX file carries its own architecture
and goes to edgekit/stages/onnx_import.py. The file decides by its suffix, here and only here."""

from __future__ import annotations

from pathlib import Path

import click

from .options import class_names, input_shape_option, model_arg_option, model_args, run_out_option, trust_code_option, weights_key_option
from .tables import note, show_run

ONNX_SUFFIXES = (".onnx",)


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--model",
    "-m",
    default=None,
    help="The architecture the checkpoint was trained as: a zoo name, file.py:Class, package.module:factory or timm:NAME "
    "(not for .onnx files: they carry their own).",
)
@model_arg_option("width=0.5")
@click.option(
    "--dataset",
    "-d",
    default=None,
    help="The data it is scored on (and later calibrated and benched with): digits, npz:PATH, imagefolder:DIR, ...",
)
@click.option(
    "--preprocess",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON or TOML file in deploy.json's preprocess form: the resize/scale/mean/std the model was trained with "
    "(default: the data set's, normalised on its train split).",
)
@click.option("--labels", default=None, metavar="A,B,...", help="The class names in the model's output order (the data set's classes).")
@input_shape_option
@weights_key_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the data split (as train's).")
@run_out_option
@trust_code_option
def import_cmd(file, model, margs, dataset, preprocess, labels, input_shape, weights_key, seed, out, trust_code):
    """Make a run folder from a model trained elsewhere, scored on the data set's test split; compress, export
    and bench take it like a trained run.

    \b
      edgekit import ckpt.pt --model my_net.py:MyNet --dataset imagefolder:photos --preprocess prep.toml
      edgekit import model.onnx --dataset imagefolder:photos --preprocess prep.toml

    FILE is a checkpoint (.safetensors, .pt, .pth, .bin, .ckpt) of --model's architecture — in a training
    checkpoint the weights entry is found and DDP, Lightning and torch.compile prefixes are taken off — or an
    ONNX file, which carries its own architecture and input shape.

    Pickled checkpoints are read with torch.load(weights_only=True) only: a file that needs any Python object
    beyond tensors is refused, and nothing in it runs.
    """
    names = class_names(labels)
    if file.suffix.lower() in ONNX_SUFFIXES:
        for flag, given in (("--model", model), ("--model-arg", margs), ("--weights-key", weights_key), ("--input-shape", input_shape)):
            if given:
                raise click.UsageError(f"{flag} is for checkpoints: an ONNX file carries its architecture and input shape")
        run = _import_onnx(file, dataset, preprocess, names, out)
    else:
        if not model:
            raise click.UsageError("a checkpoint holds weights, not the architecture: pass --model ARCH (what it was trained as)")
        from ..stages.adopt import adopt_run

        run = adopt_run(
            model,
            file,
            dataset,
            preprocess=preprocess,
            labels=names,
            input_shape=input_shape,
            out=out,
            seed=seed,
            model_args=model_args(margs),
            trust_code=trust_code,
            weights_key=weights_key,
            say=note,
        )
    show_run(run, "imported")


def _import_onnx(file: Path, dataset, preprocess: Path | None, labels, out):
    """The hook for ONNX files (edgekit/stages/onnx_import.py). The preprocess file goes on as a path: the adopt stage
    reads it by the one rule (edgekit/data/user_preprocess.py), and its messages name the file."""
    from ..stages.onnx_import import import_onnx

    return import_onnx(file, dataset=dataset, preprocess=preprocess, labels=labels, out=out, say=note)
