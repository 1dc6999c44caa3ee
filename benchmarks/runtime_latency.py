"""int8 vs fp32 latency of the MLPerf Tiny models in onnxruntime and LiteRT, 1 and 2 threads (issue 6).

Weights come from a short training run on synthetic data at each model's input shape: latency does not
depend on the weights' values, but the export refuses a model whose outputs ignore its input (it learned
nothing), so each trains until it learns something. The export's parity figures are recorded beside the timings.

    python benchmarks/runtime_latency.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import bare_latency, write_results

import edgekit as ek

# model: (data, training settings); ds-cnn at its recipe lr and mobilenet after 2 epochs still output a constant
MODELS = {
    "resnet8": ("synthetic:3,32,32:10:600", dict(epochs=2)),
    "ds-cnn": ("synthetic:1,49,10:12:600", dict(epochs=10, lr=3e-3)),
    "mobilenetv1-025": ("synthetic:3,96,96:2:400", dict(epochs=10)),
}


def main() -> None:
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for model, (data, settings) in MODELS.items():
            run = ek.train(model, data=data, out=tmp / model, progress=False, **settings)
            for fmt in ("onnx", "tflite"):
                lat, size, agreement = {}, {}, None
                for precision in ("fp32", "int8"):
                    art = ek.export(
                        run, format=fmt, precision=precision, out=tmp / f"{model}-{fmt}-{precision}", min_agreement=0.0, progress=False
                    )
                    model_file = art.path / art.deploy.artifact.files[0]
                    lat[precision] = {t: bare_latency(model_file, threads=t)["p50_ms"] for t in (1, 2)}
                    size[precision] = model_file.stat().st_size
                    agreement = art.parity.metrics["top1_agreement"]  # the int8 one, exported last
                r = {
                    "model": model,
                    "runtime": art.deploy.runtime.name,
                    "fp32_p50_ms": lat["fp32"],
                    "int8_p50_ms": lat["int8"],
                    "int8_vs_fp32": {t: lat["int8"][t] / lat["fp32"][t] for t in (1, 2)},
                    "int8_agreement": agreement,
                    "fp32_bytes": size["fp32"],
                    "int8_bytes": size["int8"],
                    "size_ratio": size["int8"] / size["fp32"],
                }
                results.append(r)
                rows.append(
                    [
                        model,
                        r["runtime"],
                        f"{lat['fp32'][1]:.3f}",
                        f"{lat['int8'][1]:.3f}",
                        f"{r['int8_vs_fp32'][1]:.2f}x",
                        f"{lat['fp32'][2]:.3f}",
                        f"{lat['int8'][2]:.3f}",
                        f"{r['int8_vs_fp32'][2]:.2f}x",
                        f"{agreement:.2%}",
                        f"{size['int8']:,} / {size['fp32']:,} = {r['size_ratio']:.2f}x",
                    ]
                )
    write_results(
        "runtime_latency",
        {"results": results},
        [
            "model",
            "runtime",
            "fp32 p50 ms (1 thr)",
            "int8 p50 ms (1 thr)",
            "int8/fp32",
            "fp32 (2 thr)",
            "int8 (2 thr)",
            "int8/fp32",
            "int8 agreement",
            "int8 / fp32 bytes",
        ],
        rows,
        [
            "bare loop of run()/invoke(), batch 1, 30 warm-up + 300 timed; int8 = edgekit's default int8 export per runtime "
            "for target x86-64 (ONNX: NNCF QDQ; TFLite: PT2E full integer)",
            "agreement on synthetic data after a few epochs; near-tie logits make it noisy — it is not a quality figure",
            "onnxruntime int8 is not faster than fp32 for MobileNet on this CPU with any quantizer (its own quantize_static: "
            "same p50, see baselines.md): bench flags it; LiteRT int8 is the faster path there",
        ],
    )


if __name__ == "__main__":
    main()
