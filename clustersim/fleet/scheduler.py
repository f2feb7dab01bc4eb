"""Gang scheduling of one pool's queue: FIFO, priority (with optional preemption) and EASY backfill.

A job starts only when all its nodes are free (gang scheduling). The queue is sorted by a key fixed at
submission: ``(0, submit time, index, nodes)`` for FIFO, ``(-priority, submit time, index, nodes)``
otherwise (the index is unique, so the node count only rides along for the backfill scan), so a
requeued job goes back to its old place (``scheduler.requeue_place: keep``); with ``back`` a job requeued
after a failure is keyed by its requeue time instead, behind the jobs of its priority already queued
(Slurm resets a requeued job's submit time: sacct and scontrol man pages).

* fifo / priority: start jobs from the head while they fit; the first that does not blocks the rest.
* preemption: a blocked head preempts running jobs of strictly lower priority (lowest priority first,
  then the most recently started), if they free enough nodes; each must have run ``preempt_after_hours``.
  A preempted job loses its work since its checkpoint and is requeued.
* backfill (EASY, Lifka 1995; Mu'alem & Feitelson 2001, IEEE TPDS 12(6)): the blocked head gets a
  reservation at the shadow time, when enough running jobs will have finished by their failure-free
  expected end; a later job among the next ``backfill_depth`` starts now if it fits the idle nodes and
  either ends before the shadow time or uses only nodes the head will not need.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from clustersim.fleet.state import Job, Pool, timeline_s

if TYPE_CHECKING:
    from clustersim.fleet.engine import FleetEngine

__all__ = ["enqueue", "schedule", "expected_s"]

#: Seconds within which a job counts as having run preempt_after_hours (far below any time scale of the model).
_EPS_S = 1e-6


def enqueue(pool: Pool, job: Job) -> None:
    job.expect_s = expected_s(job)
    bisect.insort(pool.queue, job.key)


def schedule(eng: FleetEngine, pool: Pool, submitted: Job | None = None) -> None:
    """Start what the policy allows; re-entrant calls (a preemption requeues a job) are folded in.

    ``pool.settled`` says that nothing changed since the last full pass but submissions (the engine
    clears it on every other change). A job submitted then behind the head can only start by
    backfilling, so only it is tried: the same decision as a full pass, without rescanning the queue.
    """
    if pool.in_pass:
        pool.dirty = True
        return
    if submitted is not None and pool.settled and pool.queue[0] != submitted.key:
        if eng.sched.policy == "backfill":
            position = bisect.bisect_left(pool.queue, submitted.key)
            if position <= eng.sched.backfill_depth:
                _backfill(eng, pool, eng.jobs[pool.queue[0][2]], only=submitted)
        return
    pool.in_pass = True
    try:
        pool.dirty = True
        while pool.dirty:
            pool.dirty = False
            _pass(eng, pool)
    finally:
        pool.in_pass = False
    pool.settled = True


def _pass(eng: FleetEngine, pool: Pool) -> None:
    queue = pool.queue
    jobs = eng.jobs
    while queue:
        head = jobs[queue[0][2]]
        if head.want <= pool.idle:
            queue.pop(0)
            eng.start(head, head.want)
            continue
        if eng.sched.preemption and _preempt_for(eng, pool, head):
            continue
        if eng.sched.policy == "backfill" and len(queue) > 1 and _backfill(eng, pool, head):
            pool.dirty = True  # the starts moved later jobs into the window: look again (a fixpoint)
        return


def _preempt_for(eng: FleetEngine, pool: Pool, head: Job) -> bool:
    if not any(count for p, count in pool.held_prio.items() if p < head.priority):
        return False  # no job of lower priority holds a node (the usual case: a blocked low-priority head)
    now = eng.env.now
    min_run = eng.sched.preempt_after_hours * 3600.0
    lower = [j for j in pool.held.values() if j.priority < head.priority]
    # eligible from run_start + min_run on; the tolerance makes a wake at that time (which SimPy's clock
    # can reach an ulp early) find the job eligible, so a wake never has to be scheduled again
    eligible = now + _EPS_S
    victims = [j for j in lower if j.run_start_s + min_run <= eligible]
    if pool.idle + sum(j.nodes for j in victims) < head.want:
        if len(victims) < len(lower) and pool.idle + sum(j.nodes for j in lower) >= head.want:
            # enough once more of them have run preempt_after_hours: look again then, not at a random later event
            eng.wake(pool, min(j.run_start_s + min_run for j in lower if j.run_start_s + min_run > eligible))
        return False
    victims.sort(key=lambda j: (j.priority, -j.run_start_s, -j.i))
    freed = pool.idle
    for victim in victims:
        if freed >= head.want:
            break
        freed += victim.nodes
        eng.preempt(victim, head)
    return True


def expected_s(job: Job) -> float:
    """A queued job's failure-free time to finish (what a user's time limit would say); set at enqueue."""
    extra = job.relaunch_s if job.started else 0.0
    return extra + timeline_s(job.work_s, 1.0, job.tau_s, job.delta_s)


def _backfill(eng: FleetEngine, pool: Pool, head: Job, only: Job | None = None) -> int:
    """Start the jobs EASY backfill allows now; return how many started."""
    queue = pool.queue
    jobs = eng.jobs
    idle = pool.idle
    if not idle:
        return 0
    if only is not None:
        candidates = [only] if only.want <= idle else []
    else:
        depth = min(len(queue), eng.sched.backfill_depth + 1)
        candidates = [jobs[key[2]] for key in queue[1:depth] if key[3] <= idle]
    if not candidates:
        return 0
    now = eng.env.now
    free = idle
    shadow = float("inf")
    for end, n in pool.held_ends():
        free += n
        if free >= head.want:
            shadow = end
            break
    if shadow == float("inf"):
        return 0  # the head waits on repairs too: no reservation can be promised, so nothing jumps it
    extra = free - head.want
    started = 0
    for job in candidates:
        if job.want > pool.idle:
            continue
        ends_before = now + job.expect_s <= shadow
        if ends_before or job.want <= extra:
            if not ends_before:
                extra -= job.want
            queue.remove(job.key)
            eng.start(job, job.want)
            started += 1
    return started
