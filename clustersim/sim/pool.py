"""The local worker pool of the Monte Carlo: tasks in worker processes, progress per replica, clean Ctrl-C.

* Progress: each worker puts one tick per finished replica (or per block of the vectorized engine, as
  its replicas end) on a queue that the parent drains while it waits, so the bar moves per replica,
  not per task.
* Ctrl-C: the workers ignore SIGINT (a Ctrl-C goes to the whole process group), so only the parent sees
  it: it stops waiting at once, terminates the workers (SIGTERM, then SIGKILL after a second) with
  SIGINT ignored meanwhile (a second Ctrl-C cannot interrupt the clean-up and leave workers behind),
  and raises KeyboardInterrupt within a fraction of a second. On Linux each worker also asks the kernel
  to kill it should the parent die (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import queue
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

__all__ = ["run_tasks", "tick"]

#: Seconds between two looks at the progress queue while the parent waits.
POLL_S = 0.1

_TICKS: Any = None  # the worker's end of the progress queue


def _init_worker(ticks: Any) -> None:
    global _TICKS
    _TICKS = ticks
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: die with the parent


def tick(n: int = 1) -> None:
    """In a worker: ``n`` more replicas are done (no-op outside the pool)."""
    if _TICKS is not None and n:
        _TICKS.put(n)


def _drain(ticks: Any) -> int:
    n = 0
    while True:
        try:
            n += ticks.get_nowait()
        except queue.Empty:
            return n


def _terminate(pool: ProcessPoolExecutor) -> None:
    """End the workers now, whatever they are doing."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            with contextlib.suppress(Exception):
                p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(1.0)
                if p.is_alive():
                    p.kill()
                    p.join(1.0)
        pool.shutdown(wait=False, cancel_futures=True)
    finally:
        signal.signal(signal.SIGINT, old)


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], workers: int,
              advance: Callable[[int], None]) -> list[Any]:
    """``fn(*task)`` for every task on ``workers`` processes; results in task order. ``advance(n)`` is
    called as workers report ``n`` more replicas done (see :func:`tick`)."""
    ctx = multiprocessing.get_context()
    ticks = ctx.Queue()
    results: list[Any] = [None] * len(tasks)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx, initializer=_init_worker,
                               initargs=(ticks,))
    try:
        futures: dict[Future[Any], int] = {pool.submit(fn, *task): k for k, task in enumerate(tasks)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            advance(_drain(ticks))
            for fut in done:
                results[futures[fut]] = fut.result()
    except BaseException:
        _terminate(pool)
        raise
    pool.shutdown(wait=True)  # the workers have exited, so their queue feeders have flushed every tick
    advance(_drain(ticks))
    ticks.close()
    return results
