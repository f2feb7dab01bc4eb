"""Per-replica parameter multipliers: what we do not know about a job, drawn once per replica.

A :class:`ReplicaScales` holds, for replicas 0..n-1, a step-time factor (it multiplies the job's
failure-free compute ``work_s``: a replica whose kernel is 8% slower needs 8% more compute) and one
rate multiplier per failure source (it multiplies the source's failure rate, i.e. divides its MTBF).
Both engines honour it: the SimPy engine runs replica i on :meth:`ReplicaScales.job_for` (the job with
that replica's work and MTBFs), the vectorized engine carries the work per row and draws each row's
failures at its own rates (:class:`clustersim.sim.vecevents.FailureWindows`). Checkpoint interval,
write, load, detection, restart and repair times are wall-clock quantities and are not scaled; a
replayed trace is observed failures and is not scaled either. The draws themselves come from
:mod:`clustersim.calibrate.uncertainty` on keyed streams, so replica i's multipliers do not depend on
the number of replicas, workers or blocks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from clustersim.errors import SimulationError

from .job import SimJob

__all__ = ["ReplicaScales"]


@dataclass(frozen=True, eq=False)
class ReplicaScales:
    """``step_factor[i]`` multiplies replica i's work; ``rate_scale[i, j]`` multiplies source j's rate."""

    step_factor: np.ndarray
    rate_scale: np.ndarray

    def __post_init__(self) -> None:
        f = np.asarray(self.step_factor, dtype=float)
        r = np.asarray(self.rate_scale, dtype=float)
        if f.ndim != 1 or r.ndim != 2 or r.shape[0] != f.shape[0]:
            raise SimulationError(f"replica scales: step_factor must be (n,) and rate_scale (n, sources); given "
                                  f"{f.shape} and {r.shape}")
        if not (np.isfinite(f).all() and (f > 0).all() and np.isfinite(r).all() and (r > 0).all()):
            raise SimulationError("replica scales: every step factor and rate multiplier must be finite and > 0")
        object.__setattr__(self, "step_factor", f)
        object.__setattr__(self, "rate_scale", r)

    @classmethod
    def ones(cls, replicas: int, sources: int) -> ReplicaScales:
        """No parameter uncertainty: every factor 1."""
        return cls(np.ones(replicas), np.ones((replicas, sources)))

    @property
    def replicas(self) -> int:
        return int(self.step_factor.size)

    def check(self, job: SimJob, replicas: int) -> None:
        """Raise SimulationError unless these scales cover ``replicas`` replicas of ``job``."""
        if self.replicas < replicas or self.rate_scale.shape[1] != len(job.sources):
            raise SimulationError(f"replica scales: {self.replicas} replicas x {self.rate_scale.shape[1]} sources "
                                  f"given for {replicas} replicas x {len(job.sources)} sources")

    def rows(self, start: int, stop: int) -> ReplicaScales:
        """The scales of replicas start..stop-1 (row 0 is replica ``start``)."""
        return ReplicaScales(self.step_factor[start:stop], self.rate_scale[start:stop])

    def job_for(self, job: SimJob, row: int) -> SimJob:
        """The job as replica ``row`` of these scales sees it: work times its factor, each source's MTBF
        over its rate multiplier (the horizon is the job's: widen it before, see
        :func:`clustersim.simulate.simulate`)."""
        f = float(self.step_factor[row])
        m = self.rate_scale[row]
        if f == 1.0 and (m == 1.0).all():
            return job
        sources = tuple(dataclasses.replace(s, mtbf_s=s.mtbf_s / float(m[j])) for j, s in enumerate(job.sources))
        return dataclasses.replace(job, work_s=job.work_s * f, sources=sources, horizon_s=job.horizon)
