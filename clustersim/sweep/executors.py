"""Where sweep tasks run: in this process, in a pool of local processes, or on a Dask cluster.

Each executor takes a task function and an iterable of ``(task_id, payload)`` and yields one
:class:`Outcome` per task as tasks finish (in completion order; the runner writes each to the store
at once, so the order never reaches the rows). A task function's own exceptions are caught in the
worker (:func:`guarded`) and come back as an error outcome with the traceback; a worker that dies
(killed, out of memory, segfault) is handled by the executor:

* local processes: the tasks that were running when a worker died are run again one at a time
  (so a task that kills its worker is told apart from its innocent neighbours); a task whose worker
  dies ``max_attempts`` times while it runs alone is reported as failed, never silently dropped;
* Dask: the scheduler reschedules the task on another worker and raises ``KilledWorker`` after
  ``distributed.scheduler.allowed-failures`` deaths; such tasks run once more at the end, alone (a
  neighbour queued on the dying worker may have been blamed too), and a task that still kills its
  worker is reported as failed.

No executor keeps more than a few tasks per worker in flight, so an interrupted sweep loses at most
those and the results stream into the store while the sweep runs.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from clustersim.errors import ClustersimError

__all__ = ["Outcome", "Executor", "SerialExecutor", "ProcessExecutor", "DaskExecutor", "make_executor", "guarded",
           "exit_when_orphaned", "start_worker"]

TaskFn = Callable[[Any], Any]

#: Tasks in flight per worker: one running and one queued, so a worker never waits for the main
#: process between tasks, and an interruption loses at most two tasks per worker.
INFLIGHT_PER_WORKER = 2


@dataclass(frozen=True)
class Outcome:
    """One finished task: its value, or why it has none (``error``)."""

    task_id: str
    value: Any = None
    error: str | None = None


#: Where a Dask LocalCluster listens: this machine only.
LOOPBACK = "127.0.0.1"
#: How often a local worker checks that the sweep's main process is still alive.
ORPHAN_POLL_S = 0.5


def exit_when_orphaned(parent_pid: int) -> None:
    """Worker initializer: a daemon thread ends this worker as soon as its parent is gone.

    When the main process is killed (SIGKILL, OOM killer) nothing tells a pool's workers: they would keep
    running, and keep open the pipes they inherited (a caller waiting for the command's output would
    hang), and so would multiprocessing's resource tracker, which exits only when every process holding
    its pipe has. A reparented worker sees its parent's pid change (``os.getppid``, POSIX) and exits.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(ORPHAN_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="clustersim-orphan-watch", daemon=True).start()


def start_worker(parent_pid: int, modules: tuple[str, ...] = ()) -> None:
    """A local worker's start: the orphan watch (:func:`exit_when_orphaned`), then the modules its tasks
    will import, so that a pool started early (:meth:`ProcessExecutor.start`) imports them while the main
    process still prepares the tasks."""
    import importlib

    exit_when_orphaned(parent_pid)
    for name in modules:
        importlib.import_module(name)


def _started() -> None:
    """The task :meth:`ProcessExecutor.start` submits to spawn a worker (it does nothing)."""


def guarded(fn: TaskFn, payload: Any) -> tuple[bool, Any]:
    """Run ``fn(payload)`` in a worker: (True, value), or (False, the exception with its traceback)."""
    try:
        return True, fn(payload)
    except Exception as exc:  # the task's own failure is a result to report, not the worker's death
        tb = traceback.format_exc(limit=8)
        return False, f"{type(exc).__name__}: {exc}\n{tb}"


def _outcome(task_id: str, result: tuple[bool, Any]) -> Outcome:
    ok, value = result
    return Outcome(task_id, value=value) if ok else Outcome(task_id, error=str(value))


