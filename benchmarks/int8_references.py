"""Issue 24: two causes of int8 disagreement found in stop 31, measured side by side on the models where they showed.

1. OpenVINO int8 calibration: NNCF takes an activation's range as the mean over calibration batches of each batch's
   min / max. The tiny anomaly autoencoder (machine sounds made here) quantized with one sample per batch (the old
   OpenVINO export), with batches of 32 (the ONNX export's NNCF, and OpenVINO's now), and with NNCF's MINMAX range
   estimator: centred cosine of the int8 outputs to fp32 on the test split (export parity's figure), and the AUC each
   export proves.
2. The frozen QAT model against the int8 graph export converts it to: mobilenetv1-025's QAT run (qat_tflite.py's)
   evaluated with training's fused fake-quantize op (edgekit before stop 31) and with convert_pt2e's qparams (now):
   top-1 agreement and max |Δ| of the logits against the convert_pt2e graph, test split.
3. Where LiteRT's int8 departs from PyTorch's reference int8 graph (stop 32), on LCNet's QAT run (qat_tflite.py's,
   which kept its start: the post-training ranges): every quantized activation of the reference graph beside the
   same tensor in the TFLite interpreter (found by its scale), in quantization steps, at depths along the network;
   each op's own error (the runtime's inputs through exact arithmetic, requantized: convolutions and element-wise
   ops); and how far every activation scale one float32 unit up moves the reference's logits (how sensitive the
   network is to one-step differences).
4. The bias: mobilenetv1-025's QAT TFLite artifact against its QAT model with float biases (PyTorch's reference int8
   graph) and with biases on the int32 grid the runtimes add them on (edgekit's frozen QAT model since stop 32).

    EDGEKIT_BENCH_CACHE=/some/folder python benchmarks/int8_references.py
"""

from __future__ import annotations

import copy
import json
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
from edgekit.formats.convert.weight_range import WeightRange
from edgekit.formats.in_runtime import run_artifact
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
        "one sample per batch (the old OpenVINO export)": nncf_int8(
            static, calib, [], weights=WeightRange("first", "as recorded before full range"), progress=False
        ),
        "batches of 32 (ONNX's NNCF; OpenVINO's now)": nncf_int8(
            dynamic, calib, [], weights=WeightRange("first", "as recorded before full range"), progress=False
        ),
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


def _reference_activations(graph, x: np.ndarray) -> list[tuple[float, int, np.ndarray]]:
    """Each quantize op's output in the reference int8 graph, in graph order: (scale, zero point, int8 values)."""
    found: dict[str, list] = {}

    def constant(a):
        return float(getattr(graph, a.target)) if isinstance(a, torch.fx.Node) else float(a)

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n.op == "call_function" and str(n.target).startswith("quantized_decomposed.quantize_per_tensor"):
                found.setdefault(n.name, [constant(n.args[1]), int(constant(n.args[2])), []])[2].append(out.numpy().copy())
            return out

    with torch.no_grad():
        for i in range(len(x)):
            Recorder(graph).run(torch.from_numpy(x[i : i + 1]))
    return [(s, z, np.concatenate(v)) for s, z, v in found.values() if v[0].ndim]


