"""One replica: the training job as a SimPy process that advances in segments between events.

The job process runs one *phase* at a time: a run phase is "compute until the next checkpoint (or the
finish), then write it", over as many cycles as come before the job's next decision; a recovery phase
is "detect, then restart, then load". The next failure comes from every source's failures merged in
time order (:class:`~clustersim.sim.processes.FailureFeed`, :mod:`.failstream`): the job process waits
for whichever is first, the failure or the end of its phase, and on a failure computes what it did in
the part of the phase it was in (no interrupt per failure: one SimPy timeout per failure or phase).
Part boundaries inside a phase (the checkpoint's start, the end of detection) are applied lazily by
:meth:`Replica.settle`, which everything calls before it touches shared state, so the state is always
what it would be had each boundary been its own event. Training steps are never simulated: progress
is continuous at the current rate. The state lives in four objects (:mod:`.state`).

A *plain* job (synchronous checkpoints, node and job-level failures, no crew limit, maintenance,
elastic shrink, stragglers, trace or log: :func:`~clustersim.sim.fastpath.plain_job`) runs the same
loop with its state in local variables (:mod:`.fastpath`), handing over to :meth:`Replica.loop` for
anything else (waiting for spares, the finish, the horizon, the budget); its coroutine is resumed by
its events' callbacks rather than a :class:`simpy.Process` (it is never interrupted). Both give the
same result to the last bit and process the same SimPy events (tests/test_sim_fastpath.py).

Semantics (documented choices):

* A failure during compute or a checkpoint write loses everything since the last completed
  checkpoint (a write cut short is lost work). The job stops; detection, then node replacement, then
  restart and checkpoint load. A failure during detection, restart or load starts the recovery again
  from detection (so recovery R = detect + restart + load is exposed to failures, as in Daly's model).
* Replacement happens when detection ends: each vacant node slot takes a free spare (in slot order);
  if none is left the job waits for a repair to return a node, or, with ``elastic``, runs on the
  remaining DP replicas (nodes pooled: k = ceil(vacant / nodes_per_replica) replicas missing) as long
  as at least ``min_replicas`` remain. A shrunk job grows back at a checkpoint boundary once free spares
  can restore at least one replica (a restart + load, no lost work). A failure while the job already
  waits, or during maintenance, only adds a vacant slot (nothing is running to lose).
* Failures strike node slots of the job; a unit in a slot that is vacant (its node in repair, not yet
  replaced) cannot fail, so that failure is ignored (thinning). Idle spares do not fail.
* Leaf switch: every active node below it goes down at once; they come back (to the spare pool) when
  the switch is repaired. Spine switch (``fabric``): the job runs on at ``degraded_speed[k]`` with k
  spines down, until repaired. Software (``job``): restart only, nothing to repair.
* Spot preemption (``preempt``): the node is taken away and comes back to the pool after a re-acquire
  delay drawn like a repair with mean ``preempt_return_s`` (default ``repair_s``); while the job waits
  for a node that a preemption took, the time counts as ``preempted``.
* Async checkpoints: only ``checkpoint_block_s`` stops training; the write completes
  ``checkpoint_write_s - checkpoint_block_s`` later, and only then is the checkpoint usable. A failure
  before that loses it (the job restores the previous one). A checkpoint that falls due while the
  previous write is still going waits for it. The final checkpoint, and one before maintenance or a
  re-expansion, is written in full (blocking).
* Stragglers: each node (slot) is a straggler with probability ``straggler_fraction`` at the start;
  the job runs at 1/``straggler_slowdown`` while any straggler is in it. Stragglers are found and
  swapped for free spares at the next restart (after any failure); the job never restarts just for a
  straggler. Nodes that come back from repair are not stragglers.
* Maintenance: windows are due every ``maintenance_period_s``; a due window is taken at the next
  checkpoint (written in full first, so no work is lost), lasts ``maintenance_duration_s``, and is
  followed by a restart + load (no detection). Windows that fall due while one is pending (the job
  down for long) are not made up: the next is due one period after the window taken.
* Horizon: a replica still running at ``job.horizon`` stops there (``finished`` False); compute not
  yet checkpointed then counts as productive (and degraded), so the parts still add up to the wall.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import simpy

from clustersim import rng as rngmod

from .distributions import RepairDraws
from .fastpath import plain_job, run_plain
from .job import SIMPY_EVENTS_PER_BUDGET, SimJob
from .modes import DETECT_RESTART_LOAD, DONE, MAINT, P_DETECT, P_LOAD, P_MAINT, P_RESTART, RECOVER, RUN, WAIT
from .nodes import can_expand, replace, sync_returns
from .processes import FailureFeed
from .records import BUCKETS, EventRow, ReplicaResult
from .runphase import begin_run, close_run, computing, run_part, settle_run
from .state import Counters, NodeState, Phase, Progress

__all__ = ["Replica", "run_replica"]

# buckets, by index
PROD, LOST, CKPT, DET, RST, LOAD, WAITB, PREEMPTB, MAINTB, DEGR = range(len(BUCKETS))
# parts of a recovery or maintenance phase (modes.P_DETECT ...)
_PART_BUCKET = (DET, RST, LOAD, MAINTB)
_PART_NAME = ("detection", "restart", "checkpoint load", "maintenance")
_DETECT_RESTART_LOAD = DETECT_RESTART_LOAD
_DETECT = (P_DETECT,)
_RESTART_LOAD = (P_RESTART, P_LOAD)
_MAINTENANCE = (P_MAINT,)


class Replica:
    """One simulated run: the SimPy environment, the job process, and the state objects it owns (see
    :mod:`.state`): ``prog`` (progress and checkpoints), ``nodes`` (slots, spares, returns), ``ph`` (the
    current phase), ``count`` (what the result counts). Build, then :meth:`run` once."""

    def __init__(self, job: SimJob, seed: int = 0, replica: int = 0, log: bool = False):
        self.job = job
        self.seed = seed
        self.replica = replica
        self.env = simpy.Environment()
        self.log: list[EventRow] | None = [] if log else None
        self.log_rows = self.log  # the log kept (``log`` becomes None when it is full: the quiet path)
        self.log_truncated = False
        self.stop_after_phase = False  # the run phase under way has more cycles than can be counted
        self.budget_hit = False
        self.prog = Progress()
        self.nodes = NodeState(pool=job.spare_nodes)
        if job.straggler_fraction > 0 and job.straggler_slowdown > 1:
            draws = rngmod.stream(seed, replica, "straggler").random(job.nodes)
            self.nodes.stragglers = {int(i) for i in (draws < job.straggler_fraction).nonzero()[0]}
        # repairs of swapped stragglers (only a job with stragglers swaps them)
        self.straggler_repairs: RepairDraws | None = None
        if self.nodes.stragglers:
            self.straggler_repairs = RepairDraws(rngmod.stream(seed, replica, "repair/straggler"),
                                                 job.repair_distribution, job.repair_s, job.repair_cv)
        self.ph = Phase(wait_bucket=WAITB)
        self.count = Counters()
        self.next_maint = job.maintenance_period_s if job.maintenance_period_s else math.inf
        self.waiter: simpy.Event | None = None
        self.crew: simpy.Resource | None = None  # set by FailureFeed
        self.finished = False
        self.end_s = 0.0
        self.done = self.env.event()
        self.replan = False  # a change of speed found while the job process itself runs (no interrupt)
        self.woken = False  # a node came back while the job waits
        self.feed = FailureFeed(self, seed, replica)
        self._recover_durs = (job.detect_s, job.restart_s, job.checkpoint_load_s)
        self.proc: simpy.Process | None = None
        if plain_job(self):  # its coroutine resumed by the events' callbacks (no re-plan, no interrupt)
            start = self.env.event()  # (the start, as a process's Initialize event)
            start.callbacks.append(_driver(run_plain(self).send))
            start.succeed()
        else:
            self.proc = self.env.process(self._job_process())
        self.env.timeout(job.horizon).callbacks.append(self._at_horizon)

    # ------------------------------------------------------------------ logging
    def emit(self, t: float, event: str, component: str = "", node: int = -1, detail: str = "") -> None:
        log = self.log
        if log is not None:
            log.append((t, event, component, node, detail))
            if len(log) >= self.job.max_log_rows:  # full: from now on the replica runs as without a log
                self.log = None
                self.log_truncated = True

    # ------------------------------------------------------------------ rates and commits
    def rate(self) -> float:
        """Relative progress rate now: elastic x fabric x stragglers."""
        job = self.job
        r = 1.0
        if self.nodes.missing:
            r *= job.elastic_rate(self.nodes.missing)
        if self.nodes.spines_down:
            r *= job.fabric_rate(len(self.nodes.spines_down))
        if self.nodes.stragglers:
            r /= job.straggler_slowdown
        return r

    def commit_inflight(self, upto: float) -> None:
        """Complete the async checkpoint being written if its write ended by ``upto``."""
        inf = self.prog.inflight
        if inf is not None and inf[0] <= upto:
            self.prog.inflight = None
            self.prog.commit(inf[1], inf[2])
            self.prog.checkpoints += 1
            if self.log is not None:
                self.emit(inf[0], "checkpoint_done", detail=f"work_s={inf[1]!r}")

    # ------------------------------------------------------------------ recovery / maintenance phases
    def _begin(self, mode: int, parts: tuple[int, ...], durs: tuple[float, ...]) -> float:
        """Start a recovery or maintenance phase of ``parts`` lasting ``durs`` now; returns its duration."""
        now = self.env.now
        ph = self.ph
        ph.mode = mode
        ph.phase_id += 1
        ph.ph_t0 = now
        ph.ph_next = 0
        ph.gp_parts = parts
        ph.gp_durs = durs
        ends = []
        t = now
        for d in durs:
            t += d
            ends.append(t)
        ph.gp_ends = ends
        ph.next_t = ends[0] if ends else math.inf
        return t - now

    def _begin_recover(self, now: float) -> float:
        """After a failure (``now``): detection, and, if the free spares already cover every vacant slot,
        restart and load in the same phase (the replacement is applied when detection ends)."""
        nodes = self.nodes
        returns = nodes.returns
        if returns and returns[0][0] <= now:
            sync_returns(self, now)
        # (stragglers are swapped at the end of detection and sent to repair: keep that boundary an
        # event of its own so a repair crew queues them at the right time)
        ph = self.ph
        ph.gp_merged = merged = len(nodes.vacant) <= nodes.pool and not nodes.stragglers
        if merged:
            return self._begin(RECOVER, _DETECT_RESTART_LOAD, self._recover_durs)
        return self._begin(RECOVER, _DETECT, (self.job.detect_s,))

    def _begin_restart(self) -> float:
        self.ph.gp_merged = True
        return self._begin(RECOVER, _RESTART_LOAD, (self.job.restart_s, self.job.checkpoint_load_s))

    # ------------------------------------------------------------------ lazy boundaries
    def settle(self, now: float, force: bool = False) -> None:
        """Apply every boundary of the current phase up to ``now`` (idempotent; ``force``: all of them)."""
        ph = self.ph
        if force or now >= ph.next_t:
            mode = ph.mode
            if mode == RUN:
                nxt = settle_run(self, now, force)
                ph.next_t = nxt if ph.mode == RUN else math.inf
            elif mode == RECOVER or mode == MAINT:
                ends, parts, durs = ph.gp_ends, ph.gp_parts, ph.gp_durs
                n = len(ends)
                i = ph.ph_next
                if force and i == 0 and parts is _DETECT_RESTART_LOAD and self.log is None:
                    # the common recovery, whole, without a log: _part_done's work for its three parts
                    ph.ph_next = n
                    ph.next_t = math.inf
                    acc = self.prog.acc
                    acc[DET] += durs[0]
                    replace(self, ends[0])  # (gp_merged: the replacement at the end of detection)
                    acc[RST] += durs[1]
                    acc[LOAD] += durs[2]
                    self.prog.since = 0.0
                    i = n
                while i < n and (force or ends[i] <= now):
                    ph.ph_next = i + 1
                    self._part_done(parts[i], durs[i], ends[i])
                    i += 1
                ph.next_t = ends[i] if i < n else math.inf
        inflight = self.prog.inflight
        if inflight is not None and inflight[0] <= now:
            self.commit_inflight(now)

    def _part_done(self, kind: int, dur: float, t: float) -> None:
        prog = self.prog
        prog.acc[_PART_BUCKET[kind]] += dur
        log = self.log is not None
        if kind == P_DETECT:
            if log:
                self.emit(t, "detected")
            if self.ph.gp_merged:
                replace(self, t)
        elif kind == P_RESTART:
            if log:
                self.emit(t, "restarted")
        elif kind == P_LOAD:
            prog.since = 0.0
            if log:
                self.emit(t, "resumed", detail=f"work_s={prog.work!r} rate={self.rate()!r}")
        else:
            self.emit(t, "maintenance_end")

    def _close_partial(self, now: float, at_horizon: bool = False) -> str:
        """Account the unfinished part of the current phase up to ``now``; returns its name."""
        mode = self.ph.mode
        self.ph.next_t = math.inf
        if mode == RUN:
            return close_run(self, now, at_horizon)
        if mode == WAIT:
            self.prog.acc[self.ph.wait_bucket] += now - self.ph.ph_t0
            self.ph.ph_t0 = now
            return "waiting"
        i = self.ph.ph_next
        if i >= len(self.ph.gp_parts):
            return "idle"
        kind = self.ph.gp_parts[i]
        start = self.ph.gp_ends[i - 1] if i else self.ph.ph_t0
        self.ph.ph_next = len(self.ph.gp_parts)
        self.prog.acc[_PART_BUCKET[kind]] += now - start
        return _PART_NAME[kind]

    def current_part(self) -> str:
        """What the job is doing now (after :meth:`settle`), for the event log."""
        mode = self.ph.mode
        if mode == RUN:
            return run_part(self)
        if mode == WAIT:
            return "waiting for a node"
        if mode == DONE:
            return "done"
        i = self.ph.ph_next
        return _PART_NAME[self.ph.gp_parts[i]] if i < len(self.ph.gp_parts) else "idle"

    def computing(self, now: float) -> bool:
        """Whether the job is computing at ``now`` (after settle): only then does a speed change matter."""
        return computing(self, now)

    # ------------------------------------------------------------------ the job process
    def _job_process(self):  # type: ignore[no-untyped-def]
        """The replica's one process (but for a plain job: :func:`~clustersim.sim.fastpath.run_plain`)."""
        env = self.env
        job = self.job
        self.emit(0.0, "start", detail=f"work_s={job.work_s!r} nodes={job.nodes} spares={job.spare_nodes}")
        yield from self.loop(env.now + begin_run(self, env.now, can_expand(self)))

    def loop(self, end: float):  # type: ignore[no-untyped-def]
        """The job process's loop, from a phase ending at ``end``: it waits for whichever comes first, the
        next failure (from the feed) or its own next decision, and handles both itself (no interrupt per
        failure). Only a change of speed from outside (a spine repaired, a shrunk job able to grow back)
        interrupts it."""
        env = self.env
        feed = self.feed
        ph = self.ph
        next_s = feed.next_s
        timeout = env.timeout
        inf = math.inf
        while True:
            if ph.mode == WAIT:
                nxt = yield from self._wait(feed)
                if nxt is None:
                    return
                end = nxt
                continue
            tf = next_s()
            try:
                yield timeout((tf if tf < end else end) - env.now)
            except simpy.Interrupt:  # RATE_CHANGE
                end = env.now + self._replan(env.now)
                continue
            now = env.now
            if tf < end:  # the failure came first (a boundary at the same time goes first)
                if feed.fire(now):  # (it settled the phase up to now)
                    if ph.mode == RUN:  # (_close_partial's run branch)
                        ph.next_t = inf
                        close_run(self, now, False)
                        self._lose_work(now)
                    else:
                        self._close_partial(now)
                    end = now + self._begin_recover(now)
                elif self.replan:
                    self.replan = False
                    end = now + self._replan(now)
                if ph.mode == DONE:
                    return
                continue
            self.settle(now, force=True)
            if self.finished or ph.mode == DONE:
                return
            if self.stop_after_phase and ph.mode == RUN:
                self.stop_at_budget()
                return
            end = now + self._next_phase(now)

    def _wait(self, feed: FailureFeed):  # type: ignore[no-untyped-def]
        """Wait for a node (a return wakes the job); failures meanwhile only add vacant slots. Then
        replace, and restart if every slot is filled (else the job waits again). Returns when the phase
        that follows ends (None: the replica ended)."""
        env = self.env
        ph = self.ph
        ph.wait_bucket = PREEMPTB if "preempt" in self.nodes.vacant.values() else WAITB
        ph.ph_t0 = env.now
        self.woken = False
        while not self.woken:
            self.waiter = waiter = env.event()
            tf = feed.next_s()
            if tf < math.inf:
                env.timeout(tf - env.now).callbacks.append(partial(_ring, waiter))
            yield waiter
            self.waiter = None
            now = env.now
            while feed.next_s() <= now and ph.mode == WAIT:
                feed.fire(now)
            if ph.mode == DONE:
                return None
        now = env.now
        self.prog.acc[ph.wait_bucket] += now - ph.ph_t0
        if replace(self, now):
            return now + self._begin_restart()
        return now

    def _replan(self, now: float) -> float:
        """The speed changed while computing: account the phase so far, plan a new run phase."""
        self.settle(now)
        self._close_partial(now)
        return begin_run(self, now, can_expand(self))

    def _next_phase(self, now: float) -> float:
        mode = self.ph.mode
        if mode == RUN:
            after = self.ph.rp_after
            if after == RUN:
                return begin_run(self, now, bool(self.nodes.missing) and can_expand(self))
            if after == MAINT:
                self.count.planned += 1
                period = self.job.maintenance_period_s or math.inf
                self.next_maint = (math.floor(now / period) + 1) * period
                self.emit(now, "maintenance_start")
                return self._begin(MAINT, _MAINTENANCE, (self.job.maintenance_duration_s,))
            replace(self, now)  # re-expansion
            return self._begin_restart()
        if mode == RECOVER and self.ph.gp_parts[-1] == P_LOAD:
            return begin_run(self, now, bool(self.nodes.missing) and can_expand(self))
        # the end of a detection-only recovery, or of maintenance: replace nodes, then restart or wait
        if replace(self, now):
            return self._begin_restart()
        self.ph.mode = WAIT
        self.ph.next_t = math.inf
        self.emit(now, "wait_for_spares", detail=f"vacant={len(self.nodes.vacant)}")
        return 0.0

    def _lose_work(self, now: float) -> None:
        prog = self.prog
        prog.acc[LOST] += prog.pend_wall
        if prog.inflight is not None:
            self.emit(now, "checkpoint_lost", detail=f"work_s={prog.inflight[1]!r}")
            prog.inflight = None
        prog.work = prog.work_saved
        prog.pend_wall = 0.0
        prog.since = 0.0

    def finish(self, t: float) -> None:
        self.finished = True
        self.ph.mode = DONE
        self.end_s = t
        self.emit(t, "finish")
        if not self.done.triggered:
            self.done.succeed()

    def _at_horizon(self, _event: simpy.Event | None) -> None:
        if self.ph.mode == DONE:
            return
        now = self.env.now
        self.settle(now)
        if self.ph.mode == DONE:
            return
        self._close_partial(now, at_horizon=True)
        self.prog.inflight = None
        self.prog.commit(self.prog.work, self.prog.pend_wall)
        self.ph.mode = DONE
        self.end_s = now
        if self.budget_hit:
            self.emit(now, "event_budget", detail=f"work_s={self.prog.work!r} of {self.job.work_s!r} after "
                                                  f"{self.count.failures} failures")
        else:
            self.emit(now, "horizon", detail=f"work_s={self.prog.work!r} of {self.job.work_s!r}")
        if not self.done.triggered:
            self.done.succeed()

    def stop_at_budget(self) -> None:
        """The event budget is spent: stop now, as at the horizon, and say so."""
        self.budget_hit = True
        self._at_horizon(None)

    # ------------------------------------------------------------------ run
    def run(self) -> ReplicaResult:
        env = self.env
        done = self.done
        step = env.step
        limit = SIMPY_EVENTS_PER_BUDGET * self.job.max_events
        steps = 0
        # env.run(until=done) (until done is processed, which raises _Done as env.run's StopSimulation),
        # with the event budget; steps: the events processed (the one that raised included)
        done.callbacks.append(_stop)
        try:
            for steps in range(1, limit + 1):  # noqa: B007 (read after the loop)
                step()
            if not done.triggered:
                self.stop_at_budget()
            while True:
                steps += 1
                step()
        except _Done:
            pass
        sync_returns(self, math.nextafter(self.end_s, -math.inf))  # the log shows every return before the end
        events = self.log_rows
        if events is not None:
            events.sort(key=lambda row: row[0])
        return ReplicaResult(
            replica=self.replica,
            wall_s=self.end_s,
            finished=self.finished,
            breakdown=dict(zip(BUCKETS, self.prog.acc, strict=True)),
            interruptions_by=dict(self.count.interruptions_by),
            degradations=self.count.degradations,
            planned_interruptions=self.count.planned,
            checkpoints=self.prog.checkpoints,
            ignored_failures=self.count.ignored,
            sim_events=steps,  # SimPy events processed (env.step calls)
            events=events,
            budget_hit=self.budget_hit,
            log_truncated=self.log_truncated,
        )


def _driver(send: Callable[[None], simpy.Event]) -> Callable[[simpy.Event], None]:
    """The callback that resumes a plain job's coroutine (its ``send``; :func:`~clustersim.sim.fastpath.
    run_plain`, then the general loop) once the event it waits for is processed, as a
    :class:`simpy.Process` would: the coroutine yields the next event to wait for. A plain job is never
    interrupted and waits only for events that succeed, so this is all of a process it needs."""

    def drive(_event: simpy.Event) -> None:
        while True:
            try:
                nxt = send(None)
            except StopIteration:
                return
            callbacks = nxt.callbacks
            if callbacks is not None:
                callbacks.append(drive)
                return

    return drive


class _Done(Exception):
    """The replica's ``done`` event was processed: the run is over."""


def _stop(_event: simpy.Event) -> None:
    raise _Done


def _ring(waiter: simpy.Event, _event: simpy.Event) -> None:
    """A failure is due while the job waits: wake it (unless a return already did)."""
    if not waiter.triggered:
        waiter.succeed()


def run_replica(job: SimJob, seed: int = 0, replica: int = 0, log: bool = False) -> ReplicaResult:
    """Simulate one run of ``job`` on the keyed streams of (seed, replica)."""
    return Replica(job, seed, replica, log).run()
