"""The fleet's state: jobs, pools, and the bookkeeping of GPU-seconds by state.

A running job's progress is continuous, never simulated step by step (DESIGN.md): from its anchor (the
moment it last began computing) it repeats ``tau`` seconds of compute and a ``delta``-second blocking
checkpoint, the last segment shorter, each segment ending with a checkpoint (Daly 2006's model, as the
single-job simulation). :func:`segment_progress` says where in that timeline a job stands after ``e``
seconds, so an interruption costs one call, not one event per checkpoint.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clustersim.fleet.ownfail import OwnFeed

__all__ = ["QUEUED", "RUNNING", "RECOVERING", "DONE", "WAITING", "DETECTING", "STALLED", "HOLDING", "STATES", "Job", "Pool", "segment_progress",
           "segments", "timeline_s", "run_end_s", "log_cycles"]

#: WAITING: not submitted yet; DETECTING: a failure is being detected; RECOVERING: restart and checkpoint
#: load; STALLED: detected, short of nodes, holding the rest while it waits for a repaired one.
WAITING, QUEUED, RUNNING, RECOVERING, DONE, DETECTING, STALLED = 0, 1, 2, 3, 4, 5, 6
#: States in which a job holds nodes but does not compute (their GPU-seconds go to ``lost_cat``).
HOLDING = (DETECTING, RECOVERING, STALLED)

#: GPU-hour states a job's nodes are in (the pool adds idle, spare and repair).
STATES = ("running", "checkpointing", "lost_failure", "lost_preemption", "lost_secondary")
RUN, CKPT, LOST_FAIL, LOST_PREEMPT, LOST_SECONDARY = range(5)


def segments(work_s: float, rate: float, tau_s: float) -> int:
    """Checkpointed segments needed for ``work_s`` of work at ``rate`` with ``tau_s`` of compute each (a
    remainder of a billionth of tau earns no segment of its own, as in :mod:`clustersim.sim.runphase`)."""
    return max(1, math.ceil(work_s / rate / tau_s - 1e-9))


def run_end_s(t0: float, work_s: float, rate: float, tau_s: float, delta_s: float, n: int) -> float:
    """When a run phase begun at ``t0`` ends if nothing stops it: ``n`` (:func:`segments`) cycles of compute
    and a checkpoint, the last one's compute what is left; the same arithmetic as the single-job
    simulation's run phase (:func:`clustersim.sim.runphase.bound`), so the two agree to the last bit."""
    rem = work_s / rate
    if n == 1:
        return t0 + rem + delta_s
    return t0 + tau_s + delta_s + (n - 2) * (tau_s + delta_s) + (rem - (tau_s + (n - 2) * tau_s)) + delta_s


def log_cycles(job: Job, upto: float) -> None:
    """Add the run phase's checkpoint starts and ends up to ``upto`` to the job's log (the phase from
    ``job.anchor_s`` with ``job.work_s`` left; called once, when the phase ends)."""
    log = job.log
    if log is None:
        return
    t0, tau, w, n = job.anchor_s, job.tau_s, job.delta_s, job.nseg
    rem = job.work_s / job.rate
    base = t0 + tau + w
    period = tau + w
    for j in range(n):
        start = t0 if j == 0 else base + (j - 1) * period
        if j < n - 1:
            c = tau
        else:
            c = rem - (tau + (n - 2) * tau) if n > 1 else rem
        end_c = start + c
        if end_c > upto:
            return
        log.append((end_c, "checkpoint_start", "", -1, ""))
        if end_c + w > upto:
            return
        log.append((end_c + w, "checkpoint_done", "", -1, ""))


def timeline_s(work_s: float, rate: float, tau_s: float, delta_s: float) -> float:
    """Wall time to finish ``work_s`` of work: compute ``work_s / rate`` plus one checkpoint per segment."""
    return work_s / rate + segments(work_s, rate, tau_s) * delta_s


