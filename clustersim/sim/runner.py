"""Monte Carlo over replicas: feasibility check, a local process pool, results in replica order.

Replica i of seed s draws only from the keyed streams (s, i, name) (:mod:`clustersim.rng`), so the
result is the same whatever the number of workers or the chunking: chunks of replica indices go to the
worker pool (:mod:`.pool`) and come back reassembled in replica order. The vectorized engine's unit is a
block of replicas with its own keyed stream (seed, block), the same whatever the number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from clustersim import theory, units
from clustersim.errors import SimulationError

from .engines import choose_engine
from .job import SimJob
from .pool import run_tasks, tick
from .records import ReplicaResult
from .replica import run_replica
from .scales import ReplicaScales
from .summary import MonteCarloResult, collect, from_blocks
from .vector import BlockResult, VectorEngine, block_size

__all__ = ["simulate", "check_feasible", "job_mtbf_s", "run_chunk", "run_vector_block"]

#: Chunks per worker: enough to balance the load, few enough to keep the per-chunk pickling overhead
#: small (progress is reported per replica whatever the chunks).
CHUNKS_PER_WORKER = 8


def job_mtbf_s(job: SimJob) -> float:
    """MTBF of the failures that stop the job (every source but a degraded fabric); inf without any.

    1 / sum(units / mtbf) over the sources (:func:`clustersim.theory.job_mtbf_s`); for Weibull
    sources mtbf is the per-unit mean, so this is the long-run MTBF. A trace is not counted.
    """
    stopping = [s for s in job.sources if s.stops_job]
    return float(theory.job_mtbf_s([s.units for s in stopping], [s.mtbf_s for s in stopping]))


def check_feasible(job: SimJob) -> None:
    """Raise :class:`~clustersim.errors.SimulationError` if the job cannot be expected to finish.

    Three checks, with the numbers in the message: the job's MTBF must exceed one checkpoint stall
    (:attr:`SimJob.checkpoint_stall_s`) plus one recovery (detect + restart + load), else no checkpoint
    would ever be kept; Daly's expected wall time (:func:`clustersim.theory.daly_expected_wall_s`) must
    fit in the horizon; and the failures it implies (wall / MTBF, Wald's identity) must fit in the event
    budget (``SimJob.max_events``).
    """
    m = job_mtbf_s(job)
    if not math.isfinite(m):
        return
    delta = job.checkpoint_stall_s
    r = job.recovery_s
    h = units.HOUR_S
    if m < delta + r:
        raise SimulationError(
            f"the job cannot finish: its MTBF is {m / h:.3g} h ({m:.4g} s), shorter than one checkpoint "
            f"({delta:.4g} s) plus one recovery (detect {job.detect_s:.4g} s + restart {job.restart_s:.4g} s "
            f"+ load {job.checkpoint_load_s:.4g} s = {r:.4g} s); make the job more reliable, or the "
            f"checkpoint and restart faster")
    tau = job.checkpoint_interval_s
    expected = float(theory.daly_expected_wall_s(job.work_s, tau, delta, m, r))
    if not expected <= job.horizon:
        d = units.DAY_S
        raise SimulationError(
            f"the job cannot be expected to finish within the horizon: Daly's expected wall time is "
            f"{expected / d:.4g} days (work {job.work_s / d:.4g} days, MTBF {m / h:.3g} h, checkpoint "
            f"every {tau / 60:.3g} min taking {delta:.4g} s, recovery {r:.4g} s), the horizon "
            f"{job.horizon / d:.4g} days; use a checkpoint interval near Daly's optimum "
            f"({float(theory.daly_interval_s(delta, m)) / 60:.3g} min) or a longer horizon")
    failures = expected / m
    if failures > job.max_events:
        raise SimulationError(
            f"the job would take about {failures:.3g} failures per replica (Daly's expected wall time "
            f"{expected / units.DAY_S:.4g} days at a job MTBF of {m / h:.3g} h), over the event budget of "
            f"{job.max_events:,} failures per replica; the answer would cost that many events for every "
            f"replica: shorten the run, or raise the budget (SimJob.max_events)")


def run_chunk(job: SimJob, seed: int, start: int, stop: int, log_first: bool,
              done: Callable[[int], None] = tick, scales: ReplicaScales | None = None) -> list[ReplicaResult]:
    """Replicas start..stop-1 (the worker's task); replica 0 keeps its event log if ``log_first``;
    ``done(1)`` after each replica. ``scales``: this chunk's per-replica multipliers (row 0 is replica
    ``start``; see :mod:`.scales`)."""
    out = []
    for i in range(start, stop):
        ji = job if scales is None else scales.job_for(job, i - start)
        out.append(run_replica(ji, seed, i, log=log_first and i == 0))
        done(1)
    return out


def _chunks(replicas: int, workers: int) -> list[tuple[int, int]]:
    size = max(1, math.ceil(replicas / (max(workers, 1) * CHUNKS_PER_WORKER)))
    return [(a, min(a + size, replicas)) for a in range(0, replicas, size)]


def run_vector_block(job: SimJob, seed: int, block: int, n: int,
                     scales: ReplicaScales | None = None) -> BlockResult:
    """One block of the vectorized engine (the worker's task; ``scales``: the block's rows)."""
    return VectorEngine(job).run_block(seed, block, n, tick, scales=scales)


def _vector_blocks(job: SimJob, replicas: int) -> list[tuple[int, int]]:
    size = block_size(job)
    return [(b, min(size, replicas - b * size)) for b in range(math.ceil(replicas / size))]


def simulate(job: SimJob, *, replicas: int, seed: int = 0, workers: int = 1, progress: bool = False,
             events: bool = True, check: bool = True, engine: str = "auto",
             scales: ReplicaScales | None = None) -> MonteCarloResult:
    """Simulate ``replicas`` runs of ``job`` and return them with their summary.

    ``workers`` > 1 uses a local process pool (the same result as 1 worker); ``progress`` shows a rich
    progress bar; ``events`` keeps replica 0's event log; ``check`` runs :func:`check_feasible` first.
    ``engine``: ``auto`` (the vectorized engine where it represents the job exactly, else SimPy; see
    :mod:`clustersim.sim.engines`), ``vector`` or ``simpy``; the result's ``engine`` says which ran.
    ``scales``: per-replica step-time factors and failure-rate multipliers (:class:`.scales.ReplicaScales`,
    parameter uncertainty), honoured by both engines; None: every replica runs ``job`` as given.
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise SimulationError(f"replicas: expected an integer >= 1, given {replicas!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SimulationError(f"workers: expected an integer >= 1, given {workers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SimulationError(f"seed: expected an integer >= 0, given {seed!r}")
    chosen, note = choose_engine(job, engine)
    if scales is not None:
        scales.check(job, replicas)
    if check:
        check_feasible(job)
    if chosen == "vector":
        return _simulate_vector(job, replicas, seed, workers, progress, events, note, scales)
    chunks = _chunks(replicas, workers)

    def part(a: int, b: int) -> ReplicaScales | None:
        return None if scales is None else scales.rows(a, b)

    with _Progress(replicas, progress) as advance:
        if workers == 1 or len(chunks) == 1:
            parts = [run_chunk(job, seed, a, b, events, advance, part(a, b)) for a, b in chunks]
        else:
            parts = run_tasks(run_chunk, [(job, seed, a, b, events, tick, part(a, b)) for a, b in chunks], workers,
                              advance)
    results = [r for part in parts for r in part]
    return collect(job, seed, results, note)


def _simulate_vector(job: SimJob, replicas: int, seed: int, workers: int, progress: bool, events: bool,
                     note: str, scales: ReplicaScales | None = None) -> MonteCarloResult:
    blocks = _vector_blocks(job, replicas)
    size = block_size(job)
    engine = VectorEngine(job)

    def part(b: int, n: int) -> ReplicaScales | None:
        return None if scales is None else scales.rows(b * size, b * size + n)

    with _Progress(replicas, progress) as advance:
        if workers == 1 or len(blocks) == 1:
            parts = [engine.run_block(seed, b, n, advance, scales=part(b, n)) for b, n in blocks]
        else:
            parts = run_tasks(run_vector_block, [(job, seed, b, n, part(b, n)) for b, n in blocks], workers, advance)
    log = run_replica(job if scales is None else scales.job_for(job, 0), seed, 0, log=True) if events else None
    return from_blocks(job, seed, parts, engine.components, log, note)


class _Progress:
    """A rich progress bar over replicas (a no-op when disabled)."""

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.enabled = enabled
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       transient=True)
        bar.start()
        self._bar = bar
        task = bar.add_task("replicas", total=self.total)
        return lambda n: bar.update(task, advance=n) if n else None

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
