"""``run_sweep``: read, expand and validate a sweep, run what is missing, store each result as it lands.

Order of work: (1) the sweep file is validated (file:line errors) and every point expanded and
validated; invalid points are written to the store with their reason and nothing is run for them;
(2) the points already in the store with a final status are skipped (``resume``); (3) the rest run on
the chosen executor, analytic points as chunks through the vectorized kernel, simulated points one
task each; (4) each finished task's rows are committed in one transaction at once; (5) the best points
by the objective and the Pareto front of days vs dollars are read back from the store.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from clustersim import __version__
from clustersim.errors import ClustersimError
from clustersim.sweep.executors import Executor, Outcome, make_executor
from clustersim.sweep.expand import Plan, ValidPoint, plan_sweep
from clustersim.sweep.spec import read_sweep
from clustersim.sweep.store import ResultStore, load_columns, load_rows, status_counts
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


def _meta(plan: Plan, objective: str) -> dict[str, Any]:
    import numpy as np

    return {
        "name": plan.sweep.name, "sweep_path": os.fspath(plan.sweep.path or ""), "sweep_sha256": plan.sweep.sha256,
        "base_path": os.fspath(plan.sweep.base_path), "mode": plan.mode, "input_keys": plan.input_keys,
        "objective": objective, "total_points": plan.total,
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

    def __init__(self, plan: Plan, todo: Sequence[ValidPoint], chunk_size: int, workers: int,
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
            self.members[chunk[0].key] = chunk
            yield chunk[0].key, (self.plan.base, [(p.key, p.inputs) for p in chunk])


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
    axes = default_axes(plan.mode, load_columns(db, ["expected_wall_cost_usd"]))
    summary.pareto_axes = axes
    slim = load_columns(db, list(dict.fromkeys([obj.column, *axes])))
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
    summary.executor, summary.workers = ex.name, ex.workers
    run_id = store.start_run(ex.name, ex.workers)
    bar = _Progress(progress, len(todo), "estimating" if plan.mode == "estimate" else "simulating")
    t0 = time.perf_counter()
    outcome_text = "interrupted"
    try:
        for outcome in ex.run(fn, tasks):
            rows = _rows(outcome, members.pop(outcome.task_id))
            store.write(rows)
            if isinstance(tasks, _Chunks):
                tasks.observe(len(rows))
            summary.ran += len(rows)
            bar.advance(len(rows))
        outcome_text = "finished"
    except KeyboardInterrupt:
        bar.stop()
        print(f"interrupted: {summary.ran:,} points were saved to {store.path}; run again with --resume to finish",
              file=sys.stderr)
        raise
    finally:
        bar.stop()
        if executor is None:
            ex.close()
        store.finish_run(run_id, summary.ran, time.perf_counter() - t0, outcome_text)


def default_db_for(sweep_path: str | os.PathLike[str]) -> Path:
    """``sweeps/plan.yaml`` -> ``sweeps/plan.db`` (for callers that want a default --out)."""
    return Path(sweep_path).with_suffix(".db")
