"""Latency estimate for a target from MACs, weight bytes and the profile's peak figures: no device needed.

A roofline: the slower of compute (MACs at a fraction of peak) and weight traffic (bytes over bandwidth),
plus a fixed per-inference overhead. Small models reach a small fraction of peak; the fractions below
are deliberately conservative, so a model that "fits" here has room on the board.
"""

from __future__ import annotations

EFFICIENCY = {"mcu": 0.5, "edgetpu": 0.25, "linux-arm64-gpu": 0.1}
DEFAULT_EFFICIENCY = 0.25
OVERHEAD_MS = {"mcu": 0.0, "linux-arm64-gpu": 0.3}
DEFAULT_OVERHEAD_MS = 0.05


def estimate_latency(target, *, macs: int, weight_bytes: int, precision: str) -> dict:
    hw, kind = target.hardware, target.kind
    peak = {"fp16": hw.peak_gmacs_fp16, "int8": hw.peak_gmacs_int8}.get(precision) or hw.peak_gmacs_fp32  # no fp16 units → fp32 rate
    threads = min(target.runtime.threads, hw.cores)
    usable = peak * 1e9 * threads / hw.cores * EFFICIENCY.get(kind, DEFAULT_EFFICIENCY)
    compute_ms = macs / usable * 1e3
    memory_ms = weight_bytes / (hw.memory_bandwidth_gbs * 1e9) * 1e3
    overhead = OVERHEAD_MS.get(kind, DEFAULT_OVERHEAD_MS)
    total = max(compute_ms, memory_ms) + overhead
    budget = target.budgets.latency_p90_ms
    return {
        "estimate_ms": round(total, 4),
        "compute_ms": round(compute_ms, 4),
        "memory_ms": round(memory_ms, 4),
        "overhead_ms": overhead,
        "peak_gmacs": peak,
        "threads": threads,
        "efficiency": EFFICIENCY.get(kind, DEFAULT_EFFICIENCY),
        "budget_ms": budget,
        "within_budget": total <= budget,
        "method": "roofline: max(MACs / (peak x efficiency x threads/cores), weight bytes / bandwidth) + overhead",
    }
