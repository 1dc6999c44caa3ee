"""The search's outputs on disk: the front's artifacts copied to <out>/front, and report.html / search.json with a
plot of quality against p90 latency (marker size: artifact bytes; the front ringed)."""

from __future__ import annotations

import html
import io
import json
import shutil
from base64 import b64encode
from pathlib import Path

from ...util.fsutil import write_text


def export_front(front: list[dict], folder: Path) -> list[str]:
    """Copy each front artifact to folder/trial-NNNN (temp name, then rename); stale ones from an earlier
    report, no longer on the front, are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    keep = {f"trial-{r['number']:04d}" for r in front}
    for old in folder.iterdir():
        if old.is_dir() and old.name.startswith("trial-") and old.name not in keep:
            shutil.rmtree(old)
    done = []
    for r in front:
        dest = folder / f"trial-{r['number']:04d}"
        if not dest.is_dir() and r["artifact"] and Path(r["artifact"]).is_dir():
            tmp = folder / f".{dest.name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(r["artifact"], tmp)
            tmp.rename(dest)
        done.append(str(dest))
    return done


def _plot(items: list[dict], front: list[dict], quality: str) -> bytes | None:
    if not items:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    on = {r["number"] for r in front}
    fig, ax = plt.subplots(figsize=(6, 4))
    biggest = max(r["size"] for r in items) or 1
    for group, style in ((False, {"c": "#9aa", "label": "trial"}), (True, {"c": "#c33", "label": "Pareto front"})):
        pts = [r for r in items if (r["number"] in on) == group]
        if pts:
            ax.scatter(
                [r["latency"] for r in pts],
                [r["quality"] for r in pts],
                s=[20 + 200 * r["size"] / biggest for r in pts],
                alpha=0.8,
                **style,
            )
    unit = "guest instructions" if items[0]["latency_source"].startswith("emu") else "ms"
    ax.set_xlabel(f"p90 latency ({unit})")
    ax.set_ylabel(quality)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_report(folder: Path, items: list[dict], front: list[dict], answer: str, quality: str) -> dict:
    png = _plot(items, front, quality)
    on = {r["number"] for r in front}
    head = ["trial", "choices", quality, "p90", "peak MiB", "bytes", "budgets", "latency from", "device"]
    from .front import describe

    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                ("★ " if r["number"] in on else "") + str(r["number"]),
                describe(r["params"]),
                f"{r['quality']:.4f}",
                f"{r['latency']:.4g}",
                f"{r['memory']:.1f}",
                r["size"],
                "PASS" if r["feasible"] else "FAIL",
                r["latency_source"],
                r["device"],
            )
        )
        + "</tr>"
        for r in sorted(items, key=lambda r: r["number"])
    )
    img = f'<img alt="quality vs p90" src="data:image/png;base64,{b64encode(png).decode()}">' if png else ""
    page = (
        "<!doctype html><meta charset=utf-8><title>edgekit search</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;border-bottom:1px solid #ddd}</style>"
        f"<h1>edgekit search</h1><section id=search><h2>Pareto front</h2><p><b>{html.escape(answer)}</b></p>{img}"
        f"<p>★ = on the {html.escape(quality)} / p90 / size Pareto front.</p>"
        f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{body}</table></section>"
    )
    write_text(folder / "report.html", page)
    write_text(folder / "search.json", json.dumps({"answer": answer, "front": front, "trials": items}, indent=2, default=str) + "\n")
    return {"report": str(folder / "report.html"), "json": str(folder / "search.json")}
