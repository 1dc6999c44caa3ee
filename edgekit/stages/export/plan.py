"""Which format, precision and int8 scheme an export produces: the target's preference, its CPU's ISA, the run, the flags."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import EdgekitError
from ...formats import FORMATS, get_format
from ...formats.base import VNNI
from ...targets import Target

# benchmarks/results/runtime_latency.md, re-run on an AVX2-only EPYC: int8 slower than fp32 in 10 of 12 cells.
NO_VNNI_SLOWER = "on x86 without VNNI int8 ran slower than fp32 in 10 of 12 measured cells (benchmarks/results/isa.md)"


@dataclass(frozen=True)
class ExportPlan:
    format: object  # formats.base.Format
    precision: str
    int8_scheme: dict = field(default_factory=dict)
    reasons: tuple[str, ...] = ()  # why this precision / scheme, shown in the export table


def _reachable(target: Target, runs_in: str) -> list[str]:
    """Formats the target runs that build from a model running in `runs_in`, the target's preferred one first."""
    names = dict.fromkeys([target.runtime.preferred_format, *FORMATS])
    return [n for n in names if runs_in in get_format(n).builds_from and get_format(n).runtime in target.runtime.runtimes]


def plan_export(
    target: Target,
    *,
    quantized_run: bool,
    fmt: str | None,
    precision: str | None,
    runs_in: str = "pytorch",
    why: str | None = None,
    trained: dict | None = None,
) -> ExportPlan:
    """`runs_in`: what the run's model runs in (ModelSpec.runs_in); `why`: why it is not PyTorch (messages);
    `trained`: the run's quantization record (a QAT run goes only to formats whose int8 its quantizer makes)."""
    name = fmt or target.runtime.preferred_format
    if name not in FORMATS:
        raise EdgekitError(f"unknown format '{name}'", f"use one of {', '.join(FORMATS)}")
    reasons: list[str] = []
    if runs_in not in get_format(name).builds_from:
        reachable = _reachable(target, runs_in)
        if fmt is not None or not reachable:
            builds = [n for n in FORMATS if runs_in in get_format(n).builds_from]
            raise EdgekitError(
                f"{name} export builds from a PyTorch model, and this run is an ONNX graph that runs only in onnxruntime ({why})",
                f"export it with --format {' or '.join(builds)}" + ("" if reachable else f" to a target that runs it (not {target.name})"),
            )
        name = reachable[0]
        reasons.append(f"{name}: the run is an ONNX graph that runs only in onnxruntime ({why})")
    f = get_format(name)
    if f.runtime not in target.runtime.runtimes:
        raise EdgekitError(
            f"{target.name} does not run {name} ({f.runtime}); it runs {', '.join(target.runtime.runtimes)}",
            "drop --format, or pick another --target (see `edgekit targets`)",
        )
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
    if trained:
        from ..compress.quantizers import check_reaches

        check_reaches(f, trained, precision)
    # the format declares its int8 scheme for the target's CPU (onnxruntime's x86 kernels want per-tensor without VNNI)
    scheme = f.int8_scheme(target) if precision == "int8" else {}
    if scheme.get("reason"):
        reasons.append(f"int8 weights {scheme['weights']}: {scheme['reason']}")
    if precision == "int8" and isa is not None and not (VNNI & isa):
        reasons.append(f"warning: {NO_VNNI_SLOWER}; compare with --precision fp32 in `edgekit bench`")
    return ExportPlan(f, precision, scheme, tuple(reasons))
