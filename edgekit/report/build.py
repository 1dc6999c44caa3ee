"""Assemble the report: one entry per benchmarked artifact, a comparison against the fp32 artifact, flags."""

from __future__ import annotations

from pathlib import Path

from ..manifest import now

REPORT_SCHEMA = "edgekit.report/1"


def _entry(folder, deploy, result, checks) -> dict:
    return {"folder": str(folder), "model": deploy["source"]["model"], "target": deploy["target"]["name"],
            "format": deploy["artifact"]["format"], "precision": deploy["artifact"]["precision"],
            "bytes": deploy["artifact"]["bytes"], "export_parity": deploy["parity"], "result": result,
            "checks": checks, "passed": all(c["passed"] for c in checks), "flags": []}


def _fp32_sibling(entry: dict, entries: list[dict]) -> dict | None:
    """The fp32 artifact to compare speed with: same format first. Host-run tflite-micro latency is not a
    board figure, so micro artifacts get no speed comparison."""
    if entry["format"] == "micro":
        return None
    fp32 = [e for e in entries if e["precision"] == "fp32" and e["format"] != "micro"]
    return next((e for e in fp32 if e["format"] == entry["format"]), fp32[0] if fp32 else None)


def _mark_pareto(entries: list[dict]) -> None:
    """On the front: no other artifact is at least as accurate, as fast (p90) and as small, and better in one."""
    def key(e):
        return (e["result"].get("accuracy", 0.0), -e["result"]["latency_ms"]["p90"], -e["bytes"])

    for e in entries:
        k = key(e)
        e["pareto"] = not any(all(a >= b for a, b in zip(key(o), k)) and key(o) != k for o in entries if o is not e)


def build_report(device: str, runs: list[tuple], *, caveat: str | None = None) -> dict:
    """runs: (artifact folder, deploy.json, runner result, budget checks) per artifact, in the user's order."""
    entries = [_entry(*r) for r in runs]
    for e in entries:
        base = _fp32_sibling(e, entries)
        p50 = e["result"]["latency_ms"]["p50"]
        e["speedup_vs_fp32"] = base["result"]["latency_ms"]["p50"] / p50 if base and p50 else None
        if base and base is not e and e["precision"] in ("int8", "dynamic") and p50 >= base["result"]["latency_ms"]["p50"]:
            e["flags"].append(f"{e['folder']}: {e['precision']} is not faster than the fp32 {base['format']} artifact "
                              f"({p50:.4f} ms vs {base['result']['latency_ms']['p50']:.4f} ms p50)")
    _mark_pareto(entries)
    env = entries[0]["result"]["env"] if entries else {}
    return {"schema": REPORT_SCHEMA, "created": now(), "device": {"name": device, "env": env}, "caveat": caveat,
            "entries": entries, "passed": all(e["passed"] for e in entries)}


def comparison_rows(report: dict) -> list[list[str]]:
    rows = []
    for e in report["entries"]:
        r = e["result"]
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else f"mse {r.get('mse_vs_reference', 0):.2e}"
        agree = f"{r['agreement']:.2%}" if "agreement" in r else "—"
        speed = f"{e['speedup_vs_fp32']:.2f}x" if e["speedup_vs_fp32"] else "—"
        rows.append([Path(e["folder"]).name, e["format"], e["precision"], f"{e['bytes'] / 1024:.1f} KiB", acc, agree,
                     f"{r['latency_ms']['p50']:.4f}", f"{r['latency_ms']['p90']:.4f}", speed,
                     "★" if e.get("pareto") else "", "PASS" if e["passed"] else "FAIL"])
    return rows


COMPARISON_HEADER = ["artifact", "format", "precision", "size", "accuracy", "agreement", "p50 ms", "p90 ms", "speed-up vs fp32",
                     "Pareto front", "budgets"]
