"""The Optuna study: its storage, sampler, objectives and constraints, created or resumed by name.

Storage. The default is a journal file in the output folder: an append-only log that several processes on one
machine share through file locks (SQLite is not safe for that, optuna#4002). `--storage` takes an RDB URL,
PostgreSQL only: workers on several machines share one study there, and the board leases use its advisory locks
(leases.py). SQLite is refused (the journal does its job, safely); MySQL would need its own lease lock (GET_LOCK),
which nothing here tests, so it is refused rather than half-supported.

Sampler: multi-objective TPE, not NSGA-II. NSGA-II's first generation is `population_size` (default 50) random
trials, so within the 10-30 trials a board search affords it is random search; TPE models the good trials after
`n_startup_trials` (here a third of the budget, at least 4) and handles the conditional `quant` choice natively.
Both steer by the budgets given as each trial's constraints. Measured (`benchmarks/search.py sampler`: digits-cnn,
rpi4's default space, 20 trials, seeds 0 and 1, TPE vs NSGA-II at population 50 and 8): every sampler reached the
same best accuracy, and which found the smallest artifact at it changed with the seed — no winner at this budget,
so the argument above decides.

Dead workers. With an RDB storage, Optuna's heartbeat fails a trial whose worker stopped beating and
RetryFailedTrialCallback re-queues it. The journal storage has no heartbeat, so each running trial holds an flock on
<out>/.running/<number>.lock: the kernel drops it when its process dies (kill -9 included), and the next worker to
look fails that trial and re-queues its parameters (`reap_dead_trials`).
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from ...errors import EdgekitError

OBJECTIVES = ("quality", "latency", "memory", "size")  # quality's direction is the task's; the rest are minimised
MAX_RETRY = 2
RDB_SCHEMES = ("postgresql", "postgresql+psycopg2", "postgres")


def check_storage(url: str | None) -> str | None:
    """Refuse a URL that is not PostgreSQL before anything connects; returns the normalised URL."""
    if url is None:
        return None
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in RDB_SCHEMES:
        raise EdgekitError(
            f"--storage '{url}' is not a PostgreSQL URL",
            "use postgresql://USER@HOST/DB (several machines), or leave --storage out for the journal file in --out",
        )
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise EdgekitError("--storage postgresql:// needs psycopg2", "pip install 'edgekit[postgres]'") from None
    # SQLAlchemy's plain postgresql:// means psycopg 3 now; edgekit's extra installs psycopg2
    return "postgresql+psycopg2://" + url.partition("://")[2]


def open_storage(url: str | None, out: Path, *, heartbeat_s: float):
    import optuna

    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        out.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(out / "study.journal")))
    import warnings

    from optuna import storages

    # optuna 4.9 renamed the retry callback and its argument; 4.0-4.8 know only the old names
    new = hasattr(storages, "RetryHeartbeatStaleTrialCallback")
    for attempt in range(4):  # two workers creating the schema of a fresh database race: the loser retries
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable since 2.8
                retry = (storages.RetryHeartbeatStaleTrialCallback if new else storages.RetryFailedTrialCallback)(max_retry=MAX_RETRY)
                return storages.RDBStorage(
                    url,
                    heartbeat_interval=max(1, int(heartbeat_s)),
                    grace_period=max(2, int(heartbeat_s * 3)),
                    engine_kwargs={"pool_pre_ping": True},
                    **({"heartbeat_stale_trial_callback": retry} if new else {"failed_trial_callback": retry}),
                )
        except Exception as e:  # connection, auth, driver — or that race
            text = str(e)
            if attempt < 3 and ("duplicate key" in text or "already exists" in text):
                time.sleep(0.5 + attempt)
                continue
            first = text.strip().splitlines()[0][:160] if text.strip() else type(e).__name__
            raise EdgekitError(
                f"cannot open --storage {_redact(url)}: {first}", "check the URL, that the server runs and accepts you"
            ) from None


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    return f"{scheme}://{creds.split(':')[0]}@{host}" if at else url


def make_sampler(trials: int, seed: int):
    """The budgets reach the sampler as each trial's constraints (trial.set_constraint, ≤ 0 feasible)."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate: stable in practice since 2.2
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(4, trials // 3), multivariate=True)


def open_study(storage, name: str, *, higher_is_better: bool, trials: int, seed: int):
    import optuna

    directions = ["maximize" if higher_is_better else "minimize", "minimize", "minimize", "minimize"]
    study = optuna.create_study(
        storage=storage, study_name=name, directions=directions, sampler=make_sampler(trials, seed), load_if_exists=True
    )
    if [d.name.lower() for d in study.directions] != directions:
        raise EdgekitError(f"study '{name}' in this storage has other objectives", "use another --out or --storage")
    return study


def counted(study) -> int:
    """Trials that count toward --trials: every one, except a failed one that was re-queued (its retry counts):
    a trial whose worker died is retried, a configuration that failed on its own is an outcome."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials} | {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return sum(1 for t in trials if t.number not in retried)


@contextmanager
def running(out: Path, number: int):
    """Held while this process runs trial `number` (journal storage): the proof it is alive."""
    folder = out / ".running"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{number}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def reap_dead_trials(study, out: Path, say) -> int:
    """Fail (and re-queue) each RUNNING trial whose process no longer holds its lock. Returns how many."""
    from optuna.trial import TrialState

    reaped = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        path = out / ".running" / f"{t.number}.lock"
        if not path.exists():
            continue  # its worker has not taken the lock yet (asked a moment ago)
        fd = os.open(path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # alive
            # held now: no other reaper can act on it until this one has failed it and re-queued its parameters
            fresh = study._storage.get_trial(t._trial_id)
            if fresh.state != TrialState.RUNNING:
                continue
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            tries = int(t.user_attrs.get("retry", 0))
            if tries < MAX_RETRY:
                study.enqueue_trial(t.params, user_attrs={"retry_of": t.number, "retry": tries + 1})
            say(f"trial {t.number}: its worker died; {'re-queued' if tries < MAX_RETRY else 'given up after retries'}")
            reaped += 1
        finally:
            os.close(fd)
    return reaped


def anchors(space, preferred_format: str | None) -> list[dict]:
    """What edgekit's defaults would ship, tried first so the front is never worse than them: the model as designed
    (widest, largest input, unpruned) in the target's preferred format at int8 after post-training quantization,
    and the same cut to the space's largest pruning ratio with QAT (the README main job's recipe). Each only when
    the space holds its values."""
    fmt = preferred_format if preferred_format in space.format else space.format[0]
    base = {"width": max(space.width), "precision": "int8" if "int8" in space.precision else space.precision[0], "format": fmt}
    if space.input_size:
        base["input_size"] = max(space.input_size)
    out = []
    for prune, quant in ((min(space.prune), "ptq"), (max(space.prune), "qat")):
        p = {**base, "prune": prune}
        if p["precision"] == "int8":
            if quant not in space.quant:
                continue
            p["quant"] = quant
        if p not in out:
            out.append(p)
    return out


def enqueue_anchors(study, space, preferred_format: str | None) -> None:
    """On a new study only (a resumed one keeps its history); skip_if_exists: a second worker starting at the same
    moment finds them queued."""
    if study.get_trials(deepcopy=False):
        return
    for params in anchors(space, preferred_format):
        study.enqueue_trial(params, user_attrs={"anchor": True}, skip_if_exists=True)
