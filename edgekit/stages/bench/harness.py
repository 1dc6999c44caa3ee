"""Run the device runner on a device: lay out a private folder there — code/edgekit_device/ with the device package
(edgekit/device/, one unit), data/ with the artifact's files, deploy.json and its eval data, inputs/ with predict's
files under generated names — run `python -m edgekit_device <folder>/data` in code/, fetch the JSON result, and stop
and remove everything whatever happens (error, timeout, Ctrl-C). `-m` puts the working directory (code/, which holds
the package only) first on the import path, so no received file is ever importable: they are data, whatever their
names."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ...contracts import DEPLOY_FIX, Deploy, RunnerResult
from ...errors import EdgekitError
from ...schema import parse
from .received import check_artifact_folder
from .transports import Layout, Transport

DEVICE_DIR = Path(__file__).resolve().parents[2] / "device"  # edgekit/device
# What the device needs of edgekit: the device package — every .py file of edgekit/device/ (a new module ships without
# a list to update), nothing else. Paths relative to it, shipped as the same tree under code/edgekit_device/.
DEVICE_FILES = tuple(sorted(p.relative_to(DEVICE_DIR).as_posix() for p in DEVICE_DIR.rglob("*.py") if "__pycache__" not in p.parts))
PACKAGE = "edgekit_device"  # the device package's name on the device (edgekit.device on the host)
INPUTS_LIST = "inputs.json"  # in inputs/: [{"file": generated name, "name": the user's name}, ...]

__all__ = ["Measurement", "RunFailed", "check_artifact_folder", "device_layout", "run_on_device", "runner_result"]


@dataclass(frozen=True)
class Measurement:
    min_queries: int = 1024
    min_seconds: float = 10.0
    warmup: int = 50
    threads: int | None = None
    timeout: float = 600.0
    count_instructions: int = 0  # emulated boards: inferences to count guest instructions over (0: off)

    def __post_init__(self):
        ok = (
            self.min_queries >= 1
            and math.isfinite(self.min_seconds)
            and self.min_seconds >= 0
            and self.warmup >= 0
            and (self.threads is None or self.threads >= 1)
            and math.isfinite(self.timeout)
            and self.timeout > 0
        )
        if not ok:
            raise EdgekitError(
                f"bad measurement settings (threads={self.threads}, min-queries={self.min_queries}, "
                f"min-seconds={self.min_seconds}, warmup={self.warmup}, timeout={self.timeout})",
                "use threads ≥ 1, min-queries ≥ 1, min-seconds ≥ 0, warmup ≥ 0 and a positive timeout",
            )


class RunFailed(EdgekitError):
    """One artifact could not be measured (missing runtime, bad artifact, timeout): a failed row, not the end."""


def device_layout(folder: Path, deploy: Deploy, inputs: list[Path] = ()) -> Layout:
    """The private folder's tree: code/edgekit_device/ (the device package), data/ (the artifact's, by the names deploy.json gives,
    which its schema keeps plain and not code), inputs/ (predict's files as input-0000.png ..., keeping the suffix,
    so a user's name is never an option, a clash or a path on the device)."""
    folder = Path(folder)
    layout: Layout = {f"code/{PACKAGE}/{rel}": DEVICE_DIR / rel for rel in DEVICE_FILES}
    for name in ("deploy.json", deploy.eval.file, *deploy.artifact.files):
        layout[f"data/{name}"] = folder / name
    if inputs:
        listed = []
        for i, f in enumerate(inputs):
            suffix = "".join(c for c in Path(f).suffix.lower() if c.isalnum() or c == ".")[:12]
            listed.append({"file": f"input-{i:04d}{suffix}", "name": str(f)})
            layout[f"inputs/{listed[-1]['file']}"] = Path(f)
        layout[f"inputs/{INPUTS_LIST}"] = json.dumps(listed).encode()
    return layout


def run_on_device(
    transport: Transport, folder: Path, deploy: Deploy, m: Measurement, *, extra_args: list[str] = (), inputs: list[Path] = ()
) -> dict:
    """The runner's JSON result (status ok); raises RunFailed for a per-artifact failure. `inputs`: predict's files."""
    remote = transport.mkdtemp()
    try:
        transport.put(device_layout(folder, deploy, inputs), remote)
        workdir = f"{remote}/code"  # the runner's working directory: `-m` puts it, and nothing else here, on the import path
        argv = [
            *transport.python_argv,
            "-m",
            PACKAGE,
            f"{remote}/data",
            "--min-queries",
            str(m.min_queries),
            "--min-seconds",
            str(m.min_seconds),
            "--warmup",
            str(m.warmup),
            *extra_args,
            *(["--inputs", f"{remote}/inputs"] if inputs else []),
        ]
        if m.threads:
            argv += ["--threads", str(m.threads)]
        if m.count_instructions:
            argv += ["--count-instructions", str(m.count_instructions)]
        try:
            done = transport.run(argv, timeout=m.timeout, cwd=workdir)
        except TimeoutError:
            raise RunFailed(
                f"the benchmark on {transport.name} did not finish within {m.timeout:g} s",
                "raise --timeout, or lower --min-seconds / --min-queries",
            ) from None
        except BaseException:  # Ctrl-C: the runner must not live on on the device
            transport.stop(workdir)  # where run() started it (an SSH run records its process group there)
            raise
    finally:
        transport.remove(remote)
    result = _parse(done.stdout)
    if result and result.get("status") == "missing_runtime":
        raise RunFailed(
            f"{transport.name} lacks the Python package {result['package']} ({result.get('python')})",
            transport.install_hint(result["package"]),
        )
    if done.returncode == 124:
        raise RunFailed(
            f"the benchmark on {transport.name} did not finish within {m.timeout:g} s",
            "raise --timeout, or lower --min-seconds / --min-queries",
        )
    if result and result.get("status") == "bad_input":
        if result.get("what") == "input":
            fix = result.get("fix") or "pass a file this artifact takes (see its deploy.json's preprocess)"
            raise RunFailed(f"{result.get('detail')}", str(fix))
        raise RunFailed(f"{folder}: {result.get('detail')}", DEPLOY_FIX)
    if not result:  # the Python there never got to print a result: say how it ended, and its last words
        tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
        if done.returncode < 0:
            raise RunFailed(
                f"the runner on {transport.name} was killed by signal {-done.returncode} before giving a result"
                + (f": {tail}" if tail else ""),
                "the runtime crashed on this artifact: check the runtime's version there, or run with --debug",
            )
        raise RunFailed(
            f"the Python on {transport.name} ({transport.python}) exited with code {done.returncode} without a result"
            + (f": {tail}" if tail else " and said nothing"),
            "check --python: it must run Python 3.8+ with numpy",
        )
    if result.get("status") != "ok":
        raise RunFailed(f"the runner failed on {transport.name}: {result.get('detail')}", "run with --debug, or check the runtime there")
    return transport.annotate(result)


def runner_result(result: dict, transport: Transport) -> RunnerResult:
    return parse(RunnerResult, result, f"the runner's result from {transport.name}", "check that the device runs this edgekit's runner")


def _parse(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None
