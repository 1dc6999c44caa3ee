"""Issue 24: two causes of int8 disagreement found in stop 31, measured side by side on the models where they showed.

1. OpenVINO int8 calibration: NNCF takes an activation's range as the mean over calibration batches of each batch's
   min / max. The tiny anomaly autoencoder (machine sounds made here) quantized with one sample per batch (the old
   OpenVINO export), with batches of 32 (the ONNX export's NNCF, and OpenVINO's now), and with NNCF's MINMAX range
   estimator: centred cosine of the int8 outputs to fp32 on the test split (export parity's figure), and the AUC each
   export proves.
2. The frozen QAT model against the int8 graph export converts it to: mobilenetv1-025's QAT run (qat_tflite.py's)
   evaluated with training's fused fake-quantize op (edgekit before stop 31) and with convert_pt2e's qparams (now):
   top-1 agreement and max |Δ| of the logits against the convert_pt2e graph, test split.

    EDGEKIT_BENCH_CACHE=/some/folder python benchmarks/int8_references.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import write_results
from _parents import cache_dir
from qat_tflite import qat_run

import edgekit as ek
from edgekit.data import Splits, load_run_data
from edgekit.data.calibration import calibration_samples
from edgekit.formats.openvino import _run, convert, nncf_int8
from edgekit.nn.evaluate import predict
from edgekit.nn.fold import fold_batchnorm
from edgekit.runs import is_run
from edgekit.stages.compress.nncf_env import import_nncf
from edgekit.stages.compress.pt2e_qat import converted
from edgekit.stages.export.models import float_model
from edgekit.synth.machines import make_machine_sounds
from edgekit.tasks.base import centred_cosine


def anomaly_run():
    folder = cache_dir() / "anomaly-tiny"
    if is_run(folder / "run"):
        return ek.load_run(folder / "run")
    make_machine_sounds(folder / "machines", train_normal=40, test_normal=12, test_anomaly=12, seconds=1.0)
    return ek.train("tiny-autoencoder", f"machines:{folder / 'machines'}", out=folder / "run", input_shape=(640,), progress=False)


def calibration_rows(rows: list, results: dict) -> None:
    run = anomaly_run()
    splits = Splits.of(load_run_data(run.spec), run.spec.normalization)
    x = splits.x["test"]
    calib = calibration_samples(splits.x["train"], 300, seed=run.spec.dataset.seed)
    model = float_model(run).eval()
    fold_batchnorm(model)
    ref = predict(model, x)

    def cosine(quantized) -> float:
        return centred_cosine(next(iter(_run(quantized, x).values())), ref)

    nncf = import_nncf()
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    static, dynamic = convert(model, [640]), convert(model, [640], dynamic_batch=True)
    minmax = nncf.quantize(
        static,
        nncf.Dataset([calib[i : i + 1] for i in range(len(calib))]),
        subset_size=len(calib),
        preset=nncf.QuantizationPreset.MIXED,
        advanced_parameters=AdvancedQuantizationParameters(
            activations_quantization_params=QuantizationParameters(per_channel=False),
            disable_bias_correction=True,
            activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX,
        ),
    )
    variants = {
        "one sample per batch (the old OpenVINO export)": nncf_int8(static, calib, [], half=False, progress=False),
        "batches of 32 (ONNX's NNCF; OpenVINO's now)": nncf_int8(dynamic, calib, [], half=False, progress=False),
        "one sample per batch, MINMAX range estimator": minmax,
    }
    results["calibration"] = {}
    for label, q in variants.items():
        results["calibration"][label] = cosine(q)
        rows.append(["OpenVINO int8 calibration", label, f"centred cosine {results['calibration'][label]:.5f}"])
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("onnx", "openvino"):
            art = ek.export(run, target="x86-64", format=fmt, precision="int8", out=Path(tmp) / fmt, progress=False)
            m = art.parity.metrics
            results["calibration"][f"{fmt} export"] = m
            rows.append(
                [
                    "anomaly export",
                    f"{fmt} int8 (edgekit now)",
                    f"AUC {m['auc']:.4f} (fp32 {m['reference_auc']:.4f}), cosine {m['cosine']:.5f}",
                ]
            )


def qat_rows(rows: list, results: dict) -> None:
    run = qat_run("mobilenetv1-025", "tflite")
    x = Splits.of(load_run_data(run.spec), run.spec.normalization).x["test"]
    qat = run.model.eval()

    def outputs(module) -> np.ndarray:  # an exported graph has no eval(): called as it is
        with torch.no_grad():
            return np.concatenate([module(torch.from_numpy(x[i : i + 64])).numpy() for i in range(0, len(x), 64)])

    shipped, now = outputs(converted(qat)), outputs(qat)
    for m in qat.graph.modules():  # the fused op back (observers still off): frozen as before stop 31
        m.__dict__.pop("forward", None)
    fused = outputs(qat)
    results["qat"] = {}
    for label, out in (("training's fused op (before)", fused), ("convert_pt2e's qparams (now)", now)):
        agree = float((out.argmax(1) == shipped.argmax(1)).mean())
        diff = float(np.abs(out - shipped).max())
        results["qat"][label] = {"agreement": agree, "max_abs_diff": diff}
        rows.append(["mobilenetv1-025 QAT model vs its convert_pt2e graph", label, f"agreement {agree:.2%}, max |Δ| {diff:.3g}"])


def main() -> None:
    rows, results = [], {}
    calibration_rows(rows, results)
    qat_rows(rows, results)
    for row in rows:
        print(row, flush=True)
    write_results(
        "int8_references",
        results,
        ["what", "variant", "figure (test split)"],
        rows,
        [
            "anomaly: tiny-autoencoder on machine sounds made here (40 normal training clips, 12 + 12 test), 300 "
            "calibration samples, NNCF MIXED preset, per-tensor activations, no bias correction; OpenVINO CPU f32",
            "QAT: qat_tflite.py's run (2 epochs PT2E QAT, LiteRT quantizer) of the _parents.py mobilenetv1-025",
        ],
    )


if __name__ == "__main__":
    main()
