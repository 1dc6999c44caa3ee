"""edgekit device runner: benchmarks one exported artifact ON THE DEVICE and prints one JSON result.

It needs only Python 3.8+, numpy and the artifact's runtime, never edgekit or torch. The harness makes a private
folder on the device and runs `python -m edgekit_device data [options]` in its code/ folder:

    code/edgekit_device/  this package (edgekit/device/): the only importable thing the harness sends
    data/                 deploy.json, the eval file and the artifact's files (received files: data, never code)
    inputs/               predict only: the user's files under generated names, and inputs.json mapping them

The eval samples are the sensor's raw form (uint8 images, PCM audio, raw arrays): the runner applies the
preprocessing deploy.json records, runs the model through the runtime adapter (runtimes/), and the task
(tasks/) post-processes, reduces and scores exactly as export's parity check does on the host.
"""

import json
import os
import time
import zipfile

import numpy as np

from . import integrity, marker, preprocess, rawfile, runtimes, tasks
from .envinfo import environment
from .measure import peak_rss_mb, stats
from .record import EXIT_BAD_ARTIFACT, EXIT_BAD_INPUT, bad_input, emit, first_line, missing


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
        size = "of any size" if any(s["op"] in ("resize", "letterbox") for s in pipeline["steps"]) else "of the size trained on"
        layout = "(H, W, 3)" if inp.get("channels") == "RGB" else "(H, W)"
        return "pass images %s (PNG, JPEG, ...) or uint8 .npy arrays %s" % (size, layout)
    return "pass .npy arrays of the samples' shape (the model takes %s)" % (tuple(shape),)


class Model:
    """The artifact behind its runtime adapter, fed from raw samples through the recorded preprocessing, its outputs
    made final by the device task. The pipeline makes one model input: it feeds the model's only input tensor."""

    def __init__(self, deploy, folder, threads):
        try:
            self.task = tasks.get(deploy["task"])
        except ValueError as e:
            bad_input("deploy.json: key 'task': %s" % e)
        self.deploy, self.options = deploy, deploy.get("task_options") or {}
        self.pipeline = deploy["preprocess"]
        self.adapter = runtimes.open_artifact(folder, deploy, threads)
        if len(self.adapter.inputs) != 1:
            bad_input("deploy.json: the model takes %d input tensors (%s), its preprocess makes one"
                      % (len(self.adapter.inputs), ", ".join(t["name"] for t in self.adapter.inputs)))
        self.input = self.adapter.inputs[0]

    def features(self, raw):
        return preprocess.run(self.pipeline, raw)

    def feeds(self, features):
        """One runtime feed per model-input row (an audio clip makes several), encoded to the tensor's dtype once."""
        name = self.input["name"]
        return [{name: runtimes.encode(features[i:i + 1], self.input)} for i in range(len(features))]

    def outputs(self, feeds):
        """The model's outputs for these feeds, in model space, each output's rows stacked: name -> (rows, ...)."""
        rows = [self.adapter.run_decoded(feed) for feed in feeds]  # each copied before the next inference
        return dict((t["name"], np.concatenate([r[t["name"]] for r in rows])) for t in self.adapter.outputs)

    def value(self, raw, features, feeds):
        """(one raw sample's value, post-processing ms): its outputs post-processed, reduced and placed in the raw
        sample's frame by the task (as export's parity does); the model's time is not in the figure."""
        outputs = self.outputs(feeds)
        t0 = time.perf_counter()
        final = self.task.postprocess(outputs, self.options)
        value = self.task.place(self.task.reduce(features, final), np.shape(raw), self.pipeline)
        return value, (time.perf_counter() - t0) * 1e3


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
        try:
            value, post_ms = model.value(raw, feats, model.feeds(feats))
        except ValueError as e:
            bad_input("deploy.json: task '%s' does not fit the model's outputs: %s" % (model.deploy["task"], first_line(e)))
        t2 = time.perf_counter()
        row = {"file": name}
        row.update(model.task.describe(value, labels, model.options))
        row.update({"frontend_ms": (t1 - t0) * 1e3, "model_ms": (t2 - t1) * 1e3 - post_ms, "postprocess_ms": post_ms,
                    "notes": notes})
        rows.append(row)
    emit({"status": "ok", "predictions": rows, "env": environment(model.adapter.version)})


def read_eval(folder, eval_file, task):
    """(raw samples, labels, host reference) as the task stores them; a bad file is the artifact's fault."""
    try:
        with np.load(os.path.join(folder, eval_file), allow_pickle=False) as ev:
            raws, labels, reference = raw_samples(ev), task.load_labels(ev), task.load_reference(ev)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        bad_input("%s: %s" % (eval_file, first_line(e)))
    if not raws or not len(raws) == len(labels) == len(reference):
        bad_input("%s: %d raw samples, %d labels, %d reference outputs (needs as many of each, at least one)"
                  % (eval_file, len(raws), len(labels), len(reference)))
    return raws, labels, reference


