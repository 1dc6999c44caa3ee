#!/usr/bin/env python3
"""edgekit device runner: benchmarks one exported artifact ON THE DEVICE and prints one JSON result.

Self-contained on purpose: it needs only Python 3.8+, numpy and the artifact's runtime (onnxruntime,
ai_edge_litert or tflite_runtime, tflite-micro) — never edgekit or torch. The harness copies it next to
the artifact, deploy.json and eval.npz, runs it, and reads its last stdout line.

    python3 runner.py FOLDER [--threads N] [--min-queries N] [--min-seconds S] [--warmup N]
"""

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time

SCHEMA = "edgekit.runner/1"
EXIT_MISSING_RUNTIME = 3
EXIT_BAD_ARTIFACT = 4
# MIDR part numbers of Arm cores seen on edge boards (what /proc/cpuinfo's "CPU part" says).
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72",
             "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78",
             "0xd42": "Cortex-A78AE", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd4b": "Cortex-A78C"}
PIP_NAMES = {"numpy": "numpy", "onnxruntime": "onnxruntime", "litert": "ai-edge-litert", "tflite-micro": "tflite-micro"}


def emit(result, code=0):
    print(json.dumps(result))
    sys.stdout.flush()
    sys.exit(code)


def missing(package, detail):
    emit({"schema": SCHEMA, "status": "missing_runtime", "package": PIP_NAMES.get(package, package),
          "python": sys.executable, "detail": detail}, EXIT_MISSING_RUNTIME)


try:
    import numpy as np
except ImportError as e:  # the runner cannot even read the eval data
    missing("numpy", str(e))


def read_first(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def environment(runtime_version):
    cpuinfo = read_first("/proc/cpuinfo") or ""
    model = None
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in cpuinfo.splitlines():
            if line.startswith(key) and ":" in line:
                model = line.split(":", 1)[1].strip()
                break
        if model:
            break
    parts = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("CPU part") and ":" in ln]
    os_name = None
    for line in (read_first("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    env = {"machine": platform.machine(), "cpu_model": model, "cpu_part": parts[0] if parts else None,
           "cpu_core": ARM_PARTS.get(parts[0].lower()) if parts else None,
           "cores": os.cpu_count(), "os": os_name or platform.platform(), "kernel": platform.release(),
           "python": platform.python_version(), "numpy": np.__version__, "runtime_version": runtime_version,
           "governor": read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
           "cpu_mhz": None, "temperature_c": None, "throttled": None}
    freq = read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    env["cpu_mhz"] = int(freq) / 1000 if freq and freq.isdigit() else None
    temp = read_first("/sys/class/thermal/thermal_zone0/temp")
    env["temperature_c"] = int(temp) / 1000 if temp and temp.lstrip("-").isdigit() else None
    try:  # Raspberry Pi firmware: under-voltage / throttling flags
        out = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=5)
        env["throttled"] = out.stdout.strip().split("=", 1)[-1] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return env


def peak_rss_mb():
    """Peak resident memory of this process. VmHWM belongs to the process's own address space; ru_maxrss can
    carry the parent's peak across fork + exec on Linux, so it is only the fallback."""
    for line in (read_first("/proc/self/status") or "").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def quantize(x, q, dtype):
    info = np.iinfo(dtype)
    return np.clip(np.round(x / q["scale"] + q["zero_point"]), info.min, info.max).astype(dtype)


def dequantize(y, q):
    return (y.astype(np.float32) - q["zero_point"]) * q["scale"] if q else y.astype(np.float32)


class OnnxModel:
    def __init__(self, path, threads):
        try:
            import onnxruntime as ort
        except ImportError as e:
            missing("onnxruntime", str(e))
        self.version = ort.__version__
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.name = self.sess.get_inputs()[0].name
        self.feed = None

    def set_input(self, x):
        self.feed = {self.name: x}

    def invoke(self):
        self.out = self.sess.run(None, self.feed)[0]

    def output(self):
        return self.out


class TfliteModel:
    def __init__(self, path, threads):
        try:
            from ai_edge_litert import interpreter as tfl
            import ai_edge_litert
            self.version = "ai-edge-litert " + getattr(ai_edge_litert, "__version__", "?")
        except ImportError:
            try:  # boards that still carry the frozen tflite-runtime (2.14)
                from tflite_runtime import interpreter as tfl
                import tflite_runtime
                self.version = "tflite-runtime " + getattr(tflite_runtime, "__version__", "?")
            except ImportError as e:
                missing("litert", str(e))
        self.it = tfl.Interpreter(model_path=path, num_threads=threads)
        self.it.allocate_tensors()
        self.inp, self.out = self.it.get_input_details()[0], self.it.get_output_details()[0]

    def set_input(self, x):
        self.it.set_tensor(self.inp["index"], x)

    def invoke(self):
        self.it.invoke()

    def output(self):
        return self.it.get_tensor(self.out["index"])


