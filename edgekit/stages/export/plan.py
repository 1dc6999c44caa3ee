"""Which format, precision and int8 scheme an export produces: the target's preference, its CPU's ISA, the run, the flags."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import EdgekitError
from ...formats import FORMATS, get_format
from ...targets import Target

VNNI = {"avx512_vnni", "avx_vnni", "amx_int8"}
# benchmarks/results/runtime_latency.md, re-run on an AVX2-only EPYC: int8 slower than fp32 in 10 of 12 cells.
NO_VNNI_SLOWER = "on x86 without VNNI int8 ran slower than fp32 in 10 of 12 measured cells (benchmarks/results/isa.md)"


@dataclass(frozen=True)
class ExportPlan:
    format: object  # formats.base.Format
    precision: str
    int8_scheme: dict = field(default_factory=dict)
    reasons: tuple[str, ...] = ()  # why this precision / scheme, shown in the export table


def int8_scheme(target: Target, fmt) -> dict:
    """onnxruntime's x86 int8 kernels are u8s8: without VNNI the 16-bit intermediate saturates on per-channel
    weights (onnxruntime's docs: use reduce_range or per-tensor there). Per-tensor weights stay exact."""
    isa = target.isa
    if isa is None or fmt.runtime != "onnxruntime":
        return {"weights": "per-channel"}
    if VNNI & isa:
        return {"weights": "per-channel", "reason": "the CPU has VNNI: per-channel int8 is exact in onnxruntime"}
    return {
        "weights": "per-tensor",
        "reason": "the CPU has no VNNI (AVX2 only): per-channel int8 saturates in onnxruntime's "
        "u8s8 kernels, per-tensor weights stay exact",
    }


def plan_export(target: Target, *, quantized_run: bool, fmt: str | None, precision: str | None) -> ExportPlan:
    name = fmt or target.runtime.preferred_format
    if name not in FORMATS:
        raise EdgekitError(f"unknown format '{name}'", f"use one of {', '.join(FORMATS)}")
    f = get_format(name)
    if f.runtime not in target.runtime.runtimes:
        raise EdgekitError(
            f"{target.name} does not run {name} ({f.runtime}); it runs {', '.join(target.runtime.runtimes)}",
            "drop --format, or pick another --target (see `edgekit targets`)",
        )
    reasons: list[str] = []
    isa = target.isa
    if precision is None:
        preferred = target.runtime.preferred_precision
        if quantized_run or target.runtime.full_int8_only:
            precision = "int8"
        elif preferred == "auto":
            if isa is not None and not (VNNI & isa):
                precision = "fp32"
                reasons.append(f"fp32: {NO_VNNI_SLOWER}")
            else:
                precision = "int8" if "int8" in f.precisions else "fp32"
                reasons.append(
                    "int8: the CPU has VNNI, where int8 is exact and faster" if isa is not None else "int8: the target's default"
                )
        else:
            precision = preferred
        if precision not in f.precisions:
            precision = "int8" if "int8" in f.precisions and quantized_run else f.precisions[0]
    if target.runtime.full_int8_only and precision != "int8":
        raise EdgekitError(
            f"{target.name} runs full-integer int8 models only, not {precision}", "drop --precision, or pass --precision int8"
        )
    if precision not in f.precisions:
        raise EdgekitError(f"{name} export has no precision '{precision}'", f"use one of {', '.join(f.precisions)}")
    scheme = int8_scheme(target, f) if precision == "int8" else {}
    if scheme.get("reason"):
        reasons.append(f"int8 weights {scheme['weights']}: {scheme['reason']}")
    if precision == "int8" and isa is not None and not (VNNI & isa):
        reasons.append(f"warning: {NO_VNNI_SLOWER}; compare with --precision fp32 in `edgekit bench`")
    return ExportPlan(f, precision, scheme, tuple(reasons))
