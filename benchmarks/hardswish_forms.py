"""Issue 24: how an int8 TFLite artifact holds hard-swish. TFLite's int8 HARD_SWISH op is not taken by XNNPACK
(LiteRT's default CPU delegate), so it runs in LiteRT's own kernel between XNNPACK partitions, and LiteRT computes it
in fixed point, one step off exact arithmetic on 0.4% of outputs (results/int8_references.md); written out as
x * relu6(x + 3) / 6 it becomes ADD (with a fused clamp) and MUL, which XNNPACK takes and computes exactly.
Since this measurement edgekit writes it out for x86-64 targets and keeps the op for ARM boards
(formats/convert/pt2e.py writes_hardswish_out); each form is forced here for the rpi4 target to compare.

Per model with hard-swish (LCNet, MobileNetV3-Small; parents of _parents.py), each form: the parent's PT2E
post-training artifact, and QAT for TFLite (QAT_EPOCHS epochs, as qat_tflite.py) exported from its own graph; each
exported for rpi4 and judged in LiteRT on the test split against its reference (fp32 parent, or the QAT model);
XNNPACK partitions; p50 latency, the forms measured in interleaved rounds, 1 thread; guest instructions per
inference under the emulated Pi 4 (edgekit device emulate rpi4 first).

    EDGEKIT_BENCH_CACHE=/some/folder python benchmarks/hardswish_forms.py [MODEL ...]
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

from _common import bare_latency, write_results
from _parents import cache_dir, parent
from qat_tflite import QAT_EPOCHS

import edgekit as ek
import edgekit.formats.convert.pt2e as pt2e
import edgekit.formats.tflite as tflite
import edgekit.stages.compress.pt2e_qat as pt2e_qat
from edgekit.runs import is_run

MODELS = ["lcnet", "mobilenet-v3-small"]
ROUNDS = 3
OP, WRITTEN = "HARD_SWISH op (edgekit for ARM)", "written out (edgekit for x86-64)"


@contextlib.contextmanager
def forced(form: str):
    """edgekit's int8 preparation and QAT with nn.Hardswish in `form`, whatever the target."""
    original, chosen = pt2e.prepare_for_int8, pt2e_qat.hardswish_form

    def prepare(model, *, hardswish=False):
        return original(model, hardswish=form == WRITTEN)

    pt2e.prepare_for_int8 = tflite.prepare_for_int8 = prepare
    pt2e_qat.hardswish_form = lambda quantizer, target: "written out" if form == WRITTEN else "op"
    try:
        yield
    finally:
        pt2e.prepare_for_int8 = tflite.prepare_for_int8 = original
        pt2e_qat.hardswish_form = chosen


def qat_run(name: str, form: str):
    folder = cache_dir() / "qat-hardswish" / ("op" if form == OP else "written-out") / f"{name}-tflite-e{QAT_EPOCHS}"
    if is_run(folder):
        return ek.load_run(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with forced(form):
        return ek.compress(parent(name), qat=True, qat_for="tflite", epochs=QAT_EPOCHS, out=folder, progress=False)


def export(run, form: str, out: Path):
    with forced(form):
        return ek.export(run, target="rpi4", format="tflite", precision="int8", min_agreement=0.0, out=out, progress=False)


def main() -> None:
    models = sys.argv[1:] or MODELS
    rows, results, bars = [], {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            arts = {}
            for form in (OP, WRITTEN):
                arts["post-training", form] = export(parent(name), form, Path(tmp) / f"{name}-ptq-{len(arts)}")
                arts["QAT", form] = export(qat_run(name, form), form, Path(tmp) / f"{name}-qat-{len(arts)}")
            paths = {key: next(Path(a.path).glob("*.tflite")) for key, a in arts.items()}
            rounds = {key: [] for key in arts}
            for _ in range(ROUNDS):
                for key, path in paths.items():
                    rounds[key].append(bare_latency(path, threads=1)["p50_ms"])
            # ARM work (guest instructions per inference under the emulated Pi 4's Cortex-A72, load-independent):
            # whether the partitions cost on the board's CPU too, not only on this x86 one
            entries = ek.bench(  # an artifact not measured has no result: its row says failed
                [a.path for a in arts.values()],
                device="emu:rpi4",
                report=Path(tmp) / f"{name}-arm.html",
                min_queries=5,
                min_seconds=0,
                warmup=5,
                threads=1,
                count_instructions=50,
            ).entries
            arm = {key: (e.result.instructions["per_inference"] if e.result else None) for key, e in zip(arts, entries)}
            results[name] = {}
            for (kind, form), art in arts.items():
                m = art.parity.metrics
                cell = {
                    "reference": art.parity.reference,
                    "agreement": m["top1_agreement"],
                    "accuracy": m.get("accuracy"),
                    "p50_ms": min(rounds[kind, form]),
                    "xnnpack_partitions": tflite.xnnpack_partitions(paths[kind, form]),
                    "hard_swish_op": "HARD_SWISH" in tflite.tflite_ops(paths[kind, form]),
                    "a72_instructions": arm[kind, form],
                }
                results[name][f"{kind}, {form}"] = cell
                rows.append(
                    [
                        name,
                        kind,
                        form,
                        cell["reference"],
                        f"{cell['agreement']:.2%}",
                        f"{cell['accuracy']:.4f}",
                        cell["xnnpack_partitions"],
                        f"{cell['p50_ms']:.4f}",
                        f"{cell['a72_instructions'] / 1e6:.2f} M" if cell["a72_instructions"] else "failed",
                    ]
                )
                print(rows[-1], flush=True)
            for kind in ("post-training", "QAT"):
                op, written = results[name][f"{kind}, {OP}"], results[name][f"{kind}, {WRITTEN}"]
                bars.append(
                    f"{name} {kind}: written out {written['p50_ms'] / op['p50_ms']:.2f}x the op's latency "
                    f"({written['xnnpack_partitions']} vs {op['xnnpack_partitions']} XNNPACK partitions), "
                    + (
                        f"{written['a72_instructions'] / op['a72_instructions']:.2f}x its Cortex-A72 instructions; "
                        if written["a72_instructions"] and op["a72_instructions"]
                        else "Cortex-A72 count failed; "
                    )
                    + "agreement "
                    f"{written['agreement']:.2%} vs {op['agreement']:.2%}; accuracy {written['accuracy']:.4f} vs {op['accuracy']:.4f}"
                )
    write_results(
        "hardswish_forms",
        {"results": results, "qat_epochs": QAT_EPOCHS, "bars": bars},
        [
            "model",
            "int8",
            "hard-swish",
            "parity reference",
            "agreement with it (test)",
            "artifact accuracy",
            "XNNPACK partitions",
            "p50 ms (1 thr, this x86)",
            "Cortex-A72 (emulated Pi 4) instructions / inference",
        ],
        rows,
        bars
        + [
            f"QAT: {QAT_EPOCHS} epochs with LiteRT's PT2E quantizer, as qat_tflite.py; post-training: PT2E on 300 train samples",
            "each artifact run in LiteRT (rpi4 target) on this x86 machine; XNNPACK partitions: DELEGATE nodes after allocate_tensors()",
            f"p50: best of {ROUNDS} interleaved rounds of 30 warm-up + 300 timed invoke() calls, 1 thread, batch 1",
            "ARM work under qemu-user (edgekit bench --device emu:rpi4 --count-instructions 50: guest AArch64 instructions "
            "per inference, 1 thread): work, not cycles",
        ],
    )


if __name__ == "__main__":
    main()
