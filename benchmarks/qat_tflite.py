"""Issue 11: what a QAT run becomes in TFLite, honestly. NNCF's QAT ranges live in the ONNX int8 artifact; the
TFLite int8 artifact is re-quantized with PT2E from the QAT run's (QAT-adapted) float weights. Measured on
resnet8: agreement with the float model and with the run's own int8 model, and accuracy, for
  - ONNX int8 from the QAT run (NNCF ranges carried),
  - TFLite int8 from the QAT run (PT2E re-quantized),
  - TFLite int8 from the float parent (PT2E, no QAT),
so the choice edgekit makes (re-quantize, check against the float model, say so in deploy.json) is backed.

    python benchmarks/qat_tflite.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import write_results

import edgekit as ek


def main() -> None:
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = ek.train("resnet8", "digits", input_shape=(3, 32, 32), epochs=15, out=tmp / "r8", progress=False)
        qat = ek.compress(base, qat=True, epochs=3, out=tmp / "qat", progress=False)
        cases = [
            ("ONNX int8 of the QAT run (NNCF ranges)", qat, {"target": "x86-64", "format": "onnx"}),
            ("TFLite int8 of the QAT run (PT2E re-quantized)", qat, {"target": "rpi4"}),
            ("TFLite int8 of the float parent (PT2E)", base, {"target": "rpi4"}),
        ]
        for i, (label, run, kw) in enumerate(cases):
            art = ek.export(run, precision="int8", min_agreement=0.0, out=tmp / f"case{i}", progress=False, **kw)
            p, m = art.parity, art.parity.metrics
            vs_run = (
                p.versus.get("the run's own int8 model", {}).get("top1_agreement") if p.reference == "PyTorch fp32" else m["top1_agreement"]
            )
            results[label] = {
                "reference": p.reference,
                "agreement_with_reference": m["top1_agreement"],
                "accuracy": m["accuracy"],
                "agreement_with_run_int8": vs_run if run is qat else None,
                "quantizer": art.deploy.toolchain["quantizer"],
            }
            rows.append(
                [
                    label,
                    p.reference,
                    f"{m['top1_agreement']:.2%}",
                    "—" if run is not qat or vs_run is None else f"{vs_run:.2%}",
                    f"{m['accuracy']:.4f}",
                ]
            )
        results["torch"] = {"fp32_accuracy": base.metrics.test["accuracy"], "qat_int8_accuracy": qat.metrics.test["accuracy"]}
    write_results(
        "qat_tflite",
        results,
        ["artifact", "parity reference", "agreement with it", "agreement with the run's NNCF int8", "accuracy"],
        rows,
        [
            f"PyTorch: fp32 {results['torch']['fp32_accuracy']:.4f}, QAT int8 (NNCF) {results['torch']['qat_int8_accuracy']:.4f}",
            "resnet8 on digits at 3x32x32; deploy.json's toolchain.quantizer names the quantizer of each artifact",
        ],
    )


if __name__ == "__main__":
    main()
