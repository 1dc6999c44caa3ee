"""`edgekit search`."""

from __future__ import annotations

from pathlib import Path

import click

from .options import trust_code_option
from .tables import console, escape


@click.command("search")
@click.option("--model", "-m", default="digits-cnn", show_default=True, help="Zoo name or recipe TOML.")
@click.option("--dataset", default=None, help="Data set spec (default: the recipe's).")
@click.option("--target", "-t", default="x86-64", show_default=True, help="Target whose formats, budgets and runtimes apply.")
@click.option(
    "--space",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML: [space] width/input_size/prune/quant/precision/format lists, [train] epochs/finetune/qat_epochs.",
)
@click.option("--trials", type=int, default=20, show_default=True, help="Trials in the study (all workers together).")
@click.option(
    "--device",
    "-d",
    "devices",
    multiple=True,
    help="A board to measure on (repeatable; each leased to one trial at a time). Default: local.",
)
@click.option("--storage", default=None, help="postgresql://... shared by workers on several machines (default: a journal file in --out).")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("runs/search"), show_default=True, help="Search folder.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--min-queries", type=int, default=100, show_default=True, help="Per measurement.")
@click.option("--min-seconds", type=float, default=0.3, show_default=True, help="Per measurement.")
@click.option("--python", default=None, help="Python on the device to run the benchmark with.")
@click.option("--ssh-config", default=None, help="ssh config file for ssh:// devices.")
@trust_code_option
def search_cmd(
    model, dataset, target, space, trials, devices, storage, out, seed, min_queries, min_seconds, python, ssh_config, trust_code
):
    """Search width, input size, pruning, QAT/PTQ, precision and format for a target, measuring every trial on
    the --device boards (Optuna, multi-objective: quality, p90 latency, peak memory, size; the target's budgets as
    constraints). Re-running the same command resumes; several workers on one --out or --storage split the trials.
    """
    from ..stages.search import run_search
    from ..stages.search.front import table

    console.print(f"[bold]search {escape(model)} for {escape(target)}[/] → {escape(str(out))}")

    def on_trial(t):
        if t.values:
            q, lat, mem, size = t.values
            src = t.user_attrs.get("latency_source", "?")
            console.print(
                f"trial {t.number}: {escape(str(dict(t.params)))} → quality {q:.4f}, p90 {lat:.4g} ({escape(src)}), "
                f"{mem:.1f} MiB, {int(size)} B on {escape(str(t.user_attrs.get('device')))}"
            )
        else:
            console.print(f"trial {t.number}: {t.state.name.lower()}")

    result = run_search(
        model,
        dataset,
        target,
        out,
        space=space,
        trials=trials,
        devices=list(devices),
        storage=storage,
        seed=seed,
        trust_code=trust_code,
        on_trial=on_trial,
        say=lambda m: console.print(escape(m)),
        min_queries=min_queries,
        min_seconds=min_seconds,
        python=python,
        ssh_config=ssh_config,
    )
    console.print(table(result["front"], result["quality"], "Pareto front (quality / p90 / size)", {r["number"] for r in result["front"]}))
    console.print(escape(result["answer"]))
    console.print(f"report: {escape(result['report'])}")
