"""Issue 13: int8 accuracy against calibration samples and time, to choose the default; and the bar that a
full-int8 TFLite export of a 1-5 M-parameter mobile network takes under 60 s at the default calibration.

For resnet8 and two real architectures (MobileNetV2 x1.0 at 3x64x64, 2.2 M params; PP-LCNet x1.0, 2.3 M), each
trained on digits, every calibration size is exported to full-int8 TFLite (PT2E, batched observers) and to
int8 ONNX (NNCF), in their real runtimes: agreement with PyTorch fp32, accuracy, and wall time of the export.

    python benchmarks/calibration.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import write_results

import edgekit as ek
from edgekit.stages.export.api import DEFAULT_CALIBRATION

MODELS = [("resnet8", {"input_shape": (3, 32, 32)}, {}), ("mobilenet-v2", {}, {"width": 1.0}), ("lcnet", {}, {"width": 1.0})]
SIZES = (16, 32, 64, 128, 300, 600)


def main() -> None:
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, kw, args in MODELS:
            run = ek.train(name, "digits", epochs=12, out=tmp / name, model_args=args, progress=False, **kw)
            results[name] = {"params": run.metrics.cost.params, "fp32_accuracy": run.metrics.test["accuracy"], "sizes": {}}
            for n in SIZES:
                cell = {}
                for fmt, target in (("tflite", "rpi4"), ("onnx", "x86-64")):
                    t0 = time.perf_counter()
                    art = ek.export(
                        run,
                        target=target,
                        format=fmt,
                        precision="int8",
                        calib=n,
                        force_calib=True,
                        min_agreement=0.0,
                        out=tmp / f"{name}-{fmt}-{n}",
                        progress=False,
                    )
                    cell[fmt] = {
                        "seconds": round(time.perf_counter() - t0, 1),
                        "agreement": art.parity.metrics["top1_agreement"],
                        "accuracy": art.parity.metrics["accuracy"],
                    }
                results[name]["sizes"][n] = cell
                rows.append(
                    [
                        name,
                        f"{run.metrics.cost.params / 1e6:.2f} M",
                        n,
                        f"{run.metrics.test['accuracy']:.4f}",
                        f"{cell['tflite']['agreement']:.2%} / {cell['tflite']['accuracy']:.4f} / {cell['tflite']['seconds']} s",
                        f"{cell['onnx']['agreement']:.2%} / {cell['onnx']['accuracy']:.4f} / {cell['onnx']['seconds']} s",
                    ]
                )
                print(rows[-1], flush=True)
    bar = {m: results[m]["sizes"][DEFAULT_CALIBRATION]["tflite"]["seconds"] for m in ("mobilenet-v2", "lcnet")}
    write_results(
        "calibration",
        {"default": DEFAULT_CALIBRATION, "results": results, "bar_seconds": bar, "bar_passed": all(s < 60 for s in bar.values())},
        [
            "model",
            "params",
            "calibration samples",
            "fp32 accuracy",
            "TFLite int8: agreement / accuracy / export time",
            "ONNX int8 (NNCF): agreement / accuracy / export time",
        ],
        rows,
        [
            f"bar: full-int8 TFLite export of a 1-5 M-parameter mobile network < 60 s at the default ({DEFAULT_CALIBRATION} samples): "
            + ", ".join(f"{m} {s} s" for m, s in bar.items())
            + (" — PASS" if all(s < 60 for s in bar.values()) else " — FAIL"),
            "export time includes conversion and the parity run on 270 test samples in the runtime",
        ],
    )


if __name__ == "__main__":
    main()
