"""`edgekit compress`."""

from __future__ import annotations

from pathlib import Path

import click

from .options import dataset_option, trust_code_option
from .tables import console, human, human_bytes, note, table


def _layer_ratios(values) -> dict[str, float]:
    ratios = {}
    for item in values:
        name, sep, ratio = item.partition("=")
        try:
            ratios[name] = float(ratio)
        except ValueError:
            raise click.BadParameter(f"'{item}' is not NAME=RATIO", param_hint="--layer-ratio") from None
    return ratios


def _quantizing_reads(option: str, qat: bool, ptq: bool) -> bool:
    """The pruning options a quantize step reads too: --qat trains for --target's format, and QAT distils as a
    pruning fine-tune does (--ptq refuses --distill-from-parent itself)."""
    return (option == "target" and qat) or (option == "distill_from_parent" and (qat or ptq))


def steps_from_flags(
    prune,
    unstructured,
    importance,
    global_pruning,
    layer_ratio,
    finetune,
    pruning,
    distill_to,
    width,
    temperature,
    alpha,
    qat,
    ptq,
    calib,
    force_calib,
    epochs,
    qat_for=None,
    target=None,
) -> list:
    from ..stages.compress import DistillStep, PruneStep, QuantStep

    if qat and ptq:
        raise click.UsageError("choose one of --qat and --ptq")
    if distill_to and qat and epochs is not None:
        raise click.UsageError("--epochs is ambiguous with both --distill-to and --qat; use a --recipe")
    steps = []
    if distill_to:
        steps.append(DistillStep(distill_to, width=width, temperature=temperature, alpha=alpha, **({"epochs": epochs} if epochs else {})))
    if prune is not None or any(v is not None for v in (pruning["target_macs"], pruning["target_latency_ms"])):
        chosen = {k: v for k, v in pruning.items() if v is not None}  # unset: the step's measured defaults
        steps.append(
            PruneStep(
                prune,
                finetune=finetune,
                unstructured=unstructured,
                global_pruning=global_pruning,
                layer_ratios=_layer_ratios(layer_ratio),
                **({"importance": importance} if importance else {}),
                **chosen,
            )
        )
    elif any(v is not None and v is not False for k, v in pruning.items() if not _quantizing_reads(k, qat, ptq)):
        raise click.UsageError("pruning options need --prune, --target-macs or --target-latency")
    if qat or ptq:
        steps.append(
            QuantStep(
                "qat" if qat else "ptq",
                calib=calib,
                force_calib=force_calib,
                qat_for=qat_for,
                target=target if qat else None,
                # with --ptq it is the prune step's; alone, --ptq refuses it in one line (nothing to distil)
                distill_from_parent=pruning["distill_from_parent"] if qat or not any(isinstance(s, PruneStep) for s in steps) else None,
                **({"epochs": epochs} if qat and epochs else {}),
            )
        )
    elif qat_for:
        raise click.UsageError("--qat-for goes with --qat")
    return steps


def print_summary(run) -> None:
    from ..tasks import get_task

    m = run.metrics
    task = get_task(m.task)
    key = task.quality
    parent = m.steps[0]
    rows = []
    for row in m.steps:
        change = -task.drop(parent, row) if row.get(key) is not None and parent.get(key) is not None else None
        rows.append(
            [
                row["step"],
                "—" if row.get(key) is None else f"{row[key]:.4f}",
                "—" if change is None else f"{change:+.2f}",
                f"{row['params']:,}",
                f"{row['nonzero_params'] / max(row['params'], 1):.0%}",
                human(row["macs"]),
                f"{row['macs'] / max(parent['macs'], 1):.2f}x",
                human_bytes(row["size_bytes"]),
            ]
        )
    console.print(
        table(
            f"compressed {run.path}", ["step", key, f"vs parent ({task.unit})", "params", "nonzero", "MACs", "MACs vs parent", "size"], rows
        )
    )
    for row in m.steps:
        if row.get("note"):
            note(row["note"])