def _interpreter_tensors(path: Path, x: np.ndarray):
    """Every int8 tensor of the TFLite model on each input (NCHW where 4-d), the op list, and the tensor details."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    scale, zero = inp["quantization"]
    details = {d["index"]: d for d in it.get_tensor_details()}
    tensors: dict[int, list] = {}
    ops, local = it._get_ops_details(), {}
    for i in range(len(x)):
        q = np.clip(np.round(x[i : i + 1] / scale) + zero, -128, 127).astype(np.int8)
        q = q if tuple(inp["shape"]) == q.shape else q.transpose(0, 2, 3, 1)
        it.set_tensor(inp["index"], q)
        it.invoke()
        for k, d in details.items():
            if d["dtype"] == np.int8 and d["quantization"][0] > 0:
                try:
                    tensors.setdefault(k, []).append(it.get_tensor(k).copy())
                except ValueError:  # a tensor the interpreter does not keep
                    pass
        _elementwise_errors(it, ops, details, local)
        _conv_errors(it, ops, details, local)
    return {k: np.concatenate(v) for k, v in tensors.items() if v[0].ndim}, details, local


def _elementwise_errors(it, ops, details, local: dict) -> None:
    """Each element-wise op's output against its exact float op on the runtime's own inputs, requantized."""
    exact = {
        "HARD_SWISH": lambda a, b: a * np.clip(a + 3, 0, 6) / 6,
        "MEAN": lambda a, b: a.mean(axis=(1, 2), keepdims=True),
        "MUL": lambda a, b: a * b,
        "ADD": lambda a, b: a + b,
    }

    def real(k):
        s, z = details[k]["quantization"]
        return (it.get_tensor(k).astype(np.float64) - z) * s

    for op in ops:
        if op["op_name"] not in exact:
            continue
        ins = [k for k in op["inputs"] if k >= 0]
        out = op["outputs"][0]
        s, z = details[out]["quantization"]
        b = real(ins[1]) if op["op_name"] in ("MUL", "ADD") else None
        value = exact[op["op_name"]](real(ins[0]), b).reshape(it.get_tensor(out).shape) / s
        want = np.clip(np.round(value) + z, -128, 127)  # PyTorch's quantize: round half to even, then the zero point
        steps = np.abs(want - it.get_tensor(out).astype(np.int64))
        tie = np.abs(value - np.floor(value) - 0.5) < 1e-6  # an exact half: the two conventions may round apart
        _tally(local, op["op_name"], steps, tie)


def _conv_errors(it, ops, details, local: dict) -> None:
    """Each convolution's output against exact integer arithmetic on the runtime's own inputs (int32 accumulation
    and bias, the real scale ratio in float64, rounded to nearest)."""
    import torch.nn.functional as F

    for op in ops:
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        a, w, b = op["inputs"][:3]
        out = it.get_tensor(op["outputs"][0])
        s_in, z_in = details[a]["quantization"]
        s_out, z_out = details[op["outputs"][0]]["quantization"]
        x = torch.from_numpy(it.get_tensor(a).astype(np.float64) - z_in).permute(0, 3, 1, 2)
        weight = torch.from_numpy(it.get_tensor(w).astype(np.float64))
        depthwise = op["op_name"] == "DEPTHWISE_CONV_2D"
        weight = weight.permute(3, 0, 1, 2) if depthwise else weight.permute(0, 3, 1, 2)
        k, size_in, size_out = weight.shape[-1], x.shape[2], out.shape[1]
        stride = 1 if size_in in (size_out, size_out + k - 1) else 2  # same-padded, or after an explicit PAD
        pad = 0 if (size_in - k) // stride + 1 == size_out else k // 2
        acc = F.conv2d(x, weight, stride=stride, padding=pad, groups=weight.shape[0] if depthwise else 1)
        acc = acc.permute(0, 2, 3, 1).numpy() + (it.get_tensor(b).astype(np.float64) if b >= 0 else 0.0)
        scales = details[w]["quantization_parameters"]["scales"].astype(np.float64)
        want = np.clip(np.round(acc * s_in * scales / s_out) + z_out, -128, 127)
        _tally(local, op["op_name"], np.abs(want - out.astype(np.int64)))


def _tally(local: dict, op: str, steps: np.ndarray, tie: np.ndarray | None = None) -> None:
    """Add one invocation's differences (in quantization steps) to the op's [max, outputs off, outputs, exact halves]."""
    worst = local.setdefault(op, [0, 0, 0, 0])
    worst[0] = max(worst[0], int(steps.max()))
    worst[1] += int((steps > 0).sum())
    worst[2] += steps.size
    worst[3] += int(((steps > 0) & tie).sum()) if tie is not None else 0


def runtime_rows(rows: list, results: dict) -> None:
    run = qat_run("lcnet", "tflite")
    x = Splits.of(load_run_data(run.spec), run.spec.normalization).x["test"][:32]
    graph = converted(run.model, fold_quantize=False)
    with tempfile.TemporaryDirectory() as tmp:
        art = ek.export(run, target="rpi4", format="tflite", min_agreement=0.0, out=Path(tmp) / "tfl", progress=False)
        tensors, details, local = _interpreter_tensors(Path(tmp) / "tfl" / "model.tflite", x)
    by_scale: dict = {}
    for k in tensors:
        by_scale.setdefault(np.float32(details[k]["quantization"][0]), []).append(k)
    depth = []
    for scale, _, ref in _reference_activations(graph, x):
        best = None
        for k in by_scale.get(np.float32(scale), []):
            t = tensors[k].transpose(0, 3, 1, 2) if tensors[k].ndim == 4 else tensors[k]
            if t.shape == ref.shape:
                steps = np.abs(t.astype(np.int64) - ref.astype(np.int64))
                best = min(best or (np.inf,), (float(steps.mean()), float((steps > 0).mean()), int(steps.max())))
        if best:
            depth.append(best)
    results["runtime"] = {"activations": depth, "elementwise": local, "agreement_at_export": art.parity.metrics["top1_agreement"]}
    for at in sorted({0, len(depth) // 4, len(depth) // 2, 3 * len(depth) // 4, len(depth) - 1}):
        mean, share, worst = depth[at]
        rows.append(
            [
                "LCNet QAT: LiteRT vs PyTorch's reference int8 graph",
                f"quantized activation {at + 1} of {len(depth)}",
                f"{share:.1%} of values differ, mean {mean:.3f} steps, max {worst}",
            ]
        )
    for name, (worst, differ, size, ties) in local.items():
        rows.append(
            [
                "LCNet QAT: LiteRT's op vs exact arithmetic on its inputs",
                name,
                f"max {worst} step(s), {differ} of {size} outputs off ({differ / size:.3%}), {ties} of them exact halves",
            ]
        )
    rows.append(
        ["LCNet QAT: artifact vs its QAT model", "top-1 agreement (test, export's parity)", f"{art.parity.metrics['top1_agreement']:.2%}"]
    )
    # the sensitivity: every activation scale of the reference one float32 unit up (as QAT's start was before its
    # scales were made bit-exact), on the whole test split
    x_all = Splits.of(load_run_data(run.spec), run.spec.normalization).x["test"]
    nudged = copy.deepcopy(graph)
    for node in nudged.graph.nodes:
        if str(node.target).startswith(("quantized_decomposed.quantize_per_tensor", "quantized_decomposed.dequantize_per_tensor")):
            if isinstance(node.args[1], float):
                node.args = (node.args[0], float(np.nextafter(np.float32(node.args[1]), np.float32(1))), *node.args[2:])
    nudged.recompile()
    with torch.no_grad():
        a, b = graph(torch.from_numpy(x_all)).numpy(), nudged(torch.from_numpy(x_all)).numpy()
    agree = float((a.argmax(1) == b.argmax(1)).mean())
    results["runtime"]["one_unit_scales"] = {"logits_max_abs": float(np.abs(a - b).max()), "agreement": agree}
    rows.append(
        [
            "LCNet QAT: the reference with every activation scale one float32 unit up",
            "against the reference as it is",
            f"logits max |Δ| {np.abs(a - b).max():.3g} (logit spread {a.std():.3g}), top-1 agreement {agree:.2%}",
        ]
    )


def bias_rows(rows: list, results: dict) -> None:
    """mobilenetv1-025's QAT TFLite artifact against its QAT model evaluated with float biases (PyTorch's reference
    int8 graph) and with biases on the int32 grid (as the runtimes add them; edgekit's frozen QAT model now)."""
    run = qat_run("mobilenetv1-025", "tflite")
    x = Splits.of(load_run_data(run.spec), run.spec.normalization).x["test"]
    qat = run.model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tfl"
        ek.export(run, target="rpi4", format="tflite", min_agreement=0.0, out=folder, progress=False)
        # in LiteRT through the device adapter, as export's parity runs it
        _, outs = run_artifact(folder, json.loads((folder / "deploy.json").read_text()), x)
    shipped = next(iter(outs.values()))
    with torch.no_grad():
        float_bias = qat.graph(torch.from_numpy(x)).numpy()  # the graph alone: biases in float
        grid_bias = qat(torch.from_numpy(x)).numpy()
    results["bias"] = {}
    for label, ref in (("float biases (PyTorch's reference int8 graph)", float_bias), ("int32-grid biases (now)", grid_bias)):
        agree, mean = float((ref.argmax(1) == shipped.argmax(1)).mean()), float(np.abs(ref - shipped).mean())
        results["bias"][label] = {"agreement": agree, "mean_abs_diff": mean}
        rows.append(["mobilenetv1-025 QAT: TFLite artifact vs its QAT model", label, f"agreement {agree:.2%}, mean |Δ| {mean:.3g}"])


def main() -> None:
    rows, results = [], {}
    calibration_rows(rows, results)
    qat_rows(rows, results)
    bias_rows(rows, results)
    runtime_rows(rows, results)
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
            "LCNet: qat_tflite.py's QAT run for tflite (64 px parent), its full-int8 TFLite in ai-edge-litert (XNNPACK), "
            "32 test images; an activation is paired with the interpreter tensor of the same scale and shape",
        ],
    )


if __name__ == "__main__":
    main()