def segment_progress(e: float, work_s: float, rate: float, tau_s: float, delta_s: float
                     ) -> tuple[int, float, float]:
    """After ``e`` s of the timeline: (segments saved, compute since the last save, checkpoint time under way).

    Each saved segment holds ``tau_s * rate`` of work; a checkpoint interrupted part-way saves nothing.
    """
    n = segments(work_s, rate, tau_s)
    period = tau_s + delta_s
    k = min(int(e // period), n - 1)
    c = tau_s if k < n - 1 else (work_s - (n - 1) * tau_s * rate) / rate
    rem = e - k * period
    if rem <= c:
        return k, rem, 0.0
    return k, c, min(rem - c, delta_s)


class Job:
    """One job of one replica (plain slots: the engine touches these on every event)."""

    __slots__ = ("i", "pool", "want", "nodes", "work_s", "tau_s", "delta_s", "detect_s", "restart_s", "load_s",
                 "relaunch_s", "soft_rate_per_s", "elastic", "feed", "vacant", "log",
                 "min_nodes", "priority", "submit_s", "key", "state", "anchor_s", "rate", "epoch", "started",
                 "first_start_s", "end_s", "queued_at_s", "queue_s", "interruptions", "requeues", "preemptions",
                 "failure_requeued", "expect_end_s", "phase_start_s", "lost_cat", "useful_s", "run_start_s",
                 "regrow_pending", "nseg", "expect_s", "lemons", "launch_s")

    def __init__(self, i: int, pool: Pool, nodes: int, work: float, tau: float, delta: float, detect: float,
                 restart: float, load: float, soft_rate: float, elastic: bool, min_nodes: int, priority: int,
                 submit: float, key: tuple) -> None:
        self.i = i
        self.pool = pool
        self.want = nodes
        self.nodes = 0
        self.work_s = work  # remaining work, in seconds at the full size
        self.tau_s = tau
        self.delta_s = delta
        self.detect_s = detect  # failure to detection
        self.restart_s = restart  # detection to relaunch
        self.load_s = load  # checkpoint load after the relaunch
        self.relaunch_s = restart + load
        self.feed: OwnFeed | None = None  # the job's own failure sources (clustersim.fleet.ownfail.OwnFeed), if it has them
        self.vacant: dict[int, None] | None = None  # own sources: the job's node slots whose node is away
        self.log: list[tuple[float, str, str, int, str]] | None = None  # the job's event log, when kept
        self.soft_rate_per_s = soft_rate
        self.elastic = elastic
        self.min_nodes = min_nodes
        self.priority = priority
        self.submit_s = submit
        self.key = key
        self.state = WAITING
        self.anchor_s = 0.0
        self.rate = 1.0
        self.epoch = 0
        self.started = False
        self.first_start_s = math.nan
        self.end_s = math.nan
        self.queued_at_s = submit
        self.queue_s = 0.0
        self.interruptions = 0
        self.requeues = 0
        self.preemptions = 0
        self.failure_requeued = False
        self.expect_end_s = math.inf
        self.phase_start_s = 0.0
        self.lost_cat = LOST_FAIL
        self.useful_s = 0.0
        self.run_start_s = 0.0
        self.regrow_pending = False
        self.nseg = 1
        self.expect_s = 0.0  # failure-free time to finish, set when queued (backfill)
        self.lemons = 0  # lemon nodes among those it holds
        self.launch_s = 0.0  # its last launch (a start or a relaunch): a run's start in Kokolis's accounting


class Pool:
    """A pool's node counts (idle, spare, in repair, held by jobs), its queue, and time integrals."""

    __slots__ = ("index", "name", "nodes", "gpn", "spare_target", "idle", "spares", "repairing", "held",
                 "queue", "last_s", "gpu_s", "in_pass", "dirty", "node_rate_per_s", "repair_mean_s", "repair_fixed",
                 "wake_at_s", "settled", "held_prio", "version", "ends", "lemons", "lemon_rate_per_s", "lemon_repair_s",
                 "idle_lemons", "spare_lemons", "repair_lemons", "placement")

    def __init__(self, index: int, name: str, nodes: int, gpn: int, spares: int, node_rate: float,
                 repair_mean: float, repair_fixed: bool) -> None:
        self.index = index
        self.name = name
        self.nodes = nodes
        self.gpn = gpn
        self.spare_target = spares
        self.spares = spares
        self.idle = nodes - spares
        self.repairing = 0
        self.held: dict[int, Job] = {}  # jobs holding nodes (running or recovering), in start order
        self.queue: list[tuple] = []  # sorted keys (see clustersim.fleet.scheduler); the job index is [2]
        self.last_s = 0.0
        # GPU-seconds: the five job states, then idle, spare, repair
        self.gpu_s = [0.0] * (len(STATES) + 3)
        self.in_pass = False
        self.dirty = False
        self.node_rate_per_s = node_rate
        self.repair_mean_s = repair_mean
        self.repair_fixed = repair_fixed
        self.wake_at_s = math.inf  # a pending scheduling pass (preemption eligibility), if any
        self.settled = False  # no change but submissions since the last full scheduling pass
        self.held_prio: dict[int, int] = {}  # jobs holding nodes, by priority (a quick no to preemption)
        self.version = 0  # bumped whenever a held job's nodes or expected end may have changed
        self.ends: tuple[int, list[tuple[float, int]]] = (-1, [])  # (version, held jobs' sorted (end, nodes))
        # lemon nodes (clustersim.fleet.lemons): how many, their failure rate and repair time, where they are
        self.lemons = 0
        self.lemon_rate_per_s = 0.0
        self.lemon_repair_s = 0.0
        self.idle_lemons = self.spare_lemons = self.repair_lemons = 0
        self.placement: Any = None  # the Generator that says which nodes a job takes are lemons

    def tick(self, now: float) -> None:
        """Add the idle, spare and repair GPU-seconds since the last change."""
        self.settled = False  # every change of the pool's nodes comes through here
        self.version += 1
        dt = (now - self.last_s) * self.gpn
        if dt > 0:
            g = self.gpu_s
            g[5] += dt * self.idle
            g[6] += dt * self.spares
            g[7] += dt * self.repairing
        self.last_s = now

    def hold(self, job: Job) -> None:
        """``job`` now holds nodes of this pool."""
        self.held[job.i] = job
        self.held_prio[job.priority] = self.held_prio.get(job.priority, 0) + 1

    def release(self, job: Job) -> None:
        """``job`` holds no node of this pool any more."""
        del self.held[job.i]
        self.held_prio[job.priority] -= 1

    def held_ends(self) -> list[tuple[float, int]]:
        """The held jobs' (expected end, nodes), soonest first (cached until the pool changes)."""
        version, ends = self.ends
        if version != self.version:
            ends = sorted((j.expect_end_s, j.nodes) for j in self.held.values())
            self.ends = (self.version, ends)
        return ends

    def check(self) -> None:
        """Every node is in exactly one place (a bug otherwise: raised, never silently wrong)."""
        held = sum(j.nodes for j in self.held.values())
        lemons = [self.idle_lemons, self.spare_lemons, self.repair_lemons] + [j.lemons for j in self.held.values()]
        places = [self.idle, self.spares, self.repairing] + [j.nodes for j in self.held.values()]
        if sum(lemons) != self.lemons or any(not 0 <= m <= n for m, n in zip(lemons, places, strict=True)):
            raise RuntimeError(f"pool {self.name}: lemon count broken ({lemons} in {places}, {self.lemons} in all)")
        if self.idle + self.spares + self.repairing + held != self.nodes or min(self.idle, self.spares) < 0:
            raise RuntimeError(f"pool {self.name}: node count broken (idle {self.idle}, spares {self.spares}, "
                               f"repair {self.repairing}, held {held}, total {self.nodes})")
