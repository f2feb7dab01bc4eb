"""One replica of a fleet: SimPy processes for arrivals, node failures and sampling; callbacks for jobs.

Events are job arrivals, job completions, the ends of recoveries, node failures, repairs and software
failures; checkpoints are not events (see :mod:`clustersim.fleet.state`). A job's pending completion is a
SimPy timeout tagged with the job's epoch; an interruption bumps the epoch, so a stale timeout is ignored.

Node failures. Each node of a pool fails as a Poisson process of rate ``node_rate`` while it is up
(repairing nodes do not fail). The pool's process draws candidate failures at rate ``nodes x node_rate``
and each candidate picks a node uniformly; a candidate on a node in repair is dropped. Thinning a
superposed Poisson process this way is exact (Lewis & Shedler 1979, "Simulation of nonhomogeneous
Poisson processes by thinning"). A node that fails is idle, a spare, or held by a job; every up node
fails alike, so with no jobs a pool's up fraction is the availability MTBF / (MTBF + MTTR). The
candidate times, the uniforms and the repair durations come from the pool's own keyed streams, one of
each per candidate, so they do not depend on the scheduler (common random numbers across policies).

A job whose node fails loses its work since its last checkpoint and takes a hot spare, else an idle
node (``scheduler.replace_from_idle``), then recovers (detection + restart + checkpoint load; a failure
during the recovery starts it again). With no node to be had, an elastic job carries on with fewer nodes
(at least ``min_nodes``; progress in proportion) and a rigid one releases its nodes and goes back to the
queue: the requeue cascade of Kokolis et al. 2024. A repaired node refills the spares first.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
import simpy

from clustersim import rng as rngmod
from clustersim.fleet import scheduler
from clustersim.fleet.state import (
    CKPT,
    DONE,
    LOST_FAIL,
    LOST_PREEMPT,
    LOST_SECONDARY,
    QUEUED,
    RECOVERING,
    RUN,
    RUNNING,
    Job,
    Pool,
    segment_progress,
    segments,
    timeline_s,
)
from clustersim.fleet.workload import FleetPlan, JobTable

__all__ = ["FleetEngine", "run_replica", "BATCH"]

#: Random values drawn per numpy call (part of the definition of each stream's sequence).
BATCH = 256
#: The shortest checkpoint interval simulated (a floor on Daly's optimum when a checkpoint is nearly free,
#: where the optimum tends to 0 and the loss to a failure with it).
MIN_INTERVAL_S = 60.0


class _Draws:
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


class FleetEngine:
    """The state and event handlers of one replica (``run`` drives it to the horizon)."""

    def __init__(self, plan: FleetPlan, jobs: JobTable, seed: int, replica: int) -> None:
        spec = plan.fleet.spec
        self.env = simpy.Environment()
        self.spec = spec
        self.sched = spec.scheduler
        self.seed, self.replica = seed, replica
        self.horizon = spec.simulation.horizon_days * 86400.0
        self.pools = [Pool(i, p.name, p.nodes, p.gpus_per_node, p.spare_nodes, p.node_rate_per_s, p.repair_mean_s,
                           p.repair_fixed) for i, p in enumerate(plan.pools)]
        self.crew_free = spec.repair.crew if spec.repair.crew is not None else math.inf
        self.crew_queue: deque[tuple[Pool, float]] = deque()
        by_priority = spec.scheduler.policy != "fifo"
        t = jobs
        prio = t.priority.tolist()
        submit = t.submit_s.tolist()
        columns = zip(range(len(t)), t.pool.tolist(), t.nodes.tolist(), t.work_s.tolist(),
                      np.maximum(t.tau_s, MIN_INTERVAL_S).tolist(), t.delta_s.tolist(), (t.recover_s + t.load_s).tolist(),
                      t.soft_rate_per_s.tolist(), t.elastic.tolist(), t.min_nodes.tolist(), prio, submit, strict=True)
        self.jobs = [Job(i, self.pools[p], n, w, tau, d, r, sr, el, mn, pr, sub, (-pr if by_priority else 0, sub, i, n))
                     for i, p, n, w, tau, d, r, sr, el, mn, pr, sub in columns]
        self.soft = _Draws(rngmod.stream(seed, replica, "fleet/software"), "exp")
        self._order: list[Job] = []
        self._next = 0
        self._repair_draws: list[_Draws] = []
        self.events = 0
        n_samples = spec.simulation.timeline_points
        self.sample_t = np.linspace(0.0, self.horizon, n_samples)
        self.sample_alloc = np.zeros((len(self.pools), n_samples))
        self.sample_queued = np.zeros((len(self.pools), n_samples))

    # -- scheduling helpers ------------------------------------------------------------------------
    def _at(self, delay: float, fn: Any, job: Job) -> None:
        ev = self.env.timeout(delay)
        ev.job = job  # type: ignore[attr-defined]
        ev.epoch = job.epoch  # type: ignore[attr-defined]
        ev.callbacks.append(fn)

    def submit(self, job: Job) -> None:
        self.events += 1  # one event per job (arrivals at the same time share one SimPy event)
        job.state = QUEUED
        job.queued_at_s = self.env.now
        scheduler.enqueue(job.pool, job)
        scheduler.schedule(self, job.pool, submitted=job)

    def start(self, job: Job, nodes: int) -> None:
        """Give ``nodes`` idle nodes to ``job`` (the scheduler has checked they are free)."""
        pool = job.pool
        now = self.env.now
        pool.tick(now)
        pool.idle -= nodes
        job.nodes = nodes
        pool.held[job.i] = job
        job.queue_s += now - job.queued_at_s
        job.run_start_s = now
        if not job.started:
            job.started = True
            job.first_start_s = now
            self.begin_compute(job)
        else:
            self.begin_recovery(job)

    def begin_compute(self, job: Job) -> None:
        now = self.env.now
        job.state = RUNNING
        job.epoch += 1
        job.anchor_s = now
        job.rate = rate = job.nodes / job.want
        job.nseg = n = segments(job.work_s, rate, job.tau_s)
        job.expect_end_s = now + job.work_s / rate + n * job.delta_s
        self._at(job.expect_end_s - now, self._on_complete, job)
        if job.soft_rate_per_s > 0:
            self._at(self.soft.next() / job.soft_rate_per_s, self._on_software, job)

    def begin_recovery(self, job: Job) -> None:
        now = self.env.now
        job.state = RECOVERING
        job.epoch += 1
        job.phase_start_s = now
        job.rate = job.nodes / job.want
        job.expect_end_s = now + job.restart_s + timeline_s(job.work_s, job.rate, job.tau_s, job.delta_s)
        self._at(job.restart_s, self._on_recovered, job)
        if job.soft_rate_per_s > 0:
            self._at(self.soft.next() / job.soft_rate_per_s, self._on_software, job)

    # -- accounting ----------------------------------------------------------------------------------
    def settle(self, job: Job, now: float, lost_cat: int, at_horizon: bool = False) -> None:
        """Book the job's GPU-seconds since its anchor (or its recovery's start) up to ``now``."""
        g = job.pool.gpu_s
        gpus = job.nodes * job.pool.gpn
        if job.state == RECOVERING:
            g[job.lost_cat] += (now - job.phase_start_s) * gpus
            return
        k, lost_c, ck = segment_progress(now - job.anchor_s, job.work_s, job.rate, job.tau_s, job.delta_s)
        saved = k * job.tau_s * job.rate
        if at_horizon:
            saved += lost_c * job.rate  # unfinished at the horizon: the work so far counts, nothing is lost
            g[RUN] += (k * job.tau_s + lost_c) * gpus
        else:
            g[RUN] += k * job.tau_s * gpus
            g[lost_cat] += lost_c * gpus
        g[CKPT] += (k * job.delta_s + ck) * gpus
        job.useful_s += (k * job.tau_s + (lost_c if at_horizon else 0.0)) * job.rate
        job.work_s = max(job.work_s - saved, 0.0)

    # -- job events ------------------------------------------------------------------------------------
    def _on_complete(self, ev: Any) -> None:
        job: Job = ev.job
        if ev.epoch != job.epoch or job.state != RUNNING:
            return
        self.events += 1
        now = self.env.now
        pool = job.pool
        gpus = job.nodes * pool.gpn
        pool.gpu_s[RUN] += job.work_s / job.rate * gpus
        pool.gpu_s[CKPT] += job.nseg * job.delta_s * gpus
        job.useful_s += job.work_s
        job.work_s = 0.0
        job.state = DONE
        job.end_s = now
        job.epoch += 1
        pool.tick(now)
        pool.idle += job.nodes
        job.nodes = 0
        del pool.held[job.i]
        scheduler.schedule(self, pool)

    def _on_recovered(self, ev: Any) -> None:
        job: Job = ev.job
        if ev.epoch != job.epoch or job.state != RECOVERING:
            return
        self.events += 1
        job.pool.gpu_s[job.lost_cat] += (self.env.now - job.phase_start_s) * job.nodes * job.pool.gpn
        self.begin_compute(job)

    def _on_software(self, ev: Any) -> None:
        job: Job = ev.job
        if ev.epoch != job.epoch or job.state not in (RUNNING, RECOVERING):
            return
        self.events += 1
        self.interrupt(job, node_lost=False)

    def interrupt(self, job: Job, node_lost: bool) -> None:
        """A failure hits ``job``: lose the work since its checkpoint; replace the node, shrink or requeue."""
        now = self.env.now
        pool = job.pool
        self.settle(job, now, LOST_FAIL)
        job.lost_cat = LOST_FAIL
        job.interruptions += 1
        pool.tick(now)
        if node_lost:
            job.nodes -= 1
            self._to_repair(pool)
        missing = job.want - job.nodes
        if missing:
            take = min(missing, pool.spares)
            pool.spares -= take
            job.nodes += take
            missing -= take
            if missing and self.sched.replace_from_idle:
                take = min(missing, pool.idle)
                pool.idle -= take
                job.nodes += take
                missing -= take
        if missing and not (job.elastic and job.nodes >= job.min_nodes):
            self.requeue(job, failure=True)
            scheduler.schedule(self, pool)
            return
        self.begin_recovery(job)

    def requeue(self, job: Job, failure: bool) -> None:
        """Release the job's nodes and put it back in its queue (it keeps its priority and submit time)."""
        pool = job.pool
        pool.tick(self.env.now)
        pool.idle += job.nodes
        job.nodes = 0
        del pool.held[job.i]
        job.state = QUEUED
        job.epoch += 1
        job.requeues += failure  # requeues after failures; preemptions are counted apart
        job.failure_requeued = failure
        job.queued_at_s = self.env.now
        scheduler.enqueue(pool, job)

    def preempt(self, victim: Job, by: Job) -> None:
        cat = LOST_SECONDARY if by.failure_requeued else LOST_PREEMPT
        self.settle(victim, self.env.now, cat)
        victim.lost_cat = cat
        victim.preemptions += 1
        self.requeue(victim, failure=False)

    def wake(self, pool: Pool, at: float) -> None:
        """A scheduling pass of ``pool`` at time ``at`` (one pending wake per pool: the earliest)."""
        if at >= pool.wake_at_s:
            return
        pool.wake_at_s = at
        ev = self.env.timeout(max(at - self.env.now, 0.0))
        ev.pool = pool  # type: ignore[attr-defined]
        ev.callbacks.append(self._on_wake)

    def _on_wake(self, ev: Any) -> None:
        pool: Pool = ev.pool
        if self.env.now < pool.wake_at_s:
            return  # superseded by an earlier wake, which ran already
        pool.wake_at_s = math.inf
        scheduler.schedule(self, pool)

    # -- nodes: failures and repairs -------------------------------------------------------------------
    def _to_repair(self, pool: Pool) -> None:
        pool.repairing += 1
        duration = self._repair_draws[pool.index].next()
        if self.crew_free > 0:
            self.crew_free -= 1
            self._repair_done_at(pool, duration)
        else:
            self.crew_queue.append((pool, duration))

    def _repair_done_at(self, pool: Pool, duration: float) -> None:
        ev = self.env.timeout(duration)
        ev.pool = pool  # type: ignore[attr-defined]
        ev.callbacks.append(self._on_repaired)

    def _on_repaired(self, ev: Any) -> None:
        self.events += 1
        pool: Pool = ev.pool
        pool.tick(self.env.now)
        pool.repairing -= 1
        if pool.spares < pool.spare_target:
            pool.spares += 1
        else:
            pool.idle += 1
        if self.crew_queue:
            nxt, duration = self.crew_queue.popleft()
            self._repair_done_at(nxt, duration)
        else:
            self.crew_free += 1
        scheduler.schedule(self, pool)
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
        take = min(job.want - job.nodes, pool.idle)
        pool.idle -= take
        job.nodes += take
        job.lost_cat = LOST_FAIL  # the restart on more nodes is a cost of the earlier failure
        self.begin_recovery(job)

    def _failures(self, pool: Pool) -> Any:
        name = f"fleet/pool/{pool.name}"
        gaps = _Draws(rngmod.stream(self.seed, self.replica, name + "/failures"), "exp", 1.0 / (pool.nodes * pool.node_rate_per_s))
        picks = _Draws(rngmod.stream(self.seed, self.replica, name + "/nodes"), "uniform")
        env = self.env
        while True:
            yield env.timeout(gaps.next())
            self.events += 1
            x = int(picks.next() * pool.nodes)
            if x < pool.repairing:
                self._repair_draws[pool.index].next()  # thinned: the node is in repair (its draw is used up)
                continue
            x -= pool.repairing
            pool.tick(env.now)
            if x < pool.spares:
                pool.spares -= 1
                self._to_repair(pool)
                continue
            x -= pool.spares
            if x < pool.idle:
                pool.idle -= 1  # fewer idle nodes can start no job: no scheduling pass
                self._to_repair(pool)
                continue
            x -= pool.idle
            for job in pool.held.values():
                if x < job.nodes:
                    break
                x -= job.nodes
            self.interrupt(job, node_lost=True)

    def _on_arrival(self, ev: Any) -> None:
        """Submit every job due now, then wait for the next submission time (one event per distinct time)."""
        order, k, now = self._order, self._next, self.env.now
        while k < len(order) and order[k].submit_s <= now:
            self.submit(order[k])
            k += 1
        self._next = k
        if k < len(order):
            self.env.timeout(order[k].submit_s - now).callbacks.append(self._on_arrival)

    def _sampler(self) -> Any:
        env = self.env
        for k, t in enumerate(self.sample_t):
            if t > env.now:
                yield env.timeout(t - env.now)
            for p in self.pools:
                self.sample_alloc[p.index, k] = p.nodes - p.idle - p.spares - p.repairing
                self.sample_queued[p.index, k] = len(p.queue)

    # -- driving -----------------------------------------------------------------------------------------
    def run(self) -> None:
        env = self.env
        for p in self.pools:
            rng = rngmod.stream(self.seed, self.replica, f"fleet/pool/{p.name}/repairs")
            self._repair_draws.append(_Draws(rng, "fixed" if p.repair_fixed else "exp", p.repair_mean_s))
            if p.node_rate_per_s > 0:
                env.process(self._failures(p))
        self._order = sorted((j for j in self.jobs if j.submit_s < self.horizon), key=lambda j: (j.submit_s, j.i))
        self._next = 0
        if self._order:
            env.timeout(self._order[0].submit_s).callbacks.append(self._on_arrival)
        env.process(self._sampler())
        env.run(until=self.horizon)
        now = self.horizon
        for p in self.pools:
            for job in list(p.held.values()):
                self.settle(job, now, job.lost_cat, at_horizon=True)
            p.tick(now)
            p.check()


