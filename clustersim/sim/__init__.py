"""The Monte Carlo simulation of a training run with failures, checkpoints, spares and restarts.

The only package that imports simpy. Input: a :class:`SimJob` (plain frozen dataclasses, built by an
adapter from a scenario and the kernel's figures); output: a :class:`MonteCarloResult`. Two engines:
the SimPy engine (:mod:`.replica`, the reference, every job) and the vectorized engine (:mod:`.vector`,
all replicas at once, for the jobs it represents exactly: :func:`vector_unsupported`); ``simulate``
picks one (``engine="auto"``) and the result says which.

>>> from clustersim.sim import SimJob, FailureSource, simulate
>>> job = SimJob(work_s=86400.0, nodes=16, checkpoint_interval_s=3600.0, checkpoint_write_s=60.0,
...              sources=(FailureSource(component="node", per="node", units=16, mtbf_s=1e6),))
>>> result = simulate(job, replicas=20, seed=1)
>>> result.summary()["goodput"].mean > 0.9
True
"""

from __future__ import annotations

from .engines import ENGINES, vector_unsupported
from .job import DISTRIBUTIONS, EFFECTS, PERS, REPAIR_DISTRIBUTIONS, FailureSource, SimJob, TraceEvent
from .records import BUCKETS, EVENT_COLUMNS, ReplicaResult, write_events_csv
from .replica import Replica, run_replica
from .runner import check_feasible, job_mtbf_s, simulate
from .stats import MetricSummary
from .summary import MonteCarloResult

__all__ = [
    "FailureSource",
    "TraceEvent",
    "SimJob",
    "PERS",
    "EFFECTS",
    "DISTRIBUTIONS",
    "REPAIR_DISTRIBUTIONS",
    "BUCKETS",
    "EVENT_COLUMNS",
    "ReplicaResult",
    "MonteCarloResult",
    "MetricSummary",
    "Replica",
    "run_replica",
    "simulate",
    "check_feasible",
    "job_mtbf_s",
    "write_events_csv",
    "ENGINES",
    "vector_unsupported",
]