def _harvest(futures: Any, inflight: dict[Any, tuple[str, Any]], lost: list[tuple[str, Any]],
             suspects: set[str]) -> Iterator[Any]:
    """Yield the outcome of each finished future; tasks whose worker died go to ``lost``."""
    for fut in futures:
        item = inflight.pop(fut)
        try:
            result = fut.result()
        except BrokenProcessPool:
            lost.append(item)
            continue
        suspects.discard(item[0])
        yield _outcome(item[0], result)


class Executor:
    """Base class: ``run`` yields outcomes as tasks finish; ``close`` releases workers."""

    name = "executor"
    workers = 1

    def run(self, fn: TaskFn, tasks: Iterable[tuple[str, Any]]) -> Iterator[Outcome]:
        raise NotImplementedError

    def start(self) -> None:
        """Start the workers now, before the first task (for executors that have workers to start)."""

    def close(self) -> None:
        """Release the workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Every task in this process, one after the other (``--workers 1``)."""

    name = "serial"

    def run(self, fn: TaskFn, tasks: Iterable[tuple[str, Any]]) -> Iterator[Outcome]:
        for task_id, payload in tasks:
            yield _outcome(task_id, guarded(fn, payload))


class ProcessExecutor(Executor):
    """A pool of local worker processes (spawned: no fork of a process that holds threads or SQLite)."""

    name = "processes"

    def __init__(self, workers: int, *, max_attempts: int = 2, start_method: str = "spawn",
                 warm: tuple[str, ...] = ()):
        if workers < 1:
            raise ClustersimError(f"workers must be at least 1 (got {workers})")
        self.workers = workers
        self.max_attempts = max_attempts
        self.start_method = start_method
        self.warm = warm  # modules each worker imports when it starts
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        self.close()
        self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                         mp_context=multiprocessing.get_context(self.start_method),
                                         initializer=start_worker, initargs=(os.getpid(), self.warm))
        return self._pool

    def start(self) -> None:
        """Spawn every worker now (a spawning pool starts one per submitted task): each imports ``warm``
        while the caller goes on preparing the tasks."""
        pool = self._pool or self._new_pool()
        for _ in range(self.workers):
            pool.submit(_started)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, fn: TaskFn, tasks: Iterable[tuple[str, Any]]) -> Iterator[Outcome]:
        source = iter(tasks)
        fresh: deque[tuple[str, Any]] = deque()  # taken from the source, not yet submitted
        retry: deque[tuple[str, Any]] = deque()  # to run again, alone, after a worker died
        suspects: set[str] = set()
        deaths: dict[str, int] = {}
        inflight: dict[Future[tuple[bool, Any]], tuple[str, Any]] = {}
        pool = self._pool or self._new_pool()
        limit = self.workers * INFLIGHT_PER_WORKER

        def submit(queue: deque[tuple[str, Any]]) -> bool:
            item = queue.popleft()
            try:
                inflight[pool.submit(guarded, fn, item[1])] = item
            except BrokenProcessPool:  # a worker died since the last wait: resubmit after the restart
                queue.appendleft(item)
                return False
            return True

        while True:
            # -- submit: suspects run alone; fresh tasks fill the pool --
            healthy = True
            while healthy and len(inflight) < limit:
                if retry:
                    if not inflight:
                        healthy = submit(retry)
                    break
                if any(tid in suspects for tid, _ in inflight.values()):
                    break
                if not fresh:
                    item = next(source, None)
                    if item is None:
                        break
                    fresh.append(item)
                healthy = submit(fresh)
            if not inflight:
                if healthy:
                    return
                pool = self._new_pool()
                continue
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            lost: list[tuple[str, Any]] = []
            yield from _harvest(done, inflight, lost, suspects)
            if not lost:
                continue
            # A worker died: every task still in flight fails with it; collect what did finish.
            yield from _harvest(list(inflight), inflight, lost, suspects)
            pool = self._new_pool()
            alone = len(lost) == 1 and lost[0][0] in suspects
            for item in lost:
                tid = item[0]
                if alone:
                    deaths[tid] = deaths.get(tid, 0) + 1
                    if deaths[tid] >= self.max_attempts:
                        suspects.discard(tid)
                        yield Outcome(tid, error=f"the worker process died while running this point, "
                                                 f"{deaths[tid]} times alone (killed, out of memory, or crashed)")
                        continue
                suspects.add(tid)
                retry.append(item)


