"""Detection bars (issue 23): a box detector trained on made objects (edgekit datasets make objects), exported as
full-int8 TFLite for the Raspberry Pi 4, judged on the held-out test split from raw images: export parity mAP,
bench mAP on this machine and under emu:rpi4 (the device's own boxes, raw pixels, COCO mAP by faster-coco-eval);
fp32 TFLite beside it. Then Ultralytics' YOLO11n side by side on the same images (benchmarks/peer_ultralytics.py,
run with a separate Python that has ultralytics; never an edgekit dependency): mAP50-95 fp32, int8 TFLite mAP drop,
LiteRT p50 latency at one thread on this CPU (interleaved rounds, the two models alternating) and export time. And
the centroid detector (FOMO-style) at 96x96 grayscale: F1, exported to the `micro` format for a Cortex-M7 with a
measured tensor arena.

    python benchmarks/detect.py [--images 1200] [--epochs 100] [--model detector-csp]
                                [--peer-python /path/to/venv/bin/python] [--work DIR]

The work folder keeps what each step made (data, runs, artifacts): a rerun resumes after the last finished step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, write_results

import edgekit as ek

ROUNDS, PER_ROUND = 7, 60  # interleaved latency rounds x invocations per round per model


def made(path: Path, make):
    """`make()` unless `path` already holds what it made (a resumed benchmark)."""
    if not path.exists():
        make()
    return path


def quality(report) -> dict:
    r = report.entries[0].result
    keys = ("map50_95", "map50", "map_drop_points", "collapsed_classes", "f1", "precision", "recall", "reference_f1")
    return {
        **{k: r.quality.get(k) for k in keys if r.quality.get(k) is not None},
        "latency_p50_ms": r.latency_ms.p50 if r.latency_ms else None,
        "postprocess_p50_ms": r.postprocess_ms.p50 if r.postprocess_ms else None,
    }


def litert_latency(models: dict[str, Path]) -> dict[str, float]:
    """p50 of the bare interpreter invoke per model, one thread, rounds interleaved so load changes hit all alike."""
    from ai_edge_litert.interpreter import Interpreter

    its = {}
    for name, path in models.items():
        it = Interpreter(model_path=str(path), num_threads=1)
        it.allocate_tensors()
        d = it.get_input_details()[0]
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        for _ in range(20):
            it.invoke()
        its[name] = it
    times = {name: [] for name in its}
    for _ in range(ROUNDS):
        for name, it in its.items():
            for _ in range(PER_ROUND):
                t0 = time.perf_counter()
                it.invoke()
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: float(np.percentile(t, 50)) for name, t in times.items()}


def box_detector(args, work: Path) -> dict:
    data = made(work / "objects", lambda: ek_make(work / "objects", args.images, args.size))
    run_dir = work / "run"
    if not (run_dir / "model.json").exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        t0 = time.perf_counter()
        ek.train(args.model, f"coco:{data}", input_shape=(3, args.input, args.input), epochs=args.epochs, out=run_dir, progress=False)
        (work / "train_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}")
    run = ek.load_run(run_dir)
    out = {"model": args.model, "train_seconds": float((work / "train_seconds.txt").read_text()), "test": run.metrics.test}
    for precision in ("fp32", "int8"):
        folder = work / f"tflite-{precision}"
        if not (folder / "deploy.json").exists():
            t0 = time.perf_counter()
            ek.export(run, "rpi4", format="tflite", precision=precision, out=folder, progress=False)
            (work / f"export-{precision}.txt").write_text(f"{time.perf_counter() - t0:.1f}")
        deploy = json.loads((folder / "deploy.json").read_text())
        here = ek.bench([folder], device="local", threads=1, min_queries=100, min_seconds=0)
        out[precision] = {
            "export_seconds": float((work / f"export-{precision}.txt").read_text()),
            "parity": {
                k: deploy["parity"]["metrics"].get(k)
                for k in ("map50_95", "map50", "reference_map50_95", "map_drop_points", "collapsed_classes")
            },
            "bench_local": quality(here),
            "notes": deploy["extras"].get("float_layers"),
            "bytes": deploy["artifact"]["bytes"],
        }
        if precision == "int8" and not args.no_emulation:
            out[precision]["bench_emu_rpi4"] = quality(ek.bench([folder], device="emu:rpi4", min_queries=20, min_seconds=0))
    return out


def ek_make(folder: Path, images: int, size: int) -> None:
    from edgekit.synth.objects import make_objects

    make_objects(folder, images=images, size=size, seed=0)


def yolo_layout(data: Path, dest: Path) -> Path:
    """The made COCO data in Ultralytics' YOLO layout, split exactly as edgekit splits it (seed 0, 70/15/15), so both
    tools train, calibrate and score on the same images. Images are linked, labels are class cx cy w h (0..1)."""
    from edgekit.data.loaders import DEFAULT_FRACTIONS, _split, read_source
    from edgekit.tasks import get_task

    if (dest / "data.yaml").exists():
        return dest
    src = read_source(f"coco:{data}")
    parts = _split(src, 0, DEFAULT_FRACTIONS, stratify=get_task("detection").stratify)
    coco = json.loads((data / "annotations" / "instances.json").read_text())
    categories = sorted(coco["categories"], key=lambda c: c["id"])  # edgekit's class order: by category id
    names = [c["name"] for c in categories]
    index = {c["id"]: k for k, c in enumerate(categories)}
    anns: dict[int, list] = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    for split, rows in parts.items():
        (tmp / "images" / split).mkdir(parents=True)
        (tmp / "labels" / split).mkdir(parents=True)
        for i in rows:
            im = coco["images"][int(i)]
            (tmp / "images" / split / im["file_name"]).symlink_to((data / "images" / im["file_name"]).resolve())
            lines = []
            for a in anns.get(im["id"], []):
                x, y, w, h = a["bbox"]
                cx, cy = (x + w / 2) / im["width"], (y + h / 2) / im["height"]
                lines.append(f"{index[a['category_id']]} {cx:.6f} {cy:.6f} {w / im['width']:.6f} {h / im['height']:.6f}")
            (tmp / "labels" / split / (Path(im["file_name"]).stem + ".txt")).write_text("\n".join(lines) + "\n" if lines else "")
    yaml = [f"path: {dest.resolve()}", "train: images/train", "val: images/val", "test: images/test", "names:"]
    (tmp / "data.yaml").write_text("\n".join(yaml + [f"  {k}: {n}" for k, n in enumerate(names)]) + "\n")
    tmp.rename(dest)
    return dest


def peer(args, work: Path, ours: dict) -> dict | None:
    if not args.peer_python:
        return None
    result = work / "peer.json"
    if not result.exists():
        script = Path(__file__).with_name("peer_ultralytics.py")
        yolo = yolo_layout(work / "objects", work / "objects-yolo")
        cmd = [args.peer_python, str(script), "--yolo", str(yolo), "--out", str(work / "peer")]
        cmd += ["--epochs", str(args.peer_epochs or args.epochs), "--imgsz", str(args.input), "--result", str(result)]
        subprocess.run(cmd, check=True)
    got = json.loads(result.read_text())
    got["latency_p50_ms"] = litert_latency({"edgekit int8": work / "tflite-int8" / "model.tflite", "yolo11n int8": Path(got["int8_file"])})
    got["latency_p50_ms_fp32"] = litert_latency(
        {"edgekit fp32": work / "tflite-fp32" / "model.tflite", "yolo11n fp32": Path(got["fp32_file"])}
    )
    return got


def centroids(args, work: Path) -> dict:
    data = made(work / "objects96", lambda: ek_make(work / "objects96", args.images, 96))
    run_dir = work / "fomo"
    if not (run_dir / "model.json").exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        ek.train("fomo-mobilenet-v2", f"coco:{data}", epochs=args.fomo_epochs, out=run_dir, progress=False)
    run = ek.load_run(run_dir)
    folder = work / "fomo-m7"
    if not (folder / "deploy.json").exists():
        ek.export(run, "cortex-m7", out=folder, progress=False)
    deploy = json.loads((folder / "deploy.json").read_text())
    here = ek.bench([folder], device="local", min_queries=20, min_seconds=0)
    return {"test": run.metrics.test, "parity": deploy["parity"]["metrics"], "bench_local": quality(here), "runtime": deploy["runtime"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1200)
    p.add_argument("--size", type=int, default=160, help="typical raw image side of the made scenes")
    p.add_argument("--input", type=int, default=128, help="model input side (letterboxed)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--fomo-epochs", type=int, default=None, help="default: the recipe's")
    p.add_argument("--model", default="detector-csp")
    p.add_argument("--peer-python", default=None, help="a Python with ultralytics (see peer_ultralytics.py)")
    p.add_argument("--peer-epochs", type=int, default=None, help="the peer's epochs (default: --epochs)")
    p.add_argument("--work", default="/tmp/edgekit-bench-detect")
    p.add_argument("--no-emulation", action="store_true")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: boxes, peer, centroids")
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    # parts run at different times merge into one record (a part re-run replaces its own entry)
    path = RESULTS / "detect.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.pop("machine", None)
    results["settings"] = vars(args)
    if "boxes" not in skip:
        results["boxes"] = box_detector(args, work)
        if "peer" not in skip:
            results["peer"] = peer(args, work, results["boxes"])
    if "centroids" not in skip:
        results["centroids"] = centroids(args, work)
    rows, notes = table(results)
    write_results("detect", results, ["what", "edgekit", "Ultralytics YOLO11n", "bar"], rows, notes)


def fmt(v, spec="{:.4f}"):
    return "—" if v is None else spec.format(v)


def table(r: dict) -> tuple[list, list]:
    rows, notes = [], []
    b, pe = r.get("boxes"), r.get("peer") or {}
    if b:
        f32, i8 = b["fp32"], b["int8"]
        emu = i8.get("bench_emu_rpi4", {})
        rows += [
            [
                "mAP50-95 fp32 (TFLite, bench from raw images)",
                fmt(f32["bench_local"].get("map50_95")),
                fmt(pe.get("fp32", {}).get("map50_95")),
                "",
            ],
            [
                "mAP50 int8 (full-int8 TFLite, bench here)",
                fmt(i8["bench_local"].get("map50")),
                fmt(pe.get("int8", {}).get("map50")),
                "≥ 0.95",
            ],
            ["mAP50 int8 under emu:rpi4", fmt(emu.get("map50")), "—", "≥ 0.95"],
            [
                "mAP50-95 int8 (bench here / emu:rpi4)",
                f"{fmt(i8['bench_local'].get('map50_95'))} / {fmt(emu.get('map50_95'))}",
                fmt(pe.get("int8", {}).get("map50_95")),
                "",
            ],
            [
                "int8 mAP50-95 drop vs fp32 (points)",
                fmt(_drop(f32["bench_local"], i8["bench_local"]), "{:.2f}"),
                fmt(_drop(pe.get("fp32", {}), pe.get("int8", {})), "{:.2f}"),
                "≤ 3",
            ],
            [
                "export parity mAP50-95 int8 = bench mAP50-95",
                f"{fmt(i8['parity'].get('map50_95'))} = {fmt(i8['bench_local'].get('map50_95'))}",
                "—",
                "equal",
            ],
            [
                "LiteRT p50 latency int8 / fp32, 1 thread (ms)",
                f"{fmt((pe.get('latency_p50_ms') or {}).get('edgekit int8'), '{:.2f}')} / {fmt((pe.get('latency_p50_ms_fp32') or {}).get('edgekit fp32'), '{:.2f}')}",
                f"{fmt((pe.get('latency_p50_ms') or {}).get('yolo11n int8'), '{:.2f}')} / {fmt((pe.get('latency_p50_ms_fp32') or {}).get('yolo11n fp32'), '{:.2f}')}",
                "",
            ],
            [
                "export time int8 / fp32 (s)",
                f"{i8['export_seconds']:.0f} / {f32['export_seconds']:.0f}",
                f"{fmt(pe.get('export_seconds_int8'), '{:.0f}')} / {fmt(pe.get('export_seconds_fp32'), '{:.0f}')}",
                "",
            ],
            ["training time (s)", f"{b['train_seconds']:.0f}", fmt(pe.get("train_seconds"), "{:.0f}"), ""],
        ]
        notes.append(f"edgekit: {b['model']}; settings {json.dumps(r['settings'])}")
        if i8.get("notes"):
            notes.append(f"int8 layers kept float: {json.dumps(i8['notes'])}")
    c = r.get("centroids")
    if c:
        arena = (c["runtime"].get("options") or {}).get("arena_bytes")
        rows += [
            ["centroid detector F1 (micro int8, bench from raw images)", fmt(c["bench_local"].get("f1")), "—", "≥ 0.85"],
            ["centroid detector tensor arena (bytes, measured)", str(arena), "—", "fits cortex-m7"],
        ]
    return rows, notes


def _drop(a: dict, b: dict):
    if a.get("map50_95") is None or b.get("map50_95") is None:
        return None
    return (a["map50_95"] - b["map50_95"]) * 100


if __name__ == "__main__":
    main()
