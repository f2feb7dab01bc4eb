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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clustersim import rng as rngmod
from clustersim.errors import SimulationError

from .strategy_job import KINDS, StrategyJob

__all__ = ["StrategyReplica", "run_strategy_replica", "run_strategy_chunk", "simulate_strategy"]


@dataclass
class StrategyReplica:
    """What one replica did. Seconds; ``cold_node_s``: node-seconds of provisioned cold nodes paid for."""

    wall_s: float = 0.0
    finished: bool = False
    failures: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: {"node": 0, "lemon": 0, "soft": 0, "sdc": 0})
    lost_s: float = 0.0
    checkpoint_s: float = 0.0
    recovery_s: float = 0.0
    waiting_s: float = 0.0
    stalled_s: float = 0.0
    fast_restores: int = 0
    storage_restores: int = 0
    unrecoverable: int = 0
    retired: int = 0
    cold_node_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def goodput(self) -> float:
        return 0.0 if self.wall_s <= 0 else self.work_s / self.wall_s

    work_s: float = 0.0


class _Failures:
    """The failure process: scripted (a trace) or drawn; ``next(now, lemons)`` -> (time, kind)."""

    def __init__(self, job: StrategyJob, seed: int, replica: int):
        self.job = job
        self.trace = sorted(job.trace) if job.trace is not None else None
        self.i = 0
        self.rng = rngmod.stream(seed, replica, "strategy/fail")
        self.t = 0.0

    def next(self, lemons: int) -> tuple[float, str]:
        if self.trace is not None:
            if self.i >= len(self.trace):
                return math.inf, ""
            self.i += 1
            return float(self.trace[self.i - 1][0]), self.trace[self.i - 1][1]
        rates = self.job.rates_per_s(lemons)
        total = sum(rates)
        if total <= 0:
            return math.inf, ""
        gap, u = self.rng.exponential(1.0 / total), self.rng.random() * total
        self.t += gap
        acc = 0.0
        for kind, r in zip(("node", "lemon", "soft", "sdc"), rates, strict=True):
            acc += r
            if u < acc:
                return self.t, kind
        return self.t, "sdc" if rates[3] else "soft"


class _Nodes:
    """Hot spares, nodes in repair, lemons in the job (their failure counts)."""

    def __init__(self, job: StrategyJob, seed: int, replica: int, out: StrategyReplica):
        self.job = job
        self.out = out
        self.pool: list[int] = [0] * job.hot_spares  # a free node: 0 healthy, k > 0 a lemon with k failures
        self.returns: list[tuple[float, int, int]] = []  # (time, seq, state)
        self.seq = 0
        self.lemons: list[int] = [0] * job.lemon_nodes  # lemons in the job: failures so far
        self.rng = rngmod.stream(seed, replica, "strategy/repair")
        self.end_s = math.inf  # set when the run ends (cold nodes are paid until then)
        self.cold_since: list[float] = []

    def _repair_s(self) -> float:
        job = self.job
        if job.repair_fixed or job.repair_s == 0:
            return job.repair_s
        return float(self.rng.exponential(job.repair_s))

    def _sync(self, now: float) -> None:
        while self.returns and self.returns[0][0] <= now:
            self.pool.append(heapq.heappop(self.returns)[2])

    def _send_back(self, t: float, state: int) -> None:
        self.seq += 1
        heapq.heappush(self.returns, (t, self.seq, state))

    def fail(self, now: float, kind: str) -> str:
        """A node of the job failed: to repair, retired or misdiagnosed; its slot is vacant. Returns what
        failed: ``lemon``, or ``node`` (a healthy node; also a ``lemon`` trace row with no lemon in the job)."""
        job = self.job
        if kind == "lemon" and self.lemons:
            k = int(self.rng.integers(len(self.lemons)))
            count = self.lemons.pop(k) + 1
            if job.retire_after and count >= job.retire_after:
                self.out.retired += 1
                delay = job.cold_provision_s if job.cold_provision_s is not None else job.repair_s
                self._send_back(now + delay, 0)  # a fresh node replaces the retired lemon in the pool
            elif job.escalate_after and count >= job.escalate_after:
                self._send_back(now + 2.0 * self._repair_s(), 0)  # a thorough repair fixes it
            else:
                self._send_back(now + self._repair_s(), count)
            return "lemon"
        broken = job.misdiagnosis > 0 and self.rng.random() < job.misdiagnosis
        self._send_back(now + self._repair_s(), 1 if broken else 0)
        return "node"

    def replace(self, now: float) -> float:
        """Fill the vacant slot at ``now``: the wait for a node (0 with a free hot spare)."""
        self._sync(now)
        if self.pool:  # the node returned last goes first (a repaired node goes back to work)
            self._join(self.pool.pop())
            return 0.0
        if self.job.cold_provision_s is not None:
            self.cold_since.append(now)
            self._join(0)
            return self.job.cold_provision_s
        if not self.returns:
            raise SimulationError("no node can ever fill the vacant slot (no spares, nothing in repair)")
        t, _, state = heapq.heappop(self.returns)
        self._join(state)
        return t - now

    def _join(self, state: int) -> None:
        if state > 0:
            self.lemons.append(state)

    def finish(self, end_s: float) -> None:
        self.out.cold_node_s = sum(end_s - t for t in self.cold_since)


