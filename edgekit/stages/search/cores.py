"""Several search workers on one machine share its cores instead of each taking all of them.

torch (and the onnxruntime parity sessions that follow torch's thread count) start one compute thread per core,
and those threads spin while they wait: two workers with a full pool each on 2 cores ran 20 TFLite trials in
61.8 s against 64.9 s for one worker, each trial three times slower beside the other; sharing the cores as below,
39.4 and 41.7 s against 68.4 and 64.5 s (benchmarks/search.py workers, results/search.md).

Each worker holds an flock on <out>/.workers/<pid>.lock for its life (the kernel drops it when the process dies,
kill -9 included), and before each trial sets its torch threads to the machine's cores divided by the workers
alive there now, so a second worker started later is felt at the first one's next trial. A user's own
OMP_NUM_THREADS wins: nothing is changed then.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # a container's or taskset's share, not the host's count
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def live_workers(folder: Path) -> int:
    """Workers whose lock file in `folder` is still held (this one included, as it holds its own)."""
    alive = 0
    for path in folder.glob("*.lock"):
        if path.name == f"{os.getpid()}.lock":
            alive += 1
            continue
        try:  # a search folder may come from elsewhere: a link there is not followed (skipped, never opened)
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            alive += 1
        else:  # a dead worker's file: remove it, so the folder does not grow with every crash
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return max(alive, 1)


@contextmanager
def sharing_cores(out: Path):
    """Held while this worker runs; yields `rebalance()`, to call before each trial (it returns the threads set)."""
    import torch

    folder = out / ".workers"
    folder.mkdir(parents=True, exist_ok=True)
    mine = folder / f"{os.getpid()}.lock"
    fd = os.open(mine, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    fixed = "OMP_NUM_THREADS" in os.environ
    before = torch.get_num_threads()

    def rebalance() -> int:
        if fixed:
            return torch.get_num_threads()
        threads = max(1, machine_cores() // live_workers(folder))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads

    try:
        yield rebalance
    finally:
        if not fixed:
            torch.set_num_threads(before)  # an API caller's process goes on with the pool it had
        os.close(fd)
        mine.unlink(missing_ok=True)
