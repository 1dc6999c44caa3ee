"""Bars (issue 4), measured side by side in one run:
- fp32 ONNX and TFLite: max |Δlogit| ≤ 1e-4 and 100% top-1 agreement with PyTorch on digits;
- full-int8 TFLite and int8 ONNX of digits-cnn: agreement ≥ 98%, accuracy drop ≤ 1 point;
- int8 artifacts ≤ 0.3x the size of fp32 ones; resnet8 int8 latency ≤ 0.6x fp32 in both runtimes.

    python benchmarks/export_fidelity.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import bare_latency, write_results

import edgekit as ek

MODELS = {
    "digits-cnn": dict(model="digits-cnn"),
    # resnet8 on digits resized to 3x32x32: real accuracy, the MLPerf Tiny network's real compute
    "resnet8": dict(model="resnet8", data="digits", epochs=8),
}
VARIANTS = [("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")]


def main() -> None:
    results, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in MODELS.items():
            run = ek.train(out=Path(tmp) / name, progress=False, **kw)
            fp32 = {}
            for fmt, precision in VARIANTS:
                art = ek.export(run, format=fmt, precision=precision, out=Path(tmp) / f"{name}-{fmt}-{precision}", progress=False)
                model_file, p = art.path / art.deploy.artifact.files[0], art.parity.metrics
                lat = {t: bare_latency(model_file, threads=t)["p50_ms"] for t in (1, 2)}
                r = {
                    "model": name,
                    "format": fmt,
                    "precision": precision,
                    "bytes": model_file.stat().st_size,
                    "max_abs_diff": p["max_abs_diff"],
                    "top1_agreement": p["top1_agreement"],
                    "accuracy": p["accuracy"],
                    "reference_accuracy": p["reference_accuracy"],
                    "p50_ms_threads1": lat[1],
                    "p50_ms_threads2": lat[2],
                }
                if precision == "fp32":
                    fp32[fmt] = r
                else:
                    r["size_vs_fp32"] = r["bytes"] / fp32[fmt]["bytes"]
                    r["latency_vs_fp32_threads1"] = lat[1] / fp32[fmt]["p50_ms_threads1"]
                    r["latency_vs_fp32_threads2"] = lat[2] / fp32[fmt]["p50_ms_threads2"]
                results.append(r)
                rows.append(
                    [
                        name,
                        fmt,
                        precision,
                        f"{r['bytes']:,}",
                        f"{r.get('size_vs_fp32', 1):.2f}x",
                        f"{r['max_abs_diff']:.1e}",
                        f"{r['top1_agreement']:.2%}",
                        f"{r['accuracy']:.4f} ({(r['accuracy'] - r['reference_accuracy']) * 100:+.2f} pt)",
                        f"{lat[1]:.3f}",
                        f"{r.get('latency_vs_fp32_threads1', 1):.2f}x",
                        f"{lat[2]:.3f}",
                    ]
                )

    def rows_of(model, precision):
        return [r for r in results if r["model"] == model and r["precision"] == precision]

    checks = {
        "fp32 max|Δ| ≤ 1e-4 and 100% agreement (digits-cnn)": all(
            r["max_abs_diff"] <= 1e-4 and r["top1_agreement"] == 1.0 for r in rows_of("digits-cnn", "fp32")
        ),
        "int8 agreement ≥ 98% and drop ≤ 1 pt (digits-cnn)": all(
            r["top1_agreement"] >= 0.98 and r["reference_accuracy"] - r["accuracy"] <= 0.01 for r in rows_of("digits-cnn", "int8")
        ),
        "int8 size ≤ 0.3x fp32 (resnet8)": all(r["size_vs_fp32"] <= 0.3 for r in rows_of("resnet8", "int8")),
        "int8 size ≤ 0.3x fp32 (digits-cnn)": all(r["size_vs_fp32"] <= 0.3 for r in rows_of("digits-cnn", "int8")),
        "resnet8 int8 latency ≤ 0.6x fp32, both runtimes (1 thread)": all(
            r["latency_vs_fp32_threads1"] <= 0.6 for r in rows_of("resnet8", "int8")
        ),
    }
    write_results(
        "export_fidelity",
        {"results": results, "checks": checks},
        [
            "model",
            "format",
            "precision",
            "bytes",
            "size vs fp32",
            "max abs diff",
            "agreement",
            "accuracy (vs PyTorch)",
            "p50 ms (1 thr)",
            "vs fp32",
            "p50 ms (2 thr)",
        ],
        rows,
        [f"{k}: {'PASS' if v else 'FAIL'}" for k, v in checks.items()]
        + [
            "latency: bare loop of the runtime's run()/invoke(), batch 1, 30 warm-up + 300 timed, same process, same run",
            "target x86-64, format and precision named explicitly (the target's default precision is 'auto')",
        ],
    )


if __name__ == "__main__":
    main()
