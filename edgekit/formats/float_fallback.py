"""Mixed precision when full int8 misses the target's floor: the first layers stay float, as few as reach it.

In a small network the early layers see the raw signal at full resolution through few channels, and one
per-tensor int8 range per activation costs them most (benchmarks/results/float_fallback.md: MobileNetV1 x0.25
on digits, the logits' mean squared error to fp32 falls 0.18 → 0.10 → 0.04 → 0.01 with 0, 2, 4, 8 of its 28
layers in float). So when the int8 graph misses the floor on the validation split (never the test split, which
the export's parity check judges afterwards), the export quantizes again with the first 1, 2, 4, ... layers
left unannotated, up to half of them, and keeps the first try that passes. XNNPACK and LiteRT run the float
layers in fp32 between quantize/dequantize pairs. What stayed float is recorded in deploy.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

aten = torch.ops.aten
COMPUTE = {aten.conv1d.default, aten.conv2d.default, aten.linear.default}


@dataclass
class Validation:
    """The validation split and the task's verdict on outputs for it (the task's parity rule, the export's floor)."""

    x: np.ndarray
    judge: Callable[[np.ndarray], dict]


@dataclass
class FloatLayers:
    """Which layers a quantized graph keeps in float: the first `kept` of `layers`, with their share of MACs."""

    kept: int = 0
    layers: int = 0
    macs_in_float: float = 0.0
    names: list[str] = field(default_factory=list)
    tried_up_to: int = 0  # the most early layers any try left float
    verdicts: list[str] = field(default_factory=list)  # what each try scored on the validation split

    def describe(self) -> str:
        return f"the first {self.kept} of {self.layers} layers kept in float ({self.macs_in_float:.0%} of MACs)"

    def as_dict(self) -> dict:
        return {
            "kept": self.kept,
            "layers": self.layers,
            "macs_in_float": round(self.macs_in_float, 4),
            "names": self.names,
            "tried_up_to": self.tried_up_to,
            "tries_on_validation": self.verdicts,
        }


def layer_segments(gm: torch.fx.GraphModule) -> list[list[torch.fx.Node]]:
    """The graph cut at each conv/linear: a layer is its compute op and the ops up to the next one."""
    segments: list[list[torch.fx.Node]] = []
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target in COMPUTE:
            segments.append([node])
        elif segments:
            segments[-1].append(node)
    return segments


def _macs(node: torch.fx.Node) -> int:
    out, weight = node.meta.get("val"), node.args[1].meta.get("val") if isinstance(node.args[1], torch.fx.Node) else None
    if not isinstance(out, torch.Tensor) or not isinstance(weight, torch.Tensor):
        return 0
    per_output = int(np.prod(weight.shape[1:]))  # in/groups x kernel for a conv, in-features for a linear
    try:
        return int(np.prod([int(d) for d in out.shape[1:]])) * per_output  # per sample: the batch may be symbolic
    except TypeError:  # a symbolic size besides the batch
        return 0


def _module_path(node: torch.fx.Node) -> str:
    """The layer's name in the user's module (features.0.0), else the graph's node name."""
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else node.name


def float_layers(gm: torch.fx.GraphModule, kept: int) -> tuple[set[str], FloatLayers]:
    """Names of the nodes to leave unannotated for the first `kept` layers, and what that amounts to."""
    segments = layer_segments(gm)
    macs = [_macs(s[0]) for s in segments]
    kept = min(kept, len(segments))
    names = {n.name for s in segments[:kept] for n in s}
    share = sum(macs[:kept]) / sum(macs) if sum(macs) else 0.0
    info = FloatLayers(kept=kept, layers=len(segments), macs_in_float=share, names=[_module_path(s[0]) for s in segments[:kept]])
    return names, info


def leaving_float(quantizer, names: set[str]):
    """`quantizer` with the named nodes' annotations removed after it annotates (their ops then run in float)."""
    if not names:
        return quantizer
    inner_annotate = quantizer.annotate

    def annotate(model):
        model = inner_annotate(model)
        for node in model.graph.nodes:
            if node.name in names:
                node.meta.pop("quantization_annotation", None)
        return model

    quantizer.annotate = annotate
    return quantizer


def outputs(graph, x: np.ndarray, batch: int) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([graph(torch.from_numpy(x[i : i + batch])).numpy() for i in range(0, len(x), batch)])


def verdict_text(parity: dict) -> str:
    if "top1_agreement" in parity:
        return f"agreement {parity['top1_agreement']:.2%}"
    return parity.get("rule", "failed")


def pt2e_quantize(model, calibration: np.ndarray, sample, quantizer, kept: int, *, progress: bool, fold_quantize: bool = True):
    """One PT2E pass with the first `kept` layers float → (converted graph, calibration batch, FloatLayers).
    A dynamic batch axis lets the observers see several samples per call; the artifact keeps batch 1."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from ..util.progress import status
    from .tflite import CALIBRATION_BATCH, calibrate

    try:
        dims = ({0: torch.export.Dim("batch", min=1, max=max(2, CALIBRATION_BATCH))},)
        example = torch.from_numpy(calibration[: min(CALIBRATION_BATCH, len(calibration))])
        exported, batch = torch.export.export(model.eval(), (example,), dynamic_shapes=dims), CALIBRATION_BATCH
    except Exception:  # a model whose graph fixes the batch (e.g. a reshape to 1): calibrate one at a time
        exported, batch = torch.export.export(model.eval(), (sample,)), 1
    gm = exported.module()
    names, info = float_layers(gm, kept)
    graph = prepare_pt2e(gm, leaving_float(quantizer, names))
    calibrate(graph, calibration, progress=progress, batch=batch)
    with status("converting the calibrated graph", progress):
        converted = convert_pt2e(graph, fold_quantize=fold_quantize)
    return converted, batch, info


def quantize_with_fallback(quantize: Callable[[int], tuple], validation: Validation | None, say=lambda m: None):
    """`quantize(kept)` → (converted graph, calibration batch, FloatLayers); returns the first passing graph."""
    graph, batch, info = quantize(0)
    if validation is None:
        return graph, info
    verdict = validation.judge(outputs(graph, validation.x, batch))
    tries = [f"full int8: {verdict_text(verdict)}"]
    if verdict.get("passed"):
        return graph, info
    kept = 1
    while kept <= info.layers // 2:
        say(
            f"int8 misses the floor on the validation split ({verdict_text(verdict)}): quantizing again with the first {kept} layer(s) in float"
        )
        g, b, i = quantize(kept)
        verdict = validation.judge(outputs(g, validation.x, b))
        tries.append(f"first {kept} in float: {verdict_text(verdict)}")
        if verdict.get("passed"):
            i.verdicts, i.tried_up_to = tries, kept
            return g, i
        info.tried_up_to = kept
        kept *= 2
    info.verdicts = tries  # none reached it: full int8, and the export's parity check refuses it as before
    return graph, info


def record(built, info: FloatLayers) -> None:
    """deploy.json's extras and the export table's notes say what the search did, when it ran."""
    if not info.verdicts:
        return  # full int8 passed on the validation split at once (or there was none to judge)
    built.extras["float_layers"] = info.as_dict()
    tries = "; ".join(info.verdicts)
    if info.kept:
        built.notes.append(f"int8 missed the floor on the validation split, so {info.describe()} ({tries})")
    else:
        built.notes.append(
            f"int8 missed the floor on the validation split even with its first {info.tried_up_to} layers in float ({tries})"
        )
