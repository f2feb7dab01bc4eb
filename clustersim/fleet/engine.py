"""One replica of a fleet: SimPy processes for arrivals, node failures and sampling; callbacks for jobs.

Events are job arrivals, job completions, the ends of recoveries, node failures, repairs and software
failures; checkpoints are not events (see :mod:`clustersim.fleet.state`). A job's pending completion is a
SimPy timeout tagged with the job's epoch; an interruption bumps the epoch, so a stale timeout is ignored.

Node failures, repairs and elastic regrowth are in :mod:`clustersim.fleet.nodes`.

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
from clustersim.fleet.nodes import BATCH, Draws, NodeEvents
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

#: The shortest checkpoint interval simulated (a floor on Daly's optimum when a checkpoint is nearly free,
#: where the optimum tends to 0 and the loss to a failure with it).
MIN_INTERVAL_S = 60.0


class FleetEngine(NodeEvents):
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
        self.soft = Draws(rngmod.stream(seed, replica, "fleet/software"), "exp")
        self._order: list[Job] = []
        self._next = 0
        self._repair_draws: list[Draws] = []
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
            self._repair_draws.append(Draws(rng, "fixed" if p.repair_fixed else "exp", p.repair_mean_s))
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
