"""Run the device runner on a device: copy runner + artifact + eval data to a private folder, run, fetch the
JSON result, and remove the folder whatever happens (error, timeout, Ctrl-C)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgekitError
from ..export.deploy import sha256
from ..fsutil import read_json
from .transports import Transport

RUNNER = Path(__file__).with_name("runner.py")


@dataclass(frozen=True)
class Measurement:
    min_queries: int = 1024
    min_seconds: float = 10.0
    warmup: int = 50
    threads: int | None = None
    timeout: float = 600.0


def check_artifact_folder(folder: Path) -> dict:
    folder = Path(folder)
    if not (folder / "deploy.json").is_file():
        raise EdgekitError(f"{folder} holds no exported artifact (no deploy.json)", "pass a folder written by `edgekit export`")
    try:
        deploy = read_json(folder / "deploy.json")
        artifact = folder / deploy["artifact"]["file"]
    except (ValueError, KeyError, TypeError):
        raise EdgekitError(f"{folder}/deploy.json is not an edgekit deploy manifest", "re-export with `edgekit export`") from None
    if not artifact.is_file():
        raise EdgekitError(f"{folder} has deploy.json but no {artifact.name}", "re-export with `edgekit export`")
    if sha256(artifact) != deploy["artifact"]["sha256"]:
        raise EdgekitError(f"{artifact} does not match the sha256 in deploy.json (changed or corrupt)", "re-export with `edgekit export`")
    if not (folder / "eval.npz").is_file():
        raise EdgekitError(f"{folder} has no eval.npz (the test split the device checks accuracy on)", "re-export with `edgekit export`")
    return deploy


def run_on_device(transport: Transport, folder: Path, deploy: dict, m: Measurement) -> dict:
    folder = Path(folder)
    files = [RUNNER, folder / "deploy.json", folder / deploy["artifact"]["file"], folder / "eval.npz"]
    remote = transport.mkdtemp()
    try:
        transport.put(files, remote)
        argv = [*transport.python_argv, f"{remote}/runner.py", remote, "--min-queries", str(m.min_queries),
                "--min-seconds", str(m.min_seconds), "--warmup", str(m.warmup)]
        if m.threads:
            argv += ["--threads", str(m.threads)]
        try:
            done = transport.run(argv, timeout=m.timeout)
        except TimeoutError:
            raise EdgekitError(f"the benchmark on {transport.name} did not finish within {m.timeout:g} s",
                               "raise --timeout, or lower --min-seconds / --min-queries") from None
    finally:
        transport.remove(remote)
    result = _parse(done.stdout)
    if result and result.get("status") == "missing_runtime":
        raise EdgekitError(f"{transport.name} lacks the Python package {result['package']} ({result['python']})",
                           transport.install_hint(result["package"]))
    if done.returncode == 124:
        raise EdgekitError(f"the benchmark on {transport.name} did not finish within {m.timeout:g} s",
                           "raise --timeout, or lower --min-seconds / --min-queries")
    if not result or result.get("status") != "ok":
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        detail = result.get("detail") if result else tail
        raise EdgekitError(f"the runner failed on {transport.name}: {detail}", "run with --debug, or check the runtime there")
    return result


def _parse(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None
