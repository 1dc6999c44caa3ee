#!/usr/bin/env python3
"""edgekit device runner: benchmarks one exported artifact ON THE DEVICE and prints one JSON result.

Self-contained on purpose: it needs only Python 3.8+, numpy and the artifact's runtime — never edgekit or
torch. The harness copies it beside runtimes.py, preprocess.py, quality.py and integrity.py (its siblings
in edgekit/device/), the artifact's files, deploy.json and eval.npz, runs it, and reads its last stdout line.

    python3 runner.py FOLDER [--threads N] [--min-queries N] [--min-seconds S] [--warmup N]
    python3 runner.py FOLDER --predict FILE [FILE ...]      # raw files (.wav, .npy, images with Pillow)

The eval samples are the sensor's raw form (uint8 images, PCM audio, raw arrays): the runner applies the
preprocessing deploy.json records, so the accuracy it reports is what a device gets from its own sensor.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

SCHEMA = "edgekit.runner/2"
EXIT_MISSING_RUNTIME = 3
EXIT_BAD_ARTIFACT = 4
EXIT_ERROR = 5
# MIDR part numbers of Arm cores seen on edge boards (what /proc/cpuinfo's "CPU part" says).
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72",
             "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78",
             "0xd42": "Cortex-A78AE", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd4b": "Cortex-A78C"}


def emit(result, code=0):
    result.setdefault("schema", SCHEMA)
    print(json.dumps(result))
    sys.stdout.flush()
    sys.exit(code)


def missing(package, detail):
    emit({"status": "missing_runtime", "package": package, "python": sys.executable, "detail": detail}, EXIT_MISSING_RUNTIME)


try:
    import numpy as np
except ImportError as e:  # the runner cannot even read the eval data
    missing("numpy", str(e))

try:
    from . import integrity, marker, preprocess, quality, runtimes
except ImportError:  # on the device: the harness copies these files beside the runner
    import integrity
    import marker
    import preprocess
    import quality
    import runtimes


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
    flags = next((ln.split(":", 1)[1].split() for ln in cpuinfo.splitlines() if ln.startswith(("flags", "Features")) and ":" in ln), [])
    os_name = None
    for line in (read_first("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    env = {"machine": platform.machine(), "cpu_model": model, "cpu_part": parts[0] if parts else None,
           "cpu_core": ARM_PARTS.get(parts[0].lower()) if parts else None,
           "isa": sorted(f for f in flags if f.startswith(("avx", "asimd", "sve", "i8mm", "fma")) or f in ("dotprod", "bf16")),
           "cores": os.cpu_count(), "os": os_name or platform.platform(), "kernel": platform.release(),
           "python": platform.python_version(), "numpy": np.__version__, "runtime_version": runtime_version,
           "governor": read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
           "cpu_mhz": None, "temperature_c": None, "throttled": None}
    freq = read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    env["cpu_mhz"] = int(freq) / 1000 if freq and freq.isdigit() else None
    temp = read_first("/sys/class/thermal/thermal_zone0/temp")
    env["temperature_c"] = int(temp) / 1000 if temp and temp.lstrip("-").isdigit() else None
    try:  # Raspberry Pi firmware: under-voltage / throttling flags
        out = subprocess.run(["vcgencmd", "get_throttled"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=5)
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


def percentile(sorted_values, q):
    k = (len(sorted_values) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def stats(times):
    st = sorted(times)
    mean = sum(times) / len(times)
    return {"p50": percentile(st, 50), "p90": percentile(st, 90), "p99": percentile(st, 99), "mean": mean,
            "std": (sum((t - mean) ** 2 for t in times) / len(times)) ** 0.5, "min": st[0], "max": st[-1]}


def raw_samples(ev):
    """eval.npz holds the raw samples stacked (`raw`) when they share a shape, else one array each (raw_00000...)."""
    if "raw" in ev.files:
        return list(ev["raw"])
    keys = sorted(k for k in ev.files if k.startswith("raw_"))
    return [ev[k] for k in keys]


def read_raw_file(path, kind):
    """A raw input file as the pipeline's input kind expects it."""
    low = path.lower()
    if low.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    with open(path, "rb") as f:
        data = f.read()
    if low.endswith(".wav"):
        samples, rate = preprocess.decode_wav(data)
        return samples, rate
    try:
        from PIL import Image
    except ImportError as e:
        missing("pillow", "reading images needs Pillow on the device: " + str(e))
    import io

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB" if img.mode not in ("L", "RGB") else img.mode))


class Model:
    """The artifact behind the runtime adapter, fed from raw samples through the recorded preprocessing."""

    def __init__(self, deploy, folder, threads):
        self.deploy, self.task = deploy, quality.TASKS[deploy["task"]]
        self.pipeline = deploy["preprocess"]
        self.adapter = runtimes.open_artifact(folder, deploy, threads)
        self.input, self.output = self.adapter.input, self.adapter.output

    def features(self, raw):
        return preprocess.run(self.pipeline, raw)

    def encoded(self, features):
        return [runtimes.encode(features[i:i + 1], self.input) for i in range(len(features))]

    def outputs(self, encoded):
        outs = []
        for x in encoded:
            self.adapter.set_input(x)
            self.adapter.invoke()
            outs.append(runtimes.decode(np.array(self.adapter.get_output()), self.output))
        return np.concatenate(outs)


