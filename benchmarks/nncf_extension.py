"""Issue 10: NNCF's compiled C++ extension vs its native-torch kernels, side by side (interleaved rounds).

The extension (the default) is compiled on first use (and an interrupted build once hung every later run on a stale lock).
This measures what native kernels cost: PTQ alone, and PTQ plus one QAT epoch, on resnet8 (synthetic 3x32x32) and digits-cnn,
each round in a fresh process per mode, alternating. Also the one-off compile time from an empty cache.

    python benchmarks/nncf_extension.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import write_results

import edgekit as ek

ROUNDS = 3
CHILD = """
import json, sys
import edgekit as ek
ptq = ek.compress(sys.argv[1], ptq=True, out=sys.argv[2] + "-ptq", progress=False).metrics.steps[-1]
qat = ek.compress(sys.argv[1], qat=True, epochs=1, out=sys.argv[2] + "-qat", progress=False).metrics.steps[-1]
print(json.dumps({"ptq_seconds": ptq["seconds"], "qat_step_seconds": qat["seconds"], "accuracy": qat["accuracy"]}))
"""


def child(parent: Path, out: Path, mode: str, ext_dir: Path) -> dict:
    env = {**os.environ, "EDGEKIT_NNCF_KERNELS": mode, "TORCH_EXTENSIONS_DIR": str(ext_dir), "OMP_NUM_THREADS": "2"}
    p = subprocess.run([sys.executable, "-c", CHILD, str(parent), str(out)], capture_output=True, text=True, env=env, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    results, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ext = tmp / "ext"
        # The one-off build, from an empty extensions folder.
        parents = {
            "resnet8": ek.train("resnet8", "synthetic:3,32,32:10:1200", epochs=3, out=tmp / "r8", progress=False).path,
            "digits-cnn": ek.train("digits-cnn", epochs=10, out=tmp / "dg", progress=False).path,
        }
        first = child(parents["digits-cnn"], tmp / "first", "compiled", ext)
        for name, parent in parents.items():
            times = {"native": [], "compiled": []}
            ptq = {"native": [], "compiled": []}
            acc = {}
            for r in range(ROUNDS):
                for mode in ("native", "compiled") if r % 2 == 0 else ("compiled", "native"):
                    res = child(parent, tmp / f"{name}-{mode}-{r}", mode, ext)
                    times[mode].append(res["qat_step_seconds"])
                    ptq[mode].append(res["ptq_seconds"])
                    acc[mode] = res["accuracy"]
            med = {m: statistics.median(v) for m, v in times.items()}
            pmed = {m: statistics.median(v) for m, v in ptq.items()}
            results[name] = {
                "qat_step_seconds": times,
                "ptq_seconds": ptq,
                "median": med,
                "ptq_median": pmed,
                "native_over_compiled": med["native"] / med["compiled"],
                "accuracy": acc,
            }
            rows.append(
                [
                    name,
                    f"{pmed['compiled']:.1f} / {pmed['native']:.1f}",
                    f"{med['compiled']:.1f}",
                    f"{med['native']:.1f}",
                    f"{med['native'] / med['compiled']:.2f}x",
                    f"{acc['compiled']:.4f} / {acc['native']:.4f}",
                ]
            )
    # The build happens at the first quantize call: the first PTQ minus a warm one is the compile time.
    compile_seconds = first["ptq_seconds"] - results["digits-cnn"]["ptq_median"]["compiled"]
    write_results(
        "nncf_extension",
        {"rounds": ROUNDS, "models": results, "first_use_ptq_seconds": first["ptq_seconds"], "compile_seconds": compile_seconds},
        [
            "model",
            "PTQ alone, compiled / native (s)",
            "PTQ + 1 QAT epoch, compiled (s)",
            "native (s)",
            "native / compiled",
            "accuracy compiled / native",
        ],
        rows,
        [
            f"first int8 use (PTQ) with the compiled extension, empty cache: {first['ptq_seconds']:.1f} s, "
            f"of which about {compile_seconds:.1f} s is the build",
            "median of interleaved rounds, each in a fresh process, nothing else running; compiled is the default (edgekit/stages/compress/nncf_env.py)",
        ],
    )


if __name__ == "__main__":
    main()
