#!/usr/bin/env python3
"""edgekit device runner: benchmarks one exported artifact ON THE DEVICE and prints one JSON result.

Self-contained on purpose: it needs only Python 3.8+, numpy and the artifact's runtime — never edgekit or
torch. The harness makes a private folder on the device, runs the runner there and reads its last stdout line:

    code/    this runner and its siblings from edgekit/device/ (runtimes.py, preprocess.py, ...). Python puts the
             script's folder first on sys.path, so this folder, which holds edgekit's files only, is the only
             place an import can come from: nothing received is ever imported.
    data/    deploy.json, the eval file and the artifact's files (received files: data, never code)
    inputs/  predict only: the user's files under generated names, and inputs.json mapping them to the user's names

    python3 code/runner.py data [--threads N] [--min-queries N] [--min-seconds S] [--warmup N]
    python3 code/runner.py data --inputs inputs     # raw files (.wav, .npy, images with Pillow)

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
import zipfile

SCHEMA = "edgekit.runner/2"
EXIT_MISSING_RUNTIME = 3
EXIT_BAD_ARTIFACT = 4
EXIT_ERROR = 5
EXIT_BAD_INPUT = 6
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


def bad_input(detail, what="artifact"):
    """A received file is wrong (what: "artifact" = deploy.json, the eval file or a model file; "input" = a predict
    input). `detail` starts with the file's name: the host names it and the fix, not the runtime."""
    emit({"status": "bad_input", "what": what, "detail": detail}, EXIT_BAD_INPUT)


def first_line(e):
    text = str(e).splitlines()[0][:300] if str(e) else ""
    return "%s: %s" % (type(e).__name__, text) if text else type(e).__name__


try:
    import numpy as np
except ImportError as e:  # the runner cannot even read the eval data
    missing("numpy", str(e))

try:
    from . import integrity, marker, preprocess, quality, rawfile, runtimes
except ImportError:  # on the device: the harness copies these files beside the runner
    import integrity
    import marker
    import preprocess
    import quality
    import rawfile
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


def read_raw_file(path, pipeline_input):
    """(raw array, notes) of one predict input, read as training reads such files (rawfile.py)."""
    try:
        return rawfile.read(path, pipeline_input)
    except ImportError as e:  # Pillow, imported only when an image is read
        missing("pillow", "reading images needs Pillow on the device: " + str(e))


def input_fix(pipeline, shape):
    """What to pass instead, from what the artifact's preprocessing starts from and the model's input shape."""
    inp = pipeline["input"]
    if inp["kind"] == "audio":
        return "pass a %d Hz .wav clip (16-bit PCM or float) or a 1-D .npy of its samples" % inp["sample_rate"]
    if inp["kind"] == "image":
        size = "of any size" if any(s["op"] == "resize" for s in pipeline["steps"]) else "of the size trained on"
        layout = "(H, W, 3)" if inp.get("channels") == "RGB" else "(H, W)"
        return "pass images %s (PNG, JPEG, ...) or uint8 .npy arrays %s" % (size, layout)
    return "pass .npy arrays of the samples' shape (the model takes %s)" % (tuple(shape),)


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


