"""`edgekit models` and `edgekit datasets`: what is available (no torch needed to list them)."""

from __future__ import annotations

from pathlib import Path

import click

from .tables import console, escape, human, table


@click.command("models")
def models_cmd() -> None:
    """List the model zoo: task, input shape, params and MACs (counted by edgekit, recorded in each recipe)."""
    from ..recipes import zoo_recipes

    rows = []
    for name, recipe in zoo_recipes().items():
        c = recipe.counted
        rows.append(
            [
                name,
                recipe.task,
                "x".join(map(str, recipe.input_shape)),
                f"{c.params:,}" if c else "?",
                human(c.macs) if c else "?",
                recipe.description,
            ]
        )
    console.print(table("edgekit model zoo", ["model", "task", "input", "params", "MACs", "description"], rows))
    console.print(
        "Your own module: --model path/to/file.py:ClassName, package.module:factory or timm:NAME (arguments: --model-arg KEY=VALUE)."
    )


@click.group("datasets", invoke_without_command=True)
@click.pass_context
def datasets_cmd(ctx) -> None:
    """List the data-set kinds edgekit reads; `edgekit datasets make ...` builds one on this machine."""
    if ctx.invoked_subcommand:
        return
    from ..data import DATASETS

    console.print(table("edgekit data sets", ["spec", "what it is"], [[k, v] for k, v in DATASETS.items()]))


@datasets_cmd.command("make")
@click.argument("kind", type=click.Choice(["keywords", "machines", "shapes", "objects"]))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--speakers", type=int, default=40, show_default=True, help="keywords: espeak-ng voices (each a speaker).")
@click.option("--repeats", type=int, default=2, show_default=True, help="keywords: clips per word and speaker.")
@click.option("--images", type=int, default=1200, show_default=True, help="objects: scenes to draw.")
@click.option("--size", type=int, default=160, show_default=True, help="objects: typical image side in pixels (each varies ±25%).")
@click.option("--classes", default=None, help="objects: comma-separated shapes (default: circle,square,triangle,star,cross).")
@click.option("--seed", type=int, default=0, show_default=True)
def make_cmd(kind, out, speakers, repeats, images, size, classes, seed) -> None:
    """Build a data set here, no download: spoken keywords (espeak-ng, Speech Commands layout), machine sounds
    (normal hum vs clicks, rattles, shifted harmonics; DCASE 2020 task 2 layout), shapes (photos of circles,
    squares and triangles of varying sizes; an image folder) or objects (scenes of several shapes with their boxes,
    clutter and partial overlap; COCO layout, for detection)."""
    from ..errors import EdgekitError
    from ..util.fsutil import check_out_folder

    check_out_folder(out)
    with console.status(f"making {kind} in {out}") as status:
        say = lambda m: status.update(escape(m))
        try:
            if kind == "keywords":
                from ..synth.keywords import make_keywords

                summary = make_keywords(out, speakers=speakers, repeats=repeats, seed=seed, say=say)
            elif kind == "shapes":
                from ..synth.shapes import make_shapes

                summary = make_shapes(out, seed=seed, say=say)
                summary |= {"clips": summary["images"], "seconds": 0}
            elif kind == "objects":
                from ..synth.objects import make_objects

                names = [c.strip() for c in classes.split(",")] if classes else None
                summary = make_objects(out, images=images, size=size, classes=names, seed=seed, say=say)
                summary |= {"clips": f"{summary['images']} images with {summary['objects']} objects"}
            else:
                from ..synth.machines import make_machine_sounds

                summary = make_machine_sounds(out, seed=seed, say=say)
        except RuntimeError as e:  # espeak-ng missing
            raise EdgekitError(str(e).split(" — ")[0], str(e).split(" — ")[-1]) from None
    spec = {"keywords": "audiofolder", "machines": "machines", "shapes": "imagefolder", "objects": "coco"}[kind]
    what = summary["clips"] if kind == "objects" else f"{summary['clips']} samples"
    # soft_wrap: the --dataset spec stays on one line, whole, to be copied (a long path must not break inside it)
    console.print(escape(f"made {what} in {out}; use --dataset {spec}:{out}"), soft_wrap=True)
