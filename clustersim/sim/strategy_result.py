"""The strategy engine's replicas as a :class:`~clustersim.sim.summary.MonteCarloResult`, so that
``clustersim simulate`` reports them as it reports the whole-job engines' (``engine`` = ``strategy``).

The wall time splits into the buckets of :data:`~clustersim.sim.records.BUCKETS`: productive (the work
kept), lost work, checkpointing, restarting (detection, restart and load: the strategy engine does not
split them), waiting for spares, and, in per-replica mode, ``degraded``: the time the job ran slower with
replicas out or with the fault-tolerance step-time cost, plus the quorum stalls. The buckets add up to the
wall time (the last bucket takes the rounding).
"""

from __future__ import annotations

import numpy as np

from .job import SimJob
from .records import BUCKETS
from .strategy_job import StrategyJob
from .strategy_log import COMPONENTS, EventLog
from .summary import MonteCarloResult

__all__ = ["strategy_monte_carlo", "COMPONENTS"]

def strategy_monte_carlo(job: StrategyJob, whole: SimJob, raw: dict[str, np.ndarray], seed: int,
                         note: str, log: EventLog | None = None) -> MonteCarloResult:
    """``raw`` (:func:`~clustersim.sim.strategy.simulate_strategy`) of ``job`` as a MonteCarloResult whose
    ``job`` is the scenario's whole-job input ``whole`` (its checkpoint and recovery figures); ``log``:
    replica 0's event log (:func:`~clustersim.sim.strategy.strategy_event_log`), or None."""
    wall = raw["wall_s"]
    n = wall.size
    zeros = np.zeros(n)
    parts = {b: zeros.copy() for b in BUCKETS}
    parts["productive"] = raw["work_s"].copy()
    parts["lost_work"] = raw["lost_s"].copy()
    parts["checkpointing"] = raw["checkpoint_s"].copy()
    parts["waiting_for_spares"] = raw["waiting_s"].copy()
    if job.mode == "per_replica":
        parts["degraded"] = wall - parts["productive"] - parts["checkpointing"] - parts["waiting_for_spares"]
        parts["degraded"] = np.maximum(parts["degraded"], 0.0)
    else:
        parts["restarting"] = np.maximum(wall - parts["productive"] - parts["lost_work"] - parts["checkpointing"]
                                         - parts["waiting_for_spares"], 0.0)
    by = {COMPONENTS[k]: raw[f"{k}_failures"].astype(np.int64) for k in COMPONENTS}
    counts = {c: np.zeros(n, dtype=np.int64) for c in ("degradations", "planned_interruptions", "checkpoints",
                                                        "ignored_failures", "sim_events")}
    counts["sim_events"] = raw["failures"].astype(np.int64)
    return MonteCarloResult(job=whole, seed=seed, wall_s=wall.copy(), finished=raw["finished"].astype(bool),
                            breakdown=parts, interruptions_by=by, counts=counts,
                            events=log.sorted_rows() if log is not None else None, engine="strategy",
                            engine_note=note, budget_hit=raw["failures"] >= job.max_events,
                            events_truncated=bool(log is not None and log.truncated))
