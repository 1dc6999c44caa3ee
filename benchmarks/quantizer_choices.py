"""Why edgekit's int8 export is built the way it is, each choice measured against the alternative in one run:
- NNCF activation scheme: NNCF's default (depthwise inputs per channel, symmetric) vs per-tensor symmetric vs
  per-tensor asymmetric (MIXED preset, edgekit's choice) → onnxruntime accuracy, fused int8 convs, p50;
- storing QDQ weights as int8 initializers instead of float + QuantizeLinear → ONNX bytes;
- shortening converter-generated tensor names → ONNX and TFLite bytes (outputs identical).
Models: ds-cnn and mobilenetv1-025 trained on digits resized to their input shapes.

The alternatives are built here with NNCF, torch.onnx and edgekit's own graph passes (the internals under
test); edgekit's artifacts come from ek.export, and the hand-built per-tensor asymmetric row must match them.

    python benchmarks/quantizer_choices.py
"""

from __future__ import annotations

import collections
import copy
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from _common import bare_latency, write_results
from baselines import outputs, splits

import edgekit as ek
from edgekit.formats.convert.compact import compact_onnx
from edgekit.formats.convert.onnx_graph import fold_weight_quantization, remove_identities
from edgekit.formats.convert.pt2e import writes_hardswish_out
from edgekit.formats.tflite import convert, pt2e_int8
from edgekit.nn.fold import fold_batchnorm
from edgekit.stages.compress.nncf_env import import_nncf
from edgekit.targets import find_target

MODELS = {"ds-cnn": dict(epochs=15, lr=3e-3), "mobilenetv1-025": dict(epochs=6)}


def fused_convs(path: Path) -> int:
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(path) + ".opt"
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in onnx.load(str(path) + ".opt").graph.node)["QLinearConv"]


def hand_built_onnx(model, shape, calib, kwargs, folder: Path) -> dict[str, Path]:
    """NNCF PTQ with `kwargs`, then each of edgekit's ONNX steps in turn: {stage: file}."""
    nncf = import_nncf()
    model = copy.deepcopy(model).eval()
    fold_batchnorm(model)
    q = nncf.quantize(model, nncf.Dataset([torch.from_numpy(calib[i : i + 32]) for i in range(0, len(calib), 32)]), **kwargs)
    stripped = nncf.strip(q, strip_format=nncf.StripFormat.NATIVE, example_input=torch.zeros(1, *shape))
    files = {s: folder / f"{s}.onnx" for s in ("float_weights", "int8_weights", "short_names")}
    torch.onnx.export(
        stripped,
        (torch.zeros(1, *shape),),
        str(files["float_weights"]),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["output"],
        do_constant_folding=True,
    )
    proto = onnx.load(str(files["float_weights"]))
    fold_weight_quantization(proto)
    onnx.save(proto, str(files["int8_weights"]))
    remove_identities(proto)
    compact_onnx(proto)
    onnx.save(proto, str(files["short_names"]))
    return files


def main() -> None:
    nncf = import_nncf()
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters

    per_tensor = AdvancedQuantizationParameters(activations_quantization_params=QuantizationParameters(per_channel=False))
    schemes = {
        "NNCF default": {},
        "per-tensor symmetric": {"advanced_parameters": per_tensor},
        "per-tensor asymmetric (edgekit's, built here)": {"advanced_parameters": per_tensor, "preset": nncf.QuantizationPreset.MIXED},
    }
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, kw in MODELS.items():
            run = ek.train(name, data="digits", out=tmp / name, progress=False, **kw)
            fp32_acc, shape = run.metrics.test["accuracy"], tuple(run.spec.input_shape)
            calib, x_test, y_test = splits(run)
            fp32 = ek.export(run, format="onnx", precision="fp32", out=tmp / f"{name}-fp32", progress=False)
            fp32_p50 = bare_latency(fp32.path / fp32.deploy.artifact.files[0])["p50_ms"]
            ours = ek.export(run, format="onnx", precision="int8", calib=300, out=tmp / f"{name}-int8", min_agreement=0.0, progress=False)
            builds = {
                scheme: hand_built_onnx(run.model, shape, calib, kwargs, Path(tempfile.mkdtemp(dir=tmp)))
                for scheme, kwargs in schemes.items()
            }
            builds["edgekit (ek.export)"] = {"short_names": ours.path / ours.deploy.artifact.files[0]}
            for scheme, files in builds.items():
                final = files["short_names"]
                acc = float((outputs(final, x_test).argmax(1) == y_test).mean())
                r = {
                    "model": name,
                    "scheme": scheme,
                    "fp32_accuracy": fp32_acc,
                    "onnxruntime_accuracy": acc,
                    "fused_qlinearconv": fused_convs(final),
                    "p50_ms": bare_latency(final)["p50_ms"],
                    "fp32_p50_ms": fp32_p50,
                    **{f"bytes_{s}": f.stat().st_size for s, f in files.items()},
                }
                results.append(r)
                sizes = " → ".join(
                    f"{r[k]:,}" if k in r else "—" for k in ("bytes_float_weights", "bytes_int8_weights", "bytes_short_names")
                )
                rows.append(
                    [
                        name,
                        scheme,
                        f"{acc:.4f} (fp32 {fp32_acc:.4f})",
                        r["fused_qlinearconv"],
                        f"{r['p50_ms']:.4f} ({r['p50_ms'] / fp32_p50:.2f}x fp32)",
                        sizes,
                    ]
                )
            # TFLite: edgekit's full-int8 artifact beside the same conversion before its names are shortened
            art = ek.export(
                run, format="tflite", precision="int8", calib=300, out=tmp / f"{name}-tflite", min_agreement=0.0, progress=False
            )
            short_names = art.path / art.deploy.artifact.files[0]
            hardswish = writes_hardswish_out(find_target("x86-64"))  # as the export above (the default target) writes it
            graph, config, _ = pt2e_int8(
                copy.deepcopy(run.model).eval(), calib, torch.zeros(1, *shape), hardswish=hardswish, progress=False
            )
            long_names = tmp / f"{name}-long.tflite"
            convert(graph, torch.zeros(1, *shape), config).export(str(long_names))
            same = bool(np.array_equal(outputs(long_names, x_test[:50]), outputs(short_names, x_test[:50])))
            results.append(
                {
                    "model": name,
                    "tflite_bytes_long_names": long_names.stat().st_size,
                    "tflite_bytes_short_names": short_names.stat().st_size,
                    "outputs_identical": same,
                }
            )
            rows.append(
                [
                    name,
                    "TFLite full int8 (PT2E): names shortened",
                    "outputs identical" if same else "OUTPUTS DIFFER",
                    "—",
                    "—",
                    f"{long_names.stat().st_size:,} → {short_names.stat().st_size:,}",
                ]
            )
    write_results(
        "quantizer_choices",
        {"results": results},
        [
            "model",
            "int8 scheme",
            "onnxruntime accuracy",
            "fused QLinearConv",
            "p50 ms (1 thr)",
            "ONNX bytes: float weights → int8 weights → short names",
        ],
        rows,
        [
            "same trained model and the same 300 calibration samples for every scheme; p50: bare run() loop, batch 1",
            "'float weights' is NNCF's QDQ export as torch.onnx writes it; edgekit stores int8 initializers and short names",
            "'edgekit (ek.export)': the artifact ek.export writes for target x86-64; the hand-built MIXED row should match it",
        ],
    )


if __name__ == "__main__":
    main()
