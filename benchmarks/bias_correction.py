"""Why edgekit's NNCF post-training int8 runs without NNCF's fast bias correction: the same trained model exported
to int8 ONNX twice — edgekit's setting, and with bias correction switched back on (NNCF's default, by wrapping
nncf.quantize for the second export only) — and compared in onnxruntime with PyTorch fp32 on the test split.

    python benchmarks/bias_correction.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import write_results

import edgekit as ek
from edgekit.stages.compress.nncf_env import import_nncf

MODELS = [("resnet8", (3, 32, 32), 8), ("ds-cnn", (1, 49, 10), 15), ("mobilenetv1-025", (3, 96, 96), 15)]


def export_int8(run, out: Path, *, bias_correction: bool):
    nncf = import_nncf()
    original = nncf.quantize

    def with_bias_correction(*args, **kwargs):
        kwargs["advanced_parameters"].disable_bias_correction = False
        return original(*args, **kwargs)

    if bias_correction:
        nncf.quantize = with_bias_correction
    try:
        return ek.export(run, target="x86-64", format="onnx", precision="int8", min_agreement=0.0, out=out, progress=False)
    finally:
        nncf.quantize = original


def main() -> None:
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, shape, epochs in MODELS:
            run = ek.train(name, "digits", input_shape=shape, epochs=epochs, out=tmp / name, progress=False)
            cells = {}
            for label, on in (("bias correction on (NNCF default)", True), ("off (edgekit)", False)):
                art = export_int8(run, tmp / f"{name}-{on}", bias_correction=on)
                cells[label] = {"agreement": art.parity.metrics["top1_agreement"], "accuracy": art.parity.metrics["accuracy"]}
            results[name] = {"fp32_accuracy": run.metrics.test["accuracy"], "epochs": epochs, **cells}
            rows.append(
                [name, f"{run.metrics.test['accuracy']:.4f}", *(f"{c['agreement']:.2%} / {c['accuracy']:.4f}" for c in cells.values())]
            )
            print(rows[-1], flush=True)
    write_results(
        "bias_correction",
        {"results": results},
        ["model", "fp32 accuracy", "int8 ONNX, bias correction on: agreement / accuracy", "off (edgekit): agreement / accuracy"],
        rows,
        [
            "int8 ONNX (NNCF PTQ, 300 train samples) in onnxruntime; agreement = top-1 agreement with PyTorch fp32 on the test split",
            "models trained on digits resized to their input shapes; the same trained model for both exports",
        ],
    )


if __name__ == "__main__":
    main()
