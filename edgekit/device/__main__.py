"""The device runner's entry: `python -m edgekit_device DATA [options]`, run with code/ as the working directory.

code/ holds this package only, and `-m` puts the working directory first on the import path, so an import can come
from edgekit's files and the device's installed packages only: nothing received (data/, inputs/) is importable.
"""

import argparse
import sys

from .record import EXIT_ERROR, emit, first_line, missing


def parse(argv):
    ap = argparse.ArgumentParser(prog="python -m edgekit_device")
    ap.add_argument("folder", help="deploy.json, the eval file and the artifact's files")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--min-queries", type=int, default=1024)
    ap.add_argument("--min-seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--inputs", default=None, help="predict: the folder holding inputs.json and the files it lists")
    ap.add_argument("--count-instructions", type=int, default=0, help="under edgekit's qemu counter: N inferences between markers")
    return ap.parse_args(argv)


def run(argv):
    args = parse(argv)
    try:
        import numpy  # noqa: F401  (the runner cannot even read the eval data without it)
    except ImportError as e:
        missing("numpy", str(e))
    from .runner import main

    try:
        main(args)
    except SystemExit:
        raise
    except Exception as e:  # a result record, never a bare traceback on the device
        emit({"status": "error", "detail": first_line(e)}, EXIT_ERROR)


if __name__ == "__main__":
    run(sys.argv[1:])
