"""float_fallback.py's comparison on a second quantizer (issue 24 item 3): OpenVINO int8 by NNCF's OpenVINO backend,
where layers stay float through NNCF's ignored scope (formats/openvino.py, as the export builds it).

MobileNetV1 x0.25 on digits (benchmarks/_parents.py), 300 calibration samples from the train split as the export
draws them. The first-k rule: the first k layers of the forward pass in float (k = 0, 1, 2, 4, 8; the export's
`keep` path, as `--keep-float` does). The sensitivity search: the export's own search at agreement floors full int8
misses on the validation split (99.5%, 100%). Per row: the share of MACs in float and top-1 agreement with PyTorch
fp32 on the validation split (what the search judges) and on the test split, both run in OpenVINO.

    EDGEKIT_BENCH_CACHE=/some/folder python benchmarks/float_fallback_openvino.py
"""

from __future__ import annotations

import copy

from _common import write_results
from _parents import parent

from edgekit.data import Splits, load_run_data
from edgekit.data.calibration import calibration_samples
from edgekit.formats import openvino as ovf
from edgekit.formats.convert.mixed import Validation, ranking
from edgekit.formats.convert.weight_range import weight_range
from edgekit.nn.evaluate import predict
from edgekit.nn.fold import fold_batchnorm
from edgekit.nn.sensitivity import Int8Simulation
from edgekit.stages.export.models import float_model
from edgekit.targets import find_target

KEPT = [0, 1, 2, 4, 8]  # the first-k rule's sequence
FLOORS = [0.995, 1.0]


def main() -> None:
    run = parent("mobilenetv1-025")
    splits = Splits.of(load_run_data(run.spec, None), run.spec.normalization)
    model = copy.deepcopy(float_model(run)).eval()
    fold_batchnorm(model)  # as the export does before converting
    calib = calibration_samples(splits.x["train"], 300, seed=run.spec.dataset.seed)
    refs = {s: predict(model, splits.x[s]).argmax(1) for s in ("val", "test")}
    ov_model = ovf.convert(model, list(run.spec.input_shape), dynamic_batch=True)
    weights = weight_range(find_target("x86-64"), "openvino")  # as the export decides it

    def agreement(quantized, split: str) -> float:
        out = next(iter(ovf._run(quantized, splits.x[split]).values()))
        return float((out.argmax(1) == refs[split]).mean())

    def build(validation=None, keep=()):
        quantized, info = ovf.with_fallback(ov_model, model, calib, validation, weights=weights, progress=False, keep=keep)
        return info, {s: agreement(quantized, s) for s in ("val", "test")}

    results = {"fp32_accuracy": run.metrics.test["accuracy"], "first_k": [], "search": []}
    order = Int8Simulation(model, calib).layers  # the forward order, as the search's simulation records it
    for k in KEPT:
        info, agree = build(keep=tuple(order[:k]))
        results["first_k"].append({"kept": k, "macs_in_float": info.macs_in_float, "names": info.names, "agreement": agree})
        print("first", k, f"{info.macs_in_float:.1%}", agree, flush=True)
    for floor in FLOORS:
        if results["first_k"][0]["agreement"]["val"] >= floor:
            continue  # full int8 reaches it: nothing to search

        def judge(out, floor=floor) -> dict:
            logits = next(iter(out.values())) if isinstance(out, dict) else out  # OpenVINO's outputs, or the simulation's
            agree = float((logits.argmax(1) == refs["val"]).mean())
            return {"passed": agree >= floor, "rule": f"agreement {agree:.2%} (floor {floor:.1%})"}

        info, agree = build(Validation(splits.x["val"], judge))
        # what the search's simulation alone says: the shortest prefix of its ranking it passes at this floor
        sim = Int8Simulation(model, calib)
        ranked = ranking(sim, splits.x["val"])
        total = sum(sim.macs[n] for n in sim.layers)
        shortest = next((p for p in range(1, len(ranked) + 1) if judge(sim.outputs(splits.x["val"], ranked[:p]))["passed"]), None)
        simulated = {
            "ranking": ranked,
            "shortest_passing_prefix": shortest,
            "its_macs": shortest and sum(sim.macs[n] for n in ranked[:shortest]) / total,
        }
        results["search"].append({"floor": floor, **info.as_dict(), "agreement": agree, "simulation": simulated})
        print("search", floor, info.describe(), agree, flush=True)

    rows = []
    for r in results["first_k"]:
        a = r["agreement"]
        rows.append([f"first {r['kept']}", f"{r['macs_in_float']:.1%}", f"{a['val']:.2%}", f"{a['test']:.2%}", ", ".join(r["names"])])
    for r in results["search"]:
        first = next((f for f in results["first_k"] if f["agreement"]["val"] >= r["floor"]), None)
        rows.append(
            [
                f"first k to {r['floor']:.1%} on validation" + (f" (k = {first['kept']})" if first else ": none of k <= 8"),
                "—" if first is None else f"{first['macs_in_float']:.1%}",
                "—" if first is None else f"{first['agreement']['val']:.2%}",
                "—" if first is None else f"{first['agreement']['test']:.2%}",
                "",
            ]
        )
        found = "the first-k candidates" if r["ranking"] == "first" else "the ranking"
        rows.append(
            [
                f"search to {r['floor']:.1%}"
                + (f" ({r['kept']} layers, found by {found})" if r["kept"] else ": none within half the MACs"),
                f"{r['macs_in_float']:.1%}" if r["kept"] else "—",
                f"{r['agreement']['val']:.2%}" if r["kept"] else "—",
                f"{r['agreement']['test']:.2%}" if r["kept"] else "—",
                ", ".join(r["names"]),
            ]
        )
    write_results(
        "float_fallback_openvino",
        results,
        ["layers kept float", "MACs in float", "agreement (val)", "agreement (test)", "layers"],
        rows,
        [
            f"MobileNetV1 x0.25 on digits at 3x96x96, fp32 test accuracy {results['fp32_accuracy']:.4f}; "
            f"{len(splits.x['val'])} val / {len(splits.x['test'])} test samples",
            "OpenVINO int8 for x86-64 as the export builds it: NNCF OpenVINO backend, per-channel weights"
            + (" in half the int8 range" if weights.halved == "every" else " in the full int8 range" if weights.halved == "none" else "")
            + ", per-tensor activations, 300 train samples; every model run in OpenVINO's CPU plugin",
            "the simulation alone (nn/sensitivity.py), the shortest prefix of its ranking it passes on validation: "
            + "; ".join(
                f"floor {r['floor']:.1%}: "
                + (
                    f"{r['simulation']['shortest_passing_prefix']} layers ({r['simulation']['its_macs']:.0%} of MACs)"
                    if r["simulation"]["shortest_passing_prefix"]
                    else "none"
                )
                for r in results["search"]
            )
            + "; the ranking: "
            + ", ".join(results["search"][0]["simulation"]["ranking"][:8] if results["search"] else []),
            "search (formats/convert/mixed.py), its tries on validation: "
            + " | ".join(f"floor {r['floor']:.1%}: " + "; ".join(r["tries_on_validation"]) for r in results["search"]),
        ],
    )


if __name__ == "__main__":
    main()