@click.command("compress")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="New run folder.")
@click.option("--prune", type=float, default=None, help="Channel ratio to remove (0-1), structured unless --unstructured.")
@click.option("--unstructured", is_flag=True, help="Magnitude pruning of single weights instead of channels.")
@click.option(
    "--importance", default=None, help="Channel importance: l2 (group magnitude, default), l1, taylor, fpgm, lamp, bn-scale, random."
)
@click.option("--global", "global_pruning", is_flag=True, help="Rank channels across layers instead of per layer.")
@click.option("--layer-ratio", multiple=True, metavar="NAME=RATIO", help="Per-layer ratio (repeatable).")
@click.option("--finetune", type=int, default=10, show_default=True, help="Fine-tuning epochs after pruning (in total).")
@click.option("--target-macs", type=float, default=None, help="Prune until MACs ≤ this: a fraction of the parent's (≤ 1) or a count.")
@click.option("--target-latency", "target_latency_ms", type=float, default=None, help="Prune until the latency (ms) ≤ this.")
@click.option(
    "--target",
    default=None,
    help="Board whose roofline estimates --target-latency (default: measured on this machine); with --qat, whose preferred format QAT trains for.",
)
@click.option("--iterative-steps", type=int, default=None, help="Cut in this many steps, fine-tuning between them.")
@click.option("--sparsity-epochs", type=int, default=None, help="Epochs of group-norm sparse training before the cut (DepGraph).")
@click.option("--reg", type=float, default=None, help="Strength of the sparse training's group-norm regulariser.")
@click.option(
    "--distill-from-parent/--no-distill-from-parent",
    default=None,
    help="Fine-tune the pruned model on the unpruned parent's outputs (default: when the task can be distilled); "
    "with --qat, train on the float start's outputs too (default: off, the labels alone measured more accurate).",
)
@click.option("--distill-to", default=None, help="Student: a zoo name or file.py:Class, trained from this run as teacher.")
@click.option("--width", type=float, default=1.0, show_default=True, help="Student width multiplier (zoo students).")
@click.option("--temperature", type=float, default=4.0, show_default=True)
@click.option("--alpha", type=float, default=0.7, show_default=True, help="Weight of the teacher term (1-alpha on labels).")
@click.option("--qat", is_flag=True, help="int8 quantization-aware training in the quantizer of the format it is for (--qat-for).")
@click.option(
    "--qat-for",
    "--for",
    "qat_for",
    default=None,
    help="Format whose int8 QAT trains: tflite, micro, edgetpu (LiteRT's PT2E), executorch (XNNPACK's), onnx, openvino "
    "(NNCF). Default: --target's preferred format, else x86-64's (onnx).",
)
@click.option("--ptq", is_flag=True, help="int8 post-training quantization (NNCF), calibrated on the train split.")
@click.option("--calib", type=int, default=300, show_default=True, help="Calibration samples from the train split.")
@click.option("--force-calib", is_flag=True, help="Accept fewer calibration samples than the safe minimum.")
@click.option("--epochs", type=int, default=None, help="Epochs of distillation or QAT.")
@click.option("--recipe", type=click.Path(path_type=Path), default=None, help="TOML file of [[step]]s to chain in order.")
@click.option("--max-drop", type=float, default=None, help="Fail (exit 1) if the task's score falls more than this many points.")
@trust_code_option
@dataset_option
def compress_cmd(
    run,
    out,
    prune,
    unstructured,
    importance,
    global_pruning,
    layer_ratio,
    finetune,
    target_macs,
    target_latency_ms,
    target,
    iterative_steps,
    sparsity_epochs,
    reg,
    distill_from_parent,
    distill_to,
    width,
    temperature,
    alpha,
    qat,
    qat_for,
    ptq,
    calib,
    force_calib,
    epochs,
    recipe,
    max_drop,
    trust_code,
    dataset,
):
    """Compress a run: prune, quantize, distill — or chain steps from a --recipe. Writes a new run folder."""
    from ..errors import BudgetFailed
    from ..runs import check_run_folder
    from ..stages.compress import compress_run, load_recipe_steps
    from ..stages.compress.chain import check_max_drop
    from ..util.fsutil import check_out_folder

    check_run_folder(run)
    check_max_drop(max_drop)
    check_out_folder(out)
    flags = steps_from_flags(
        prune,
        unstructured,
        importance,
        global_pruning,
        layer_ratio,
        finetune,
        {
            "target_macs": target_macs,
            "target_latency_ms": target_latency_ms,
            "target": target,
            "iterative_steps": iterative_steps,
            "sparsity_epochs": sparsity_epochs,
            "reg": reg,
            "distill_from_parent": distill_from_parent,
        },
        distill_to,
        width,
        temperature,
        alpha,
        qat,
        ptq,
        calib,
        force_calib,
        epochs,
        qat_for=qat_for,
        target=target,
    )
    if recipe and flags:
        raise click.UsageError("give either --recipe or step flags, not both")
    steps = load_recipe_steps(recipe) if recipe else flags
    try:
        result = compress_run(run, steps, out, max_drop=max_drop, trust_code=trust_code, dataset=dataset, say=note)
    except BudgetFailed as e:
        if getattr(e, "run", None):
            print_summary(e.run)
        raise
    print_summary(result)
    console.print(f"saved run to {out}")
