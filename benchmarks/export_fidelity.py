"""Bars (issue 4), measured side by side in one run:
- fp32 ONNX and TFLite: max |Δlogit| ≤ 1e-4 and 100% top-1 agreement with PyTorch on digits;
- full-int8 TFLite and int8 ONNX of digits-cnn: agreement ≥ 98%, accuracy drop ≤ 1 point;
- int8 artifacts ≤ 0.3x the size of fp32 ones; resnet8 int8 latency ≤ 0.6x fp32 in both runtimes.

    python benchmarks/export_fidelity.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _common import bare_latency, write_results

from edgekit.exporter import export_run
from edgekit.training import train_run

MODELS = {"digits-cnn": dict(model="digits-cnn"),
          # resnet8 on digits resized to 3x32x32: real accuracy, the MLPerf Tiny network's real compute
          "resnet8": dict(model="resnet8", dataset="digits", epochs=8)}
VARIANTS = [("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")]


def main() -> None:
    results, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in MODELS.items():
            run = train_run(out=Path(tmp) / name, progress=False, **kw)
            sizes = {}
            for fmt, precision in VARIANTS:
                out, deploy = export_run(run, fmt=fmt, precision=precision, out=Path(tmp) / f"{name}-{fmt}-{precision}")
                parity = json.loads((out / "parity.json").read_text())
                art = out / deploy["artifact"]["file"]
                sizes[(fmt, precision)] = art.stat().st_size
                lat = {t: bare_latency(art, threads=t)["p50_ms"] for t in (1, 2)}
                r = {"model": name, "format": fmt, "precision": precision, "bytes": art.stat().st_size,
                     "max_abs_diff": parity["max_abs_diff"], "top1_agreement": parity["top1_agreement"],
                     "accuracy": parity["accuracy"], "reference_accuracy": parity["reference_accuracy"],
                     "p50_ms_threads1": lat[1], "p50_ms_threads2": lat[2]}
                if precision == "int8":
                    r["size_vs_fp32"] = r["bytes"] / sizes[(fmt, "fp32")]
                    fp32 = next(x for x in results if x["model"] == name and x["format"] == fmt and x["precision"] == "fp32")
                    r["latency_vs_fp32_threads1"] = lat[1] / fp32["p50_ms_threads1"]
                    r["latency_vs_fp32_threads2"] = lat[2] / fp32["p50_ms_threads2"]
                results.append(r)
                rows.append([name, fmt, precision, f"{r['bytes']:,}", f"{r.get('size_vs_fp32', 1):.2f}x", f"{r['max_abs_diff']:.1e}",
                             f"{r['top1_agreement']:.2%}", f"{r['accuracy']:.4f} ({(r['accuracy'] - r['reference_accuracy']) * 100:+.2f} pt)",
                             f"{lat[1]:.3f}", f"{r.get('latency_vs_fp32_threads1', 1):.2f}x", f"{lat[2]:.3f}"])
    checks = {
        "fp32 max|Δ| ≤ 1e-4 and 100% agreement (digits-cnn)": all(r["max_abs_diff"] <= 1e-4 and r["top1_agreement"] == 1.0
                                                                   for r in results if r["model"] == "digits-cnn" and r["precision"] == "fp32"),
        "int8 agreement ≥ 98% and drop ≤ 1 pt (digits-cnn)": all(r["top1_agreement"] >= 0.98 and (r["reference_accuracy"] - r["accuracy"]) <= 0.01
                                                               for r in results if r["model"] == "digits-cnn" and r["precision"] == "int8"),
        "int8 size ≤ 0.3x fp32 (resnet8)": all(r["size_vs_fp32"] <= 0.3 for r in results if r["model"] == "resnet8" and r["precision"] == "int8"),
        "int8 size ≤ 0.3x fp32 (digits-cnn)": all(r["size_vs_fp32"] <= 0.3 for r in results if r["model"] == "digits-cnn" and r["precision"] == "int8"),
        "resnet8 int8 latency ≤ 0.6x fp32, both runtimes (1 thread)": all(r["latency_vs_fp32_threads1"] <= 0.6 for r in results
                                                                          if r["model"] == "resnet8" and r["precision"] == "int8"),
    }
    write_results("export_fidelity", {"results": results, "checks": checks},
                  ["model", "format", "precision", "bytes", "size vs fp32", "max abs diff", "agreement", "accuracy (vs PyTorch)",
                   "p50 ms (1 thr)", "vs fp32", "p50 ms (2 thr)"], rows,
                  [f"{k}: {'PASS' if v else 'FAIL'}" for k, v in checks.items()] +
                  ["latency: bare loop of the runtime's run()/invoke(), batch 1, 30 warm-up + 300 timed, same process, same run"])


if __name__ == "__main__":
    main()