class MicroModel:
    def __init__(self, path, threads, arena):
        try:
            from tflite_micro.python.tflite_micro import runtime
            self.version = "tflite-micro"
        except ImportError as e:
            missing("tflite-micro", str(e))
        self.it = runtime.Interpreter.from_file(path, arena_size=arena) if arena else runtime.Interpreter.from_file(path)

    def set_input(self, x):
        self.it.set_input(x, 0)

    def invoke(self):
        self.it.invoke()

    def output(self):
        return self.it.get_output(0)


def load(deploy, folder, threads):
    art = deploy["artifact"]
    path = os.path.join(folder, art["file"])
    if art["format"] == "onnx":
        return OnnxModel(path, threads)
    if art["format"] == "micro":
        arena = deploy["runtime"].get("arena_bytes")
        return MicroModel(path, threads, int(arena * 1.1) + 1024 if arena else None)
    return TfliteModel(path, threads)


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--min-queries", type=int, default=1024)
    ap.add_argument("--min-seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=50)
    args = ap.parse_args()
    with open(os.path.join(args.folder, "deploy.json")) as f:
        deploy = json.load(f)
    art = deploy["artifact"]
    path = os.path.join(args.folder, art["file"])
    if sha256(path) != art["sha256"]:
        emit({"schema": SCHEMA, "status": "bad_artifact", "detail": "sha256 differs from deploy.json"}, EXIT_BAD_ARTIFACT)
    # The profile's thread count, but never more than this device has: oversubscription only adds jitter.
    threads = args.threads or min(deploy["runtime"].get("threads", 1), os.cpu_count() or 1)
    rss_before = peak_rss_mb()

    t0 = time.perf_counter()
    model = load(deploy, args.folder, threads)
    load_ms = (time.perf_counter() - t0) * 1e3

    with np.load(os.path.join(args.folder, "eval.npz"), allow_pickle=False) as ev:
        x, y, reference = ev["x"], ev["y"], ev["reference"]
    norm = deploy["preprocess"]["normalization"]
    if norm:
        mean, std = np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32)
        if norm.get("axis") == 1:
            shape = (1, -1) + (1,) * (x.ndim - 2)
            mean, std = mean.reshape(shape), std.reshape(shape)
        x = ((x - mean) / std).astype(np.float32)
    in_q, out_q = deploy["input"]["quantization"], deploy["output"]["quantization"]
    in_dtype = np.dtype(deploy["input"]["dtype"])
    samples = [quantize(x[i:i + 1], in_q, in_dtype) if in_q else x[i:i + 1].astype(in_dtype) for i in range(len(x))]

    # First inference (cold caches, lazy allocations), then the accuracy pass over the shipped test split.
    model.set_input(samples[0])
    t0 = time.perf_counter()
    model.invoke()
    first_ms = (time.perf_counter() - t0) * 1e3
    outputs = []
    for s in samples:
        model.set_input(s)
        model.invoke()
        outputs.append(dequantize(np.array(model.output()), out_q))
    out = np.concatenate(outputs).reshape(len(samples), -1)
    ref = reference.reshape(len(reference), -1)
    quality = {"eval_samples": int(len(samples))}
    if deploy["task"] == "classification":
        quality["accuracy"] = float((out.argmax(1) == y).mean())
        quality["agreement"] = float((out.argmax(1) == ref.argmax(1)).mean())
    else:
        quality["mse_vs_reference"] = float(((out - ref) ** 2).mean())
    quality["max_abs_diff"] = float(np.abs(out - ref).max())

    for i in range(args.warmup):
        model.set_input(samples[i % len(samples)])
        model.invoke()
    # Single stream: one query at a time until both the query count and the duration are reached.
    # The timed region is the runtime's invoke()/run() alone, like LiteRT's benchmark_model.
    times, started = [], time.perf_counter()
    i = 0
    while len(times) < args.min_queries or time.perf_counter() - started < args.min_seconds:
        model.set_input(samples[i % len(samples)])
        t0 = time.perf_counter_ns()
        model.invoke()
        times.append((time.perf_counter_ns() - t0) / 1e6)
        i += 1
    elapsed = time.perf_counter() - started
    st = sorted(times)
    mean = sum(times) / len(times)
    latency = {"p50": percentile(st, 50), "p90": percentile(st, 90), "p99": percentile(st, 99), "mean": mean,
               "std": (sum((t - mean) ** 2 for t in times) / len(times)) ** 0.5, "min": st[0], "max": st[-1]}
    result = {
        "schema": SCHEMA, "status": "ok", "artifact": {"file": art["file"], "format": art["format"], "precision": art["precision"],
                                                       "bytes": os.path.getsize(path)},
        "threads": threads, "load_ms": load_ms, "first_inference_ms": first_ms, "warmup": args.warmup,
        "queries": len(times), "seconds": elapsed, "throughput_qps": len(times) / elapsed, "latency_ms": latency,
        "latencies_ms": times[:20000], "peak_rss_mb": peak_rss_mb(), "rss_before_load_mb": rss_before,
        **quality, "env": environment(model.version),
    }
    if art["format"] == "micro":
        result["micro"] = {"arena_bytes": deploy["runtime"].get("arena_bytes"), "flash_bytes": os.path.getsize(path),
                           "note": "tflite-micro ran on this host: arena, flash and accuracy are the board's; latency is not"}
    emit(result)


if __name__ == "__main__":
    main()
