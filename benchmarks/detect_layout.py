"""What the split output layout buys in int8 (issue 23): one trained box detector quantized twice by the same recipe
(onnxruntime's quantize_static defaults, the same calibration samples), once with edgekit's layout — boxes (0..1 of the
input) and scores as two output tensors, each with its own int8 scale — and once with the shared layout YOLO
exports use — one (A, 4 + C) tensor holding box corners in input pixels beside the 0..1 scores, so one scale
covers both (ultralytics#1695). Both run in onnxruntime on the test split and are decoded by the same device task code;
COCO mAP by faster-coco-eval, per-class AP50 to see a class collapse.

    python benchmarks/detect_layout.py RUN [RUN ...]   (detector run folders, e.g. benchmarks/detect.py's WORK/run)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from _common import write_results

from edgekit.data import Splits, load_run_data
from edgekit.data.calibration import calibration_samples
from edgekit.runs import load_run
from edgekit.tasks import get_task
from edgekit.tasks.coco_eval import evaluate

CALIB = 300


class Shared(nn.Module):
    """The detector's two outputs as one tensor: corners in input pixels, then the scores."""

    def __init__(self, model: nn.Module, hw: tuple[int, int]):
        super().__init__()
        self.model = model
        h, w = hw
        self.register_buffer("pixels", torch.tensor([w, h, w, h], dtype=torch.float32))

    def forward(self, x):
        out = self.model(x)
        return torch.cat((out["boxes"] * self.pixels, out["scores"]), -1)


class Split(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out["boxes"], out["scores"]


def int8_onnx(module: nn.Module, calib: np.ndarray, shape, path: Path) -> Path:
    """onnxruntime's quantize_static with its defaults (QDQ, per-tensor activations: each output tensor one scale)
    on a plain torch.onnx.export of the module."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    fp32 = path.with_name(path.stem + "_fp32.onnx")
    n_out = 2 if isinstance(module, Split) else 1
    torch.onnx.export(
        module.eval(),
        (torch.zeros(1, *shape),),
        str(fp32),
        input_names=["input"],
        output_names=[f"out{i}" for i in range(n_out)],
        external_data=False,
        dynamo=False,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"input": calib[i : i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(fp32), str(path), Reader())
    return path


def run_onnx(path: Path, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    got = [sess.run(None, {"input": x[i : i + 1]}) for i in range(len(x))]
    return [np.concatenate([g[k] for g in got]) for k in range(len(got[0]))]


def output_scales(path: Path) -> list[float]:
    """The scale of the QuantizeLinear that feeds each graph output (through its DequantizeLinear)."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    made_by = {o: n for n in g.node for o in n.output}
    scales = []
    for out in g.output:
        node = made_by.get(out.name)
        while node is not None and node.op_type not in ("DequantizeLinear", "QuantizeLinear"):
            node = made_by.get(node.input[0])
        scales.append(float(inits[node.input[1]]) if node is not None and node.input[1] in inits else float("nan"))
    return scales


def scored(task, boxes, scores, y, num_classes) -> dict:
    got = evaluate(task.values({"boxes": boxes, "scores": scores}, y), y.items(), num_classes)
    return {
        "map50_95": got["map50_95"],
        "map50": got["map50"],
        "class_ap50": [None if a is None else round(a, 4) for a in got["class_ap50"]],
    }


def as_boxes_scores(outs: list[np.ndarray], hw, num_classes) -> tuple[np.ndarray, np.ndarray]:
    """Split layout: the (A, 4) and (A, C) tensors, told apart by their width; shared: the one tensor, sliced."""
    h, w = hw
    if len(outs) == 1:
        t = outs[0]
        return t[..., :4] / np.array([w, h, w, h], np.float32), t[..., 4:]
    a, b = outs
    return (a, b) if a.shape[-1] == 4 and b.shape[-1] == num_classes else (b, a)


def measure(run_path: Path) -> dict:
    run = load_run(run_path)
    task = get_task(run.spec.task)
    s = Splits.of(load_run_data(run.spec), run.spec.normalization)
    calib = calibration_samples(s.x["train"], CALIB, seed=run.spec.dataset.seed)
    x, y = s.x["test"], s.y["test"]
    shape, hw, c = tuple(run.spec.input_shape), tuple(run.spec.input_shape[1:]), int(run.spec.num_classes)
    model = run.model.eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    label = f"{run.spec.kwargs.get('family', run.spec.arch)} x{run.spec.kwargs.get('width', 1)}"
    results = {"run": str(run_path), "model": label, "test_images": len(y)}
    results["fp32"] = scored(task, ref["boxes"].numpy(), ref["scores"].numpy(), y, c)
    with tempfile.TemporaryDirectory() as tmp:
        for name, module in (("split", Split(model)), ("shared", Shared(model, hw))):
            path = int8_onnx(module, calib, shape, Path(tmp) / f"{name}.onnx")
            boxes, scores = as_boxes_scores(run_onnx(path, x), hw, c)
            results[name] = {**scored(task, boxes, scores, y, c), "output_scales": output_scales(path)}
            print(label, name, results[name], flush=True)
    return results


def rows_of(results: dict) -> list[list[str]]:
    fp32 = results["fp32"]
    rows = [[results["model"], "fp32 (PyTorch)", "—", f"{fp32['map50_95']:.4f}", f"{fp32['map50']:.4f}", "—", str(fp32["class_ap50"])]]
    for name, label in (
        ("split", "split: boxes 0..1 and scores, two tensors (edgekit)"),
        ("shared", "shared: pixel boxes + scores, one tensor (YOLO)"),
    ):
        r = results[name]
        rows.append(
            [
                results["model"],
                label,
                ", ".join(f"{v:.4g}" for v in r["output_scales"]),
                f"{r['map50_95']:.4f}",
                f"{r['map50']:.4f}",
                f"{100 * (fp32['map50_95'] - r['map50_95']):.2f}",
                str(r["class_ap50"]),
            ]
        )
    return rows


def main(runs: list[Path]) -> None:
    torch.set_num_threads(1)
    results = [measure(p) for p in runs]
    write_results(
        "detect_layout",
        {"runs": results},
        ["detector", "output layout", "int8 output scale(s)", "mAP50-95", "mAP50", "mAP50-95 drop (pt)", "AP50 per class"],
        [row for r in results for row in rows_of(r)],
        [
            "runs: " + "; ".join(f"{r['model']} from {r['run']} ({r['test_images']} raw test images)" for r in results),
            f"int8 by onnxruntime's quantize_static defaults (QDQ, per-tensor, {CALIB} calibration samples from the train "
            "split) for both layouts, run in onnxruntime, decoded by the device task (edgekit/device/tasks/detection.py)",
            "every layer int8 in both, to isolate the layout: edgekit's own export also keeps the DFL expectation float when "
            "its validation search says so (detector-csp: mAP50-95 drop 0.14 points, results/detect.md)",
        ],
    )


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
