"""Nodes of a fleet: failures by thinning, repairs by a shared crew, spares, and elastic regrowth.

Node failures. Each node of a pool fails as a Poisson process of rate ``node_rate_per_s`` while it is up
(repairing nodes do not fail). The pool's process draws candidate failures at rate ``nodes x node_rate_per_s``
and each candidate picks a node uniformly; a candidate on a node in repair is dropped. Thinning a
superposed Poisson process this way is exact (Lewis & Shedler 1979, "Simulation of nonhomogeneous
Poisson processes by thinning"). A candidate on a node held by a job with its own failure sources
(:mod:`clustersim.fleet.ownfail`) is dropped too: that job's nodes fail by its sources instead. A node
that fails is idle, a spare, or held by a job; every up node fails alike, so with no jobs a pool's up
fraction is the availability MTBF / (MTBF + MTTR). The
candidate times, the uniforms and the repair durations come from the pool's own keyed streams, one of
each per candidate, so they do not depend on the scheduler (common random numbers across policies).

A repaired node refills its pool's spares first, then the idle nodes; a job waiting for nodes
(``scheduler.no_spare: wait``) takes them first. After a repair frees a node and no job waits, a shrunk
elastic job takes nodes back at its next checkpoint and restarts on them.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import simpy

from clustersim import rng as rngmod
from clustersim.fleet import scheduler
from clustersim.fleet.state import DONE, LOST_FAIL, RUNNING, STALLED, Job, Pool

if TYPE_CHECKING:
    from clustersim.fleet.engine import FleetEngine

__all__ = ["BATCH", "Draws", "NodeEvents"]

#: Random values drawn per numpy call (part of the definition of each stream's sequence).
BATCH = 256


class Draws:
    """Batched draws from one keyed stream: exponential gaps, uniforms, or repair durations."""

    __slots__ = ("_rng", "_kind", "_scale", "_buf", "_i")

    def __init__(self, rng: np.random.Generator, kind: str, scale: float = 1.0) -> None:
        self._rng, self._kind, self._scale = rng, kind, scale
        self._buf: list[float] = []
        self._i = 0

    def next(self) -> float:
        if self._i >= len(self._buf):
            if self._kind == "exp":
                self._buf = self._rng.exponential(self._scale, BATCH).tolist()
            elif self._kind == "fixed":
                self._buf = [self._scale] * BATCH
            else:
                self._buf = self._rng.random(BATCH).tolist()
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return v


class NodeEvents:
    """The node events of :class:`clustersim.fleet.engine.FleetEngine` (which mixes this class in)."""

    env: simpy.Environment
    seed: int
    replica: int
    events: int
    crew_free: float
    crew_queue: deque[tuple[Pool, float, Job | None, bool]]
    _repair_draws: list[Draws]
    _lemon_draws: list[Draws]
    wait_for_nodes: bool

    if TYPE_CHECKING:  # provided by FleetEngine
        def interrupt(self, job: Job, node_lost: bool, repair_s: float | None = None, lemon: bool = False
                      ) -> None: ...
        def take(self, job: Job, where: str, k: int) -> None: ...
        def replace(self, job: Job) -> None: ...
        def _book_phase(self, job: Job) -> None: ...
        def settle(self, job: Job, now: float, lost_cat: int, at_horizon: bool = False) -> None: ...
        def begin_recovery(self, job: Job) -> None: ...
        def _at(self, delay: float, fn: Any, job: Job) -> None: ...

    def _to_repair(self, pool: Pool, duration: float | None = None, job: Job | None = None, lemon: bool = False
                   ) -> None:
        """A failed node goes to repair for ``duration`` (default: a draw from its pool's stream, or its
        lemon nodes'); ``job``: the job it failed in (its log shows the repair); ``lemon``: it is one, and
        comes back one (the repair does not find its fault)."""
        pool.repairing += 1
        pool.repair_lemons += lemon
        if duration is None:
            duration = (self._lemon_draws if lemon else self._repair_draws)[pool.index].next()
        if self.crew_free > 0:
            self.crew_free -= 1
            self._repair_done_at(pool, duration, job, lemon)
        else:
            self.crew_queue.append((pool, duration, job, lemon))

    def _repair_done_at(self, pool: Pool, duration: float, job: Job | None, lemon: bool) -> None:
        ev = self.env.timeout(duration)
        ev.pool = pool  # type: ignore[attr-defined]
        ev.job = job  # type: ignore[attr-defined]
        ev.lemon = lemon  # type: ignore[attr-defined]
        ev.callbacks.append(self._on_repaired)
        if job is not None and job.log is not None:
            job.log.append((self.env.now, "repair_start", "", -1, f"until={self.env.now + duration!r}"))

    def _on_repaired(self, ev: Any) -> None:
        self.events += 1
        pool: Pool = ev.pool
        now = self.env.now
        job: Job | None = ev.job
        if job is not None and job.log is not None and job.state != DONE:
            job.log.append((now, "repair_done", "", -1, ""))
        pool.tick(now)
        pool.repairing -= 1
        lemon: bool = ev.lemon
        pool.repair_lemons -= lemon
        if pool.spares < pool.spare_target:
            pool.spares += 1
            pool.spare_lemons += lemon
        else:
            pool.idle += 1
            pool.idle_lemons += lemon
        if self.crew_queue:
            self._repair_done_at(*self.crew_queue.popleft())
        else:
            self.crew_free += 1
        if self.wait_for_nodes:
            for held in list(pool.held.values()):
                if held.state == STALLED and (pool.spares or pool.idle):
                    self._book_phase(held)
                    self.replace(held)
                    if held.nodes == held.want:
                        self.begin_recovery(held)
        scheduler.schedule(cast("FleetEngine", self), pool)
        if pool.idle and not pool.queue:
            self.regrow(pool)

    def regrow(self, pool: Pool) -> None:
        """Shrunk elastic jobs take idle nodes back at their next checkpoint (then restart on them)."""
        now = self.env.now
        for job in pool.held.values():
            if job.elastic and job.nodes < job.want and job.state == RUNNING and not job.regrow_pending:
                period = job.tau_s + job.delta_s
                boundary = job.anchor_s + (int((now - job.anchor_s) // period) + 1) * period
                if boundary < job.expect_end_s:
                    job.regrow_pending = True
                    self._at(boundary - now, self._on_regrow, job)

    def _on_regrow(self, ev: Any) -> None:
        job: Job = ev.job
        job.regrow_pending = False
        pool = job.pool
        if ev.epoch != job.epoch or job.state != RUNNING or not pool.idle or pool.queue:
            return
        self.events += 1
        now = self.env.now
        self.settle(job, now, LOST_FAIL)
        pool.tick(now)
        self.take(job, "idle", min(job.want - job.nodes, pool.idle))
        job.lost_cat = LOST_FAIL  # the restart on more nodes is a cost of the earlier failure
        self.begin_recovery(job)

    def _failures(self, pool: Pool, lemon: bool) -> Any:
        """The failures of a pool's ordinary nodes (``lemon`` False) or of its lemon nodes, by thinning."""
        name = f"fleet/pool/{pool.name}" + ("/lemons" if lemon else "")
        units = pool.lemons if lemon else pool.nodes - pool.lemons
        rate = pool.lemon_rate_per_s if lemon else pool.node_rate_per_s
        gaps = Draws(rngmod.stream(self.seed, self.replica, name + "/failures"), "exp", 1.0 / (units * rate))
        picks = Draws(rngmod.stream(self.seed, self.replica, name + "/nodes"), "uniform")
        draws = self._lemon_draws[pool.index] if lemon else self._repair_draws[pool.index]
        env = self.env
        while True:
            yield env.timeout(gaps.next())
            self.events += 1
            x = int(picks.next() * units)
            repairing = pool.repair_lemons if lemon else pool.repairing - pool.repair_lemons
            if x < repairing:
                draws.next()  # thinned: the node is in repair (its draw is used up)
                continue
            x -= repairing
            pool.tick(env.now)
            spares = pool.spare_lemons if lemon else pool.spares - pool.spare_lemons
            if x < spares:
                pool.spares -= 1
                pool.spare_lemons -= lemon
                self._to_repair(pool, lemon=lemon)
                continue
            x -= spares
            idle = pool.idle_lemons if lemon else pool.idle - pool.idle_lemons
            if x < idle:
                pool.idle -= 1  # fewer idle nodes can start no job: no scheduling pass
                pool.idle_lemons -= lemon
                self._to_repair(pool, lemon=lemon)
                continue
            x -= idle
            for job in pool.held.values():
                n = job.lemons if lemon else job.nodes - job.lemons
                if x < n:
                    break
                x -= n
            if job.feed is not None:  # its nodes fail by its own sources instead: thinned
                draws.next()
                continue
            self.interrupt(job, node_lost=True, lemon=lemon)
