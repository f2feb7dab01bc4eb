"""The Monte Carlo result: per-replica arrays in replica order, and their summary with confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .job import SimJob
from .records import BUCKETS, EventRow, ReplicaResult, write_events_csv
from .stats import MetricSummary, describe
from .vector import BlockResult

__all__ = ["MonteCarloResult", "collect", "from_blocks"]

_COUNTS = ("degradations", "planned_interruptions", "checkpoints", "ignored_failures", "sim_events")


@dataclass(frozen=True)
class MonteCarloResult:
    """Replicas of one job. Every array has one entry per replica, in replica order.

    ``breakdown[part]`` are the parts of :data:`~clustersim.sim.records.BUCKETS` in seconds (they add up to
    ``wall_s``); ``interruptions_by[component]`` counts the failures that stopped the job, for every
    component of the job's sources (zeros too) and of its trace; ``finished`` is
    False for a replica that hit the horizon or the event budget (``budget_hit`` True for the latter);
    ``events`` is replica 0's event log (or None), cut at ``job.max_log_rows`` rows (``events_truncated``).

    ``engine`` is the engine that ran the replicas (``vector``, ``simpy`` or ``strategy``) and
    ``engine_note`` why. With the vectorized engine the event log is replica 0 of the SimPy engine (an
    example history of the same job and seed, not one of the vectorized samples); with the strategy
    engine it is its own replica 0 (:mod:`clustersim.sim.strategy_log`).
    """

    job: SimJob
    seed: int
    wall_s: np.ndarray
    finished: np.ndarray
    breakdown: dict[str, np.ndarray]
    interruptions_by: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    events: list[EventRow] | None = field(default=None, compare=False)
    engine: str = "simpy"
    engine_note: str = ""
    budget_hit: np.ndarray | None = None
    events_truncated: bool = False

    @property
    def any_budget_hit(self) -> bool:
        """Whether some replica stopped at the event budget (its result is a bound, not an outcome)."""
        return bool(self.budget_hit is not None and self.budget_hit.any())

    @property
    def replicas(self) -> int:
        return int(self.wall_s.size)

    @property
    def goodput(self) -> np.ndarray:
        """Productive time over wall time, per replica."""
        return np.divide(self.breakdown["productive"], self.wall_s, out=np.zeros_like(self.wall_s),
                         where=self.wall_s > 0)

    @property
    def interruptions(self) -> np.ndarray:
        """Failures that stopped the job, all causes, per replica."""
        total = np.zeros(self.replicas, dtype=np.int64)
        for v in self.interruptions_by.values():
            total = total + v
        return total

    @property
    def all_finished(self) -> bool:
        return bool(self.finished.all())

    def summary(self) -> dict[str, MetricSummary]:
        """Mean, p50, p90, p99 with 95% CIs of: wall_s, goodput, interruptions, each breakdown part (s),
        ``interruptions/<component>``, degradations and planned_interruptions."""
        out = {"wall_s": describe(self.wall_s), "goodput": describe(self.goodput),
               "interruptions": describe(self.interruptions)}
        for name in BUCKETS:
            out[name] = describe(self.breakdown[name])
        for comp, arr in sorted(self.interruptions_by.items()):
            out[f"interruptions/{comp}"] = describe(arr)
        out["degradations"] = describe(self.counts["degradations"])
        out["planned_interruptions"] = describe(self.counts["planned_interruptions"])
        return out

    def write_events_csv(self, path: str) -> None:
        """Replica 0's event log as CSV (see :func:`~clustersim.sim.records.write_events_csv`)."""
        write_events_csv(self.events or [], path)


def collect(job: SimJob, seed: int, results: Sequence[ReplicaResult], note: str = "") -> MonteCarloResult:
    """Assemble per-replica results (already in replica order) into a :class:`MonteCarloResult`."""
    n = len(results)
    comps = sorted({c for r in results for c in r.interruptions_by} | {src.component for src in job.sources})
    first = results[0] if n else None
    return MonteCarloResult(
        job=job,
        seed=seed,
        wall_s=np.array([r.wall_s for r in results], dtype=float),
        finished=np.array([r.finished for r in results], dtype=bool),
        breakdown={b: np.array([r.breakdown[b] for r in results], dtype=float) for b in BUCKETS},
        interruptions_by={c: np.array([r.interruptions_by.get(c, 0) for r in results], dtype=np.int64)
                          for c in comps},
        counts={c: np.array([getattr(r, c) for r in results], dtype=np.int64).reshape(n) for c in _COUNTS},
        events=first.events if first is not None else None,
        engine="simpy",
        engine_note=note,
        budget_hit=np.array([r.budget_hit for r in results], dtype=bool),
        events_truncated=bool(first is not None and first.log_truncated),
    )


def from_blocks(job: SimJob, seed: int, blocks: Sequence[BlockResult], components: Sequence[str],
                log: ReplicaResult | None, note: str) -> MonteCarloResult:
    """Assemble the vectorized engine's blocks (in replica order) into a :class:`MonteCarloResult`;
    ``log`` is the SimPy replica whose event log goes with it."""
    cat = lambda name: np.concatenate([getattr(b, name) for b in blocks])  # noqa: E731
    acc = cat("acc")
    by = cat("by")
    # sim_events: for this engine, the failures each replica processed (it has no SimPy events)
    counts = {"checkpoints": cat("checkpoints"), "ignored_failures": cat("ignored"), "sim_events": cat("failures")}
    zeros = np.zeros(acc.shape[0], dtype=np.int64)
    return MonteCarloResult(
        job=job,
        seed=seed,
        wall_s=cat("wall_s"),
        finished=cat("finished"),
        breakdown={b: acc[:, i].copy() for i, b in enumerate(BUCKETS)},
        interruptions_by={c: by[:, components.index(c)].copy() for c in sorted(components)},
        counts={c: counts.get(c, zeros) for c in _COUNTS},
        events=log.events if log is not None else None,
        engine="vector",
        engine_note=note,
        budget_hit=cat("budget_hit"),
        events_truncated=bool(log is not None and log.log_truncated),
    )
