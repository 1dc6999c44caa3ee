"""Mixed precision by measured sensitivity, shared by every int8 format that can run layers in float between
quantize/dequantize pairs (TFLite and ExecuTorch through PT2E: layers left unannotated; ONNX through NNCF's
ignored_scope).

When full int8 misses the target's floor on the validation split (never the test split, which the export's parity
check judges afterwards), each conv / linear is put alone in float in a simulation of the int8 model
(edgekit/nn/sensitivity.py) and ranked by how much the error to fp32 falls per MAC it keeps in float. The shortest
prefix of that ranking whose simulation reaches the floor, less every layer it can spare, is a candidate, as are
the prefix itself, the ranking's first 1, 2, 4, ... layers and the first k layers of the forward pass (1, 2, 4, ...),
since the simulation's verdict can be wrong either way; all within half of the MACs. Every candidate is tried
cheapest first and the first real try that passes is kept, so the floor is always the real quantizer's verdict, and
no more MACs stay float than the first-k rule alone would keep.

The user may name the layers instead (`--keep-float`): those stay float whatever full int8 scores, nothing is
searched, and the validation split's verdict on them is still recorded. An export refused on the test split after
full int8 passed on validation names the ranking's first layers as that option's values (`ranking`).

Why not "the first k layers" (edgekit's rule before): on MobileNetV1 x0.25 the first 8 of 28 layers were 28% of the
MACs; the layers that cost int8 most are a few, not always the first, and ranking them keeps fewer MACs in float
(benchmarks/results/float_fallback.md). What stayed float is recorded in deploy.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ...errors import EdgekitError

MAX_FLOAT_SHARE = 0.5  # never more than half the MACs in float: past that, int8 is not what ships


@dataclass
class Validation:
    """The validation split and the task's verdict on outputs for it (the task's parity rule, the export's floor)."""

    x: np.ndarray
    judge: Callable[[Any], dict]


@dataclass
class FloatLayers:
    """Which layers a quantized model keeps in float, with their share of MACs, and how they were chosen."""

    kept: int = 0
    layers: int = 0
    macs_in_float: float = 0.0
    names: list[str] = field(default_factory=list)
    tried_up_to: int = 0  # the most layers any try left float
    verdicts: list[str] = field(default_factory=list)  # what each try scored on the validation split
    # "first": the first k layers; "sensitivity": ranked by measured int8 error per MAC; "chosen": the user's
    ranking: str = "first"

    def describe(self) -> str:
        if self.ranking == "chosen":
            return f"{self.kept} of {self.layers} layers kept in float as asked ({self.macs_in_float:.0%} of MACs: {', '.join(self.names)})"
        if self.ranking == "sensitivity":
            return (
                f"{self.kept} of {self.layers} layers kept in float, the most int8-sensitive per MAC "
                f"({self.macs_in_float:.0%} of MACs: {', '.join(self.names)})"
            )
        return f"the first {self.kept} of {self.layers} layers kept in float ({self.macs_in_float:.0%} of MACs)"

    def quantizer_note(self) -> str:
        """What the quantizer line adds about float layers ('' when none stayed float)."""
        if not self.kept:
            return ""
        why = "(--keep-float)" if self.ranking == "chosen" else "to reach the floor on the validation split"
        return f"; {self.describe()} {why}"

    def as_dict(self) -> dict:
        return {
            "kept": self.kept,
            "layers": self.layers,
            "macs_in_float": round(self.macs_in_float, 4),
            "names": self.names,
            "ranking": self.ranking,
            "tried_up_to": self.tried_up_to,
            "tries_on_validation": self.verdicts,
        }


def verdict_text(verdict: dict) -> str:
    """What a try scored, as the judge words it (the task's figures: generic code names none)."""
    return verdict.get("rule") or "failed"


def _share(layers: list, macs: dict, total: int) -> float:
    return sum(macs[n] for n in layers) / total


def _candidates(
    ranked: list[str], passes: Callable[[list[str]], bool], macs: dict, total: int, order: list[str]
) -> list[tuple[list[str], str]]:
    """(layers, rule) to try for real, fewest MACs first, all within MAX_FLOAT_SHARE of the MACs. By sensitivity: the
    shortest prefix of the ranking whose simulation reaches the floor with every layer it can spare dropped (largest
    first), that prefix itself, and the first 1, 2, 4, ... layers of the ranking. By the first-k rule: the first 1, 2,
    4, ... layers of `order` (the forward pass), up to half of them. The simulation's verdict can be wrong either way
    (mobilenetv1-025 in OpenVINO at a 99.5% agreement floor: it passed no prefix of the ranking shorter than 14 layers,
    45% of MACs, while the ranking's first 2 passed for real at 1%; at 100% no ranked set within half the MACs passed
    for real, the first 4 layers did at 13.9%: float_fallback_openvino.md), so it only adds candidates, never removes
    one. Trying all, cheapest first, keeps no more MACs float than any rule alone."""
    first = next((p for p in range(1, len(ranked) + 1) if passes(ranked[:p])), 0)
    sets: list[tuple[list[str], str]] = []
    if first:
        kept = list(ranked[:first])
        for name in sorted(kept, key=lambda n: -macs[n]):
            if len(kept) > 1 and passes([n for n in kept if n != name]):
                kept.remove(name)
        sets += [(kept, "sensitivity"), (ranked[:first], "sensitivity")]
    p = 1
    while p <= len(ranked):
        sets.append((ranked[:p], "sensitivity"))
        if p == len(ranked):
            break
        p = min(p * 2, len(ranked))
    k = 1
    while k <= len(order) // 2:
        sets.append((list(order[:k]), "first"))
        k *= 2
    unique, seen = [], set()
    for chosen, rule in sets:
        key = frozenset(chosen)
        if chosen and key not in seen and _share(chosen, macs, total) <= MAX_FLOAT_SHARE:
            seen.add(key)
            unique.append((chosen, rule))
    return sorted(unique, key=lambda c: _share(c[0], macs, total))  # stable: on a tie the ranking's set first


