"""A job's own failure sources in a fleet (``failures: scenario``): the draws of ``clustersim simulate``.

A scenario job with ``failures: scenario`` brings its scenario's failure sources (per GPU, per node,
per job; exponential or Weibull) instead of taking its pool's. They strike the job's own node slots
while it holds them, exactly as in the single-job simulation (:mod:`clustersim.sim`): idle nodes and
spares do not fail, a unit in a slot whose node is away (in repair, not yet replaced) cannot fail (the
failure is ignored: thinning), and a job-level source restarts the job without a repair.

Draws. Source i of the job draws its failure times, the unit that fails and each failure's repair
duration from one keyed stream, with the single-job simulation's generators
(:func:`clustersim.sim.distributions.failure_generators`'s classes, one draw of each per failure,
ignored or not). The stream is ``fail/{component}/{i}`` for the fleet's first job, which is the very
stream ``clustersim simulate`` draws on with the same seed and replica, and ``fleet/job/{k}/fail/
{component}/{i}`` for job k > 0. Failure times count from the job's first start. So a one-job fleet
(its pool the job's nodes plus its spares, ``scheduler.no_spare: wait``, the scenario's repair crew as
``repair.crew``) produces the same events at the same times as ``clustersim simulate`` (tests/
test_fleet_single.py compares the event logs); the equivalence and its limits are documented in
docs/reference/fleet.md.

Not modelled for a fleet job (refused with the reason): failure traces, leaf-switch, spine (degraded
fabric) and spot-preemption sources, stragglers, maintenance windows and the scenario's
``failures.elastic`` (a fleet job's ``elastic`` key is the fleet's own shrink-and-regrow). Asynchronous checkpoints run
as blocking writes of their blocking part (the fleet has no background write), so a scenario with
``checkpoint.async`` is not equivalent to ``simulate``.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from clustersim import rng as rngmod
from clustersim.sim import FailureSource, SimJob
from clustersim.sim.distributions import ExponentialUnits, RepairDraws, WeibullUnits

__all__ = ["OwnFailures", "OwnFeed", "own_failures", "unsupported"]

#: The effects a fleet job's own sources may have (the others need switches or spot capacity).
EFFECTS = ("node", "job")


@dataclass(frozen=True)
class OwnFailures:
    """What a job's own failures need: its sources (units counted for its size) and its repairs."""

    sources: tuple[FailureSource, ...]
    gpus_per_node: int
    repair_s: float
    repair_distribution: str
    repair_cv: float


def unsupported(job: SimJob) -> list[str]:
    """What a scenario has that a fleet job cannot model (empty: it can run with its own failures)."""
    out = [f"failure source {s.component!r} with effect {s.effect}" for s in job.sources if s.effect not in EFFECTS]
    if job.trace:
        out.append("a failure trace")
    if job.straggler_fraction > 0 and job.straggler_slowdown > 1:
        out.append("stragglers")
    if job.maintenance_period_s is not None:
        out.append("maintenance windows")
    if job.elastic:
        out.append("failures.elastic (a fleet job is elastic by its own key, elastic)")
    return out


def own_failures(job: SimJob) -> OwnFailures:
    return OwnFailures(sources=job.sources, gpus_per_node=job.gpus_per_node, repair_s=job.repair_s,
                       repair_distribution=job.repair_distribution, repair_cv=job.repair_cv)


class OwnFeed:
    """The job's sources merged through a heap of each one's next failure (as the simulation's feed)."""

    __slots__ = ("heap", "plan", "origin_s")

    def __init__(self, own: OwnFailures, seed: int, replica: int, job_index: int, origin_s: float) -> None:
        prefix = "" if job_index == 0 else f"fleet/job/{job_index}/"
        self.heap: list[tuple[float, int, int]] = []
        self.plan = []
        self.origin_s = origin_s
        for i, src in enumerate(own.sources):
            gen = rngmod.stream(seed, replica, f"{prefix}fail/{src.component}/{i}")
            times: ExponentialUnits | WeibullUnits
            if src.distribution == "weibull":
                times = WeibullUnits(gen, gen, src.mtbf_s, src.shape, src.units)
            else:
                times = ExponentialUnits(gen, gen, src.mtbf_s, src.units)
            repairs = RepairDraws(gen, own.repair_distribution, own.repair_s, own.repair_cv)
            t, unit = times.next()
            self.heap.append((t, i, unit))
            per_slot = own.gpus_per_node if src.per == "gpu" and src.effect != "job" else 1
            self.plan.append((times.next, repairs.next, src.component, src.effect == "job", per_slot))
        heapq.heapify(self.heap)

    def next_s(self) -> float:
        """Absolute time of the next failure (inf: none)."""
        return self.heap[0][0] + self.origin_s if self.heap else math.inf

    def pop(self) -> tuple[str, int, float]:
        """The failure due now: (component, node slot or -1 for a job-level one, repair duration)."""
        _t, i, unit = self.heap[0]
        nxt, dur, component, job_level, per_slot = self.plan[i]
        nt, nu = nxt()
        heapq.heapreplace(self.heap, (nt, i, nu))
        return component, -1 if job_level else unit // per_slot, dur()
