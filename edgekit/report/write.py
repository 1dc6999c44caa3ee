"""Write report.json, report.md and a self-contained report.html (plots inlined as base64 PNG), as one set."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ..contracts import REPORT_FORMAT, BenchReport
from ..errors import EdgekitError
from ..tasks import get_task
from ..util.fsutil import json_text, write_set
from .build import LEGEND, comparison
from .plots import plots

ENV_KEYS = (
    "machine",
    "cpu_model",
    "cpu_core",
    "cpu_part",
    "isa",
    "cores",
    "os",
    "python",
    "numpy",
    "runtime_version",
    "governor",
    "cpu_mhz",
    "temperature_c",
    "throttled",
)


def _md_table(header, rows) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def _env_rows(env: dict) -> list[list[str]]:
    return [[k, ", ".join(env[k]) if isinstance(env.get(k), list) else str(env.get(k))] for k in ENV_KEYS if env.get(k) not in (None, [])]


CHECK_HEADER = ["artifact", "check", "measured", "budget", "result"]


def check_rows(report: BenchReport) -> list[list[str]]:
    rows = []
    for e in report.entries:
        for c in e.checks:
            value = "—" if c.value is None else f"{c.value:.4g} {c.unit}".strip()
            rows.append(
                [Path(e.folder).name, c.check, value, f"{'≤' if c.direction == 'max' else '≥'} {c.limit:.4g} {c.unit}".strip(), c.status]
            )
    return rows


def _failures(report: BenchReport) -> list[str]:
    return [f"{Path(e.folder).name}: {e.error}" for e in report.failed_runs]


def verdict(report: BenchReport) -> str:
    if report.failed_runs:
        return "FAILED RUNS"
    if report.passed:
        return "PASS"
    failed = any(c.failed for e in report.entries for c in e.checks)
    return "FAIL" if failed else "NOT PROVEN"  # only --no-parity artifacts keep it from passing


def markdown(report: BenchReport) -> str:
    header, rows = comparison(report)
    parts = [f"# edgekit benchmark on {report.device['name']}", "", f"Overall: **{verdict(report)}** — {report.created}", ""]
    if report.caveat:
        parts += [f"> {report.caveat}", ""]
    parts += ["## Comparison", "", _md_table(header, rows), "", LEGEND, ""]
    if report.failed_runs:
        parts += ["## Failed", ""] + [f"- ✗ {f}" for f in _failures(report)] + [""]
    flags = [f for e in report.entries for f in e.flags]
    if flags:
        parts += ["## Flags", ""] + [f"- ⚑ {f}" for f in flags] + [""]
    for title, md, _ in task_sections(report):
        parts += [f"## {title}", "", md, ""]
    parts += ["## Budgets (from each artifact's target profile)", "", _md_table(CHECK_HEADER, check_rows(report)), ""]
    parts += ["## Device", "", _md_table(["", ""], _env_rows(report.device.get("env") or {})), ""]
    for e in report.entries:
        r = e.result
        if r is None:
            continue
        lat = r.latency_ms
        front = f", front end p50 {r.frontend_ms.p50:.3f} ms / p90 {r.frontend_ms.p90:.3f} ms per raw sample" if r.frontend_ms else ""
        if r.postprocess_ms:
            front += f", post-processing p50 {r.postprocess_ms.p50:.3f} ms / p90 {r.postprocess_ms.p90:.3f} ms per raw sample"
        if r.invokes_per_sample and r.invokes_per_sample > 1:
            front += f", {r.invokes_per_sample:.1f} model invocations per sample ({lat.p50 * r.invokes_per_sample:.3f} ms)"
        parts += [
            f"### {e.folder}",
            "",
            f"{e.model} → {e.target}: {e.format} {e.precision} in {r.env.get('runtime_version')}, {e.bytes:,} B, {r.threads} thread(s); "
            f"load {r.load_ms:.1f} ms, first inference {r.first_inference_ms:.3f} ms, {r.queries:,} queries in "
            f"{r.seconds:.1f} s ({r.throughput_qps:.0f}/s), peak RSS {r.peak_rss_mb:.1f} MiB{front}; "
            f"{r.eval_samples} eval samples from {'raw sensor input' if r.raw_input else 'model input'}.",
            "",
            _md_table(
                ["p50", "p90", "p99", "mean", "std", "min", "max"],
                [[f"{getattr(lat, k):.4f}" for k in ("p50", "p90", "p99", "mean", "std", "min", "max")]],
            ),
            "",
        ]
        if r.micro:
            parts += [f"Microcontroller: arena {r.micro['arena_bytes']:,} B, flash {r.micro['flash_bytes']:,} B — {r.micro['note']}.", ""]
    return "\n".join(parts)


CSS = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.6rem 0 1.4rem;font-size:.9rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}.PASS{color:#fff;background:#2a8a3e}.FAIL,.FAILED{color:#fff;background:#c0392b}
.not{color:#333;background:#e8e8e8}.NOT{color:#fff;background:#b36b00}.badge{padding:.15rem .5rem;border-radius:.3rem;font-weight:600}
.caveat{background:#fff6d5;border-left:4px solid #e0b400;padding:.6rem 1rem}.failed{background:#fde8e6;border-left:4px solid #c0392b;padding:.6rem 1rem}
img{max-width:100%;margin:.4rem 1rem .4rem 0;border:1px solid #eee}"""