def predict(model, folder, files, shown):
    """files: the inputs' generated names in `folder`; shown: the user's names, for the results and messages.

    A file that does not fit (unreadable, NaN, wrong shape) is refused naming it: the answer would be noise.
    """
    rows = []
    labels = model.deploy.get("labels") or []
    try:
        preprocess.validate(model.pipeline)
    except ValueError as e:
        bad_input("deploy.json: preprocess: %s" % e)
    want = model.input["shape"][1:]
    for stored, name in zip(files, shown):
        try:
            raw, notes = read_raw_file(os.path.join(folder, stored), model.pipeline["input"])
            t0 = time.perf_counter()
            feats = model.features(raw)
            t1 = time.perf_counter()
            got = list(feats.shape[1:])
            if not len(feats):
                raise ValueError("too short: deploy.json's preprocess makes no model input of it")
            if len(got) != len(want) or any(w >= 0 and g != w for g, w in zip(got, want)):
                raise ValueError("deploy.json's preprocess makes model input %s of it, the model takes %s"
                                 % (tuple(got), tuple(want)))
        except ValueError as e:  # about this file's content: the pipeline was validated above
            emit({"status": "bad_input", "what": "input", "detail": "%s: %s" % (name, str(e).splitlines()[0][:300]),
                  "fix": input_fix(model.pipeline, want)}, EXIT_BAD_INPUT)
        out = model.outputs(model.encoded(feats))
        t2 = time.perf_counter()
        value = model.task.reduce(feats, out)
        label, index, score = model.task.label(value, labels, model.deploy.get("task_options") or {})
        rows.append({"file": name, "label": label, "index": index, "score": score, "frontend_ms": (t1 - t0) * 1e3,
                     "model_ms": (t2 - t1) * 1e3, "output": [float(v) for v in value[:64]], "notes": notes})
    emit({"status": "ok", "predictions": rows, "env": environment(model.adapter.version)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--min-queries", type=int, default=1024)
    ap.add_argument("--min-seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--inputs", default=None, help="predict: the folder holding inputs.json and the files it lists")
    ap.add_argument("--count-instructions", type=int, default=0, help="under edgekit's qemu counter: N inferences between markers")
    args = ap.parse_args()
    try:
        with open(os.path.join(args.folder, "deploy.json")) as f:
            deploy = json.load(f)
    except (OSError, ValueError) as e:
        bad_input("deploy.json: " + first_line(e))
    # The host checked all of this; the device checks again what it runs on (the copy may differ).
    bad = integrity.bad_files(args.folder, deploy["artifact"], deploy["eval"])
    if bad:
        emit({"status": "bad_artifact", "detail": "sha256 of %s differs from deploy.json" % ", ".join(bad)}, EXIT_BAD_ARTIFACT)
    # The profile's thread count, but never more than this device has: oversubscription only adds jitter.
    threads = args.threads or max(1, min(int(deploy["runtime"].get("threads", 1)), os.cpu_count() or 1))
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    try:
        model = Model(deploy, args.folder, threads)
    except runtimes.MissingRuntime as e:
        missing(e.package, e.detail)
    load_ms = (time.perf_counter() - t0) * 1e3
    if args.inputs:
        with open(os.path.join(args.inputs, "inputs.json")) as f:
            listed = json.load(f)
        predict(model, args.inputs, [e["file"] for e in listed], [e["name"] for e in listed])

    eval_file = deploy["eval"]["file"]
    try:
        with np.load(os.path.join(args.folder, eval_file), allow_pickle=False) as ev:
            raws, y, reference = raw_samples(ev), ev["y"], ev["reference"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        bad_input("%s: %s" % (eval_file, first_line(e)))
    if not raws or not len(raws) == len(y) == len(reference):
        bad_input("%s: %d raw samples, %d labels, %d reference outputs (needs as many of each, at least one)"
                  % (eval_file, len(raws), len(y), len(reference)))

    # Accuracy pass: raw sample → preprocessing (timed: the front end) → model, for every shipped eval sample.
    frontend, encoded, first_ms, values = [], [], None, []
    want = model.input["shape"][1:]
    for k, raw in enumerate(raws):
        t0 = time.perf_counter()
        try:
            feats = model.features(raw)
        except ValueError as e:
            bad_input("%s sample %d: deploy.json's preprocess fails on it: %s" % (eval_file, k, first_line(e)))
        frontend.append((time.perf_counter() - t0) * 1e3)
        if min(want + [0]) >= 0 and list(feats.shape[1:]) != list(want):
            bad_input("deploy.json: its preprocess makes %s samples of shape %s, the model takes %s"
                      % (eval_file, list(feats.shape[1:]), list(want)))
        enc = model.encoded(feats)
        if first_ms is None:
            t0 = time.perf_counter()
            model.outputs(enc[:1])  # first inference: cold caches, lazy allocations
            first_ms = (time.perf_counter() - t0) * 1e3
        values.append(model.task.reduce(feats, model.outputs(enc)))
        encoded.extend(enc)
    try:
        result_quality = model.task.score(np.stack(values), reference, y)
    except ValueError as e:
        bad_input("deploy.json: task '%s' does not fit the model's output or %s's reference (%s)"
                  % (deploy["task"], eval_file, first_line(e)))

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
        emit({"status": "error", "detail": first_line(e)}, EXIT_ERROR)
