"""Shared by the benchmark scripts: the machine description, bare-loop latency, and result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

# The zoo's mobile architectures (edgekit/zoo/mobile.py) by recipe name: the set the architecture benchmarks walk.
MOBILE_ARCHS = [
    "mobilenet-v2",
    "mobilenet-v3-small",
    "shufflenet-v2",
    "squeezenet",
    "lcnet",
    "ghostnet",
    "efficientnet-lite",
    "mobilevit-xxs",
    "tiny-unet",
]


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "")
    versions = {}
    for dist in (
        "edgekit",
        "torch",
        "onnxruntime",
        "ai-edge-litert",
        "litert-torch",
        "nncf",
        "torch-pruning",
        "tflite-micro",
        "ncnn",
        "executorch",
        "openvino",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    isa = sorted(f for f in flags.split(":", 1)[-1].split() if f.startswith(("avx", "fma", "sse4", "amx", "asimd")) or "vnni" in f)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "vnni": "vnni" in flags,
        "isa": isa,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _stats(samples_ms: list[float]) -> dict:
    a = np.asarray(samples_ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)), "mean_ms": float(a.mean()), "n": len(a)}


def bare_latency(artifact: Path, *, threads: int = 1, n: int = 300, warmup: int = 30) -> dict:
    """The reference loop: the runtime's own run()/invoke() on one sample, nothing around it."""
    artifact = Path(artifact)
    if artifact.suffix == ".onnx":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(artifact), opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        x = np.zeros([d if isinstance(d, int) else 1 for d in inp.shape], np.float32)
        step = lambda: sess.run(None, {inp.name: x})  # noqa: E731
    else:
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(artifact), num_threads=threads)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        step = it.invoke
    for _ in range(warmup):
        step()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return _stats(times)


def write_results(name: str, data: dict, table_header: list[str], table_rows: list[list], notes: list[str] = ()) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    m = data.setdefault("machine", machine())
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        f"# {name}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
        f"{', '.join(f'{k} {v}' for k, v in m['versions'].items())}; {m['date']}.",
        "",
        f"ISA flags: {' '.join(m.get('isa', [])) or 'not recorded'}.",
        "",
        "| " + " | ".join(table_header) + " |",
        "|" + "---|" * len(table_header),
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table_rows]
    lines += [""] + [f"- {n}" for n in notes]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def mean_std(values: list[float]) -> str:
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values) if len(values) > 1 else 0:.4f}"