def _cycle_time(job: StrategyJob, g: int, n: int) -> float:
    """Wall time of cycles g+1 .. g+n (none of them the last)."""
    m = job.storage_every
    return n * (job.interval_s + job.write_s) + job.storage_write_s * (((g + n) // m) - (g // m))


def _completed(job: StrategyJob, g: int, x: float, nmax: int) -> int:
    """Cycles completed within ``x`` seconds of compute from index ``g`` (at most ``nmax``)."""
    per = job.interval_s + job.write_s + job.storage_write_s / job.storage_every
    n = min(nmax, max(0, int(x / per)))
    while n < nmax and _cycle_time(job, g, n + 1) <= x:
        n += 1
    while n > 0 and _cycle_time(job, g, n) > x:
        n -= 1
    return n


def _restore(job: StrategyJob, g_fast: int, kind: str, t_fail: float, t_run: float, g_run: int) -> tuple[int, bool]:
    """(checkpoint index to restore, from the fast tier?) after a failure of ``kind``."""
    m = job.storage_every
    tiered = job.tier_survives != "none"
    if kind == "sdc":
        per = job.interval_s + job.write_s + job.storage_write_s / m
        back = math.ceil(job.sdc_detect_s / per) if job.sdc_detect_s > 0 else 0
        clean = g_fast - back  # the newest checkpoint written before the corruption
        newest_storage = (g_fast // m) * m
        oldest = max(0, newest_storage - (job.retention - 1) * m)
        target = (max(clean, 0) // m) * m
        return (target if target >= oldest else -1), False
    if not tiered:
        return g_fast, False
    keeps = job.tier_survives == "node" or (job.tier_survives == "job" and kind == "soft")
    if keeps:
        return g_fast, True
    return (g_fast // m) * m, False


def _run_restart(job: StrategyJob, seed: int, replica: int) -> StrategyReplica:
    out = StrategyReplica()
    feed = _Failures(job, seed, replica)
    nodes = _Nodes(job, seed, replica, out)
    n_total = job.cycles
    last_c = job.work_s - (n_total - 1) * job.interval_s
    last_w = job.write_s + job.storage_write_s
    horizon = job.horizon
    g = 0  # the checkpoint restored (cycles done)
    t = 0.0  # compute resumes at t
    tf, kind = feed.next(len(nodes.lemons))
    events = 0
    while True:
        nmax = n_total - 1 - g
        finish = t + _cycle_time(job, g, nmax) + last_c + last_w
        if tf >= finish or finish > horizon and tf >= horizon:
            end = min(finish, horizon)
            done = _completed(job, g, end - t, nmax)
            out.checkpoint_s += (_cycle_time(job, g, done) - done * job.interval_s) + (last_w if end == finish else 0)
            out.finished = end == finish
            out.wall_s = end
            out.work_s = job.work_s if out.finished else (g + done) * job.interval_s
            break
        n = _completed(job, g, tf - t, nmax)
        out.checkpoint_s += _cycle_time(job, g, n) - n * job.interval_s
        out.lost_s += (tf - t) - _cycle_time(job, g, n)
        target, fast = _restore(job, g + n, kind, tf, t, g)
        # recovery: detection, replacement, restart, load; a failure during it starts it again
        now = tf
        while True:
            events += 1
            out.failures += 1
            wait = 0.0
            if kind in ("node", "lemon"):
                kind = nodes.fail(now, kind)
                wait = nodes.replace(now)
            out.by_kind[kind] += 1
            if target < 0:
                out.unrecoverable += 1
                target = 0
            load = job.tier_load_s if fast else job.storage_load_s
            ready = now + job.detect_s + wait + job.restart_s + load
            tf, kind = feed.next(len(nodes.lemons))
            if tf >= ready or events >= job.max_events:
                out.recovery_s += ready - now - wait
                out.waiting_s += wait
                now = ready
                break
            out.recovery_s += min(tf - now, job.detect_s + job.restart_s + load)
            out.waiting_s += max(0.0, tf - now - job.detect_s - job.restart_s - load)
            more, fast2 = _restore(job, target, kind, tf, tf, target)
            target, fast = (min(target, more), fast and fast2) if more >= 0 else (-1, False)
            now = tf
        out.fast_restores += int(fast)
        out.storage_restores += int(not fast)
        g, t = max(target, 0), now
        if events >= job.max_events or now >= horizon:
            out.wall_s, out.finished = min(now, horizon), False
            out.work_s = g * job.interval_s
            break
    nodes.finish(out.wall_s)
    return out


def _run_per_replica(job: StrategyJob, seed: int, replica: int) -> StrategyReplica:
    """Per-replica fault tolerance: each failure stalls every replica ``ft_stall_s`` (the quorum re-forms;
    overlapping stalls merge) and takes one replica out until detection + replacement + ``ft_rejoin_s``
    have passed; a failure that strikes a replica already out is thinned (it has no GPU running). The job
    progresses at ``ft_speed`` x (replicas up / replicas) x the storage-checkpoint duty factor, and
    finishes when its work is done. With every replica out it makes no progress until one rejoins (no
    whole-job restart: a documented simplification)."""
    out = StrategyReplica()
    feed = _Failures(job, seed, replica)
    nodes = _Nodes(job, seed, replica, out)
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
    while True:
        up = r - len(rejoin)
        rate = 0.0 if t < stall_until else base * up / r
        nxt = min(tf, rejoin[0] if rejoin else math.inf, stall_until if stall_until > t else math.inf, horizon)
        if rate > 0 and t + (job.work_s - work) / rate <= nxt:
            end = t + (job.work_s - work) / rate
            out.wall_s, out.finished, out.work_s = end, True, job.work_s
            out.stalled_s += 0.0
            break
        work += rate * (nxt - t)
        out.stalled_s += (nxt - t) if t < stall_until else 0.0
        t = nxt
        if t >= horizon:
            out.wall_s, out.finished, out.work_s = horizon, False, work
            break
        while rejoin and rejoin[0] <= t:
            heapq.heappop(rejoin)
        if tf <= t:
            if thin.random() < up / r:
                out.failures += 1
                wait = 0.0
                if kind in ("node", "lemon"):
                    kind = nodes.fail(t, kind)
                    wait = nodes.replace(t)
                out.by_kind[kind] += 1
                out.waiting_s += wait
                heapq.heappush(rejoin, t + job.detect_s + wait + job.ft_rejoin_s)
                stall_until = max(stall_until, t + job.ft_stall_s)
            if out.failures >= job.max_events:
                out.wall_s, out.finished, out.work_s = t, False, work
                break
            tf, kind = feed.next(len(nodes.lemons))
    out.checkpoint_s = (1.0 - duty) * out.wall_s
    out.lost_s = 0.0
    nodes.finish(out.wall_s)
    return out


def run_strategy_replica(job: StrategyJob, seed: int = 0, replica: int = 0) -> StrategyReplica:
    """Simulate one run of ``job`` on the keyed streams of (seed, replica)."""
    if job.mode == "per_replica":
        return _run_per_replica(job, seed, replica)
    return _run_restart(job, seed, replica)


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
