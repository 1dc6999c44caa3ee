"""Assemble the report: speed-up against the fp32 artifact of the same model, flags, the Pareto front, and the
comparison table every output (terminal, Markdown, HTML) renders."""

from __future__ import annotations

from pathlib import Path

from ..contracts import ReportEntry
from ..parity import FLAG, NOT_PROVEN, proven
from ..tasks import get_task


def _fp32_sibling(entry: ReportEntry, entries: list[ReportEntry]) -> ReportEntry | None:
    """The fp32 artifact to compare speed with: the same model in the same runtime, else in onnxruntime (the common
    yardstick). Host-run tflite-micro latency is not a board figure, so micro artifacts get no speed comparison."""
    if entry.result is None or entry.result.micro is not None:
        return None
    fp32 = [
        e for e in entries if e.precision == "fp32" and e.result is not None and e.result.latency_ms is not None and e.model == entry.model
    ]
    return next((e for e in fp32 if e.runtime == entry.runtime), next((e for e in fp32 if e.runtime == "onnxruntime"), None))


def _quality(e: ReportEntry) -> float:
    task = get_task(e.task)
    v = e.result.quality.get(task.quality) if e.result else None
    if v is None:
        return float("-inf")
    return v if task.higher_is_better else -v


def _mark_pareto(entries: list[ReportEntry]) -> None:
    """On the front: no other artifact is at least as good, as fast (p90) and as small, and better in one."""
    ok = [e for e in entries if e.result is not None and e.result.latency_ms is not None]

    def key(e):
        return (_quality(e), -e.result.latency_ms.p90, -e.bytes)

    for e in ok:
        k = key(e)
        e.pareto = not any(all(a >= b for a, b in zip(key(o), k)) and key(o) != k for o in ok if o is not e)


def finish_entries(entries: list[ReportEntry]) -> None:
    for e in entries:
        if not proven(e.export_parity):
            e.flags.append(f"{e.folder}: {FLAG}")
    for e in entries:
        base = _fp32_sibling(e, entries)
        if base is None or e.result.latency_ms is None:
            continue
        p50, b50 = e.result.latency_ms.p50, base.result.latency_ms.p50
        e.speedup_vs_fp32 = b50 / p50 if p50 else None
        if base is not e and e.precision in ("int8", "dynamic") and p50 >= b50:
            e.flags.append(
                f"{e.folder}: {e.precision} is not faster than the fp32 {base.format} artifact ({p50:.4f} ms vs {b50:.4f} ms p50)"
            )
    _mark_pareto(entries)
    for e in entries:  # ARM work (emulated boards, --count-instructions) against the same runtime's fp32
        base = _fp32_sibling(e, entries)
        mine, theirs = _instr(e), _instr(base) if base else None
        if mine and theirs:
            e.result.instructions["vs_fp32"] = mine / theirs


def _instr(e: ReportEntry | None) -> float | None:
    i = e.result.instructions if e is not None and e.result is not None else None
    return i.get("per_inference") if i else None


def _fmt(fmt: str, v) -> str:
    return "—" if v is None else fmt.format(v)


LEGEND = (
    "speed-up = p50 of the same model's fp32 artifact in the same runtime (else in onnxruntime) / this p50. "
    "★ = on the quality / p90 latency / size Pareto front: no other artifact is at least as good on all three. "
    "† = quality budgets pass; latency and memory were not measured on the target, so they are not judged."
)


def comparison(report) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per artifact, ordered by model so every runtime of a model stands side by side."""
    entries = sorted(report.entries, key=lambda e: (e.model, report.entries.index(e)))
    # each task's quality columns, once each in order of appearance; an entry fills those of its own task
    own = {name: get_task(name).columns() for name in dict.fromkeys(e.task for e in entries)}
    cols = list(dict.fromkeys(c for columns in own.values() for c in columns))
    counted = any(_instr(e) for e in entries)
    header = [
        "artifact",
        "model",
        "format",
        "precision",
        "size",
        *[c[0] for c in cols],
        "p50 ms",
        "p90 ms",
        "front end p50 ms",
        "speed-up vs fp32",
        *(["ARM instr / inference", "vector share", "work vs fp32"] if counted else []),
        "Pareto front",
        "budgets",
    ]
    rows = []
    for e in entries:
        r = e.result
        if r is None:
            rows.append(
                [
                    Path(e.folder).name,
                    e.model,
                    e.format,
                    e.precision,
                    f"{e.bytes / 1024:.1f} KiB",
                    *["—"] * len(cols),
                    "—",
                    "—",
                    "—",
                    "—",
                    *(["—"] * 3 if counted else []),
                    "",
                    "FAILED",
                ]
            )
            continue
        quality = [_fmt(f, r.quality.get(k)) if (h, k, f) in own[e.task] else "—" for h, k, f in cols]
        verdict = "FAIL" if any(c.failed for c in e.checks) else "PASS"
        if verdict == "PASS" and any(c.status == NOT_PROVEN for c in e.checks):
            verdict = "NOT PROVEN"  # --no-parity: latency and size only (edgekit/parity.py)
        elif verdict == "PASS" and any(c.status == "not the target" for c in e.checks):
            verdict = "PASS†"
        work = []
        if counted:
            i = r.instructions or {}
            work = [_fmt("{:,.0f}", i.get("per_inference")), _fmt("{:.1%}", i.get("vector_share")), _fmt("{:.3f}", i.get("vs_fp32"))]
        rows.append(
            [
                Path(e.folder).name,
                e.model,
                e.format,
                e.precision,
                f"{e.bytes / 1024:.1f} KiB",
                *quality,
                f"{r.latency_ms.p50:.4f}",
                f"{r.latency_ms.p90:.4f}",
                _fmt("{:.4f}", r.frontend_ms.p50 if r.frontend_ms else None),
                _fmt("{:.2f}x", e.speedup_vs_fp32),
                *work,
                "★" if e.pareto else "",
                verdict,
            ]
        )
    return header, rows
