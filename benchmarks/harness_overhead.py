"""Bars (issue 5), measured side by side in one run:
- the harness's p50 latency is within 5% of a bare invoke()/run() loop on the same artifact;
- the same artifact benchmarked locally and over SSH to 127.0.0.1 gives the same accuracy exactly and p50
  latencies within 10%. Starts a private sshd on 127.0.0.1 (needs openssh-server).

    python benchmarks/harness_overhead.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import bare_latency, write_results

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sshd import start_sshd  # noqa: E402

from edgekit.exporter import export_run  # noqa: E402
from edgekit.measure import Measurement, bench  # noqa: E402
from edgekit.training import train_run  # noqa: E402

M = Measurement(min_queries=2000, min_seconds=5, warmup=100, threads=1)


def main() -> None:
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = start_sshd(tmp / "sshd")
        try:
            run = train_run("resnet8", "digits", out=tmp / "r8", epochs=3, progress=False)
            for fmt, precision in (("tflite", "int8"), ("tflite", "fp32"), ("onnx", "fp32")):
                art, deploy = export_run(run, fmt=fmt, precision=precision, out=tmp / f"{fmt}-{precision}")
                bare = bare_latency(art / deploy["artifact"]["file"], threads=1, n=2000, warmup=100)["p50_ms"]
                local, _ = bench([art], measurement=M, report=tmp / f"local-{fmt}-{precision}.html")
                ssh, _ = bench([art], device=server.url, measurement=M, report=tmp / f"ssh-{fmt}-{precision}.html",
                               python=sys.executable, ssh_config=str(server.client_config("bench")))
                lr, sr = local["entries"][0]["result"], ssh["entries"][0]["result"]
                r = {"artifact": f"resnet8 {fmt} {precision}", "bare_p50_ms": bare, "local_p50_ms": lr["latency_ms"]["p50"],
                     "ssh_p50_ms": sr["latency_ms"]["p50"], "local_accuracy": lr["accuracy"], "ssh_accuracy": sr["accuracy"],
                     "harness_vs_bare": lr["latency_ms"]["p50"] / bare, "ssh_vs_local": sr["latency_ms"]["p50"] / lr["latency_ms"]["p50"]}
                results.append(r)
                rows.append([r["artifact"], f"{bare:.4f}", f"{r['local_p50_ms']:.4f}", f"{r['harness_vs_bare']:.3f}x",
                             f"{r['ssh_p50_ms']:.4f}", f"{r['ssh_vs_local']:.3f}x", f"{lr['accuracy']:.4f} / {sr['accuracy']:.4f}"])
        finally:
            server.process.terminate()
    checks = {"harness p50 within 5% of the bare loop": all(abs(r["harness_vs_bare"] - 1) <= 0.05 for r in results),
              "SSH accuracy identical to local": all(r["local_accuracy"] == r["ssh_accuracy"] for r in results),
              "SSH p50 within 10% of local": all(abs(r["ssh_vs_local"] - 1) <= 0.10 for r in results)}
    write_results("harness_overhead", {"results": results, "checks": checks},
                  ["artifact", "bare loop p50 ms", "harness p50 ms", "harness / bare", "SSH p50 ms", "SSH / local", "accuracy local / SSH"],
                  rows, [f"{k}: {'PASS' if v else 'FAIL'}" for k, v in checks.items()] +
                  ["1 thread, batch 1; harness: ≥ 2,000 queries and ≥ 5 s after 100 warm-up; bare loop: 100 warm-up + 2,000 timed",
                   "resnet8 trained 3 epochs on digits resized to 3x32x32; SSH: a private sshd on 127.0.0.1, the same runner"])


if __name__ == "__main__":
    main()
