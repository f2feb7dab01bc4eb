"""One replica of a fleet: SimPy processes for arrivals, node failures and sampling; callbacks for jobs.

Events are job arrivals, job completions, the ends of detections and recoveries, node failures, repairs
and software failures; checkpoints are not events (see :mod:`clustersim.fleet.state`). A job's pending
completion is a SimPy timeout tagged with the job's epoch; an interruption bumps the epoch, so a stale
timeout is ignored.

Node failures, repairs and elastic regrowth are in :mod:`clustersim.fleet.nodes`; a job's own failure
sources (``failures: scenario``) in :mod:`clustersim.fleet.ownfail`.

A job whose node fails loses its work since its last checkpoint and holds its nodes while the failure is
detected; then each missing node is replaced by a hot spare, else an idle node
(``scheduler.replace_from_idle``), and the job relaunches (restart + checkpoint load; a failure during
detection or relaunch starts again from detection), the sequence of the single-job simulation
(:mod:`clustersim.sim.replica`). With no node to be had, an elastic job carries on with fewer nodes (at
least ``min_nodes``; progress in proportion) and a rigid one either releases its nodes and goes back to
the queue (``no_spare: requeue``: the requeue cascade of Kokolis et al. 2024) or holds them and waits for
a repaired node (``no_spare: wait``). A repaired node refills the spares first. A job requeued after a
failure goes back to its old place in the queue, or behind the jobs of its priority
(``scheduler.requeue_place: back``), and is eligible again ``scheduler.requeue_delay_minutes`` later (for
the share ``requeue_delay_share`` of such requeues, drawn per requeue; the others at once); meanwhile the
nodes it released are free for other jobs, so in a full cluster it must preempt to get them back. With
``scheduler.requeue_share`` below 1, only that share of the jobs a node failure stops are requeued as the
same job; the others are resubmitted as new jobs (behind their priority), and the preemptions they cause
count as ordinary ones, as in Kokolis's accounting, which ties a preemption to a failure by the job.

Beside the GPU-hours by state, the engine books hardware loss as Kokolis et al. 2024 (arXiv:2410.21680,
Sec. IV, "preemptions and failure cascades") estimate it from Slurm logs: every job a hardware failure
stops, and every job preempted by a job requeued after one, loses min(its run time, 30 min) x its GPUs
(their assumption: hourly checkpoints, half an hour lost on average), whatever its own checkpoints. A
stopped job's run time is since its last launch (its start, or its relaunch after an earlier failure);
a preempted job's since its start.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, cast

import numpy as np
import simpy

from clustersim import rng as rngmod
from clustersim.fleet import scheduler
from clustersim.fleet.lemons import LemonNodes
from clustersim.fleet.nodes import BATCH, Draws, NodeEvents
from clustersim.fleet.ownfail import OwnFeed
from clustersim.fleet.state import (
    CKPT,
    DETECTING,
    DONE,
    HOLDING,
    LOST_FAIL,
    LOST_PREEMPT,
    LOST_SECONDARY,
    QUEUED,
    RECOVERING,
    RUN,
    RUNNING,
    STALLED,
    Job,
    Pool,
    log_cycles,
    run_end_s,
    segment_progress,
    segments,
    timeline_s,
)
from clustersim.fleet.workload import FleetPlan, JobTable

__all__ = ["FleetEngine", "run_replica", "BATCH"]

#: The shortest checkpoint interval simulated (a floor on Daly's optimum when a checkpoint is nearly free,
#: where the optimum tends to 0 and the loss to a failure with it).
MIN_INTERVAL_S = 60.0
#: Kokolis et al. 2024's loss per stopped job: min(run time, 30 min) x GPUs (all jobs assumed to checkpoint
#: hourly, so half an hour of work is lost on average).
KOKOLIS_LOSS_CAP_S = 1800.0


class FleetEngine(NodeEvents, LemonNodes):
    """The state and event handlers of one replica (``run`` drives it to the horizon). ``log_jobs``: the
    indices of the jobs whose event log is kept (rows as ``clustersim simulate --events`` writes them)."""

    def __init__(self, plan: FleetPlan, jobs: JobTable, seed: int, replica: int, log_jobs: tuple[int, ...] = ()
                 ) -> None:
        spec = plan.fleet.spec
        self.env = simpy.Environment()
        self.spec = spec
        self.sched = spec.scheduler
        self.wait_for_nodes = spec.scheduler.no_spare == "wait"
        self.requeue_delay_s = spec.scheduler.requeue_delay_minutes * 60.0
        self.requeue_back = spec.scheduler.requeue_place == "back"
        self.requeue_delay_share = spec.scheduler.requeue_delay_share
        self.requeue_share = spec.scheduler.requeue_share
        self.resubmit_draws = Draws(rngmod.stream(seed, replica, "fleet/resubmissions"), "uniform")
        self.requeue_draws = Draws(rngmod.stream(seed, replica, "fleet/requeue-delays"), "uniform")
        #: GPU-seconds lost by Kokolis's accounting: [jobs stopped by a hardware failure, secondary preemptions]
        self.kokolis_gpu_s = [0.0, 0.0]
        self.seed, self.replica = seed, replica
        self.horizon = spec.simulation.horizon_days * 86400.0
        self.pools = [Pool(i, p.name, p.nodes, p.gpus_per_node, p.spare_nodes, p.node_rate_per_s, p.repair_mean_s,
                           p.repair_fixed) for i, p in enumerate(plan.pools)]
        for pool, p in zip(self.pools, plan.pools, strict=True):
            pool.lemons, pool.lemon_rate_per_s, pool.lemon_repair_s = p.lemon_nodes, p.lemon_rate_per_s, p.lemon_repair_s
        self.crew_free = spec.repair.crew if spec.repair.crew is not None else math.inf
        self.crew_queue: deque[tuple[Pool, float, Job | None, bool]] = deque()
        by_priority = spec.scheduler.policy != "fifo"
        t = jobs
        prio = t.priority.tolist()
        submit = t.submit_s.tolist()
        # a job with its own failures keeps the single-job simulation's interval (no floor)
        tau = np.where(t.own >= 0, t.tau_s, np.maximum(t.tau_s, MIN_INTERVAL_S))
        columns = zip(range(len(t)), t.pool.tolist(), t.nodes.tolist(), t.work_s.tolist(), tau.tolist(),
                      t.delta_s.tolist(), t.detect_s.tolist(), t.restart_s.tolist(), t.load_s.tolist(),
                      t.soft_rate_per_s.tolist(), t.elastic.tolist(), t.min_nodes.tolist(), prio, submit, strict=True)
        self.jobs = [Job(i, self.pools[p], n, w, ta, d, de, rs, ld, sr, el, mn, pr, sub,
                         (-pr if by_priority else 0, sub, i, n))
                     for i, p, n, w, ta, d, de, rs, ld, sr, el, mn, pr, sub in columns]
        self.own = plan.own
        self.job_own = t.own.tolist()
        for k in log_jobs:
            self.jobs[k].log = []
        self.soft = Draws(rngmod.stream(seed, replica, "fleet/software"), "exp")
        self._order: list[Job] = []
        self._next = 0
        self._repair_draws: list[Draws] = []
        self._lemon_draws: list[Draws] = []
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
        self.take(job, "idle", nodes)
        pool.hold(job)
        job.queue_s += now - job.queued_at_s
        job.run_start_s = job.launch_s = now
        if not job.started:
            job.started = True
            job.first_start_s = now
            own = self.job_own[job.i]
            if own >= 0:
                job.feed = OwnFeed(self.own[own], self.seed, self.replica, job.i, now)
                job.vacant = {}
                self._own_next(job)
            if job.log is not None:
                job.log.append((now, "start", "", -1, f"work_s={job.work_s!r} nodes={job.want}"))
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
        job.expect_end_s = run_end_s(now, job.work_s, rate, job.tau_s, job.delta_s, n)
        job.pool.version += 1
        self._at(job.expect_end_s - now, self._on_complete, job)
        if job.soft_rate_per_s > 0:
            self._at(self.soft.next() / job.soft_rate_per_s, self._on_software, job)

    def _hold(self, job: Job, state: int, delay: float, fn: Any) -> float:
        """Begin a phase in which the job holds its nodes without computing (``fn`` ends it)."""
        now = self.env.now
        job.state = state
        job.epoch += 1
        job.phase_start_s = now
        rate = max(job.nodes, 1) / job.want  # (a one-node job detecting its failure holds no node)
        job.expect_end_s = now + delay + timeline_s(job.work_s, rate, job.tau_s, job.delta_s)
        job.pool.version += 1
        self._at(delay, fn, job)
        if job.soft_rate_per_s > 0:
            self._at(self.soft.next() / job.soft_rate_per_s, self._on_software, job)
        return job.expect_end_s

    def begin_detection(self, job: Job) -> None:
        """A failure stopped the job: detection, then the replacement of its missing nodes."""
        job.expect_end_s = self._hold(job, DETECTING, job.detect_s, self._on_detected) + job.relaunch_s

    def begin_recovery(self, job: Job) -> None:
        """Relaunch on a full (or, elastic, a shrunk) set of nodes: restart, then load the checkpoint."""
        job.launch_s = self.env.now
        self._hold(job, RECOVERING, job.relaunch_s, self._on_recovered)

    def stall(self, job: Job) -> None:
        """Short of nodes after a detection: hold the others and wait for a repaired one."""
        job.state = STALLED
        job.epoch += 1
        job.phase_start_s = self.env.now
        job.expect_end_s = math.inf
        job.pool.version += 1
        if job.log is not None:
            job.log.append((self.env.now, "wait_for_spares", "", -1, f"vacant={job.want - job.nodes}"))

    # -- accounting ----------------------------------------------------------------------------------
    def settle(self, job: Job, now: float, lost_cat: int, at_horizon: bool = False) -> None:
        """Book the job's GPU-seconds since its anchor (or its phase's start) up to ``now``."""
        g = job.pool.gpu_s
        gpus = job.nodes * job.pool.gpn
        if job.state in HOLDING:
            g[job.lost_cat] += (now - job.phase_start_s) * gpus
            if job.log is not None and job.state == RECOVERING and job.phase_start_s + job.restart_s <= now:
                job.log.append((job.phase_start_s + job.restart_s, "restarted", "", -1, ""))
            return
        if job.log is not None:
            log_cycles(job, now)
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
        if job.log is not None:
            log_cycles(job, math.inf)
            job.log.append((now, "finish", "", -1, ""))
        pool.gpu_s[RUN] += job.work_s / job.rate * gpus
        pool.gpu_s[CKPT] += job.nseg * job.delta_s * gpus
        job.useful_s += job.work_s
        job.work_s = 0.0
        job.state = DONE
        job.end_s = now
        job.epoch += 1
        pool.tick(now)
        self.give_back(job)
        pool.release(job)
        scheduler.schedule(self, pool)

    def _book_phase(self, job: Job) -> None:
        now = self.env.now
        job.pool.gpu_s[job.lost_cat] += (now - job.phase_start_s) * job.nodes * job.pool.gpn
        job.phase_start_s = now

    def _on_detected(self, ev: Any) -> None:
        job: Job = ev.job
        if ev.epoch != job.epoch or job.state != DETECTING:
            return
        self.events += 1
        self._book_phase(job)
        if job.log is not None:
            job.log.append((self.env.now, "detected", "", -1, ""))
        self.after_detection(job)

    def after_detection(self, job: Job) -> None:
        """Replace the missing nodes; then relaunch, shrink (elastic), wait for a node, or requeue."""
        self.replace(job)
        if job.nodes == job.want or (job.elastic and job.nodes >= job.min_nodes):
            self.begin_recovery(job)
        elif self.wait_for_nodes:
            self.stall(job)
        else:
            self.requeue(job, failure=True)
            scheduler.schedule(self, job.pool)

    def replace(self, job: Job) -> None:
        """Fill the job's missing nodes with hot spares, then (``replace_from_idle``) idle nodes."""
        missing = job.want - job.nodes
        if not missing:
            return
        pool = job.pool
        pool.tick(self.env.now)
        take = min(missing, pool.spares)
        self.take(job, "spares", take)
        if self.sched.replace_from_idle and take < missing:
            extra = min(missing - take, pool.idle)
            self.take(job, "idle", extra)
            take += extra
        if job.vacant is not None and take:
            now = self.env.now
            for slot in sorted(job.vacant)[:take]:
                del job.vacant[slot]
                if job.log is not None:
                    job.log.append((now, "spare_swap", "", slot, ""))

    def _on_recovered(self, ev: Any) -> None:
        job: Job = ev.job
        if ev.epoch != job.epoch or job.state != RECOVERING:
            return
        self.events += 1
        if job.log is not None:
            job.log.append((job.phase_start_s + job.restart_s, "restarted", "", -1, ""))
            job.log.append((self.env.now, "resumed", "", -1, ""))
        self._book_phase(job)
        self.begin_compute(job)

    def _on_software(self, ev: Any) -> None:
        job: Job = ev.job
        if ev.epoch != job.epoch or job.state not in (RUNNING, DETECTING, RECOVERING):
            return
        self.events += 1
        self.interrupt(job, node_lost=False)

    def interrupt(self, job: Job, node_lost: bool, repair_s: float | None = None, lemon: bool = False) -> None:
        """A failure hits ``job``: lose the work since its checkpoint, send the node (if one failed) to
        repair, and detect; a job already waiting for nodes only loses one more node."""
        now = self.env.now
        pool = job.pool
        job.interruptions += 1
        if job.state == STALLED:  # (only a node failure comes here: nothing runs to be stopped)
            self._book_phase(job)
            pool.tick(now)
            job.nodes -= 1
            job.lemons -= lemon
            self._to_repair(pool, repair_s, job, lemon)
            return
        if node_lost and job.state in (RUNNING, RECOVERING):  # a launched run stopped by hardware (Kokolis)
            self.kokolis_gpu_s[0] += min(now - job.launch_s, KOKOLIS_LOSS_CAP_S) * job.nodes * pool.gpn
        self.settle(job, now, LOST_FAIL)
        job.lost_cat = LOST_FAIL
        pool.tick(now)
        if node_lost:
            job.nodes -= 1
            job.lemons -= lemon
            self._to_repair(pool, repair_s, job, lemon)
        self.begin_detection(job)

    # -- the job's own failure sources ----------------------------------------------------------------
    def _own_next(self, job: Job) -> None:
        feed = cast("OwnFeed", job.feed)
        ev = self.env.timeout(feed.next_s() - self.env.now)
        ev.job = job  # type: ignore[attr-defined]
        ev.callbacks.append(self._on_own_failure)

    def _on_own_failure(self, ev: Any) -> None:
        """One of the job's own sources fails now (drawn whatever the job does: common random numbers)."""
        job: Job = ev.job
        if job.state == DONE:
            return
        self.events += 1
        component, slot, repair_s = cast("OwnFeed", job.feed).pop()
        vacant = cast("dict[int, None]", job.vacant)
        now = self.env.now
        log = job.log
        if slot < 0:
            hit = job.state in (RUNNING, DETECTING, RECOVERING)
        else:
            hit = job.state in (RUNNING, STALLED, DETECTING, RECOVERING) and slot not in vacant
        if not hit:
            if log is not None:
                log.append((now, "failure_ignored", component, slot, ""))
        else:
            if log is not None:
                log.append((now, "failure", component, slot, ""))
            if slot >= 0:
                vacant[slot] = None
            self.interrupt(job, node_lost=slot >= 0, repair_s=repair_s)
        self._own_next(job)

    def requeue(self, job: Job, failure: bool) -> None:
        """Release the job's nodes and put it back in its queue (it keeps its priority and submit time)."""
        pool = job.pool
        pool.tick(self.env.now)
        self.give_back(job)
        pool.release(job)
        if job.vacant is not None:
            job.vacant = {}  # its next start is on whole nodes
        job.state = QUEUED
        job.epoch += 1
        job.requeues += failure  # requeues after failures; preemptions are counted apart
        resubmitted = failure and self.requeue_share < 1.0 and self.resubmit_draws.next() >= self.requeue_share
        job.failure_requeued = failure and not resubmitted
        job.queued_at_s = self.env.now
        if failure and (self.requeue_back or resubmitted):
            job.key = (job.key[0], self.env.now, job.i, job.want)  # queued anew (its submit time stays for the figures)
        if failure and self.requeue_delay_s > 0 and (self.requeue_delay_share >= 1.0
                                                     or self.requeue_draws.next() < self.requeue_delay_share):
            self._at(self.requeue_delay_s, self._on_eligible, job)
        else:
            scheduler.enqueue(pool, job)

    def _on_eligible(self, ev: Any) -> None:
        """A job requeued after a failure becomes eligible to start again (``requeue_delay_minutes``)."""
        job: Job = ev.job
        if ev.epoch != job.epoch or job.state != QUEUED:
            return
        self.events += 1
        scheduler.enqueue(job.pool, job)
        scheduler.schedule(self, job.pool)

    def preempt(self, victim: Job, by: Job) -> None:
        cat = LOST_SECONDARY if by.failure_requeued else LOST_PREEMPT
        if by.failure_requeued:
            now = self.env.now
            self.kokolis_gpu_s[1] += min(now - victim.run_start_s, KOKOLIS_LOSS_CAP_S) * victim.nodes * victim.pool.gpn
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
        ev.at = at  # type: ignore[attr-defined]
        ev.callbacks.append(self._on_wake)

    def _on_wake(self, ev: Any) -> None:
        pool: Pool = ev.pool
        if ev.at != pool.wake_at_s:
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
            kind = "fixed" if p.repair_fixed else "exp"
            rng = rngmod.stream(self.seed, self.replica, f"fleet/pool/{p.name}/repairs")
            self._repair_draws.append(Draws(rng, kind, p.repair_mean_s))
            rng = rngmod.stream(self.seed, self.replica, f"fleet/pool/{p.name}/lemons/repairs")
            self._lemon_draws.append(Draws(rng, kind, p.lemon_repair_s))
            if p.node_rate_per_s > 0 and p.nodes > p.lemons:
                env.process(self._failures(p, lemon=False))
            if p.lemons:
                self.place_lemons(p)
                env.process(self._failures(p, lemon=True))
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


def run_replica(plan: FleetPlan, seed: int, replica: int, log_jobs: tuple[int, ...] = ()) -> dict[str, Any]:
    """Simulate one replica; return its per-job arrays and per-pool figures (plain data, picklable), and
    under ``logs`` the event log of each job in ``log_jobs`` (rows (time_s, event, component, node slot,
    detail), in time order, the rows of ``clustersim simulate --events``)."""
    table = plan.jobs(seed, replica)
    eng = FleetEngine(plan, table, seed, replica, log_jobs)
    eng.run()
    jobs = eng.jobs
    return {
        "logs": {k: sorted(jobs[k].log or [], key=lambda row: row[0]) for k in log_jobs},
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
        "kokolis_gpu_s": np.array(eng.kokolis_gpu_s, dtype=float),
        "alloc_nodes": eng.sample_alloc,
        "queued_jobs": eng.sample_queued,
    }
