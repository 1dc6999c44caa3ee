"""Which ONNX graphs become PyTorch modules (route A: every format) and which stay onnxruntime graphs (route B: ONNX
only), measured on the zoo's architectures exported here the ways users export them:

- TorchScript exporter (torch.onnx.export(dynamo=False)) at opset 13 and 17 with a dynamic batch axis;
- the same at opset 17 with batch size 1 fixed (no dynamic_axes: the most common user export);
- the dynamo exporter (torch.onnx.export(dynamo=True), opset 18, its default);
- opset 17 with its weights in an external data file (onnx.save(save_as_external_data=True)).

For each graph: does plain onnx2torch convert it (no edgekit pass), what edgekit's import makes of it (the same
functions `edgekit import` runs: read_onnx's normalisation, onnx2torch, the batch-axis pass, the check against
onnxruntime on one sample and a batch of 4), the first operator or reason when it does not convert, max |Δ| vs
onnxruntime on random N(0, 1) inputs, and whether the converted module passes torch.export (what TFLite and
ExecuTorch need) and NNCF's PyTorch tracer (what int8 ONNX and compress need). Weights are random: conversion
fidelity does not need trained ones.

    python benchmarks/onnx_import.py [MODEL ...]
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from _common import MOBILE_ARCHS, write_results

from edgekit.onnxgraph.convert import NotConverted, convert, max_difference, onnx2torch_module
from edgekit.onnxgraph.read import read_onnx
from edgekit.recipes import zoo_recipes
from edgekit.zoo import build_architecture

MODELS = [
    "digits-cnn",
    "resnet8",
    "ds-cnn",
    "mobilenetv1-025",
    *MOBILE_ARCHS,
]
VARIANTS = ["ts13-dynamic", "ts17-dynamic", "ts17-batch1", "dynamo18", "ts17-external"]


def export(model, shape, variant: str, folder: Path) -> Path:
    x = torch.zeros(1, *shape)
    path = folder / f"{variant}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if variant == "dynamo18":
            torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, verbose=False)
            return path
        opset = 13 if variant.startswith("ts13") else 17
        axes = {"input": {0: "batch"}, "output": {0: "batch"}} if variant.endswith(("dynamic", "external")) else None
        buf = io.BytesIO()
        torch.onnx.export(
            model, (x,), buf, dynamo=False, opset_version=opset, input_names=["input"], output_names=["output"], dynamic_axes=axes
        )
    proto = onnx.load_from_string(buf.getvalue())
    if variant.endswith("external"):
        onnx.save(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    else:
        onnx.save(proto, str(path))
    return path


def plain_onnx2torch(path: Path, x: np.ndarray) -> str:
    """onnx2torch as a user would call it, with no edgekit pass (external data loaded by onnx itself)."""
    onnx2torch = onnx2torch_module()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = onnx2torch.convert(onnx.load(str(path))).eval()
        with torch.no_grad():
            module(torch.from_numpy(x))
        return "yes"
    except Exception as e:  # noqa: BLE001 - measuring what fails, in any way
        return f"no ({type(e).__name__}: {str(e).strip().splitlines()[0][:50]})"


def traces(module, x: np.ndarray) -> tuple[str, str]:
    """(torch.export, NNCF's PyTorch tracer) on the converted module."""
    sample = torch.from_numpy(x[:1])
    try:
        torch.export.export(module, (sample,), strict=False)
        exported = "yes"
    except Exception as e:  # noqa: BLE001
        exported = f"no ({type(e).__name__})"
    try:
        from edgekit.stages.compress.nncf_env import import_nncf

        nncf = import_nncf()
        nncf.quantize(module, nncf.Dataset([sample]), subset_size=1)
        nncf_ok = "yes"
    except Exception as e:  # noqa: BLE001
        nncf_ok = f"no ({type(e).__name__})"
    return exported, nncf_ok


def measure(name: str, variant: str, folder: Path) -> dict:
    recipe = zoo_recipes()[name]
    torch.manual_seed(0)
    classes = 4 if recipe.task == "classification" else None
    model = build_architecture(recipe.arch, recipe.input_shape, classes, dict(recipe.kwargs)).eval()
    x = np.random.default_rng(0).standard_normal((4, *recipe.input_shape)).astype(np.float32)
    row = {"model": name, "variant": variant}
    try:
        path = export(model, recipe.input_shape, variant, folder)
    except Exception as e:  # noqa: BLE001
        return {**row, "exported": False, "reason": f"torch.onnx: {str(e).strip().splitlines()[0][:90]}"}
    row.update(exported=True, plain_onnx2torch=plain_onnx2torch(path, x))
    t0 = time.perf_counter()
    graph = read_onnx(path)
    try:
        module, kept, diff, note = convert(graph.model, x)
    except NotConverted as e:
        return {**row, "route": "onnxruntime", "reason": str(e), "seconds": round(time.perf_counter() - t0, 2)}
    row.update(route="pytorch", max_abs_diff=diff, note=note, seconds=round(time.perf_counter() - t0, 2))
    row["max_abs_diff_batch4"] = max_difference(module, kept, x)
    row["torch_export"], row["nncf_trace"] = traces(module, x)
    return row


def main(names: list[str]) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for variant in VARIANTS:
                folder = Path(tmp) / name / variant
                folder.mkdir(parents=True)
                row = measure(name, variant, folder)
                print(row, flush=True)
                rows.append(row)
    table = [
        [
            r["model"],
            r["variant"],
            r.get("plain_onnx2torch", "—"),
            "PyTorch (A)" if r.get("route") == "pytorch" else "onnxruntime (B)" if r.get("route") else "not exported",
            f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r else "—",
            r.get("torch_export", "—"),
            r.get("nncf_trace", "—"),
            r.get("reason") or r.get("note") or "",
        ]
        for r in rows
    ]
    converted = sum(r.get("route") == "pytorch" for r in rows)
    exported = sum(bool(r.get("exported")) for r in rows)
    plain = sum(r.get("plain_onnx2torch") == "yes" for r in rows)
    notes = [
        f"{exported} graphs exported; plain onnx2torch converts and runs {plain}; edgekit's import makes {converted} PyTorch runs "
        f"(route A) and {exported - converted} onnxruntime runs (route B).",
        "plain onnx2torch: `onnx2torch.convert(onnx.load(path))` then one forward at batch 4 (a graph exported with batch 1 "
        "fails there, or worse, gives wrong shapes silently).",
        "max |Δ|: edgekit's converted module vs onnxruntime on 4 random N(0, 1) inputs, one sample and the batch of 4.",
        "torch.export: what the TFLite (litert-torch) and ExecuTorch exports start from; NNCF trace: nncf.quantize on the "
        "module with one sample (int8 ONNX export and compress go through it).",
    ]
    write_results(
        "onnx_import",
        {"rows": rows},
        ["model", "graph", "plain onnx2torch", "edgekit route", "max |Δ|", "torch.export", "NNCF trace", "why not / note"],
        table,
        notes,
    )


if __name__ == "__main__":
    main(sys.argv[1:] or MODELS)
