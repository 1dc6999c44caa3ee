"""Write report.json, report.md and a self-contained report.html (plots inlined as base64 PNG)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ..fsutil import write_text
from .build import COMPARISON_HEADER, comparison_rows
from .plots import plots


def _md_table(header, rows) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def _env_rows(env: dict) -> list[list[str]]:
    keys = ("machine", "cpu_model", "cpu_core", "cpu_part", "cores", "os", "python", "numpy", "runtime_version", "governor", "cpu_mhz",
            "temperature_c", "throttled")
    return [[k, str(env.get(k))] for k in keys if env.get(k) is not None]


def _check_rows(report):
    rows = []
    for e in report["entries"]:
        for c in e["checks"]:
            value = f"{c['value']:.4g} {c['unit']}".strip()
            rows.append([e["folder"], c["check"], value, f"{'≤' if c['check'] in ('latency p90', 'peak memory', 'tensor arena', 'flash') else '≥'} {c['limit']:.4g} {c['unit']}".strip(),
                         "PASS" if c["passed"] else "FAIL"])
    return rows


def markdown(report: dict) -> str:
    parts = [f"# edgekit benchmark on {report['device']['name']}", "",
             f"Overall: **{'PASS' if report['passed'] else 'FAIL'}** — {report['created']}", ""]
    if report.get("caveat"):
        parts += [f"> {report['caveat']}", ""]
    parts += ["## Comparison", "", _md_table(COMPARISON_HEADER, comparison_rows(report)), "",
              "★ = on the accuracy / p90 latency / size Pareto front: no other artifact is at least as good on all three.", ""]
    flags = [f for e in report["entries"] for f in e["flags"]]
    if flags:
        parts += ["## Flags", ""] + [f"- ⚑ {f}" for f in flags] + [""]
    parts += ["## Budgets (from each artifact's target profile)", "", _md_table(["artifact", "check", "measured", "budget", "result"], _check_rows(report)), ""]
    parts += ["## Device", "", _md_table(["", ""], _env_rows(report["device"]["env"])), ""]
    for e in report["entries"]:
        r = e["result"]
        lat = r["latency_ms"]
        parts += [f"### {e['folder']}", "",
                  f"{e['model']} → {e['target']}: {e['format']} {e['precision']}, {e['bytes']:,} B, {r['threads']} thread(s); "
                  f"load {r['load_ms']:.1f} ms, first inference {r['first_inference_ms']:.3f} ms, {r['queries']:,} queries in "
                  f"{r['seconds']:.1f} s ({r['throughput_qps']:.0f}/s), peak RSS {r['peak_rss_mb']:.1f} MiB.", "",
                  _md_table(["p50", "p90", "p99", "mean", "std", "min", "max"],
                            [[f"{lat[k]:.4f}" for k in ("p50", "p90", "p99", "mean", "std", "min", "max")]]), ""]
        if "micro" in r:
            parts += [f"Microcontroller: arena {r['micro']['arena_bytes']:,} B, flash {r['micro']['flash_bytes']:,} B — {r['micro']['note']}.", ""]
    return "\n".join(parts)


CSS = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.6rem 0 1.4rem;font-size:.9rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}.PASS{color:#fff;background:#2a8a3e}.FAIL{color:#fff;background:#c0392b}
.badge{padding:.15rem .5rem;border-radius:.3rem;font-weight:600}.caveat{background:#fff6d5;border-left:4px solid #e0b400;padding:.6rem 1rem}
img{max-width:100%;margin:.4rem 1rem .4rem 0;border:1px solid #eee}"""


def _html_table(header, rows) -> str:
    def cell(v):
        v = html.escape(str(v))
        return f'<td><span class="badge {v.split()[0]}">{v}</span></td>' if v.split() and v.split()[0] in ("PASS", "FAIL") else f"<td>{v}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_page(report: dict, images: dict[str, bytes]) -> str:
    verdict = "PASS" if report["passed"] else "FAIL"
    parts = [f"<!doctype html><meta charset='utf-8'><title>edgekit benchmark</title><style>{CSS}</style>",
             f"<h1>edgekit benchmark on {html.escape(report['device']['name'])} <span class='badge {verdict}'>{verdict}</span></h1>",
             f"<p>{html.escape(report['created'])}</p>"]
    if report.get("caveat"):
        parts.append(f"<p class='caveat'>{html.escape(report['caveat'])}</p>")
    parts += ["<h2>Comparison</h2>", _html_table(COMPARISON_HEADER, comparison_rows(report))]
    flags = [f for e in report["entries"] for f in e["flags"]]
    if flags:
        parts.append("<ul>" + "".join(f"<li>⚑ {html.escape(f)}</li>" for f in flags) + "</ul>")
    parts.append("<h2>Plots</h2>" + "".join(f"<img alt='{k}' src='data:image/png;base64,{base64.b64encode(v).decode()}'>" for k, v in images.items()))
    parts += ["<h2>Budgets</h2>", _html_table(["artifact", "check", "measured", "budget", "result"], _check_rows(report))]
    parts += ["<h2>Device</h2>", _html_table(["", ""], _env_rows(report["device"]["env"]))]
    return "\n".join(parts)


def write_report(report: dict, html_path: Path) -> dict[str, Path]:
    """Writes NAME.html, NAME.json and NAME.md side by side (each atomically)."""
    html_path = Path(html_path)
    base = html_path.with_suffix("")
    paths = {"html": html_path, "json": base.with_suffix(".json"), "md": base.with_suffix(".md")}
    write_text(paths["json"], json.dumps(report, indent=1) + "\n")
    write_text(paths["md"], markdown(report) + "\n")
    write_text(paths["html"], html_page(report, plots(report)))
    return paths
