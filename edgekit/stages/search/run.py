"""`edgekit search`: one worker's loop. Start as many workers as you like on one storage; each asks the study for
the next trial until --trials have finished or are running, so re-running a finished command only rewrites the
report, and an interrupted one resumes. Trials of one worker run one after another; parallelism is workers × boards.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ...errors import EdgekitError
from . import study as st
from .cores import sharing_cores
from .leases import Boards, NoBoards
from .space import load_space
from .trial import Job, build, measure, objectives, record, sample


def _transport_for(job: Job):
    from ..bench.transports import parse_device

    return lambda url: parse_device(url, python=job.python, ssh_config=job.ssh_config)


def run_search(
    model: str,
    dataset: str | None,
    target: str,
    out: Path,
    *,
    space: Path | None = None,
    trials: int = 20,
    devices: list[str] | None = None,
    storage: str | None = None,
    seed: int = 0,
    heartbeat_s: float = 10.0,
    trust_code: bool = False,
    on_trial: Callable | None = None,
    say: Callable[[str], None] = lambda m: None,
    **measurement,
) -> dict:
    """Runs this worker's share of the study and returns the summary (front, answer, report paths)."""
    from ...recipes import find_recipe
    from ...targets import find_target
    from ...tasks import get_task

    if trials < 1:
        raise EdgekitError(f"--trials {trials} must be at least 1", "pass e.g. --trials 20")
    url = st.check_storage(storage)
    tgt = find_target(target)
    recipe = find_recipe(model)
    task = get_task(recipe.task)
    sp = load_space(space, tgt, list(recipe.input_shape))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"{out} is a file, not a folder", "choose another --out")
    job = Job(model, dataset, tgt.name, out, sp, seed=seed, trust_code=trust_code, say=say, **measurement)
    urls = list(dict.fromkeys(devices or ["local"]))
    boards = Boards(urls, out, storage=url, transport_for=_transport_for(job), say=say)
    boards.check_all()  # an unreachable --device is the user's to fix: one line, before any training
    storage_obj = st.open_storage(url, out, heartbeat_s=heartbeat_s)
    name = f"{recipe.name}-{dataset or recipe.dataset}-{tgt.name}-{sp.digest()}".replace(":", "_").replace("/", "_")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is said once, by this module
    study = st.open_study(storage_obj, name, higher_is_better=task.higher_is_better, trials=trials, seed=seed)
    st.enqueue_anchors(study, sp, tgt.profile.runtime.preferred_format)
    study.set_user_attr(
        "edgekit", {"model": recipe.name, "dataset": dataset or recipe.dataset, "target": tgt.name, "space": sp.model_dump(mode="json")}
    )

    def objective(trial):
        with st.running(out, trial.number) if url is None else _nothing():
            try:
                return _one_trial(trial, job, boards, list(recipe.input_shape), task.quality)
            except NoBoards as e:  # not this trial's fault: stop the search (optimize re-raises what it does not catch)
                trial.set_user_attr("error", e.message)
                raise _Stop(e) from None
            except EdgekitError as e:  # this configuration failed (e.g. a format that cannot build it): recorded, the study goes on
                trial.set_user_attr("error", e.message)
                say(f"trial {trial.number} failed: {e.message}")
                raise

    mine = 0
    with sharing_cores(out) as rebalance:
        while True:
            if url is None:
                st.reap_dead_trials(study, out, say)
            if st.counted(study) >= trials:
                break
            rebalance()
            # one trial at a time, through optimize() rather than ask/tell: with an RDB storage it runs the heartbeat
            # and fails a dead worker's trials first; a re-queued (WAITING) trial is taken before a new one is sampled
            try:
                study.optimize(objective, n_trials=1, catch=(EdgekitError,), callbacks=[_report_to(on_trial)] if on_trial else None)
            except _Stop as stop:
                raise stop.error from None
            mine += 1
    return {**_summarise(study, job, task), "study": name, "ran_here": mine}


class _Stop(Exception):
    def __init__(self, error: EdgekitError):
        super().__init__(error.message)
        self.error = error


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _report_to(on_trial):
    def callback(study, frozen):
        on_trial(frozen)

    return callback


def _one_trial(trial, job: Job, boards: Boards, input_shape: list[int], quality_key: str):
    from ...contracts import load_deploy
    from ..bench.transports import DeviceUnreachable

    params = sample(trial, job.space)
    folder = job.out / "trials" / f"{trial.number:04d}"
    trial.set_user_attr("folder", str(folder))
    artifact = Path(build(job, params, folder, input_shape))
    deploy = load_deploy(artifact / "deploy.json")
    while True:  # a board that fails is marked, and the same artifact goes to the next healthy one
        with boards.lease() as device:
            try:
                held = [time.time()]
                rep = measure(job, artifact, device, folder)
                held.append(time.time())  # recorded: the report (and the tests) can show no board served two at once
                break
            except DeviceUnreachable as e:
                boards.mark(device, e.message)
    obj = objectives(rep.entries[0], deploy, device, quality_key)
    data = {"number": trial.number, "params": params, "device": device, "lease": held, "artifact": str(artifact), **obj}
    data["lineage"] = deploy.source.get("lineage")
    record(folder, data)
    for key in ("device", "artifact", "latency_source", "memory_source", "constraints", "checks"):
        trial.set_user_attr(key, data[key])
    for name, value in obj["constraints"].items():  # the target's budgets: what the sampler steers away from
        trial.set_constraint(name, value)
    return obj["values"]


def _summarise(study, job, task) -> dict:
    from .front import answer, best, pareto, rows
    from .report import export_front, write_report

    items = rows(study)
    front = pareto(items, task.higher_is_better)
    b = best(items, task.higher_is_better)
    front_dir = job.out / "front"
    exported = export_front(front + ([b] if b and b not in front else []), front_dir)
    line = answer(b, task.quality, job.target, front_dir)
    paths = write_report(job.out / "report", items, front, line, task.quality)
    return {
        "quality": task.quality,
        "trials": items,
        "front": front,
        "best": b,
        "answer": line,
        "front_dir": str(front_dir),
        "exported": exported,
        **paths,
    }