def timed_loop(adapter, feeds, min_queries, min_seconds):
    """Single stream: one query at a time until both the query count and the duration are reached. The timed region
    is the runtime's invoke() alone, like LiteRT's benchmark_model."""
    times, started, i = [], time.perf_counter(), 0
    while len(times) < min_queries or time.perf_counter() - started < min_seconds:
        adapter.set_inputs(feeds[i % len(feeds)])
        t0 = time.perf_counter_ns()
        adapter.invoke()
        times.append((time.perf_counter_ns() - t0) / 1e6)
        i += 1
    return times, time.perf_counter() - started


def count_instructions(model, feeds, raws, n):
    """A fixed number of inferences (and of front-end runs) between markers: the qemu plugin counts the guest
    instructions in between, independent of the host's load. No timing calls inside."""
    m = min(n, len(raws))
    marker.mark(1)
    for i in range(n):
        model.adapter.set_inputs(feeds[i % len(feeds)])
        model.adapter.invoke()
    marker.mark(2)
    marker.mark(3)
    for i in range(m):
        model.features(raws[i])
    marker.mark(4)
    return {"inferences": n, "frontend_samples": m}


def main(args):
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
    raws, labels, reference = read_eval(args.folder, eval_file, model.task)
    # Accuracy pass: raw sample -> preprocessing (timed: the front end) -> model -> task, for every eval sample.
    frontend, feeds, first_ms, values, post = [], [], None, [], []
    want = model.input["shape"][1:]
    for k, raw in enumerate(raws):
        t0 = time.perf_counter()
        try:
            feats = model.features(raw)
        except ValueError as e:
            bad_input("%s sample %d: deploy.json's preprocess fails on it: %s" % (eval_file, k, first_line(e)))
        frontend.append((time.perf_counter() - t0) * 1e3)
        if not len(feats):
            bad_input("%s sample %d: deploy.json's preprocess makes no model input of it" % (eval_file, k))
        if min(want + [0]) >= 0 and list(feats.shape[1:]) != list(want):
            bad_input("deploy.json: its preprocess makes %s samples of shape %s, the model takes %s"
                      % (eval_file, list(feats.shape[1:]), list(want)))
        sample_feeds = model.feeds(feats)
        if first_ms is None:
            t0 = time.perf_counter()
            model.adapter.run(sample_feeds[0])  # first inference: cold caches, lazy allocations
            first_ms = (time.perf_counter() - t0) * 1e3
        try:
            value, post_ms = model.value(raw, feats, sample_feeds)
        except ValueError as e:  # the task cannot read what this model gives (received deploy.json: data)
            bad_input("deploy.json: task '%s' does not fit the model's outputs: %s" % (deploy["task"], first_line(e)))
        values.append(value)
        post.append(post_ms)
        feeds.extend(sample_feeds)
    try:
        result_quality = model.task.score(values, reference, labels)
        shipped = model.task.ship(values)  # the host finishes the score from these (a library the board lacks)
    except ValueError as e:
        bad_input("deploy.json: task '%s' does not fit the model's output or %s's reference (%s)"
                  % (deploy["task"], eval_file, first_line(e)))

    for i in range(args.warmup):
        model.adapter.run(feeds[i % len(feeds)])
    counted = count_instructions(model, feeds, raws, args.count_instructions) if args.count_instructions else None
    times, elapsed = timed_loop(model.adapter, feeds, args.min_queries, args.min_seconds)
    art = deploy["artifact"]
    result = {
        "status": "ok", "artifact": {"files": art["files"], "format": art["format"], "precision": art["precision"],
                                     "bytes": sum(os.path.getsize(os.path.join(args.folder, n)) for n in art["files"])},
        "threads": threads, "load_ms": load_ms, "first_inference_ms": first_ms, "warmup": args.warmup,
        "queries": len(times), "seconds": elapsed, "throughput_qps": len(times) / elapsed, "latency_ms": stats(times),
        "frontend_ms": stats(frontend), "postprocess_ms": stats(post),
        "invokes_per_sample": len(feeds) / max(len(raws), 1),
        "latencies_ms": times[:20000], "peak_rss_mb": peak_rss_mb(), "rss_before_load_mb": rss_before,
        "quality": result_quality, "eval_samples": len(raws), "raw_input": bool(deploy["eval"]["raw"]),
        "env": environment(model.adapter.version),
    }
    if shipped is not None:
        result["values"] = shipped
    if counted:
        result["instructions"] = counted
    if getattr(model.adapter, "details", None):
        result["runtime_details"] = model.adapter.details  # e.g. the precision each TensorRT layer really ran in
    result.update(model.adapter.result_extras(result))
    emit(result)
