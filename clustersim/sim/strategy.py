"""The strategy engine: one replica of a :class:`~.strategy_job.StrategyJob`, event by event.

Failures form a Poisson process in absolute time (healthy nodes, lemons, software, corruption: their
rates add, Ross, *Introduction to Probability Models*, Ch. 5); a failure's kind is drawn in proportion
to the rates. The failure times come from their own stream, whatever the job does, so two strategies of
one scenario see the same failures (common random numbers) as long as the rates are the same.

Restart mode (synchronous training). Checkpoint cycles are indexed g = 1, 2, ...: cycle g computes
``interval_s`` of work and writes the fast tier (``write_s``), plus storage when g is a multiple of
``storage_every`` (and at the end). Work is g x interval, so a checkpoint is known by its index. A
failure loses everything since the last completed checkpoint; the job restores the newest copy that
survived it: the fast tier if it survives this kind of failure (``tier_survives``), else the newest
storage checkpoint; a corruption found late rolls back to the newest retained storage checkpoint
written before it happened (none retained: from the start, counted as ``unrecoverable``). Recovery is
detection, replacement (a free hot spare: no wait; else ``cold_provision_s``, else the next repair),
restart, load; a failure during it starts it again (Daly 2006's model, which this mode reproduces
with one tier, one kind and a spare always free).

Per-replica mode: see :func:`_run_per_replica`.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

from clustersim import rng as rngmod
from clustersim.errors import SimulationError

from .strategy_job import KINDS, StrategyJob
from .strategy_log import COMPONENTS, EventLog, log_cycles, log_recovery
from .strategy_state import TWO_M53, Failures, Nodes, StrategyReplica, restore

__all__ = ["StrategyReplica", "run_strategy_replica", "run_strategy_chunk", "simulate_strategy",
           "strategy_event_log"]


def _run_restart(job: StrategyJob, seed: int, replica: int, log: EventLog | None = None) -> StrategyReplica:
    """Restart mode (the module's docstring). The hot path of the engine: the failure draw and a healthy
    node's swap are written out here (the same draws, in the same order, as :meth:`.Failures.next` and
    :meth:`.Nodes.swap`; each call saved is a share of the ~3 us a failure costs). With a ``log`` the
    swaps go through :meth:`.Nodes.swap` (what it did is logged) and each event is logged
    (:mod:`.strategy_log`); the result is the same."""
    out = StrategyReplica()
    feed = Failures(job, seed, replica)
    nodes = Nodes(job, seed, replica, out)
    nxt, swap, lemons = feed.next, nodes.swap, nodes.lemons
    drawn = feed.trace is None
    rates, rates_of, exp, raw = feed.rates, feed.rates_of, feed.exp, feed.raw
    repair_raw = nodes.rng.bit_generator.random_raw
    repair_exp = None if nodes.fixed else nodes.rng.exponential
    pool, returns, push, pop = nodes.pool, nodes.returns, heapq.heappush, heapq.heappop
    misdiagnosis, repair_s, cold_s = job.misdiagnosis, job.repair_s, job.cold_provision_s
    by_kind = out.by_kind
    interval, detect, restart = job.interval_s, job.detect_s, job.restart_s
    tier_load, storage_load, max_events = job.tier_load_s, job.storage_load_s, job.max_events
    n_total = job.cycles
    last_c = job.work_s - (n_total - 1) * interval
    last_w = job.write_s + job.storage_write_s
    horizon = job.horizon
    checkpoint_s = lost_s = recovery_s = waiting_s = 0.0
    fast_restores = storage_restores = unrecoverable = 0
    g = 0  # the checkpoint restored (cycles done)
    t = 0.0  # compute resumes at t
    tf, kind = nxt(len(lemons))
    clock = feed.t
    events = 0
    logged = log is not None
    if log is not None:
        log.add(0.0, "start", detail=f"work_s={job.work_s!r} nodes={job.nodes} spares={job.hot_spares}")
    # checkpoint cycles: cycles g+1 .. g+n take n * iw + sw * (the storage checkpoints among them)
    iw, sw, m = job.interval_s + job.write_s, job.storage_write_s, job.storage_every
    per = iw + sw / m  # the mean wall time of a cycle
    survives = job.tier_survives
    while True:
        nmax = n_total - 1 - g
        gm = g // m
        # the finish: cycles g+1 .. the last but one, then the last (shorter) one and its writes
        finish = t + (nmax * iw + sw * (((g + nmax) // m) - gm)) + last_c + last_w
        ending = tf >= finish or finish > horizon and tf >= horizon
        end = min(finish, horizon) if ending else tf
        x = end - t
        # the cycles completed within x seconds of compute (at most nmax) and their wall time c; c grows
        # with the count, so one guess from the mean cycle is corrected by steps
        n = int(x / per)
        n = 0 if n < 0 else nmax if n > nmax else n  # min(nmax, max(0, .)) without the calls
        c = n * iw + sw * (((g + n) // m) - gm)
        if c <= x:
            while n < nmax:
                up = (n + 1) * iw + sw * (((g + n + 1) // m) - gm)
                if up > x:
                    break
                n, c = n + 1, up
        else:
            while n > 0:
                n -= 1
                c = n * iw + sw * (((g + n) // m) - gm)
                if c <= x:
                    break
        if logged and log is not None:
            doing = "checkpointing" if log_cycles(log, job, g, t, n, end, nmax, finished=ending and end == finish) \
                else "running"
        if ending:
            checkpoint_s += (c - n * interval) + (last_w if end == finish else 0)
            out.finished = end == finish
            out.wall_s = end
            out.work_s = job.work_s if out.finished else (g + n) * interval
            break
        checkpoint_s += c - n * interval
        lost_s += x - c
        if kind == "sdc" or survives == "job":
            target, fast = restore(job, g + n, kind)
        elif survives == "none":
            target, fast = g + n, False
        else:  # a peer-replicated tier survives every failure but a corruption
            target, fast = g + n, True
        # recovery: detection, replacement, restart, load; a failure during it starts it again
        now = tf
        while True:
            events += 1
            wait = 0.0
            if logged:
                if kind == "node" or kind == "lemon":
                    kind, wait = swap(now, kind)
            elif kind == "node" or (kind == "lemon" and not lemons):  # a healthy node: Nodes.swap, written out
                kind = "node"
                broken = misdiagnosis > 0 and (repair_raw() >> 11) * TWO_M53 < misdiagnosis
                nodes.seq += 1
                push(returns, (now + (repair_s if repair_exp is None else repair_exp(repair_s)), nodes.seq,
                               1 if broken else 0))
                while returns and returns[0][0] <= now:
                    pool.append(pop(returns)[2])
                if pool:
                    state = pool.pop()
                elif cold_s is not None:
                    nodes.cold_since.append(now)
                    wait, state = cold_s, 0
                else:
                    back, _, state = pop(returns)
                    wait = back - now
                if state > 0:
                    lemons.append(state)
            elif kind == "lemon":
                kind, wait = swap(now, kind)
            by_kind[kind] += 1
            unrecovered = target < 0
            if unrecovered:
                unrecoverable += 1
                target = 0
            load = tier_load if fast else storage_load
            ready = now + detect + wait + restart + load
            if logged and log is not None:  # (the hot path tests the local bool; mypy narrows on log)
                source = _log_failure(log, job, nodes, now, kind, doing, target, fast, unrecovered)
            if drawn:  # Failures.next, written out
                nl = len(lemons)
                scale, total, cum, rest = rates.get(nl) or rates_of(nl)
                if total <= 0:
                    tf, kind = math.inf, ""
                else:
                    gap, u = exp(scale), (raw() >> 11) * TWO_M53 * total
                    clock += gap
                    tf, kind = clock, rest
                    for acc, k in cum:
                        if u < acc:
                            kind = k
                            break
            else:
                tf, kind = nxt(len(lemons))
            if logged and log is not None:
                log_recovery(log, job, now, wait, load, source, len(pool), target * interval, fast, tf,
                             tf >= ready or events >= max_events)
            if tf >= ready or events >= max_events:
                recovery_s += ready - now - wait
                waiting_s += wait
                now = ready
                break
            recovery_s += min(tf - now, detect + restart + load)
            waiting_s += max(0.0, tf - now - detect - restart - load)
            more, fast2 = restore(job, target, kind)
            target, fast = (min(target, more), fast and fast2) if more >= 0 else (-1, False)
            now = tf
            if logged:
                doing = "recovery"
        fast_restores += int(fast)
        storage_restores += int(not fast)
        g, t = (target if target > 0 else 0), now
        if events >= max_events or now >= horizon:
            out.wall_s, out.finished = min(now, horizon), False
            out.work_s = g * interval
            break
    if log is not None:
        _log_end(log, job, out, events)
    out.failures = events
    out.checkpoint_s, out.lost_s, out.recovery_s, out.waiting_s = checkpoint_s, lost_s, recovery_s, waiting_s
    out.fast_restores, out.storage_restores, out.unrecoverable = fast_restores, storage_restores, unrecoverable
    nodes.finish(out.wall_s)
    return out


def _log_failure(log: EventLog, job: StrategyJob, nodes: Nodes, now: float, kind: str, doing: str, target: int,
                 fast: bool, unrecovered: bool) -> str:
    """Log a failure of the restart loop (and its node's repair): returns the replacement's source ('' for
    a failure that needs no node)."""
    if unrecovered:
        restores = "no clean checkpoint is retained: restart from the beginning"
    else:
        restores = f"restores checkpoint {target} from {'memory' if fast else 'storage'}"
    log.add(now, "failure", COMPONENTS[kind], f"during {doing}; {restores}")
    if kind not in ("node", "lemon"):
        return ""
    back, retired, source = nodes.last
    log.add(now, "repair_start", COMPONENTS[kind], f"until={back!r}")
    if retired:
        log.add(now, "node_retired", COMPONENTS[kind], f"after {job.retire_after} failures; a fresh node at {back!r}")
    return source


def _log_end(log: EventLog, job: StrategyJob, out: StrategyReplica, events: int) -> None:
    """The run's last row; rows after its end (a recovery past the horizon) are dropped."""
    log.rows = [row for row in log.rows if row[0] <= out.wall_s]
    if out.finished:
        log.add(out.wall_s, "finish")
    elif events >= job.max_events:
        log.add(out.wall_s, "event_budget", detail=f"work_s={out.work_s!r} of {job.work_s!r} after {events} failures")
    else:
        log.add(out.wall_s, "horizon", detail=f"work_s={out.work_s!r} of {job.work_s!r}")


def _run_per_replica(job: StrategyJob, seed: int, replica: int, log: EventLog | None = None) -> StrategyReplica:
    """Per-replica fault tolerance: each failure stalls every replica ``ft_stall_s`` (the quorum re-forms;
    overlapping stalls merge) and takes one replica out until detection + replacement + ``ft_rejoin_s``
    have passed; a failure that strikes a replica already out is thinned (it has no GPU running). The job
    progresses at ``ft_speed`` x (replicas up / replicas) x the storage-checkpoint duty factor, and
    finishes when its work is done. With every replica out it makes no progress until one rejoins (no
    whole-job restart: a documented simplification). ``log``: the events (:mod:`.strategy_log`)."""
    out = StrategyReplica()
    feed = Failures(job, seed, replica)
    nodes = Nodes(job, seed, replica, out)
    r = job.replicas
    period = job.interval_s * job.storage_every
    duty = period / (period + job.storage_write_s)
    base = job.ft_speed * duty
    rejoin: list[float] = []
    stall_until = 0.0
    work = 0.0
    t = 0.0
    tf, kind = feed.next(len(nodes.lemons))
    thin = rngmod.stream(seed, replica, "strategy/thin")
    horizon = job.horizon
    if log is not None:
        log.add(0.0, "start", detail=f"work_s={job.work_s!r} nodes={job.nodes} spares={job.hot_spares} "
                                     f"replicas={r}")
    while True:
        up = r - len(rejoin)
        stalled = t < stall_until
        rate = 0.0 if stalled else base * up / r
        nxt = min(tf, rejoin[0] if rejoin else math.inf, stall_until if stall_until > t else math.inf, horizon)
        if rate > 0 and t + (job.work_s - work) / rate <= nxt:
            end = t + (job.work_s - work) / rate
            out.wall_s, out.finished, out.work_s = end, True, job.work_s
            out.stalled_s += 0.0
            break
        work += rate * (nxt - t)
        out.stalled_s += (nxt - t) if stalled else 0.0
        t = nxt
        if t >= horizon:
            out.wall_s, out.finished, out.work_s = horizon, False, work
            break
        if log is not None and stalled and t >= stall_until:
            log.add(t, "resumed", detail=f"work_s={work!r} replicas={up}/{r}")
        while rejoin and rejoin[0] <= t:
            heapq.heappop(rejoin)
            if log is not None:
                log.add(t, "expand", detail=f"replicas={r - len(rejoin)}/{r}")
        if tf <= t:
            if thin.random() < up / r:
                out.failures += 1
                wait = 0.0
                if kind in ("node", "lemon"):
                    kind, wait = nodes.swap(t, kind)
                out.by_kind[kind] += 1
                out.waiting_s += wait
                heapq.heappush(rejoin, t + job.detect_s + wait + job.ft_rejoin_s)
                stall_until = max(stall_until, t + job.ft_stall_s)
                if log is not None:
                    _log_replica_out(log, job, nodes, t, kind, wait, r - len(rejoin), stall_until)
            elif log is not None:
                log.add(t, "failure_ignored", COMPONENTS[kind], "its replica is already out")
            if out.failures >= job.max_events:
                out.wall_s, out.finished, out.work_s = t, False, work
                break
            tf, kind = feed.next(len(nodes.lemons))
    out.checkpoint_s = (1.0 - duty) * out.wall_s
    out.lost_s = 0.0
    if log is not None:
        _log_end(log, job, out, out.failures)
    nodes.finish(out.wall_s)
    return out


def _log_replica_out(log: EventLog, job: StrategyJob, nodes: Nodes, t: float, kind: str, wait: float, up: int,
                     stall_until: float) -> None:
    """Log a failure of per-replica mode: its replica leaves (back after detection, the replacement and
    the rejoin), the quorum stalls until ``stall_until``."""
    back_at = t + job.detect_s + wait + job.ft_rejoin_s
    log.add(t, "failure", COMPONENTS[kind], f"during running; its replica rejoins at {back_at!r}, the others "
                                            f"stall until {stall_until!r}")
    if kind in ("node", "lemon"):
        back, retired, _ = nodes.last
        log.add(t, "repair_start", COMPONENTS[kind], f"until={back!r}")
        if retired:
            log.add(t, "node_retired", COMPONENTS[kind], f"after {job.retire_after} failures; a fresh node at {back!r}")
    log.add(t, "shrink", detail=f"replicas={up}/{job.replicas}")


def run_strategy_replica(job: StrategyJob, seed: int = 0, replica: int = 0,
                         log: EventLog | None = None) -> StrategyReplica:
    """Simulate one run of ``job`` on the keyed streams of (seed, replica); ``log`` (an
    :class:`~.strategy_log.EventLog`) receives its events, without changing the result."""
    if job.mode == "per_replica":
        return _run_per_replica(job, seed, replica, log)
    return _run_restart(job, seed, replica, log)


def strategy_event_log(job: StrategyJob, seed: int = 0, replica: int = 0, limit: int = 100_000) -> EventLog:
    """The event log of one replica (replica 0 is the one ``clustersim simulate --events`` writes), cut at
    ``limit`` rows."""
    log = EventLog(limit)
    run_strategy_replica(job, seed, replica, log)
    return log


def run_strategy_chunk(job: StrategyJob, seed: int, start: int, stop: int) -> list[StrategyReplica]:
    """Replicas start..stop-1 (a worker's task); reports each one done to the pool's progress."""
    from .pool import tick

    out = []
    for i in range(start, stop):
        out.append(run_strategy_replica(job, seed, i))
        tick(1)
    return out


def simulate_strategy(job: StrategyJob, replicas: int, seed: int = 0, workers: int = 1,
                      advance: Any = None) -> dict[str, np.ndarray]:
    """``replicas`` seeded replicas: arrays of wall_s, goodput, failures, finished, cold_node_s, ...;
    ``workers`` > 1 runs chunks of replicas on a local process pool (the same result: streams are keyed by
    replica); ``advance(n)`` is told as replicas finish."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise SimulationError(f"replicas: expected an integer >= 1, given {replicas!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SimulationError(f"workers: expected an integer >= 1, given {workers!r}")
    step = max(1, math.ceil(replicas / (workers * 8)))
    chunks = [(a, min(a + step, replicas)) for a in range(0, replicas, step)]
    if workers == 1 or len(chunks) == 1:
        rows = []
        for i in range(replicas):
            rows.append(run_strategy_replica(job, seed, i))
            if advance is not None:
                advance(1)
    else:
        from .pool import run_tasks

        parts = run_tasks(run_strategy_chunk, [(job, seed, a, b) for a, b in chunks], workers,
                          advance or (lambda n: None))
        rows = [r for part in parts for r in part]
    keys = ("wall_s", "failures", "lost_s", "checkpoint_s", "recovery_s", "waiting_s", "stalled_s",
            "fast_restores", "storage_restores", "unrecoverable", "retired", "cold_node_s", "work_s")
    res = {k: np.array([getattr(x, k) for x in rows], dtype=float) for k in keys}
    res["finished"] = np.array([x.finished for x in rows])
    res["goodput"] = np.array([x.goodput for x in rows])
    for kind in KINDS:
        res[f"{kind}_failures"] = np.array([x.by_kind[kind] for x in rows], dtype=float)
    return res
