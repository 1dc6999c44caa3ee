"""Issue 12 (issue 24 added OpenVINO): every runtime x precision side by side for resnet8, ds-cnn and mobilenetv1-025
— size, p50 at 1 and 2 threads as a ratio to onnxruntime fp32 of the same round (rounds interleaved), max |Δ| and
agreement with PyTorch — on this machine, and accuracy and agreement under the emulated Raspberry Pi 4 (Cortex-A72)
and 5 (Cortex-A76). Bars: NCNN, ExecuTorch and OpenVINO fp32 parity ≤ 1e-4 max |Δ| on x86 and under both emulated
CPUs; ExecuTorch and OpenVINO int8 agreement ≥ the target's floor. The models are the trained parents of
benchmarks/_parents.py (≥ 95% fp32 test accuracy).

    edgekit device emulate rpi4 --with executorch --with openvino && edgekit device emulate rpi5 --with executorch --with openvino
    EDGEKIT_BENCH_CACHE=/some/folder python benchmarks/runtimes.py
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from _common import write_results
from _parents import parent

import edgekit as ek
from edgekit.emulate.rootfs import built_with, ready_rootfs
from edgekit.errors import BudgetFailed

MODELS = ["resnet8", "ds-cnn", "mobilenetv1-025"]
ARTIFACTS = [
    ("onnx", "fp32"),
    ("onnx", "int8"),
    ("tflite", "fp32"),
    ("tflite", "int8"),
    ("ncnn", "fp32"),
    ("ncnn", "fp16"),
    ("executorch", "fp32"),
    ("executorch", "int8"),
    ("openvino", "fp32"),
    ("openvino", "fp16"),
    ("openvino", "int8"),
]
ROUNDS = 3
FLOOR = 0.98  # rpi4/rpi5 profiles' min_int8_agreement
BOARDS, EXTRAS = ("rpi4", "rpi5"), {"executorch", "openvino"}


def check_boards() -> None:
    """Before the hour of work: each emulated board holds the runtimes its columns need (a rootfs built without them
    once cost a whole run)."""
    for board in BOARDS:
        missing = EXTRAS - built_with(ready_rootfs(board))
        if missing:
            raise SystemExit(
                f"the emulated {board} lacks {', '.join(sorted(missing))}: edgekit device emulate {board} --with executorch --with openvino"
            )


def main() -> None:
    check_boards()
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in MODELS:
            run = parent(name)
            arts, refused = [], []
            for f, p in ARTIFACTS:
                # at the target's floor first, as a user's export runs (int8 may keep early layers float to pass);
                # an artifact refused there is exported at floor 0 so that its row is still measured, and marked
                try:
                    arts.append(ek.export(run, target="rpi5", format=f, precision=p, out=tmp / f"{name}-{f}-{p}", progress=False))
                    refused.append(False)
                except BudgetFailed:
                    kw = {"min_agreement": 0.0, "out": tmp / f"{name}-{f}-{p}-0", "progress": False}
                    arts.append(ek.export(run, target="rpi5", format=f, precision=p, **kw))
                    refused.append(True)
            times = {t: {i: [] for i in range(len(arts))} for t in (1, 2)}
            for r in range(ROUNDS):
                for t in (1, 2) if r % 2 == 0 else (2, 1):
                    rep = ek.bench(
                        arts if r % 2 == 0 else arts[::-1],
                        threads=t,
                        min_queries=300,
                        min_seconds=0.5,
                        warmup=30,
                        report=tmp / f"{name}-{r}-{t}.html",
                    )
                    order = list(range(len(arts))) if r % 2 == 0 else list(range(len(arts)))[::-1]
                    by_index = dict(zip(order, rep.entries))
                    base = by_index[0].result.latency_ms.p50  # onnxruntime fp32, same round
                    for i, e in by_index.items():
                        times[t][i].append(e.result.latency_ms.p50 / base)
            emu = {
                board: ek.bench(
                    arts, device=f"emu:{board}", threads=1, min_queries=10, min_seconds=0, warmup=2, report=tmp / f"{name}-{board}.html"
                ).entries
                for board in ("rpi4", "rpi5")
            }
            results[name] = {}
            for i, ((f, p), art) in enumerate(zip(ARTIFACTS, arts)):
                kept = art.deploy.extras.get("float_layers", {})
                cell = {
                    "refused_at_floor": refused[i],
                    "float_layers": kept or None,
                    "bytes": art.deploy.artifact.bytes,
                    "max_abs_diff": art.parity.metrics["max_abs_diff"],
                    "agreement": art.parity.metrics["top1_agreement"],
                    "accuracy": art.parity.metrics["accuracy"],
                    "p50_vs_onnx_fp32": {t: statistics.median(times[t][i]) for t in (1, 2)},
                }
                for board, entries in emu.items():
                    e = entries[i]
                    cell[board] = (
                        {"status": "failed", "error": e.error}
                        if e.result is None
                        else {
                            "accuracy": e.result.quality["accuracy"],
                            "agreement": e.result.quality["agreement"],
                            "max_abs_diff": e.result.quality["max_abs_diff"],
                            "cpu": e.result.env.get("cpu_core"),
                        }
                    )
                results[name][f"{f} {p}"] = cell

                def emu_cell(c):
                    return (
                        "failed" if c.get("status") == "failed" else f"{c['accuracy']:.4f} / {c['agreement']:.1%} / {c['max_abs_diff']:.1e}"
                    )

                rows.append(
                    [
                        name,
                        f,
                        p,
                        f"{cell['bytes'] / 1024:.1f} KiB",
                        f"{cell['p50_vs_onnx_fp32'][1]:.2f}x",
                        f"{cell['p50_vs_onnx_fp32'][2]:.2f}x",
                        f"{cell['max_abs_diff']:.1e}",
                        f"{cell['agreement']:.2%}" + (" (refused at the floor)" if refused[i] else ""),
                        f"{kept['kept']}/{kept['layers']} ({kept['macs_in_float']:.0%} of MACs)" if kept.get("kept") else "—",
                        emu_cell(cell["rpi4"]),
                        emu_cell(cell["rpi5"]),
                    ]
                )
                print(rows[-1], flush=True)

    def fp32_ok(cell):
        return cell["max_abs_diff"] <= 1e-4 and all(cell[b].get("max_abs_diff", 1) <= 1e-4 for b in ("rpi4", "rpi5"))

    bars = {
        "NCNN fp32 max |Δ| ≤ 1e-4 on x86, A72 and A76": all(fp32_ok(results[m]["ncnn fp32"]) for m in results),
        "ExecuTorch fp32 max |Δ| ≤ 1e-4 on x86, A72 and A76": all(fp32_ok(results[m]["executorch fp32"]) for m in results),
        f"ExecuTorch int8 agreement ≥ {FLOOR:.0%}": all(results[m]["executorch int8"]["agreement"] >= FLOOR for m in results),
        "OpenVINO fp32 max |Δ| ≤ 1e-4 on x86, A72 and A76": all(fp32_ok(results[m]["openvino fp32"]) for m in results),
        f"OpenVINO int8 agreement ≥ {FLOOR:.0%}": all(results[m]["openvino int8"]["agreement"] >= FLOOR for m in results),
    }
    write_results(
        "runtimes",
        {"rounds": ROUNDS, "results": results, "bars": bars},
        [
            "model",
            "format",
            "precision",
            "size",
            "p50 / onnx fp32, 1 thread",
            "2 threads",
            "max |Δ| (x86)",
            "agreement (x86)",
            "layers kept float",
            "emu:rpi4 accuracy / agreement / max |Δ|",
            "emu:rpi5 accuracy / agreement / max |Δ|",
        ],
        rows,
        [f"{k}: {'PASS' if v else 'FAIL'}" for k, v in bars.items()]
        + [
            "p50 ratios: median over interleaved rounds of each artifact's p50 divided by onnxruntime fp32's in the same round",
            "max |Δ| on the emulated boards: the device runner's outputs against the host PyTorch reference",
            "every artifact is exported at the rpi5 profile's floor (98% int8 agreement) as a user's export is; int8 that "
            "misses it on the validation split keeps its most int8-sensitive layers float (layers kept float), and an "
            "artifact still refused is exported at floor 0 and marked, so its row is measured",
            "models: benchmarks/_parents.py, trained on digits resized to their input shapes to >= 95% fp32 test accuracy; "
            "latency under emulation is not measured",
            "OpenVINO: f32 inference (fp16 = fp16 weights, f32 arithmetic, the export's default); its ARM CPU plugin runs "
            "the emulated boards",
        ],
    )


if __name__ == "__main__":
    main()
