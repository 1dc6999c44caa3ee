"""bench: measure artifact folders on one device and write the report. A failing artifact becomes a failed
row (the others still run); an unreachable device stops at once."""

from __future__ import annotations

from pathlib import Path

from ...contracts import BenchReport, ReportEntry
from ...errors import BudgetFailed, EdgekitError
from ...report import finish_entries, report_paths, write_report
from ...targets import find_target
from ...tasks import get_task
from ...util.manifest import now
from .budgets import check_budgets
from .harness import Measurement, RunFailed, check_artifact_folder, run_on_device, runner_result
from .transports import LocalTransport, parse_device


def _caveat(transport, elsewhere: set[str]) -> str | None:
    if transport.caveat:
        return transport.caveat
    if isinstance(transport, LocalTransport) and elsewhere:
        return (
            f"Measured on this machine, not on {', '.join(sorted(elsewhere))}: accuracy and agreement carry over, "
            f"latency and memory do not (shown as 'not the target'). Use --device ssh://... to measure on the board."
        )
    return None


def _entry(folder, deploy, **kw) -> ReportEntry:
    return ReportEntry(
        folder=str(folder),
        model=deploy.source.get("model", "?"),
        target=deploy.target.name,
        format=deploy.artifact.format,
        precision=deploy.artifact.precision,
        runtime=deploy.runtime.name,
        bytes=deploy.artifact.bytes,
        task=deploy.task,
        quality=get_task(deploy.task).quality,
        export_parity=deploy.parity,
        **kw,
    )


def bench(
    folders: list[Path],
    *,
    device: str = "local",
    measurement: Measurement = Measurement(),
    report: Path | None = None,
    python: str | None = None,
    ssh_config: str | None = None,
    target: str | None = None,
    on_result=None,
    extra_args: list[str] = (),
) -> tuple[BenchReport, dict]:
    """Returns (report, written paths). After writing the report it raises: EdgekitError (exit 2) when an artifact
    could not be measured, BudgetFailed (exit 1) when a budget check failed."""
    if not folders:
        raise EdgekitError("no artifact folder given", "pass folders written by `edgekit export`")
    deploys = [check_artifact_folder(f) for f in folders]  # all inputs checked before touching the device
    paths = report_paths(_html_path(report, folders[0]))  # and where the report goes: nothing of the user's replaced
    if measurement.count_instructions and measurement.threads != 1:
        from dataclasses import replace

        measurement = replace(measurement, threads=1)  # counts are deterministic at one thread only
    transport = parse_device(device, python=python, ssh_config=ssh_config, count_instructions=bool(measurement.count_instructions))
    override = find_target(target) if target else None
    entries, any_on_target, elsewhere = [], False, set()
    for folder, deploy in zip(folders, deploys):
        tgt = override or _target_of(deploy)
        on_target = transport.is_target(tgt)
        any_on_target |= on_target
        if not on_target:
            elsewhere.add(tgt.name)
        try:
            result = runner_result(run_on_device(transport, Path(folder), deploy, measurement, extra_args=list(extra_args)), transport)
            try:
                result = get_task(deploy.task).finish(result, Path(folder), deploy)  # e.g. COCO mAP from the device's boxes
            except ValueError as e:
                raise RunFailed(f"the device's result does not fit task '{deploy.task}': {e}", "re-run the benchmark") from None
            entry = _entry(
                folder, deploy, status="ok", result=result, checks=check_budgets(result, deploy, tgt.profile, on_target=on_target)
            )
        except RunFailed as e:
            entry = _entry(folder, deploy, status="failed", error=e.message)
        entries.append(entry)
        if on_result:
            on_result(entry)
    finish_entries(entries)
    env = next((e.result.env for e in entries if e.result), {})
    rep = BenchReport(
        created=now(),
        device={"name": transport.name, "env": env},
        measured_on_target=any_on_target,
        caveat=_caveat(transport, elsewhere),
        entries=entries,
    )
    paths = write_report(rep, paths["html"])
    if rep.failed_runs:
        first = rep.failed_runs[0]
        error = EdgekitError(
            f"{len(rep.failed_runs)} of {len(entries)} artifact(s) could not be measured on {transport.name}: "
            f"{first.folder}: {first.error}; report: {paths['html']}"
        )
        error.report = rep
        raise error
    if not rep.passed:
        failed = [f"{e.folder}: {c.check}" for e in rep.entries for c in e.checks if c.failed]
        unproven = sorted({e.folder for e in rep.entries for c in e.checks if c.status == "not proven"})
        if not failed:  # only --no-parity artifacts: measured, but their quality budgets cannot pass (exit 1 all the same)
            error = BudgetFailed(
                f"parity not proven for {', '.join(unproven)} (exported with --no-parity): latency and size only; report: {paths['html']}",
                "re-export without --no-parity to check its quality",
            )
            error.report = rep
            raise error
        error = BudgetFailed(
            f"budget check failed ({'; '.join(failed)}); report: {paths['html']}",
            "see the report's budget table; adjust the model or the target's budgets",
        )
        error.report = rep
        raise error
    return rep, paths


def _html_path(report: Path | None, first: Path) -> Path:
    """--report as given (a folder gets report.html), else reports/<the first artifact folder's own name>/: the
    resolved name, so `bench ..` or `bench .` never writes into the working folder."""
    if report:
        html_path = Path(report)
        return html_path if html_path.suffix == ".html" else html_path / "report.html"
    return Path("reports") / (Path(first).resolve().name or "artifact") / "report.html"


def _target_of(deploy):
    from ...targets import Target

    return Target(deploy.target, None)