def run_replica(plan: FleetPlan, seed: int, replica: int) -> dict[str, Any]:
    """Simulate one replica; return its per-job arrays and per-pool figures (plain data, picklable)."""
    table = plan.jobs(seed, replica)
    eng = FleetEngine(plan, table, seed, replica)
    eng.run()
    jobs = eng.jobs
    return {
        "replica": replica,
        "events": eng.events,
        "submit_s": table.submit_s,
        "first_start_s": np.array([j.first_start_s for j in jobs], dtype=float),
        "end_s": np.array([j.end_s for j in jobs], dtype=float),
        "queue_s": np.array([j.queue_s + ((eng.horizon - j.queued_at_s) if j.state == QUEUED else 0.0)
                             for j in jobs], dtype=float),
        "work_s": table.work_s,
        "useful_s": np.array([j.useful_s for j in jobs], dtype=float),
        "interruptions": np.array([j.interruptions for j in jobs], dtype=np.int64),
        "requeues": np.array([j.requeues for j in jobs], dtype=np.int64),
        "preemptions": np.array([j.preemptions for j in jobs], dtype=np.int64),
        "gpus": table.nodes * np.array([plan.pools[int(p)].gpus_per_node for p in table.pool], dtype=np.int64)
        if len(table) else np.zeros(0, dtype=np.int64),
        "pool": table.pool,
        "template": table.template,
        "gpu_s": np.array([p.gpu_s for p in eng.pools], dtype=float),
        "alloc_nodes": eng.sample_alloc,
        "queued_jobs": eng.sample_queued,
    }