def predict(model, folder, files):
    rows = []
    labels = model.deploy.get("labels") or []
    for name in files:
        raw = read_raw_file(os.path.join(folder, name), model.pipeline["input"]["kind"])
        if isinstance(raw, tuple):  # audio: (samples, sample rate)
            raw, rate = raw
            expected = model.pipeline["input"].get("sample_rate")
            if expected and rate != expected and not any(s["op"] == "resample" for s in model.pipeline["steps"]):
                emit({"status": "error", "detail": "%s is %d Hz; the model takes %d Hz" % (name, rate, expected)}, EXIT_ERROR)
        t0 = time.perf_counter()
        feats = model.features(raw)
        t1 = time.perf_counter()
        out = model.outputs(model.encoded(feats))
        t2 = time.perf_counter()
        value = model.task.reduce(feats, out)
        label, index, score = model.task.label(value, labels, model.deploy.get("task_options") or {})
        rows.append({"file": name, "label": label, "index": index, "score": score, "frontend_ms": (t1 - t0) * 1e3,
                     "model_ms": (t2 - t1) * 1e3, "output": [float(v) for v in value[:64]]})
    emit({"status": "ok", "predictions": rows, "env": environment(model.adapter.version)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--min-queries", type=int, default=1024)
    ap.add_argument("--min-seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--predict", nargs="+", default=None)
    ap.add_argument("--count-instructions", type=int, default=0, help="under edgekit's qemu counter: N inferences between markers")
    args = ap.parse_args()
    with open(os.path.join(args.folder, "deploy.json")) as f:
        deploy = json.load(f)
    bad = integrity.bad_files(args.folder, deploy["artifact"])
    if bad:
        emit({"status": "bad_artifact", "detail": "sha256 of %s differs from deploy.json" % ", ".join(bad)}, EXIT_BAD_ARTIFACT)
    # The profile's thread count, but never more than this device has: oversubscription only adds jitter.
    threads = args.threads or min(deploy["runtime"].get("threads", 1), os.cpu_count() or 1)
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    try:
        model = Model(deploy, args.folder, threads)
    except runtimes.MissingRuntime as e:
        missing(e.package, e.detail)
    load_ms = (time.perf_counter() - t0) * 1e3
    if args.predict:
        predict(model, args.folder, args.predict)

    with np.load(os.path.join(args.folder, deploy["eval"]["file"]), allow_pickle=False) as ev:
        raws, y, reference = raw_samples(ev), ev["y"], ev["reference"]

    # Accuracy pass: raw sample → preprocessing (timed: the front end) → model, for every shipped eval sample.
    frontend, encoded, first_ms, values = [], [], None, []
    for raw in raws:
        t0 = time.perf_counter()
        feats = model.features(raw)
        frontend.append((time.perf_counter() - t0) * 1e3)
        enc = model.encoded(feats)
        if first_ms is None:
            t0 = time.perf_counter()
            model.outputs(enc[:1])  # first inference: cold caches, lazy allocations
            first_ms = (time.perf_counter() - t0) * 1e3
        values.append(model.task.reduce(feats, model.outputs(enc)))
        encoded.extend(enc)
    result_quality = model.task.score(np.stack(values), reference, y)

    for i in range(args.warmup):
        model.adapter.set_input(encoded[i % len(encoded)])
        model.adapter.invoke()
    counted = None
    if args.count_instructions:
        # A fixed number of inferences (and of front-end runs) between markers: the qemu plugin counts the guest
        # instructions in between, independent of the host's load. No timing calls inside.
        n, m = args.count_instructions, min(args.count_instructions, len(raws))
        marker.mark(1)
        for i in range(n):
            model.adapter.set_input(encoded[i % len(encoded)])
            model.adapter.invoke()
        marker.mark(2)
        marker.mark(3)
        for i in range(m):
            model.features(raws[i])
        marker.mark(4)
        counted = {"inferences": n, "frontend_samples": m}
    # Single stream: one query at a time until both the query count and the duration are reached.
    # The timed region is the runtime's invoke()/run() alone, like LiteRT's benchmark_model.
    times, started, i = [], time.perf_counter(), 0
    while len(times) < args.min_queries or time.perf_counter() - started < args.min_seconds:
        model.adapter.set_input(encoded[i % len(encoded)])
        t0 = time.perf_counter_ns()
        model.adapter.invoke()
        times.append((time.perf_counter_ns() - t0) / 1e6)
        i += 1
    elapsed = time.perf_counter() - started
    art = deploy["artifact"]
    result = {
        "status": "ok", "artifact": {"files": art["files"], "format": art["format"], "precision": art["precision"],
                                     "bytes": sum(os.path.getsize(os.path.join(args.folder, n)) for n in art["files"])},
        "threads": threads, "load_ms": load_ms, "first_inference_ms": first_ms, "warmup": args.warmup,
        "queries": len(times), "seconds": elapsed, "throughput_qps": len(times) / elapsed, "latency_ms": stats(times),
        "frontend_ms": stats(frontend), "invokes_per_sample": len(encoded) / max(len(raws), 1), "latencies_ms": times[:20000], "peak_rss_mb": peak_rss_mb(), "rss_before_load_mb": rss_before,
        "quality": result_quality, "eval_samples": len(raws), "raw_input": bool(deploy["eval"]["raw"]),
        "env": environment(model.adapter.version),
    }
    if counted:
        result["instructions"] = counted
    if getattr(model.adapter, "details", None):
        result["runtime_details"] = model.adapter.details  # e.g. the precision each TensorRT layer really ran in
    result.update(model.adapter.result_extras(result))
    emit(result)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # a result record, never a bare traceback on the device
        emit({"status": "error", "detail": "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300] if str(e) else "")}, EXIT_ERROR)
