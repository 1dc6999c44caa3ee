"""Run the device runner on a device: copy the runner (and its sibling modules), the artifact and its eval data
to a private folder, run, fetch the JSON result, and stop and remove everything whatever happens (error,
timeout, Ctrl-C)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..contracts import Deploy, RunnerResult, load_deploy
from ..device.integrity import bad_files
from ..errors import EdgekitError
from ..schema import parse
from .transports import Transport

DEVICE_DIR = Path(__file__).resolve().parent.parent / "device"
# What the device needs of edgekit: the runner and its numpy-only siblings, nothing else.
DEVICE_FILES = ("runner.py", "runtimes.py", "preprocess.py", "quality.py", "integrity.py", "marker.py")
RUNNER = DEVICE_DIR / "runner.py"


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


def check_artifact_folder(folder: Path) -> Deploy:
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgekitError(f"artifact folder not found: {folder}", "pass a folder written by `edgekit export`")
    if not (folder / "deploy.json").is_file():
        raise EdgekitError(f"{folder} holds no exported artifact (no deploy.json)", "pass a folder written by `edgekit export`")
    deploy = load_deploy(folder / "deploy.json")
    bad = bad_files(folder, deploy.artifact.model_dump())
    if bad:
        raise EdgekitError(
            f"{folder}: {', '.join(bad)} missing or not matching the sha256 in deploy.json (changed or corrupt)",
            "re-export with `edgekit export`",
        )
    if not (folder / deploy.eval.file).is_file():
        raise EdgekitError(
            f"{folder} has no {deploy.eval.file} (the test split the device checks accuracy on)", "re-export with `edgekit export`"
        )
    return deploy


def device_files(folder: Path, deploy: Deploy) -> list[Path]:
    folder = Path(folder)
    return (
        [DEVICE_DIR / f for f in DEVICE_FILES]
        + [folder / "deploy.json", folder / deploy.eval.file]
        + [folder / n for n in deploy.artifact.files]
    )


def run_on_device(
    transport: Transport, folder: Path, deploy: Deploy, m: Measurement, *, extra_args: list[str] = (), extra_files: list[Path] = ()
) -> dict:
    """The runner's JSON result (status ok); raises RunFailed for a per-artifact failure."""
    remote = transport.mkdtemp()
    try:
        transport.put([*device_files(folder, deploy), *extra_files], remote)
        argv = [
            *transport.python_argv,
            f"{remote}/runner.py",
            remote,
            "--min-queries",
            str(m.min_queries),
            "--min-seconds",
            str(m.min_seconds),
            "--warmup",
            str(m.warmup),
            *extra_args,
        ]
        if m.threads:
            argv += ["--threads", str(m.threads)]
        if m.count_instructions:
            argv += ["--count-instructions", str(m.count_instructions)]
        try:
            done = transport.run(argv, timeout=m.timeout, cwd=remote)
        except TimeoutError:
            raise RunFailed(
                f"the benchmark on {transport.name} did not finish within {m.timeout:g} s",
                "raise --timeout, or lower --min-seconds / --min-queries",
            ) from None
        except BaseException:  # Ctrl-C: the runner must not live on on the device
            transport.stop(remote)
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
    if not result or result.get("status") != "ok":
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        detail = result.get("detail") if result else tail
        raise RunFailed(f"the runner failed on {transport.name}: {detail}", "run with --debug, or check the runtime there")
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
