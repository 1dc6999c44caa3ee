"""`edgekit export` and `edgekit targets`."""

from __future__ import annotations

from pathlib import Path

import click

from .options import dataset_option, trust_code_option
from .tables import console, human_bytes, note, table, warn


@click.command("targets")
def targets_cmd() -> None:
    """List the device profiles (targets/*.toml)."""
    from ..targets import all_targets

    rows = []
    for t in all_targets().values():
        hw, rt = t.hardware, t.runtime
        mem = f"{hw.ram_kb:g} KB" if hw.ram_kb is not None else f"{hw.ram_mb / 1024:g} GB"
        rows.append(
            [
                t.name,
                ", ".join(t.aliases),
                f"{hw.cpu} x{hw.cores} @ {hw.clock_mhz:g} MHz",
                mem,
                ", ".join(rt.runtimes),
                f"{rt.preferred_format} {rt.preferred_precision}",
                f"{t.budgets.latency_p90_ms:g} ms",
            ]
        )
    console.print(table("edgekit targets", ["target", "aliases", "cpu", "memory", "runtimes", "prefers", "p90 budget"], rows))
    console.print("Your own profile: --target ./my-board.toml (same keys as targets/rpi4.toml).")


def _shown(template: str, metrics: dict) -> str:
    """A parity row's template filled from the metrics; — when one it needs is missing or not measurable."""
    import string

    keys = {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(template) if field}
    return template.format_map(metrics) if all(metrics.get(k) is not None for k in keys) else "—"


def _parity_rows(parity, task) -> list[list]:
    """The task's parity rows (its parity_columns over the record's metrics), then the verdict."""
    rows = [["reference", parity.reference], ["samples", parity.samples]]
    rows += [[label, _shown(template, parity.metrics)] for label, template in task.parity_columns()]
    for other, metrics in parity.versus.items():
        rows.append([f"vs {other}", parity.brief(metrics)])
    return rows + [["verdict", ("PASS " if parity.passed else "FAIL ") + parity.rule]]


def _tensor_label(kind: str, tensor, tensors: list) -> str:
    return kind if len(tensors) == 1 else f"{kind} {tensor.name}"


def print_export(artifact) -> None:
    from ..parity import proven
    from ..tasks import get_task

    d, parity = artifact.deploy, artifact.parity
    a, e = d.artifact, d.estimate
    rows = [
        ["artifact", f"{', '.join(a.files)} ({a.format} {a.precision}, {human_bytes(a.bytes)})"],
        ["runtime", d.runtime.name],
        ["target", d.target.name],
        *[[_tensor_label("input", t, d.inputs), f"{t.dtype} {t.shape} {d.layout}"] for t in d.inputs],
        *[[_tensor_label("output", t, d.outputs), f"{t.dtype} {t.shape}"] for t in d.outputs],
        ["raw input", f"{d.preprocess['input']['kind']}: " + " → ".join(s["op"] for s in d.preprocess["steps"])],
    ]
    if "arena_bytes" in d.runtime.options:
        rows.append(["tensor arena", human_bytes(d.runtime.options["arena_bytes"])])
    if d.calibration:
        rows.append(["calibration", f"{d.calibration['samples']} samples from the {d.calibration['split']} split"])
    rows.append(["quantizer", d.toolchain.get("quantizer") or "—"])
    console.print(table(f"exported {artifact.path}", ["", ""], rows))
    if proven(parity):
        console.print(table(f"parity in {parity.runtime}", ["", ""], _parity_rows(parity, get_task(d.task))))
    else:  # --no-parity: no figure that could read as agreement, one unmissable verdict
        rows = [["ran in the runtime", f"{parity.samples} samples, finite outputs of the model's shape"], ["verdict", "NOT PROVEN"]]
        console.print(table(f"parity in {parity.runtime}: NOT PROVEN", ["", ""], rows))
        warn(parity.note)
    for n in artifact.notes:
        note(n)
    if e:
        verdict = "within" if e["within_budget"] else "OVER"
        console.print(
            f"estimated latency on {d.target.name}: {e['estimate_ms']:.3f} ms "
            f"({verdict} the {e['budget_ms']:g} ms p90 budget; {e['method']})"
        )


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--target", "-t", default="x86-64", show_default=True, help="Device profile name/alias, or a .toml file.")
@click.option("--format", "fmt", default=None, help="Artifact format (default: the target's); see `edgekit targets`.")
@click.option("--precision", default=None, help="fp32, fp16, int8 (full integer) or dynamic (default: from target and run).")
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), default=None, help="Artifact folder (default dist/<target>-<format>-<precision>)."
)
@click.option("--dynamic-batch", is_flag=True, help="ONNX: a dynamic batch axis instead of batch 1.")
@click.option("--calib", type=int, default=300, show_default=True, help="int8 calibration samples from the train split.")
@click.option("--force-calib", is_flag=True, help="Accept fewer calibration samples than the safe minimum.")
@click.option("--min-agreement", type=float, default=None, help="int8 top-1 agreement floor (default: the target's).")
@click.option(
    "--runtime-option",
    "ropts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Format-specific runtime switch, e.g. fp16_arithmetic=true (ncnn).",
)
@click.option(
    "--no-parity",
    is_flag=True,
    help="Skip the parity check (any network, an untrained one too): a latency/size-only artifact, marked 'not proven'.",
)
@click.option(
    "--keep-float",
    "keep_float",
    multiple=True,
    metavar="LAYER[,LAYER]",
    help="int8: keep these conv/linear layers (module paths, e.g. features.0.0) in float instead of searching.",
)
@trust_code_option
@dataset_option
def export_cmd(
    run, target, fmt, precision, out, dynamic_batch, calib, force_calib, min_agreement, ropts, no_parity, keep_float, trust_code, dataset
):
    """Export a run for a device, prove parity in the real runtime, write deploy.json."""
    from ..stages.export import export_run
    from .options import model_args

    artifact = export_run(
        run,
        target=target,
        fmt=fmt,
        precision=precision,
        out=out,
        dynamic_batch=dynamic_batch,
        calib=calib,
        force_calib=force_calib,
        min_agreement=min_agreement,
        trust_code=trust_code,
        dataset=dataset,
        runtime_options=model_args(ropts, "--runtime-option"),
        prove_parity=not no_parity,
        keep_float=keep_float,
    )
    print_export(artifact)
    console.print(f"saved artifact to {artifact.path}")
