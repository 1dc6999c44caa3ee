"""Why edgekit's int8 export is built the way it is, each choice measured against the alternative in one run:
- NNCF activation scheme: NNCF's default (depthwise inputs per channel, symmetric) vs per-tensor symmetric vs
  per-tensor asymmetric (MIXED preset, edgekit's choice) → onnxruntime accuracy, fused int8 convs, p50;
- storing QDQ weights as int8 initializers instead of float + QuantizeLinear → ONNX bytes;
- shortening converter-generated tensor names → ONNX and TFLite bytes (outputs identical).
Models: ds-cnn and mobilenetv1-025 trained on digits resized to their input shapes.

    python benchmarks/quantizer_choices.py
"""

from __future__ import annotations

import collections
import copy
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from _common import bare_latency, write_results
from edgekit.exporter.host_runtimes import run_onnx, run_tflite
from edgekit.exporter.onnx_export import _export
from edgekit.exporter.onnx_passes import fold_weight_quantization
from edgekit.exporter.tflite_export import _convert, _pt2e_int8

from edgekit.calibration import calibration_samples
from edgekit.data import apply_normalization, load_run_data
from edgekit.exporter.compact import compact_onnx, compact_tflite
from edgekit.fold import fold_batchnorm
from edgekit.nncf_env import import_nncf
from edgekit.quiet import captured_fds
from edgekit.runs import load_run
from edgekit.training import train_run

MODELS = {"ds-cnn": dict(epochs=15, lr=3e-3), "mobilenetv1-025": dict(epochs=6)}


def _fused_convs(path: Path) -> int:
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(path) + ".opt"
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in onnx.load(str(path) + ".opt").graph.node)["QLinearConv"]


def main() -> None:
    nncf = import_nncf()
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    schemes = {"NNCF default": {}, "per-tensor symmetric": {"advanced_parameters": AdvancedQuantizationParameters(
        activations_quantization_params=QuantizationParameters(per_channel=False))}}
    schemes["per-tensor asymmetric (edgekit)"] = {**schemes["per-tensor symmetric"], "preset": nncf.QuantizationPreset.MIXED}
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, kw in MODELS.items():
            run = load_run(train_run(name, "digits", out=tmp / name, progress=False, **kw))
            data = load_run_data(run.spec)
            x = {s: apply_normalization(v, run.spec.normalization) for s, v in data.x.items()}
            calib = calibration_samples(x["train"], 300)
            shape = tuple(run.spec.input_shape)
            fp32 = copy.deepcopy(run.model).eval()
            fold_batchnorm(fp32)
            _export(fp32, shape, tmp / "fp32.onnx", False)
            fp32_p50 = bare_latency(tmp / "fp32.onnx")["p50_ms"]
            for scheme, kwargs in schemes.items():
                m = copy.deepcopy(fp32)
                q = nncf.quantize(m, nncf.Dataset([torch.from_numpy(calib[i:i + 32]) for i in range(0, len(calib), 32)]), **kwargs)
                stripped = nncf.strip(q, strip_format=nncf.StripFormat.NATIVE, example_input=torch.zeros(1, *shape))
                raw = tmp / f"{name}-raw.onnx"
                _export(stripped, shape, raw, False)
                proto = onnx.load(str(raw))
                fold_weight_quantization(proto)
                folded = tmp / f"{name}-folded.onnx"
                onnx.save(proto, str(folded))
                compact_onnx(proto)
                final = tmp / f"{name}-final.onnx"
                onnx.save(proto, str(final))
                acc = float((run_onnx(final, x["test"]).argmax(1) == data.y["test"]).mean())
                r = {"model": name, "scheme": scheme, "fp32_accuracy": run.metrics["test"]["accuracy"], "onnxruntime_accuracy": acc,
                     "fused_qlinearconv": _fused_convs(final), "p50_ms": bare_latency(final)["p50_ms"], "fp32_p50_ms": fp32_p50,
                     "bytes_float_weights": raw.stat().st_size, "bytes_int8_weights": folded.stat().st_size,
                     "bytes_short_names": final.stat().st_size}
                results.append(r)
                rows.append([name, scheme, f"{acc:.4f} (fp32 {r['fp32_accuracy']:.4f})", r["fused_qlinearconv"],
                             f"{r['p50_ms']:.4f} ({r['p50_ms'] / fp32_p50:.2f}x fp32)",
                             f"{r['bytes_float_weights']:,} → {r['bytes_int8_weights']:,} → {r['bytes_short_names']:,}"])
            # TFLite: full-int8 as edgekit converts it, before and after shortening names
            graph, config = _pt2e_int8(copy.deepcopy(run.model).eval(), calib, torch.zeros(1, *shape))
            long_names = tmp / f"{name}-long.tflite"
            with captured_fds():
                _convert(graph, torch.zeros(1, *shape), config).export(str(long_names))
            short_names = tmp / f"{name}-short.tflite"
            shutil.copy(long_names, short_names)
            compact_tflite(short_names)
            same = bool(np.array_equal(run_tflite(long_names, x["test"][:50]), run_tflite(short_names, x["test"][:50])))
            results.append({"model": name, "tflite_bytes_long_names": long_names.stat().st_size,
                            "tflite_bytes_short_names": short_names.stat().st_size, "outputs_identical": same})
            rows.append([name, "TFLite full int8 (PT2E): names shortened", "outputs identical" if same else "OUTPUTS DIFFER", "—", "—",
                         f"{long_names.stat().st_size:,} → {short_names.stat().st_size:,}"])
    write_results("quantizer_choices", {"results": results},
                  ["model", "int8 scheme", "onnxruntime accuracy", "fused QLinearConv", "p50 ms (1 thr)",
                   "ONNX bytes: float weights → int8 weights → short names"], rows,
                  ["same trained model and the same 300 calibration samples for every scheme; p50: bare run() loop, batch 1",
                   "'float weights' is NNCF's QDQ export as torch.onnx writes it; edgekit stores int8 initializers and short names"])


if __name__ == "__main__":
    main()
