"""Report plots as PNG bytes (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import io

from ..tasks import get_task


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def plots(report) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    entries = [e for e in report.entries if e.result is not None and e.result.latencies_ms]
    if not entries:
        return {}
    labels = [f"{e.format} {e.precision}\n{e.folder.rstrip('/').split('/')[-1]}" for e in entries]
    out = {}

    fig, ax = plt.subplots(figsize=(7, 3.6))
    clipped = [np.asarray(e.result.latencies_ms) for e in entries]
    clipped = [lat[lat <= np.percentile(lat, 99.5)] for lat in clipped]
    # Log-spaced bins on a log axis: artifacts often differ by orders of magnitude.
    lo, hi = min(c.min() for c in clipped), max(c.max() for c in clipped)
    bins = np.geomspace(max(lo, 1e-6), max(hi * 1.01, lo * 1.02, 2e-6), 90)
    for lat, label in zip(clipped, labels):
        ax.hist(lat, bins=bins, alpha=0.55, label=label.replace("\n", " — "))
    ax.set_xscale("log")
    ax.set_xlabel("latency per query (ms, log scale), up to the 99.5th percentile")
    ax.set_ylabel("queries")
    ax.set_title("Latency distribution" + ("" if report.measured_on_target else " (not measured on the target)"))
    ax.legend(fontsize=7)
    out["latency_histogram"] = _png(fig)

    task = get_task(entries[0].task)
    scored = [(e, lab) for e, lab in zip(entries, labels) if e.task == task.name and e.result.quality.get(task.quality) is not None]
    if scored:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for e, label in scored:
            q = e.result.quality[task.quality]
            ax.scatter(e.result.latency_ms.p90, q, s=60)
            ax.annotate(label.replace("\n", " "), (e.result.latency_ms.p90, q), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("p90 latency (ms)")
        ax.set_ylabel(f"{task.quality} on device")
        ax.set_title(f"{task.quality.capitalize()} vs p90 latency")
        out["quality_vs_latency"] = _png(fig)

    if any(e.result.frontend_ms for e in entries):
        fig, ax = plt.subplots(figsize=(5.5, 0.6 + 0.45 * len(entries)))
        front = [e.result.frontend_ms.p50 if e.result.frontend_ms else 0 for e in entries]
        model = [e.result.latency_ms.p50 * (e.result.invokes_per_sample or 1) for e in entries]
        ax.barh(labels, front, color="#f58518", label="front end (preprocessing) p50")
        ax.barh(labels, model, left=front, color="#4c78a8", label="model p50 x invocations per sample")
        post = [e.result.postprocess_ms.p50 if e.result.postprocess_ms else 0 for e in entries]
        if any(post):  # the device task's post-processing (a detector's NMS), timed apart from the model
            ax.barh(labels, post, left=[f + m for f, m in zip(front, model)], color="#54a24b", label="post-processing p50")
        ax.set_xlabel("ms per raw sample")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.legend(fontsize=7)
        ax.set_title("Where the time goes")
        out["frontend_vs_model"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5.5, 0.6 + 0.45 * len(entries)))
    ax.barh(labels, [e.bytes / 1024 for e in entries], color="#4c78a8")
    ax.set_xlabel("artifact size (KiB)")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("Size")
    out["size"] = _png(fig)
    return out
