"""Issue 24 item 2: QAT in the quantizer the artifact is made with. A run trained with `--qat-for tflite` (PT2E with
LiteRT's quantizer) or `--qat-for executorch` (XNNPACK's) ships its trained ranges; its artifact is compared with the
QAT model itself (the bar: >= 99.5% top-1 agreement) and, on accuracy, with the PT2E post-training artifact of the
float parent (the bar: at least as accurate).

Per model (parents of benchmarks/_parents.py; QAT_EPOCHS epochs of QAT, a tenth of the training learning rate, on
the labels as edgekit does by default): agreement of each artifact with its reference in its own runtime (LiteRT,
ExecuTorch) on the test split, and accuracy; and QAT distilled from the float parent beside it (PyTorch accuracy).

    EDGEKIT_BENCH_CACHE=/some/folder python benchmarks/qat_tflite.py [MODEL ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import write_results
from _parents import cache_dir, parent

import edgekit as ek
from edgekit.errors import EdgekitError
from edgekit.runs import is_run
from edgekit.stages.compress.distill import PARENT_ALPHA, PARENT_TEMPERATURE

# the MLPerf Tiny models, then the mobile architectures of issue 24 item 6 (64 px parents)
MODELS = ["resnet8", "ds-cnn", "mobilenetv1-025", "mobilenet-v2", "lcnet", "efficientnet-lite", "mobilenet-v3-small"]
QAT_EPOCHS = 2
FORMATS = {"tflite": "rpi4", "executorch": "rpi5"}  # the QAT's format → a target that runs it


def qat_run(name: str, fmt: str, *, distilled: bool = False):
    """QAT of the parent, on the labels alone (edgekit's default) or `distilled`: on the float parent's outputs as
    well (`compress --qat --distill-from-parent`; the comparison that chose the default)."""
    folder = cache_dir() / "qat" / f"{name}-{fmt}-e{QAT_EPOCHS}-{'kd' if distilled else 'labels'}"
    if is_run(folder):
        return ek.load_run(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return ek.compress(parent(name), qat=True, qat_for=fmt, epochs=QAT_EPOCHS, distill_from_parent=distilled, out=folder, progress=False)


def _failed(cells: dict, rows: list, name: str, label: str, what: str, e: EdgekitError) -> None:
    """A row saying why a model has no artifact to judge (its bars then FAIL)."""
    cells[label] = {"error": e.message}
    rows.append([name, f"{what} ({e.message[:120]})", "", "", "", ""])
    print(rows[-1], flush=True)


def _compare(cells: dict, name: str, fmt: str) -> str:
    def acc(label: str, key: str) -> str:
        value = cells.get(label, {}).get(key)
        return "-" if value is None else f"{value:.4f}"

    distilled = f"QAT for {fmt} distilled"
    return (
        f"{name} {fmt} {acc(f'QAT for {fmt} (trained ranges)', 'run_test_accuracy')} / {acc(distilled, 'run_test_accuracy')}"
        f" (e{cells.get(distilled, {}).get('qat_best_epoch', '-')}) / {acc(f'PT2E post-training of the parent ({fmt})', 'accuracy')}"
    )


def main() -> None:
    models = sys.argv[1:] or MODELS
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            base = parent(name)
            results[name] = {"fp32_test_accuracy": base.metrics.test.get("accuracy")}
            for fmt, target in FORMATS.items():
                try:
                    qat = qat_run(name, fmt)
                except EdgekitError as e:  # a model PT2E QAT cannot take: its row says why
                    _failed(results[name], rows, name, f"QAT for {fmt} (trained ranges)", f"QAT for {fmt}: failed", e)
                    continue
                try:
                    distilled = qat_run(name, fmt, distilled=True)
                    results[name][f"QAT for {fmt} distilled"] = {
                        "run_test_accuracy": distilled.metrics.test.get("accuracy"),
                        "qat_best_epoch": distilled.spec.quantization.get("best_epoch"),
                    }
                except EdgekitError as e:
                    results[name][f"QAT for {fmt} distilled"] = {"error": e.message}
                for label, run in ((f"QAT for {fmt} (trained ranges)", qat), (f"PT2E post-training of the parent ({fmt})", base)):
                    out = Path(tmp) / f"{name}-{fmt}-{len(rows)}"
                    try:
                        art = ek.export(run, target=target, format=fmt, precision="int8", min_agreement=0.0, out=out, progress=False)
                    except EdgekitError as e:  # an artifact the format cannot make of it: its row says why
                        _failed(results[name], rows, name, label, f"{label}: export failed", e)
                        continue
                    m = art.parity.metrics
                    cell = {
                        "reference": art.parity.reference,
                        "agreement": m["top1_agreement"],
                        "accuracy": m.get("accuracy"),
                        "quantizer": art.deploy.toolchain.get("quantizer"),
                        "run_test_accuracy": run.metrics.test.get("accuracy"),
                        "qat_best_epoch": run.spec.quantization.get("best_epoch") if run is qat else None,
                    }
                    results[name][label] = cell
                    rows.append(
                        [
                            name,
                            label,
                            cell["reference"],
                            f"{cell['agreement']:.2%}",
                            f"{cell['accuracy']:.4f}",
                            f"{cell['run_test_accuracy']:.4f}",
                        ]
                    )
                    print(rows[-1], flush=True)
    bars = []
    for n in models:
        for fmt in FORMATS:
            qat, ptq = (
                results[n].get(f"QAT for {fmt} (trained ranges)", {}),
                results[n].get(f"PT2E post-training of the parent ({fmt})", {}),
            )
            if "agreement" not in qat or "accuracy" not in ptq:
                bars.append(f"{n} {fmt}: no QAT artifact to judge: FAIL")
                continue
            bars.append(f"{n} {fmt}: agrees with its QAT model >= 99.5%: {'PASS' if qat['agreement'] >= 0.995 else 'FAIL'}")
            bars.append(
                f"{n} {fmt}: at least as accurate as PT2E post-training: {'PASS' if qat['accuracy'] >= ptq['accuracy'] else 'FAIL'}"
            )
    write_results(
        "qat_tflite",
        {"results": results, "qat_epochs": QAT_EPOCHS, "bars": bars},
        ["model", "artifact", "parity reference", "agreement with it (test)", "artifact accuracy", "PyTorch model accuracy"],
        rows,
        bars
        + [
            f"QAT: {QAT_EPOCHS} epochs, PT2E prepare_qat_pt2e with the format's quantizer, ranges started from the post-training export's (histogram observers on its 300 calibration samples; the run's quantization.calibration.start)",
            "TFLite int8 run in LiteRT (rpi4 target), ExecuTorch int8 in ExecuTorch's XNNPACK (rpi5 target), on this x86 machine",
            f"QAT on the labels alone (edgekit's default, the rows above) vs distilled from the float parent (--distill-from-parent: T"
            f" {PARENT_TEMPERATURE:g}, alpha {PARENT_ALPHA:g}), PyTorch QAT model test accuracy, labels alone / distilled (its epoch) /"
            " the post-training artifact's: " + ", ".join(_compare(results[n], n, fmt) for n in models for fmt in FORMATS),
            "QAT epoch kept (best on validation, left the start only when no worse on accuracy and loss; 0 = the post-training ranges it started from): "
            + ", ".join(
                f"{n} {fmt} {results[n][f'QAT for {fmt} (trained ranges)'].get('qat_best_epoch', '-')}" for n in models for fmt in FORMATS
            ),
            "parents: digits resized to each model's input (benchmarks/_parents.py); "
            + ", ".join(f"{n} fp32 test accuracy {results[n]['fp32_test_accuracy']:.4f}" for n in models),
        ],
    )


if __name__ == "__main__":
    main()
