"""``run_sweep``: read, expand and validate a sweep, run what is missing, store each result as it lands.

Analytic sweeps (``mode: estimate``) stream (:mod:`clustersim.sweep.stream`): the points go to the
workers as expanded, and each point's one validation, its key, the kernel (one vectorized call per
chunk) and its row happen there; this process only dedupes by key (a repeated scenario is stored once,
under its lowest index, on any number of workers), skips what a resumed database already holds, and
writes each chunk's rows in one transaction as it lands. Invalid points are stored with their reason.
A chunk whose task failed is validated and keyed here and stored as ``failed`` (run again on resume).

Simulated sweeps: (1) the sweep file is validated (file:line errors) and every point expanded and
validated; invalid points are written to the store with their reason and nothing is run for them;
(2) the points already in the store with a final status are skipped (``resume``); (3) the rest run on
the chosen executor, one task each; (4) each finished task's rows are committed in one transaction at
once. Both: (5) the best points by the objective and the Pareto front of days vs dollars are read back
from the store.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from clustersim import __version__
from clustersim.errors import ClustersimError
from clustersim.sweep.executors import Executor, Outcome, ProcessExecutor, make_executor
from clustersim.sweep.expand import (
    Plan,
    ValidPoint,
    apply_inputs,
    base_with_set,
    describe_problems,
    expand_inputs,
    invalid_key,
    plan_sweep,
    point_key,
)
from clustersim.sweep.spec import SweepFile, read_sweep
from clustersim.sweep.store import ResultStore, load_columns, load_rows, prepare_rows, status_counts
from clustersim.sweep.stream import Groups, Tally, analytic_chunk, row_of
from clustersim.sweep.summary import (
    Objective,
    SweepSummary,
    best_rows,
    default_axes,
    pareto_front,
    parse_objective,
)
from clustersim.sweep.tasks import PointResult, SimulateFn, estimate_chunk, simulate_point

__all__ = ["run_sweep", "SweepSummary"]


def _check_resume(store: ResultStore, plan: Plan, resume: bool) -> list[str]:
    notes: list[str] = []
    if store.count() == 0:
        return notes
    if not resume:
        raise ClustersimError(f"{store.path} already holds {store.count():,} results; pass --resume to run only "
                              "the missing points, or give another --out")
    meta = store.meta()
    if meta.get("mode") != plan.mode:
        raise ClustersimError(f"{store.path} holds a {meta.get('mode')} sweep; this sweep is {plan.mode}")
    if meta.get("input_keys") != plan.input_keys:
        raise ClustersimError(f"{store.path} was written by a sweep over {meta.get('input_keys')}; this sweep "
                              f"varies {plan.input_keys}: give another --out")
    if meta.get("sweep_sha256") != plan.sweep.sha256:
        notes.append("the sweep file changed since this database was started; points are matched by their "
                     "scenario's key, so only points not yet stored run")
    return notes


def _meta(plan: Plan, objective: str, total: int | None = None) -> dict[str, Any]:
    import numpy as np

    return {
        "name": plan.sweep.name, "sweep_path": os.fspath(plan.sweep.path or ""), "sweep_sha256": plan.sweep.sha256,
        "base_path": os.fspath(plan.sweep.base_path), "mode": plan.mode, "input_keys": plan.input_keys,
        "objective": objective, "total_points": plan.total if total is None else total,
        "clustersim_version": __version__, "numpy_version": np.__version__,
    }


#: An analytic task should take about this long, so that results are committed every few seconds and a
#: killed sweep loses at most that much work per worker, whatever the sweep's chunk_size (an upper bound).
TASK_TARGET_S = 2.0
#: Points in the first analytic chunks, before the time per point is known.
FIRST_CHUNK = 64


class _Chunks:
    """Analytic points in chunks sized by time as well as by count: the first chunks hold FIRST_CHUNK
    points, the next ones as many as take about TASK_TARGET_S on one worker at the rate measured so far
    (never more than ``chunk_size``). Rows do not depend on the chunking (each point is evaluated alone)."""

    def __init__(self, plan: Plan, todo: Sequence[Any], chunk_size: int, workers: int,
                 members: dict[str, list[ValidPoint]], clock: Any = time.perf_counter):
        self.plan, self.todo, self.cap, self.workers = plan, todo, chunk_size, max(1, workers)
        self.members, self.clock = members, clock
        self.started = clock()
        self.points_done = 0

    def observe(self, points: int) -> None:
        self.points_done += points

    def size(self) -> int:
        elapsed = self.clock() - self.started
        if self.points_done == 0 or elapsed <= 0:
            return min(self.cap, FIRST_CHUNK)
        seconds_per_point = elapsed * self.workers / self.points_done
        return max(1, min(self.cap, int(TASK_TARGET_S / seconds_per_point)))

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        i = 0
        while i < len(self.todo):
            chunk = list(self.todo[i: i + self.size()])
            i += len(chunk)
            yield self._task(chunk)

    def _task(self, chunk: list[Any]) -> tuple[str, Any]:
        self.members[chunk[0].key] = chunk
        return chunk[0].key, (self.plan.base, [(p.key, p.inputs) for p in chunk])


class _StreamChunks(_Chunks):
    """Chunks of ``(index, inputs)`` for :func:`clustersim.sweep.stream.analytic_chunk`: the worker
    validates and keys the points, so the main process sends them as expanded."""

    def _task(self, chunk: list[Any]) -> tuple[str, Any]:
        task_id = f"points-{chunk[0][0]}"
        self.members[task_id] = chunk
        return task_id, (self.plan.base, self.plan.mode, chunk)


def _tasks(plan: Plan, todo: Sequence[ValidPoint], chunk_size: int, simulate_fn: SimulateFn | None,
           workers: int = 1) -> tuple[Any, Iterator[tuple[str, Any]] | _Chunks, dict[str, list[ValidPoint]]]:
    members: dict[str, list[ValidPoint]] = {}
    if plan.mode == "estimate":
        return estimate_chunk, _Chunks(plan, todo, chunk_size, workers, members), members
    for p in todo:
        members[p.key] = [p]
    return simulate_point, ((p.key, (p.key, plan.base, p.inputs, simulate_fn)) for p in todo), members


def _rows(outcome: Outcome, points: list[ValidPoint]) -> list[dict[str, Any]]:
    by_key = {p.key: p for p in points}
    base = {p.key: {"point_key": p.key, "point_index": p.index, **p.inputs} for p in points}
    if outcome.error is not None:
        return [{**base[k], "status": "failed", "error": outcome.error} for k in by_key]
    results: list[PointResult] = outcome.value if isinstance(outcome.value, list) else [outcome.value]
    rows = []
    seen = set()
    for key, status, error, outputs in results:
        seen.add(key)
        outputs = {k: v for k, v in outputs.items() if k not in base[key]}
        rows.append({**base[key], "status": status, "error": error, **outputs})
    for key in by_key.keys() - seen:  # a task must answer for every point it was given
        rows.append({**base[key], "status": "failed", "error": "the task returned no result for this point"})
    return rows


#: Validating points takes ~0.2 ms each: show a bar only when it takes more than a moment.
_VALIDATION_BAR_POINTS = 5_000


class _Progress:
    def __init__(self, enabled: bool, total: int, label: str, transient: bool = False):
        self.bar: Any = None
        if not enabled or total == 0:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                if not speed and task.finished and task.elapsed:
                    speed = task.completed / task.elapsed
                return Text(f"{speed:,.1f} pts/s" if speed else "-- pts/s")

        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=transient)
        self.task = self.bar.add_task(label, total=total)
        self.bar.start()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def advance_one(self) -> None:
        self.bar.advance(self.task, 1)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_sweep(path: str | os.PathLike[str], out_db: str | os.PathLike[str], *, workers: int = 1,
              dask: str | None = None, scheduler: str | None = None, resume: bool = False, progress: bool = True,
              objective: str | None = None, simulate_fn: SimulateFn | None = None,
              executor: Executor | None = None) -> SweepSummary:
    """Run a sweep file into a SQLite database and return what happened with the best points.

    ``workers`` local processes (1 = this process); ``dask="local"`` a Dask LocalCluster of ``workers``
    processes; ``scheduler="tcp://host:8786"`` an existing Dask cluster. ``resume`` runs only the points
    not yet stored with a final status (a ``failed`` point runs again). ``objective`` (default: the
    sweep file's, else days) ranks the best points: a column name, optionally ``min:``/``max:``.
    ``simulate_fn`` replaces :func:`clustersim.simulate.simulate` for simulated points (it must be a
    module-level function so workers can import it); ``executor`` replaces the one the flags choose.
    Raises :class:`~clustersim.errors.ScenarioError` for an invalid sweep file, and
    :class:`~clustersim.errors.ClustersimError` for a database that holds another sweep.
    """
    if dask is not None and dask != "local":
        raise ClustersimError(f"--dask takes 'local' (got {dask!r}); for a cluster give --scheduler tcp://HOST:8786")
    if workers < 1:
        raise ClustersimError(f"--workers must be at least 1 (got {workers})")
    sweep = read_sweep(path)
    obj = parse_objective(objective or sweep.spec.objective, sweep.spec.mode)
    if sweep.spec.mode == "estimate":
        return _run_streamed(sweep, path, out_db, obj, workers=workers, dask=dask, scheduler=scheduler,
                             resume=resume, progress=progress, executor=executor)
    checking = _Progress(progress and sweep.spec.point_count() >= _VALIDATION_BAR_POINTS, sweep.spec.point_count(),
                         "validating", transient=True)
    try:
        plan = plan_sweep(sweep, on_point=checking.advance_one if checking.bar is not None else None)
    finally:
        checking.stop()
    started = time.perf_counter()
    with ResultStore(out_db) as store:
        notes = _check_resume(store, plan, resume)
        store.set_meta(_meta(plan, str(obj)))
        done = store.done_keys()
        store.write([{"point_key": p.key, "point_index": p.index, "status": "invalid", "error": p.reason, **p.inputs}
                     for p in plan.invalid if p.key not in done])
        todo = [p for p in plan.valid if p.key not in done]
        summary = SweepSummary(
            name=sweep.name, sweep_path=os.fspath(path), db_path=os.fspath(out_db), mode=plan.mode,
            executor="none", workers=0, input_keys=plan.input_keys, total_points=plan.total,
            valid_points=len(plan.valid), duplicates=len(plan.duplicates), skipped=len(plan.valid) - len(todo),
            objective=str(obj), pareto_axes=default_axes(plan.mode), notes=notes,
            invalid=[{"point_index": p.index, "inputs": p.inputs, "reason": p.reason} for p in plan.invalid])
        if plan.duplicates:
            summary.notes.append(f"{len(plan.duplicates)} points repeat an earlier point's scenario and were run once")
        if todo:
            _execute(plan, todo, store, summary, workers=workers, dask=dask, scheduler=scheduler,
                     progress=progress, simulate_fn=simulate_fn, executor=executor)
    summary.elapsed_s = time.perf_counter() - started
    _answers(summary, out_db, plan, obj)
    return summary


def _answers(summary: SweepSummary, db: str | os.PathLike[str], plan: Plan, obj: Objective, top: int = 5) -> None:
    """Counts, failed points, the best by the objective and the Pareto front, read back from the store
    (a few columns of every row, then whole rows only for the points shown)."""
    counts = status_counts(db)
    summary.ok, summary.infeasible = counts.get("ok", 0), counts.get("infeasible", 0)
    summary.failed = [{"point_index": r["point_index"], "inputs": {k: r.get(k) for k in plan.input_keys},
                       "error": r["error"]} for r in load_rows(db, status="failed")]
    # one scan for every column the answers may read: the axes depend on the rows only for estimate
    candidates = ([default_axes(plan.mode)] if plan.mode == "simulate"
                  else [("expected_wall_days", "expected_wall_cost_usd"), ("train_days", "cost_usd")])
    slim = load_columns(db, list(dict.fromkeys([obj.column, *(c for pair in candidates for c in pair)])))
    axes = default_axes(plan.mode, slim)
    summary.pareto_axes = axes
    best = [r["point_index"] for r in best_rows(slim, obj, top=top)]
    front = [r["point_index"] for r in pareto_front(slim, *axes)]
    shown = sorted(set(best + front))
    full = {r["point_index"]: r for r in load_rows(db, indices=shown)} if shown else {}
    summary.best = [full[i] for i in best]
    summary.pareto = [full[i] for i in front]


def _execute(plan: Plan, todo: list[ValidPoint], store: ResultStore, summary: SweepSummary, *, workers: int,
             dask: str | None, scheduler: str | None, progress: bool, simulate_fn: SimulateFn | None,
             executor: Executor | None) -> None:
    ex = executor or make_executor(workers=workers, dask=dask, scheduler=scheduler)
    fn, tasks, members = _tasks(plan, todo, plan.sweep.spec.chunk_size, simulate_fn, ex.workers)

    def rows_of(outcome: Outcome) -> tuple[Groups, int, int]:
        rows = _rows(outcome, members.pop(outcome.task_id))
        return prepare_rows(rows), len(rows), sum(1 for r in rows if r["status"] != "invalid")

    _drive(ex, executor is None, fn, tasks, rows_of, store, summary, len(todo), progress,
           "estimating" if plan.mode == "estimate" else "simulating")


def _drive(ex: Executor, owned: bool, fn: Any, tasks: Any, rows_of: Any, store: ResultStore, summary: SweepSummary,
           total: int, progress: bool, label: str) -> None:
    """Run the tasks on ``ex``; write each outcome's rows (``rows_of(outcome)`` -> (rows to write, as
    :func:`~clustersim.sweep.store.prepare_rows` gives them; points it answered for; rows that ran)) in
    one transaction as it lands; count ``summary.ran``; record the run."""
    summary.executor, summary.workers = ex.name, ex.workers
    run_id = store.start_run(ex.name, ex.workers)
    bar = _Progress(progress, total, label)
    t0 = time.perf_counter()
    outcome_text = "interrupted"
    try:
        for outcome in ex.run(fn, tasks):
            groups, answered, ran = rows_of(outcome)
            store.write_prepared(groups)
            if isinstance(tasks, _Chunks):
                tasks.observe(answered)
            summary.ran += ran
            bar.advance(answered)
        outcome_text = "finished"
    except KeyboardInterrupt:
        bar.stop()
        print(f"interrupted: {summary.ran:,} points were saved to {store.path}; run again with --resume to finish",
              file=sys.stderr)
        raise
    finally:
        bar.stop()
        if owned:
            ex.close()
        store.finish_run(run_id, summary.ran, time.perf_counter() - t0, outcome_text)


def _run_streamed(sweep: SweepFile, path: str | os.PathLike[str], out_db: str | os.PathLike[str], obj: Objective, *,
                  workers: int, dask: str | None, scheduler: str | None, resume: bool, progress: bool,
                  executor: Executor | None) -> SweepSummary:
    """An analytic sweep, streamed (:mod:`clustersim.sweep.stream`): the points go to the workers as
    expanded; each is validated, keyed, evaluated and made a row there; this process writes."""
    plan = Plan(sweep, sweep.spec.swept_keys(), base_with_set(sweep), [], [], [])
    # local worker processes start (and import what a chunk needs) while this process expands the points
    early = (ProcessExecutor(workers, warm=_ANALYTIC_MODULES)
             if executor is None and dask is None and scheduler is None and workers > 1 else None)
    frozen = False
    try:
        if early is not None:
            early.start()
        points = list(expand_inputs(sweep))
        # the points (and all else alive now) stay to the end: the collector's passes skip them; not when the
        # caller froze objects itself (unfreezing would undo that)
        frozen = gc.get_freeze_count() == 0
        if frozen:
            gc.freeze()
        return _stream(sweep, path, out_db, obj, plan, points, workers=workers, dask=dask, scheduler=scheduler,
                       resume=resume, progress=progress, executor=executor or early, owned=executor is None)
    finally:
        if frozen:
            gc.unfreeze()
        if early is not None:
            early.close()  # (idempotent: the run closes it when it has points)


#: What a worker imports to run its first analytic chunk (clustersim.sweep.stream.analytic_chunk).
_ANALYTIC_MODULES = ("clustersim.sweep.stream", "clustersim.sweep.batch", "clustersim.sweep.shared",
                     "clustersim.sweep.store", "clustersim.sweep.tasks", "clustersim.sweep.rows")


def _stream(sweep: SweepFile, path: str | os.PathLike[str], out_db: str | os.PathLike[str], obj: Objective,
            plan: Plan, points: list[Any], *, workers: int, dask: str | None, scheduler: str | None, resume: bool,
            progress: bool, executor: Executor | None, owned: bool) -> SweepSummary:
    """:func:`_run_streamed` once its executor, if started early, is running and the points are expanded
    (``owned``: close the executor after)."""
    started = time.perf_counter()
    with ResultStore(out_db) as store:
        notes = _check_resume(store, plan, resume)
        store.set_meta(_meta(plan, str(obj), total=len(points)))
        tally = Tally(done=store.done_keys())
        summary = SweepSummary(
            name=sweep.name, sweep_path=os.fspath(path), db_path=os.fspath(out_db), mode=plan.mode,
            executor="none", workers=0, input_keys=plan.input_keys, total_points=len(points), valid_points=0,
            objective=str(obj), pareto_axes=default_axes(plan.mode), notes=notes)
        if points:
            ex = executor or make_executor(workers=workers, dask=dask, scheduler=scheduler)
            members: dict[str, list[Any]] = {}
            chunks = _StreamChunks(plan, points, sweep.spec.chunk_size, ex.workers, members)

            def rows_of(outcome: Outcome) -> tuple[Groups, int, int]:
                chunk = members.pop(outcome.task_id)
                groups = (outcome.value if outcome.error is None
                          else prepare_rows(_failed_rows(plan, chunk, outcome.error)))
                kept, ran = tally.keep(groups)
                return kept, len(chunk), ran

            _drive(ex, owned, analytic_chunk, chunks, rows_of, store, summary, len(points), progress,
                   "estimating")
        summary.valid_points, summary.skipped = tally.valid, tally.skipped
        summary.duplicates = len(tally.duplicates())
        summary.invalid = [{"point_index": i, "inputs": points[i][1], "reason": row["error"]}
                           for i, row in sorted(tally.invalid.items())]  # points[i] is point i
        if summary.duplicates:
            summary.notes.append(f"{summary.duplicates} points repeat an earlier point's scenario and were run once")
    summary.elapsed_s = time.perf_counter() - started
    _answers(summary, out_db, plan, obj)
    return summary


def _failed_rows(plan: Plan, chunk: list[tuple[int, dict[str, Any]]], error: str) -> list[dict[str, Any]]:
    """Rows for a chunk whose task failed: each point validated and keyed here, then marked ``failed``
    (run again on resume); a point that does not validate is ``invalid``, as a worker would say."""
    from clustersim.errors import ScenarioError
    from clustersim.scenario import load_scenario

    rows = []
    for index, inputs in chunk:
        data = apply_inputs(plan.base, inputs)
        try:
            key = point_key(load_scenario(data), plan.mode)
        except ScenarioError as exc:
            rows.append(row_of(index, inputs, invalid_key(data, plan.mode), "invalid", describe_problems(exc.items), {}))
            continue
        rows.append(row_of(index, inputs, key, "failed", error, {}))
    return rows


def default_db_for(sweep_path: str | os.PathLike[str]) -> Path:
    """``sweeps/plan.yaml`` -> ``sweeps/plan.db`` (for callers that want a default --out)."""
    return Path(sweep_path).with_suffix(".db")
