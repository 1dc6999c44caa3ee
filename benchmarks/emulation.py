"""Bar (issue 7): `edgekit bench ... --device emu:rpi4` on the digits int8 TFLite artifact gives accuracy identical
to the local x86 run, and the emulated root reports aarch64 and a Cortex-A72. Also the build time from an empty
cache (bar: under 2 minutes), with pip's cache off so every wheel is fetched again (needs Debian's and PyPI's
registries).

    python benchmarks/emulation.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_results

import edgekit as ek

MEASURE = dict(min_queries=100, min_seconds=0.5, warmup=10)


def main() -> None:
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["EDGEKIT_CACHE"] = str(tmp / "cache")  # read on each use: the boards below are built and run from here
        builds = {}
        for board in ("rpi4", "rpi5"):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "edgekit", "device", "emulate", board],
                check=True,
                capture_output=True,
                env={**os.environ, "PIP_NO_CACHE_DIR": "1"},
            )
            builds[board] = time.perf_counter() - t0
        run = ek.train("digits-cnn", out=tmp / "run", progress=False)
        art = ek.export(run, target="rpi4", format="tflite", precision="int8", out=tmp / "rpi4-int8", progress=False)
        x86 = ek.bench(art, report=tmp / "local.html", **MEASURE).entries[0].result
        rows.append(
            [
                "local x86-64",
                x86.env["machine"],
                x86.env["cpu_model"],
                f"{x86.quality['accuracy']:.4f}",
                f"{x86.quality['agreement']:.2%}",
                f"{x86.latency_ms.p50:.4f}",
                "—",
            ]
        )
        for board in ("rpi4", "rpi5"):
            r = ek.bench(art, device=f"emu:{board}", report=tmp / f"{board}.html", **MEASURE).entries[0].result
            results.append(
                {
                    "board": board,
                    "build_seconds": builds[board],
                    "machine": r.env["machine"],
                    "cpu_core": r.env["cpu_core"],
                    "accuracy": r.quality["accuracy"],
                    "x86_accuracy": x86.quality["accuracy"],
                    "agreement": r.quality["agreement"],
                    "p50_ms": r.latency_ms.p50,
                    "x86_p50_ms": x86.latency_ms.p50,
                }
            )
            rows.append(
                [
                    f"emu:{board}",
                    r.env["machine"],
                    f"{r.env['cpu_core']} ({r.env['cpu_model']})",
                    f"{r.quality['accuracy']:.4f}",
                    f"{r.quality['agreement']:.2%}",
                    f"{r.latency_ms.p50:.4f}",
                    f"{builds[board]:.0f}",
                ]
            )
    rpi4 = results[0]
    checks = {
        "emu:rpi4 accuracy identical to x86": rpi4["accuracy"] == rpi4["x86_accuracy"],
        "emu:rpi4 reports aarch64 and Cortex-A72": rpi4["machine"] == "aarch64" and rpi4["cpu_core"] == "Cortex-A72",
        "build from an empty cache under 120 s": all(r["build_seconds"] < 120 for r in results),
    }
    write_results(
        "emulation",
        {"results": results, "checks": checks},
        ["device", "machine", "CPU", "accuracy", "agreement", "p50 ms (not a board figure under emulation)", "build s (empty cache)"],
        rows,
        [f"{k}: {'PASS' if v else 'FAIL'}" for k, v in checks.items()]
        + [
            "digits-cnn full-int8 TFLite for rpi4, LiteRT on both sides; emulated latency is qemu's, not the Pi's",
            "build: `edgekit device emulate BOARD` with an empty EDGEKIT_CACHE and PIP_NO_CACHE_DIR=1",
        ],
    )


if __name__ == "__main__":
    main()