def ranking(sim, x: np.ndarray) -> list[str]:
    """The layers whose float keeps the simulated int8 model closer to fp32 on x, most error removed per MAC first."""
    reference = sim.outputs(x, sim.layers)  # every layer float: the float model itself
    return [c.name for c in sorted((c for c in sim.costs(x, reference) if c.gain > 0), key=lambda c: -c.gain_per_mac)]


def kept_as_asked(quantize, run, validation: Validation | None, sim, keep: tuple[str, ...]):
    """The user's float layers (module paths, checked by the export beforehand), quantized once and judged on the
    validation split for the record only → (model, FloatLayers)."""
    names = list(keep)
    idle = [n for n in names if n not in sim.layers]
    if idle:  # defined in the model but never run by its forward pass: nothing of it reaches the graph
        raise EdgekitError(f"--keep-float {', '.join(idle)}: the model's forward pass never runs it", "name layers it runs")
    total = sum(sim.macs[n] for n in sim.layers) or 1
    share = _share(names, sim.macs, total)
    model = quantize(tuple(names))
    info = FloatLayers(kept=len(names), layers=len(sim.layers), macs_in_float=share, names=names, tried_up_to=len(names), ranking="chosen")
    verdict = validation.judge(run(model, validation.x)) if validation is not None else None
    info.verdicts = [
        f"{', '.join(names)} in float, as asked ({share:.0%} of MACs): " + (verdict_text(verdict) if verdict else "no validation split")
    ]
    return model, info


def search(
    quantize: Callable[[tuple], Any],
    run: Callable[[Any, np.ndarray], Any],
    validation: Validation | None,
    simulation: Callable[[], Any],
    say: Callable[[str], None] = lambda m: None,
    keep: tuple[str, ...] = (),
):
    """`quantize(names)` → a quantized model with those layers (module paths) in float; `run(model, x)` → its outputs;
    `simulation()` → an nn.sensitivity.Int8Simulation of the same float model; `keep`: the user's float layers (no
    search). Returns (model, FloatLayers)."""
    if keep:
        return kept_as_asked(quantize, run, validation, simulation(), keep)
    model = quantize(())
    if validation is None:
        return model, FloatLayers()
    verdict = validation.judge(run(model, validation.x))
    tries = [f"full int8: {verdict_text(verdict)}"]
    if verdict.get("passed"):
        return model, FloatLayers()
    say(f"int8 misses the floor on the validation split ({verdict_text(verdict)}): ranking layers by int8 sensitivity")
    sim = simulation()
    x = validation.x
    ranked = ranking(sim, x)
    total = sum(sim.macs[n] for n in sim.layers) or 1
    simulated: dict[tuple, bool] = {}

    def passes(layers: list[str]) -> bool:
        key = tuple(sorted(layers))
        if key not in simulated:
            simulated[key] = bool(validation.judge(sim.outputs(x, layers)).get("passed"))
        return simulated[key]

    info = FloatLayers(layers=len(sim.layers), verdicts=tries, ranking="sensitivity")
    for names, rule in _candidates(ranked, passes, sim.macs, total, sim.layers):
        share = _share(names, sim.macs, total)
        say(f"quantizing again with {len(names)} layer(s) in float ({share:.0%} of MACs)")
        candidate = quantize(tuple(names))
        verdict = validation.judge(run(candidate, x))
        tries.append(f"{', '.join(names)} in float ({share:.0%} of MACs): {verdict_text(verdict)}")
        info.tried_up_to = max(info.tried_up_to, len(names))
        if verdict.get("passed"):
            info.kept, info.macs_in_float, info.names, info.ranking = len(names), share, names, rule
            return candidate, info
    if not info.tried_up_to:
        tries.append("no set of layers within half the MACs reached it in simulation either")
    return model, info  # none reached it: full int8, and the export's parity check refuses it as before


def float_ops(ops: dict[str, list[str]], paths: tuple, tool: str, *, asked: bool) -> list[str]:
    """The op names (`ops`: module path → the quantizer's names, NNCF's ignored scope) of the layers to leave float.
    A layer the user asked for (`asked`) with none would silently stay int8: refused; the search's own tries may name
    layers the quantizer left float."""
    missing = [p for p in paths if not ops.get(p)]
    if missing and asked:
        raise EdgekitError(
            f"{tool} found no op of layer {', '.join(missing)} to leave in float", "name another layer, or drop --keep-float"
        )
    return [op for p in paths for op in ops.get(p, [])]


def record(built, info: FloatLayers) -> None:
    """deploy.json's extras and the export table's notes say what the search did, when it ran."""
    if not info.verdicts:
        return  # full int8 passed on the validation split at once (or there was none to judge)
    built.extras["float_layers"] = info.as_dict()
    tries = "; ".join(info.verdicts)
    if info.ranking == "chosen":
        built.notes.append(f"{info.describe()} (validation split: {tries})")
    elif info.kept:
        built.notes.append(f"int8 missed the floor on the validation split, so {info.describe()} ({tries})")
    elif info.tried_up_to:
        built.notes.append(f"int8 missed the floor on the validation split even with {info.tried_up_to} layers in float ({tries})")
    else:
        built.notes.append(f"int8 missed the floor on the validation split ({tries})")


def forget_float_layers(built) -> None:
    """Undo record() when another graph replaced the searched one (convert/default_int8.py)."""
    built.extras.pop("float_layers", None)
    built.notes = [n for n in built.notes if not n.startswith("int8 missed the floor on the validation split")]
