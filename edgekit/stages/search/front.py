"""The answer of a search: the Pareto front (quality vs p90 latency vs size), the best feasible artifact, a table.

The front is over the three figures the issue names (quality, p90, size); peak memory is an objective of the
study and a budget constraint, and is shown. "Best" = the feasible trial (every budget met) of the highest
quality, then the lowest p90, then the smallest artifact.
"""

from __future__ import annotations

from pathlib import Path


def rows(study) -> list[dict]:
    """One row per completed trial, from the storage (any worker's trials)."""
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        q, lat, mem, size = t.values
        out.append(
            {
                "number": t.number,
                "params": dict(t.params),
                "quality": q,
                "latency": lat,
                "memory": mem,
                "size": int(size),
                "feasible": all(c <= 0 for c in t.user_attrs.get("constraints", {}).values()),
                "latency_source": t.user_attrs.get("latency_source", "?"),
                "device": t.user_attrs.get("device", "?"),
                "artifact": t.user_attrs.get("artifact"),
            }
        )
    return out


def pareto(items: list[dict], higher_is_better: bool = True) -> list[dict]:
    """Non-dominated rows on (quality, latency, size); equal points all stay."""
    sign = 1 if higher_is_better else -1

    def key(r):
        return (-sign * r["quality"], r["latency"], r["size"])

    front = []
    for r in items:
        a = key(r)
        dominated = any(all(x <= y for x, y in zip(key(o), a)) and key(o) != a for o in items)
        if not dominated:
            front.append(r)
    return sorted(front, key=key)


def best(items: list[dict], higher_is_better: bool = True) -> dict | None:
    sign = 1 if higher_is_better else -1
    ok = [r for r in items if r["feasible"]]
    return min(ok, key=lambda r: (-sign * r["quality"], r["latency"], r["size"])) if ok else None


def describe(params: dict) -> str:
    parts = [f"w{params['width']:g}"]
    if "input_size" in params:
        parts.append(f"{params['input_size']}px")
    if params.get("prune"):
        parts.append(f"prune {params['prune']:g}")
    parts.append(f"{params['format']} {params['precision']}" + (f" {params['quant']}" if "quant" in params else ""))
    return " ".join(parts)


def answer(b: dict | None, quality: str, target: str, front_dir: Path) -> str:
    if b is None:
        return f"no trial met every budget of {target}: see the table for the nearest (relax the budgets or widen the space)"
    folder = front_dir / f"trial-{b['number']:04d}"
    lat = f"{b['latency']:.4g} {'instr' if b['latency_source'].startswith('emu') else 'ms'}"
    return (
        f"best within {target}'s budgets: trial {b['number']} ({describe(b['params'])}): {quality} {b['quality']:.4f}, "
        f"p90 {lat}, {b['size']} B — {folder}"
    )


def table(items: list[dict], quality: str, title: str, front_numbers: set[int] = frozenset()):
    from rich.table import Table

    t = Table(title=title)
    for col in ("#", "choices", quality, "p90", "peak MiB", "bytes", "budgets", "latency from", "device"):
        t.add_column(col)
    for r in items:
        star = "★ " if r["number"] in front_numbers else ""
        t.add_row(
            f"{star}{r['number']}",
            describe(r["params"]),
            f"{r['quality']:.4f}",
            f"{r['latency']:.4g}",
            f"{r['memory']:.1f}",
            str(r["size"]),
            "PASS" if r["feasible"] else "FAIL",
            r["latency_source"],
            r["device"],
        )
    return t
