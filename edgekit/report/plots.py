"""Report plots as PNG bytes (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import io


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def plots(report: dict) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    entries = report["entries"]
    labels = [f"{e['format']} {e['precision']}\n{e['folder'].rstrip('/').split('/')[-1]}" for e in entries]
    out = {}

    fig, ax = plt.subplots(figsize=(7, 3.6))
    clipped = [np.asarray(e["result"]["latencies_ms"]) for e in entries]
    clipped = [lat[lat <= np.percentile(lat, 99.5)] for lat in clipped]
    # Log-spaced bins on a log axis: artifacts often differ by orders of magnitude.
    bins = np.geomspace(min(c.min() for c in clipped), max(c.max() for c in clipped) * 1.01, 90)
    for lat, label in zip(clipped, labels):
        ax.hist(lat, bins=bins, alpha=0.55, label=label.replace("\n", " — "))
    ax.set_xscale("log")
    ax.set_xlabel("latency per query (ms, log scale), up to the 99.5th percentile")
    ax.set_ylabel("queries")
    ax.set_title("Latency distribution")
    ax.legend(fontsize=7)
    out["latency_histogram"] = _png(fig)

    if all("accuracy" in e["result"] for e in entries):
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for e, label in zip(entries, labels):
            ax.scatter(e["result"]["latency_ms"]["p90"], e["result"]["accuracy"], s=60)
            ax.annotate(label.replace("\n", " "), (e["result"]["latency_ms"]["p90"], e["result"]["accuracy"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("p90 latency (ms)")
        ax.set_ylabel("accuracy on device")
        ax.set_title("Accuracy vs p90 latency")
        out["accuracy_vs_latency"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5.5, 0.6 + 0.45 * len(entries)))
    ax.barh(labels, [e["bytes"] / 1024 for e in entries], color="#4c78a8")
    ax.set_xlabel("artifact size (KiB)")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("Size")
    out["size"] = _png(fig)
    return out