def _html_table(header, rows) -> str:
    def cell(v):
        v = html.escape(str(v))
        first = v.split()[0] if v.split() else ""
        if first in ("PASS", "FAIL", "FAILED", "not", "NOT"):
            return f'<td><span class="badge {first}">{v}</span></td>'
        return f"<td>{v}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_page(report: BenchReport, images: dict[str, bytes]) -> str:
    v = verdict(report)
    header, rows = comparison(report)
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>edgekit benchmark</title><style>{CSS}</style>",
        f"<h1>edgekit benchmark on {html.escape(report.device['name'])} <span class='badge {v.split()[0]}'>{v}</span></h1>",
        f"<p>{html.escape(report.created)}</p>",
    ]
    if report.caveat:
        parts.append(f"<p class='caveat'>{html.escape(report.caveat)}</p>")
    parts += ["<h2>Comparison</h2>", _html_table(header, rows), f"<p>{html.escape(LEGEND)}</p>"]
    if report.failed_runs:
        parts.append(
            "<div class='failed'><b>Failed</b><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in _failures(report)) + "</ul></div>"
        )
    flags = [f for e in report.entries for f in e.flags]
    if flags:
        parts.append("<ul>" + "".join(f"<li>⚑ {html.escape(f)}</li>" for f in flags) + "</ul>")
    parts.append(
        "<h2>Plots</h2>" + "".join(f"<img alt='{k}' src='data:image/png;base64,{base64.b64encode(b).decode()}'>" for k, b in images.items())
    )
    for title, _, body in task_sections(report):
        parts += [f"<h2>{html.escape(title)}</h2>", body]
    parts += ["<h2>Budgets</h2>", _html_table(CHECK_HEADER, check_rows(report))]
    parts += ["<h2>Device</h2>", _html_table(["", ""], _env_rows(report.device.get("env") or {}))]
    return "\n".join(parts)


def task_sections(report: BenchReport) -> list[tuple[str, str, str]]:
    """Each measured artifact's task sections (title, Markdown, HTML): what only its task knows to show (a detector's
    per-class AP, precision/recall curves and drawn test images)."""
    return [s for e in report.entries if e.result is not None for s in get_task(e.task).report_sections(e)]


def report_paths(html_path: Path) -> dict[str, Path]:
    """NAME.html, NAME.md and NAME.json for a report at `html_path` — refused (one line, before anything is measured)
    when one of them is a file of the user's: only an earlier edgekit report (its report.json says so) is replaced."""
    html_path = Path(html_path)
    base = html_path.with_suffix("")
    paths = {"html": html_path, "md": base.with_suffix(".md"), "json": base.with_suffix(".json")}
    for parent in (html_path.parent, *html_path.parent.parents):
        if parent.exists() and not parent.is_dir():
            raise EdgekitError(f"cannot write the report under {parent}: it is a file, not a folder", "pass another --report path")
    taken = [p for p in paths.values() if p.exists() or p.is_symlink()]
    if taken and not _earlier_report(paths["json"]):
        raise EdgekitError(
            f"{taken[0]} exists and is not part of an earlier edgekit report (no report.json of edgekit's beside it)",
            "pass another --report path, or move that file",
        )
    return paths


def _earlier_report(json_path: Path) -> bool:
    """An edgekit report.json, a plain file, names its schema: its set may be replaced by a newer run's."""
    if json_path.is_symlink() or not json_path.is_file():
        return False
    try:
        data = json.loads(json_path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("schema") == REPORT_FORMAT


def write_report(report: BenchReport, html_path: Path) -> dict[str, Path]:
    """NAME.html, NAME.md and NAME.json side by side, written as one set (report.json, the marker, lands last)."""
    paths = report_paths(html_path)
    write_set(
        {
            paths["html"]: html_page(report, plots(report)).encode(),
            paths["md"]: (markdown(report) + "\n").encode(),
            paths["json"]: json_text(report.to_json()).encode(),
        }
    )
    return paths
