"""Latency statistics and peak memory of the runner's own process (stdlib, Python 3.8)."""

import resource

from .envinfo import read_first


def peak_rss_mb():
    """Peak resident memory of this process. VmHWM belongs to the process's own address space; ru_maxrss can
    carry the parent's peak across fork + exec on Linux, so it is only the fallback."""
    for line in (read_first("/proc/self/status") or "").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def percentile(sorted_values, q):
    k = (len(sorted_values) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def stats(times):
    st = sorted(times)
    mean = sum(times) / len(times)
    return {"p50": percentile(st, 50), "p90": percentile(st, 90), "p99": percentile(st, 99), "mean": mean,
            "std": (sum((t - mean) ** 2 for t in times) / len(times)) ** 0.5, "min": st[0], "max": st[-1]}