class DaskExecutor(Executor):
    """Tasks on a Dask distributed cluster: a LocalCluster of processes, or a scheduler's address."""

    name = "dask"

    def __init__(self, *, scheduler: str | None = None, workers: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ClustersimError("Dask is not installed: pip install 'clustersim[dask]'") from None
        self._cluster: Any = None
        self._scratch: Any = None
        self.client: Any = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="30s")
            except OSError as exc:
                raise ClustersimError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
            self.name = f"dask {scheduler}"
        else:
            # Everything on the loopback interface (a LocalCluster's default binds the dashboard to all
            # interfaces): the scheduler, the workers, and the dashboard on a free port (its default, 8787,
            # may be held by another cluster on this machine). Workers' scratch space in a temporary
            # folder removed on close, not in the current directory.
            import tempfile

            self._scratch = tempfile.TemporaryDirectory(prefix="clustersim-dask-")
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host=LOOPBACK,
                                         dashboard_address=f"{LOOPBACK}:0", silence_logs=logging.ERROR,
                                         local_directory=self._scratch.name)
            self.client = Client(self._cluster)
            self.name = "dask local"
        self.workers = max(1, sum(self.client.nthreads().values()))

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def run(self, fn: TaskFn, tasks: Iterable[tuple[str, Any]]) -> Iterator[Outcome]:
        from distributed import as_completed

        source = iter(tasks)
        limit = max(1, self.workers) * INFLIGHT_PER_WORKER
        ids: dict[Any, tuple[str, Any]] = {}
        pending = as_completed([], with_results=False)

        def submit() -> bool:
            try:
                task_id, payload = next(source)
            except StopIteration:
                return False
            fut = self.client.submit(guarded, fn, payload, pure=False)
            ids[fut.key] = (task_id, payload)
            pending.add(fut)
            return True

        for _ in range(limit):
            if not submit():
                break
        # A task on a worker that died too often fails with KilledWorker, and so may a neighbour that
        # was queued on the same worker: those run again at the end, one at a time, so only a task that
        # kills its worker when it runs alone is reported as failed.
        suspects: list[tuple[str, Any]] = []
        for fut in pending:
            task_id, payload = ids.pop(fut.key)
            try:
                result = fut.result()
            except Exception:  # KilledWorker, a lost connection: retried alone below
                suspects.append((task_id, payload))
            else:
                yield _outcome(task_id, result)
            finally:
                fut.release()
            submit()
        for task_id, payload in suspects:
            fut = self.client.submit(guarded, fn, payload, pure=False)
            try:
                result = fut.result()
            except Exception as exc:
                yield Outcome(task_id, error=f"{type(exc).__name__}: {exc} (also when run alone)")
            else:
                yield _outcome(task_id, result)
            finally:
                fut.release()


def make_executor(workers: int = 1, dask: str | None = None, scheduler: str | None = None) -> Executor:
    """``scheduler`` -> that Dask cluster; ``dask="local"`` -> a LocalCluster of ``workers`` processes (all
    CPUs when ``workers`` is 1); ``workers > 1`` -> local processes; else this process."""
    if scheduler:
        return DaskExecutor(scheduler=scheduler)
    if dask is not None:
        if dask != "local":
            raise ClustersimError(f"--dask takes 'local' (got {dask!r}); for a cluster give --scheduler tcp://HOST:8786")
        return DaskExecutor(workers=workers if workers > 1 else (os.cpu_count() or 2))
    if workers > 1:
        return ProcessExecutor(workers)
    if workers < 1:
        raise ClustersimError(f"--workers must be at least 1 (got {workers})")
    return SerialExecutor()
