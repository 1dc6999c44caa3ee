"""bench: measure artifact folders on one device and write the report."""

from __future__ import annotations

from pathlib import Path

from ..errors import BudgetFailed
from ..report import build_report, write_report
from ..targets import find_target
from .budgets import check_budgets
from .harness import Measurement, check_artifact_folder, run_on_device
from .transports import LocalTransport, parse_device


def _caveat(transport, deploys) -> str | None:
    if transport.caveat:
        return transport.caveat
    if isinstance(transport, LocalTransport):
        targets = sorted({d["target"]["name"] for d in deploys} - {"x86-64"})
        if targets:
            return (f"Measured on this machine, not on {', '.join(targets)}: accuracy and agreement carry over, "
                    f"latency and memory do not. Use --device ssh://... to measure on the board.")
    return None


def bench(folders: list[Path], *, device: str = "local", measurement: Measurement = Measurement(), report: Path | None = None,
          python: str | None = None, ssh_config: str | None = None, target: str | None = None, on_result=None) -> tuple[dict, dict]:
    """Returns (report, written paths). Raises BudgetFailed (exit 1) after writing when a budget check fails."""
    deploys = [check_artifact_folder(f) for f in folders]  # all inputs checked before touching the device
    transport = parse_device(device, python=python, ssh_config=ssh_config)
    override = find_target(target).to_json() if target else None
    runs = []
    for folder, deploy in zip(folders, deploys):
        result = run_on_device(transport, Path(folder), deploy, measurement)
        checks = check_budgets(result, deploy, override or deploy["target"])
        runs.append((folder, deploy, result, checks))
        if on_result:
            on_result(folder, result, checks)
    rep = build_report(transport.name, runs, caveat=_caveat(transport, deploys))
    html_path = Path(report) if report else Path("reports") / f"{Path(folders[0]).name}" / "report.html"
    if html_path.suffix != ".html":
        html_path = html_path / "report.html"
    paths = write_report(rep, html_path)
    if not rep["passed"]:
        failed = [f"{e['folder']}: {c['check']}" for e in rep["entries"] for c in e["checks"] if not c["passed"]]
        error = BudgetFailed(f"budget check failed ({'; '.join(failed)}); report: {paths['html']}",
                             "see the report's budget table; adjust the model or the target's budgets")
        error.report = rep  # the CLI still shows the comparison table
        raise error
    return rep, paths
