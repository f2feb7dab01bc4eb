"""The Monte Carlo result: per-replica arrays in replica order, and their summary with confidence intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .job import SimJob
from .records import BUCKETS, EventRow, ReplicaResult, write_events_csv
from .stats import MetricSummary, describe

__all__ = ["MonteCarloResult", "collect"]

_COUNTS = ("degradations", "planned_interruptions", "checkpoints", "ignored_failures", "sim_events")


@dataclass(frozen=True)
class MonteCarloResult:
    """Replicas of one job. Every array has one entry per replica, in replica order.

    ``breakdown[part]`` are the parts of :data:`~clustersim.sim.records.BUCKETS` in seconds (they add up to
    ``wall_s``); ``interruptions_by[component]`` counts the failures that stopped the job; ``finished`` is
    False for a replica that hit the horizon; ``events`` is replica 0's event log (or None).
    """

    job: SimJob
    seed: int
    wall_s: np.ndarray
    finished: np.ndarray
    breakdown: dict[str, np.ndarray]
    interruptions_by: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    events: list[EventRow] | None = field(default=None, compare=False)

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


def collect(job: SimJob, seed: int, results: Sequence[ReplicaResult]) -> MonteCarloResult:
    """Assemble per-replica results (already in replica order) into a :class:`MonteCarloResult`."""
    n = len(results)
    comps = sorted({c for r in results for c in r.interruptions_by})
    return MonteCarloResult(
        job=job,
        seed=seed,
        wall_s=np.array([r.wall_s for r in results], dtype=float),
        finished=np.array([r.finished for r in results], dtype=bool),
        breakdown={b: np.array([r.breakdown[b] for r in results], dtype=float) for b in BUCKETS},
        interruptions_by={c: np.array([r.interruptions_by.get(c, 0) for r in results], dtype=np.int64)
                          for c in comps},
        counts={c: np.array([getattr(r, c) for r in results], dtype=np.int64).reshape(n) for c in _COUNTS},
        events=results[0].events if n and results[0].events is not None else None,
    )
