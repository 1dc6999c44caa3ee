"""export_run: one run folder → one artifact folder (artifact, deploy.json, eval.npz, parity.json), checked."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from ..calibration import calibration_samples
from ..data import apply_normalization, load_run_data
from ..errors import BudgetFailed, EdgekitError
from ..evaluate import predict
from ..fsutil import staged_dir, write_json
from ..manifest import now
from ..profile import profile_model
from ..runs import load_run
from ..targets import find_target
from . import host_runtimes
from .deploy import DEPLOY_FORMAT, RUNTIME_PACKAGES, sha256, tensor_entry, toolchain, version
from .estimate import estimate_latency
from .models import float_model
from .parity import compare
from .plan import plan_export

def _build_artifact(plan, run, fp32_model, folder: Path, x: dict, calibration: np.ndarray | None, target, dynamic_batch: bool) -> dict:
    """Write the artifact; returns what deploy.json and the report need to know about it."""
    shape = run.spec.input_shape
    path = folder / plan.artifact
    info: dict = {}
    if plan.format == "onnx":
        from .onnx_export import export_onnx

        if plan.precision == "int8":
            if run.spec.quantization:
                model, quantizer = run.model, f"nncf {version('nncf')} ({run.spec.quantization['method']}, from the run)"
            else:
                from ..compress.quantize import quantize_ptq

                model, _ = quantize_ptq(copy.deepcopy(fp32_model), calibration, samples=len(calibration), force=True)
                quantizer = f"nncf {version('nncf')} (ptq at export)"
        else:
            model, quantizer = fp32_model, None
        info["onnx"] = export_onnx(model, shape, path, precision=plan.precision, dynamic_batch=dynamic_batch)
        info["ops"] = info["onnx"]["ops"]
    else:
        from .tflite_export import export_tflite

        quantizer = {"int8": f"pt2e (torchao {version('torchao')}) via litert-torch", "dynamic": "ai-edge-quantizer (dynamic range)",
                     "fp16": "ai-edge-quantizer (fp16 weights)"}.get(plan.precision)
        info |= export_tflite(copy.deepcopy(fp32_model), shape, path, precision=plan.precision, calibration=calibration)
        if plan.format == "micro":
            from .micro import check_fits, measure_arena, write_c_array

            info["arena_bytes"] = measure_arena(path, x["test"][:1])
            info["c_array"] = write_c_array(path, folder)
            check_fits(target, path.stat().st_size, info["arena_bytes"])
        if plan.format == "edgetpu":
            from .edgetpu import op_mapping, ops_in_order

            info["edgetpu"] = op_mapping(ops_in_order(path))
    info["quantizer"] = quantizer
    return info


def _run_artifact(plan, path: Path, x: np.ndarray, arena: int | None) -> np.ndarray:
    if plan.format == "onnx":
        return host_runtimes.run_onnx(path, x)
    if plan.format == "micro":
        from .micro import ARENA_MARGIN

        return host_runtimes.run_micro(path, x, arena_bytes=int(arena * ARENA_MARGIN) + 1024 if arena else None)
    return host_runtimes.run_tflite(path, x)


def _io_entries(plan, path: Path) -> tuple[dict, dict]:
    if plan.format == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        i, o = sess.get_inputs()[0], sess.get_outputs()[0]
        return (tensor_entry(i.name, [d if isinstance(d, int) else -1 for d in i.shape], "float32", None),
                tensor_entry(o.name, [d if isinstance(d, int) else -1 for d in o.shape], "float32", None))
    i, o = host_runtimes.tflite_io(path)

    def q(d):
        return d["quantization"] if d["dtype"] in (np.int8, np.uint8) else None

    return (tensor_entry(i["name"], i["shape"], np.dtype(i["dtype"]).name, q(i)),
            tensor_entry(o["name"], o["shape"], np.dtype(o["dtype"]).name, q(o)))


def export_run(run_path: Path, *, target: str = "x86-64", fmt: str | None = None, precision: str | None = None,
               out: Path | None = None, dynamic_batch: bool = False, calib: int = 300, force_calib: bool = False,
               min_agreement: float | None = None) -> tuple[Path, dict]:
    run = load_run(run_path)
    tgt = find_target(target)
    plan = plan_export(tgt, quantized_run=bool(run.spec.quantization), fmt=fmt, precision=precision)
    if dynamic_batch and plan.format != "onnx":
        raise EdgekitError("a dynamic batch axis is available for ONNX only", "drop --dynamic-batch or use --format onnx")
    out = Path(out) if out else Path("dist") / f"{tgt.name}-{plan.format}-{plan.precision}"
    if out.exists():
        raise EdgekitError(f"output folder {out} already exists", "choose another --out or remove it")
    data = load_run_data(run.spec)
    x = {s: apply_normalization(v, run.spec.normalization) for s, v in data.x.items()}
    needs_calib = plan.precision == "int8" and not (plan.format == "onnx" and run.spec.quantization)
    calibration = (calibration_samples(x["train"], min(calib, len(x["train"])), seed=run.spec.dataset.get("seed", 0),
                                       force=force_calib) if needs_calib else None)
    fp32_model = float_model(run)
    floor = min_agreement if min_agreement is not None else tgt.budgets["min_int8_agreement"]
    started = now()
    with staged_dir(out) as folder:
        info = _build_artifact(plan, run, fp32_model, folder, x, calibration, tgt, dynamic_batch)
        artifact = folder / plan.artifact
        outputs = _run_artifact(plan, artifact, x["test"], info.get("arena_bytes"))
        int8_reference = plan.precision == "int8" and run.spec.quantization
        reference_model = run.model if int8_reference else fp32_model
        reference = predict(reference_model, x["test"])
        parity = compare(outputs, reference, data.y["test"], task=run.spec.task, precision=plan.precision, floor=floor)
        parity["reference"] = "PyTorch int8 (NNCF, from the run)" if int8_reference else "PyTorch fp32"
        parity["runtime"] = plan.runtime
        cost = profile_model(fp32_model, run.spec.input_shape)
        estimate = estimate_latency(tgt, macs=cost.macs, weight_bytes=artifact.stat().st_size, precision=plan.precision)
        inp, outp = _io_entries(plan, artifact)
        np.savez_compressed(folder / "eval.npz", x=data.x["test"].astype(np.float32), y=data.y["test"], reference=reference.astype(np.float32))
        deploy = {
            "format": DEPLOY_FORMAT,
            "artifact": {"file": plan.artifact, "format": plan.format, "precision": plan.precision,
                         "bytes": artifact.stat().st_size, "sha256": sha256(artifact)},
            "runtime": {"name": plan.runtime, "packages": RUNTIME_PACKAGES[plan.runtime],
                        "threads": tgt.runtime["threads"], **({"arena_bytes": info["arena_bytes"]} if "arena_bytes" in info else {})},
            "input": {**inp, "layout": run.spec.layout, "sample_shape": run.spec.input_shape},
            "output": outp,
            "preprocess": {"normalization": run.spec.normalization,
                           "steps": ["x = (x - mean) / std per channel (axis 1)", "int8 input: q = clip(round(x / scale + zero_point))"]},
            "task": run.spec.task, "labels": run.spec.labels,
            "source": {"run": str(run.path.resolve()), "model": run.spec.name, "lineage": run.manifest.get("lineage", []) + [str(run.path.resolve())],
                       "stage": run.manifest.get("stage")},
            "target": tgt.to_json(),
            "toolchain": toolchain(plan.format, info["quantizer"], info.get("onnx")),
            "calibration": ({"split": "train", "samples": int(len(calibration))} if calibration is not None
                            else run.spec.quantization.get("calibration") if plan.precision == "int8" else None),
            "eval": {"file": "eval.npz", "split": "test", "samples": int(len(data.y["test"])),
                     "contents": "x: raw samples (before normalisation), y: labels, reference: PyTorch outputs"},
            "parity": {k: parity[k] for k in ("passed", "top1_agreement", "accuracy", "max_abs_diff", "cosine") if k in parity},
            "estimate": estimate,
            "extras": {k: info[k] for k in ("c_array", "edgetpu", "ops") if k in info},
            "created": started,
        }
        write_json(folder / "parity.json", parity)
        write_json(folder / "deploy.json", deploy)
        if not parity["passed"]:
            raise BudgetFailed(f"parity check failed: {plan.format} {plan.precision} in {plan.runtime} misses {parity['rule']} "
                               f"(agreement {parity.get('top1_agreement', float('nan')):.2%}, max |Δ| {parity['max_abs_diff']:.2e})",
                               "nothing was written; try another --precision or --format, or lower --min-agreement deliberately")
    return out, deploy
