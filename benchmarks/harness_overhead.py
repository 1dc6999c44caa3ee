"""Bars (issue 5), measured side by side in one run:
- the harness's p50 latency is within 5% of a bare invoke()/run() loop on the same artifact;
- the same artifact benchmarked locally and over SSH to 127.0.0.1 gives the same accuracy exactly and p50
  latencies within 10%. Starts a private sshd on 127.0.0.1 (needs openssh-server).

The SSH leg runs `edgekit bench` (the CLI): ek.bench cannot name the device's Python or an ssh config, and the
device's `python3` here lacks the runtimes, so the CLI's --python / --ssh-config are needed. Both legs run the
same bench code and runner.

    python benchmarks/harness_overhead.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import bare_latency, write_results

import edgekit as ek

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sshd import start_sshd  # noqa: E402

MEASURE = dict(threads=1, min_queries=2000, min_seconds=5, warmup=100)


def ssh_bench(folder: Path, server, report: Path) -> dict:
    """The runner's result for one artifact measured over SSH with the same settings as ek.bench."""
    argv = [
        sys.executable,
        "-m",
        "edgekit",
        "bench",
        str(folder),
        "--device",
        server.url,
        "--report",
        str(report),
        "--python",
        sys.executable,
        "--ssh-config",
        str(server.client_config("bench")),
        *[a for k, v in MEASURE.items() for a in (f"--{k.replace('_', '-')}", str(v))],
    ]
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode not in (0, 1):  # 1: a budget failed, the measurement stands
        raise RuntimeError(f"edgekit bench over SSH failed ({p.returncode}): {p.stderr.strip()[-400:]}")
    return json.loads(report.with_suffix(".json").read_text())["entries"][0]["result"]


def main() -> None:
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = start_sshd(tmp / "sshd")
        try:
            run = ek.train("resnet8", data="digits", out=tmp / "r8", epochs=3, progress=False)
            for fmt, precision in (("tflite", "int8"), ("tflite", "fp32"), ("onnx", "fp32")):
                art = ek.export(run, format=fmt, precision=precision, out=tmp / f"{fmt}-{precision}", progress=False)
                bare = bare_latency(art.path / art.deploy.artifact.files[0], threads=1, n=2000, warmup=100)["p50_ms"]
                local = ek.bench(art, report=tmp / f"local-{fmt}-{precision}.html", **MEASURE).entries[0].result
                ssh = ssh_bench(art.path, server, tmp / f"ssh-{fmt}-{precision}.html")
                local_p50, ssh_p50 = local.latency_ms.p50, ssh["latency_ms"]["p50"]
                r = {
                    "artifact": f"resnet8 {fmt} {precision}",
                    "bare_p50_ms": bare,
                    "local_p50_ms": local_p50,
                    "ssh_p50_ms": ssh_p50,
                    "local_accuracy": local.quality["accuracy"],
                    "ssh_accuracy": ssh["quality"]["accuracy"],
                    "harness_vs_bare": local_p50 / bare,
                    "ssh_vs_local": ssh_p50 / local_p50,
                }
                results.append(r)
                rows.append(
                    [
                        r["artifact"],
                        f"{bare:.4f}",
                        f"{local_p50:.4f}",
                        f"{r['harness_vs_bare']:.3f}x",
                        f"{ssh_p50:.4f}",
                        f"{r['ssh_vs_local']:.3f}x",
                        f"{r['local_accuracy']:.4f} / {r['ssh_accuracy']:.4f}",
                    ]
                )
        finally:
            server.process.terminate()
    checks = {
        "harness p50 within 5% of the bare loop": all(abs(r["harness_vs_bare"] - 1) <= 0.05 for r in results),
        "SSH accuracy identical to local": all(r["local_accuracy"] == r["ssh_accuracy"] for r in results),
        "SSH p50 within 10% of local": all(abs(r["ssh_vs_local"] - 1) <= 0.10 for r in results),
    }
    write_results(
        "harness_overhead",
        {"results": results, "checks": checks},
        ["artifact", "bare loop p50 ms", "harness p50 ms", "harness / bare", "SSH p50 ms", "SSH / local", "accuracy local / SSH"],
        rows,
        [f"{k}: {'PASS' if v else 'FAIL'}" for k, v in checks.items()]
        + [
            "1 thread, batch 1; harness: ≥ 2,000 queries and ≥ 5 s after 100 warm-up; bare loop: 100 warm-up + 2,000 timed",
            "resnet8 trained 3 epochs on digits resized to 3x32x32; local: ek.bench; SSH: `edgekit bench` to a private sshd "
            "on 127.0.0.1, the same runner",
        ],
    )


if __name__ == "__main__":
    main()
