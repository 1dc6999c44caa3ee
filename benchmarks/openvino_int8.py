"""Issue 24 item 5: the OpenVINO format on resnet8, ds-cnn and mobilenetv1-025 (digits resized to each input, parents
of benchmarks/_parents.py, >= 95% fp32 where they reach it). Per model, exported for x86-64 at its floor (98% top-1
agreement with PyTorch fp32 on the test split):

- OpenVINO fp32: max |Δ| of the logits to PyTorch (the bar: <= 1e-4) and agreement;
- OpenVINO int8 (NNCF's OpenVINO backend, edgekit's defaults: weights in the full int8 range where
  every CPU that runs them sums int8 products in 32 bits, half the range on a CPU without VNNI, the layers
  int8 hurts most kept float when full int8 misses the floor) and ONNX int8 (NNCF, layers ranked by int8 sensitivity kept float
  through ignored_scope when full int8 misses): agreement, accuracy, what stayed float; an int8 export refused on the
  test split after full int8 passed on validation names the layers int8 hurts most (`--keep-float`, ranked on the
  validation split), and that export, as the user would run it next, is a row of its own;
- latency: batch 1, one thread, the device adapter's infer() (what `edgekit bench` times), OpenVINO beside
  onnxruntime and LiteRT, in interleaved rounds (each round runs every artifact once in turn, so a neighbour's load
  on the shared cores falls on all of them alike).

    EDGEKIT_BENCH_CACHE=/some/folder python benchmarks/openvino_int8.py   # parents trained once, kept there
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_results
from _parents import parent

import edgekit as ek
from edgekit.device import runtimes
from edgekit.errors import EdgekitError
from edgekit.formats.base import VNNI
from edgekit.targets import host_isa

MODELS = ["resnet8", "ds-cnn", "mobilenetv1-025"]
ROWS = [("openvino", "fp32"), ("openvino", "int8"), ("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8")]
ROUNDS, PER_ROUND, WARMUP = 10, 20, 20


def interleaved_latency(arts: dict) -> dict:
    """Median per-inference ms of each artifact: ROUNDS rounds, each running every artifact PER_ROUND times in turn."""
    adapters = {}
    for key, art in arts.items():
        deploy = art.deploy.model_dump(mode="json")
        adapter = runtimes.open_artifact(art.path, deploy, 1)
        spec = adapter.inputs[0]
        x = np.zeros([1 if d < 0 else d for d in deploy["inputs"][0]["shape"]], np.float32)
        feed = {spec["name"]: x}
        for _ in range(WARMUP):
            adapter.infer(feed)
        adapters[key] = (adapter, feed)
    times = {key: [] for key in arts}
    for _ in range(ROUNDS):
        for key, (adapter, feed) in adapters.items():
            for _ in range(PER_ROUND):
                t0 = time.perf_counter()
                adapter.infer(feed)
                times[key].append((time.perf_counter() - t0) * 1e3)
    return {key: statistics.median(v) for key, v in times.items()}


def main() -> None:
    vnni = bool(VNNI & host_isa())
    results, rows, ranges = {}, [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            run = parent(name)
            arts, cells = {}, {}
            tries = [(fmt, precision, ()) for fmt, precision in ROWS]
            while tries:
                fmt, precision, keep = tries.pop(0)
                key = f"{fmt} {precision}" + (f", the refusal's --keep-float {','.join(keep)}" if keep else "")
                out = Path(tmp) / f"{name}-{fmt}-{precision}{'-kept' if keep else ''}"
                try:
                    art = ek.export(run, target="x86-64", format=fmt, precision=precision, out=out, progress=False, keep_float=keep)
                except EdgekitError as e:  # a refusal (the floor missed) is a result
                    cells[key] = {"refused": str(e)}
                    hint = re.search(r"--keep-float ([\w.,]+)$", str(e))  # the refusal's last words
                    if hint and not keep:  # what a user does next: the refusal's own suggestion, as a row of its own
                        tries.insert(0, (fmt, precision, tuple(hint.group(1).split(","))))
                    continue
                arts[key] = art
                deploy = art.deploy.model_dump(mode="json")
                m = art.parity.metrics
                cells[key] = {
                    "agreement": m["top1_agreement"],
                    "accuracy": m.get("accuracy"),
                    "max_abs_diff": m.get("max_abs_diff"),
                    "quantizer": deploy["toolchain"].get("quantizer"),
                    "float_layers": deploy.get("extras", {}).get("float_layers"),
                    "weight_range": deploy.get("extras", {}).get("int8_weight_range"),
                    "runtime": art.parity.runtime,
                }
            for key, c in cells.items():
                if c.get("weight_range"):
                    ranges.setdefault(key.split()[0], c["weight_range"])
            for key, ms in interleaved_latency(arts).items():
                cells[key]["latency_ms"] = ms
            results[name] = {"fp32_test_accuracy": run.metrics.test.get("accuracy"), "rows": cells}
            for key, c in cells.items():
                if "refused" in c:
                    rows.append([name, key, "refused", "", "", "", c["refused"][:120]])
                else:
                    fl = c["float_layers"] or {}
                    kept = (
                        f"{fl.get('kept', 0)}/{fl.get('layers', '?')} layers, {fl.get('macs_in_float', 0):.0%} MACs"
                        if fl.get("kept")
                        else "none"
                    )
                    rows.append(
                        [
                            name,
                            key,
                            f"{c['agreement']:.2%}",
                            f"{c['accuracy']:.4f}",
                            f"{c['max_abs_diff']:.1e}",
                            f"{c['latency_ms']:.3f}",
                            kept,
                        ]
                    )
                print(rows[-1], flush=True)
    write_results(
        "openvino_int8",
        {"results": results},
        ["model", "format precision", "agreement (test)", "accuracy", "max |Δ|", "latency p50 ms (1 thread)", "float in int8"],
        rows,
        [
            "x86-64 target, its floor: 98% top-1 agreement with PyTorch fp32 on the test split (270 samples); each "
            "artifact run in its own runtime (OpenVINO CPU plugin f32 inference, onnxruntime CPU, LiteRT)",
            "int8: 300 train calibration samples; OpenVINO: NNCF OpenVINO backend, per-channel weights; ONNX: NNCF, "
            + ("per-channel" if vnni else "per-tensor")
            + " weights; TFLite: PT2E (LiteRT); NNCF's weights halved on (deploy.json extras.int8_weight_range): "
            + "; ".join(f"{fmt}: {r['halved']} ({r['reason']})" for fmt, r in sorted(ranges.items())),
            f"latency: device adapter infer(), batch 1, 1 thread, {ROUNDS} interleaved rounds x {PER_ROUND} runs after "
            f"{WARMUP} warm-up runs; median",
            "parents: " + ", ".join(f"{n} fp32 test accuracy {results[n]['fp32_test_accuracy']:.4f}" for n in MODELS),
        ],
    )


if __name__ == "__main__":
    main()
