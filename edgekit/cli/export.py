"""`edgekit export` and `edgekit targets`."""

from __future__ import annotations

from pathlib import Path

import click

from .tables import console, human_bytes, table


@click.command("targets")
def targets_cmd() -> None:
    """List the device profiles (targets/*.toml)."""
    from ..targets import all_targets

    rows = []
    for t in all_targets().values():
        hw, rt = t.hardware, t.runtime
        mem = f"{hw['ram_kb']:g} KB" if "ram_kb" in hw else f"{hw['ram_mb'] / 1024:g} GB"
        rows.append([t.name, ", ".join(t.aliases), f"{hw['cpu']} x{hw['cores']} @ {hw['clock_mhz']} MHz", mem,
                     ", ".join(rt["runtimes"]), f"{rt['preferred_format']} {rt['preferred_precision']}",
                     f"{t.budgets['latency_p90_ms']:g} ms"])
    console.print(table("edgekit targets", ["target", "aliases", "cpu", "memory", "runtimes", "prefers", "p90 budget"], rows))
    console.print("Your own profile: --target ./my-board.toml (same keys as targets/rpi4.toml).")


def print_export(out: Path, deploy: dict) -> None:
    a, e = deploy["artifact"], deploy["estimate"]
    console.print(table(f"exported {out}", ["", ""], [
        ["artifact", f"{a['file']} ({a['format']} {a['precision']}, {human_bytes(a['bytes'])})"],
        ["runtime", deploy["runtime"]["name"]],
        ["target", deploy["target"]["name"]],
        ["input", f"{deploy['input']['dtype']} {deploy['input']['shape']} {deploy['input']['layout']}"],
        *([["tensor arena", human_bytes(deploy["runtime"]["arena_bytes"])]] if "arena_bytes" in deploy["runtime"] else []),
        *([["calibration", f"{deploy['calibration']['samples']} samples from the {deploy['calibration']['split']} split"]]
          if deploy.get("calibration") else []),
        ["quantizer", deploy["toolchain"]["quantizer"] or "—"],
    ]))
    import json

    parity = json.loads((out / "parity.json").read_text())
    rows = [["reference", parity["reference"]], ["samples", parity["samples"]]]
    if "top1_agreement" in parity:
        rows += [["top-1 agreement", f"{parity['top1_agreement']:.2%}"],
                 ["accuracy (runtime / reference)", f"{parity['accuracy']:.4f} / {parity['reference_accuracy']:.4f}"]]
    rows += [["max |Δ output|", f"{parity['max_abs_diff']:.2e}"], ["cosine", f"{parity['cosine']:.6f}"],
             ["PSNR", f"{parity['psnr_db']:.1f} dB"], ["verdict", ("PASS " if parity["passed"] else "FAIL ") + parity["rule"]]]
    console.print(table(f"parity in {parity['runtime']}", ["", ""], rows))
    if "edgetpu" in deploy["extras"]:
        m = deploy["extras"]["edgetpu"]
        console.print(f"Edge TPU: {len(m['edgetpu'])} ops mapped, {len(m['cpu'])} on CPU {m['cpu'] or ''} ({m['source']})")
    verdict = "within" if e["within_budget"] else "OVER"
    console.print(f"estimated latency on {deploy['target']['name']}: {e['estimate_ms']:.3f} ms "
                  f"({verdict} the {e['budget_ms']:g} ms p90 budget; {e['method']})")


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--target", "-t", default="x86-64", show_default=True, help="Device profile name/alias, or a .toml file.")
@click.option("--format", "fmt", default=None, help="onnx, tflite, micro or edgetpu (default: the target's).")
@click.option("--precision", default=None, help="fp32, fp16, int8 (full integer) or dynamic (default: from target and run).")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Artifact folder (default dist/<target>-<format>-<precision>).")
@click.option("--dynamic-batch", is_flag=True, help="ONNX: a dynamic batch axis instead of batch 1.")
@click.option("--calib", type=int, default=300, show_default=True, help="int8 calibration samples from the train split.")
@click.option("--force-calib", is_flag=True, help="Accept fewer calibration samples than the safe minimum.")
@click.option("--min-agreement", type=float, default=None, help="int8 top-1 agreement floor (default: the target's).")
def export_cmd(run, target, fmt, precision, out, dynamic_batch, calib, force_calib, min_agreement):
    """Export a run for a device, prove parity in the real runtime, write deploy.json."""
    from ..export import export_run

    out, deploy = export_run(run, target=target, fmt=fmt, precision=precision, out=out, dynamic_batch=dynamic_batch,
                             calib=calib, force_calib=force_calib, min_agreement=min_agreement)
    print_export(out, deploy)
    console.print(f"saved artifact to {out}")
