"""Lemon nodes: a few nodes of a pool that fail again and again, because repairs do not find their fault.

Kokolis et al. 2024 (arXiv:2410.21680, Sec. on lemon nodes) found 40 such nodes on RSC-1 and traced
its worst requeue cascade to them: a 1,024-GPU job that kept landing on a failing node was requeued 35
times and preempted 548 jobs. With ``failures.lemon_nodes`` a pool has that many lemons, each failing
as a Poisson process of mean ``lemon_mtbf_hours`` while it is up (the other nodes keep the pool's
rate); a lemon's repair takes ``lemon_repair_hours`` and it comes back a lemon. The fleet's nodes have
no names, only counts by place (idle, spare, in repair, held by a job), so the lemons are counted by
place too: a job that takes k of n idle (or spare) nodes of which m are lemons gets a hypergeometric
number of them (the k nodes are a uniform draw without replacement), drawn from the pool's keyed
stream ``fleet/pool/{name}/placement``; a pool without lemons draws nothing, so its results are those
of the model without them, to the bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clustersim import rng as rngmod
from clustersim.fleet.state import Job, Pool

if TYPE_CHECKING:
    import simpy

__all__ = ["LemonNodes"]


class LemonNodes:
    """Taking nodes from a pool and giving them back, lemons counted (mixed into the fleet engine)."""

    env: simpy.Environment
    seed: int
    replica: int

    def place_lemons(self, pool: Pool) -> None:
        """At the start: the lemons are a uniform draw among the pool's nodes (spares or idle)."""
        pool.placement = rngmod.stream(self.seed, self.replica, f"fleet/pool/{pool.name}/placement")
        pool.spare_lemons = _drawn(pool, pool.lemons, pool.nodes, pool.spares)
        pool.idle_lemons = pool.lemons - pool.spare_lemons

    def take(self, job: Job, where: str, k: int) -> None:
        """Move ``k`` nodes from the pool's idle nodes (``where`` "idle") or its spares into ``job``."""
        if k <= 0:
            return
        pool = job.pool
        job.nodes += k
        if where == "idle":
            pool.idle -= k
            if pool.idle_lemons:
                m = _drawn(pool, pool.idle_lemons, pool.idle + k, k)
                pool.idle_lemons -= m
                job.lemons += m
        else:
            pool.spares -= k
            if pool.spare_lemons:
                m = _drawn(pool, pool.spare_lemons, pool.spares + k, k)
                pool.spare_lemons -= m
                job.lemons += m

    def give_back(self, job: Job) -> None:
        """The job's nodes (its lemons among them) go back to the idle nodes."""
        pool = job.pool
        pool.idle += job.nodes
        pool.idle_lemons += job.lemons
        job.nodes = job.lemons = 0


def _drawn(pool: Pool, lemons: int, n: int, k: int) -> int:
    """Lemons among ``k`` nodes drawn without replacement from ``n`` holding ``lemons``."""
    if k >= n:
        return lemons
    if not lemons or not k:
        return 0
    return int(pool.placement.hypergeometric(lemons, n - lemons, k))
