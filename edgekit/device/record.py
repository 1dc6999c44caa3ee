"""The runner's one result line: a JSON record on stdout and the exit code the harness reads (stdlib, Python 3.8)."""

import json
import sys

SCHEMA = "edgekit.runner/2"
EXIT_MISSING_RUNTIME = 3
EXIT_BAD_ARTIFACT = 4
EXIT_ERROR = 5
EXIT_BAD_INPUT = 6


def emit(result, code=0):
    result.setdefault("schema", SCHEMA)
    print(json.dumps(result))
    sys.stdout.flush()
    sys.exit(code)


def missing(package, detail):
    emit({"status": "missing_runtime", "package": package, "python": sys.executable, "detail": detail}, EXIT_MISSING_RUNTIME)


def bad_input(detail, what="artifact"):
    """A received file is wrong (what: "artifact" = deploy.json, the eval file or a model file; "input" = a predict
    input). `detail` starts with the file's name: the host names it and the fix, not the runtime."""
    emit({"status": "bad_input", "what": what, "detail": detail}, EXIT_BAD_INPUT)


def first_line(e):
    text = str(e).splitlines()[0][:300] if str(e) else ""
    return "%s: %s" % (type(e).__name__, text) if text else type(e).__name__
