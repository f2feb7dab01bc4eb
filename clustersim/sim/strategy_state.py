"""The strategy engine's state (:mod:`.strategy`): what one replica did, the failure process, the nodes
(hot spares, repairs, lemons) and the restore rule."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from clustersim import rng as rngmod
from clustersim.errors import SimulationError

from .strategy_job import KINDS, StrategyJob

__all__ = ["StrategyReplica", "Failures", "Nodes", "restore", "TWO_M53"]

#: 2**-53: a 53-bit integer times it is a double in [0, 1) (exact: a power of two).
TWO_M53 = 1.0 / 9007199254740992.0


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


class Failures:
    """The failure process: scripted (a trace) or drawn; ``next(lemons)`` -> (time, kind). The rates of
    each lemon count are computed once (they change only when a lemon leaves or joins the job)."""

    def __init__(self, job: StrategyJob, seed: int, replica: int):
        self.job = job
        self.trace = sorted(job.trace) if job.trace is not None else None
        self.i = 0
        self.rng = rngmod.stream(seed, replica, "strategy/fail")
        self.t = 0.0
        self.exp = self.rng.exponential
        #: ``rng.random()`` is ``(raw() >> 11) * TWO_M53``, bit for bit: numpy's double from PCG64 is the
        #: top 53 bits of one raw draw over 2**53 (numpy/random/src/pcg64: pcg64_next_double); the raw
        #: draw is the cheaper call
        self.raw = self.rng.bit_generator.random_raw
        self.rates: dict[int, tuple[float, float, tuple[tuple[float, str], ...], str]] = {}
        if self.trace is None:
            self.next = self._drawn  # type: ignore[method-assign]

    def rates_of(self, lemons: int) -> tuple[float, float, tuple[tuple[float, str], ...], str]:
        """(1 / total rate, total rate, the kinds' cumulative rates, the kind when rounding runs past them)."""
        rates = self.job.rates_per_s(lemons)
        total = sum(rates)
        acc, cum = 0.0, []
        for kind, r in zip(KINDS, rates, strict=True):
            acc += r
            cum.append((acc, kind))
        entry = (1.0 / total if total > 0 else 0.0, total, tuple(cum), "sdc" if rates[3] else "soft")
        self.rates[lemons] = entry
        return entry

    def next(self, lemons: int) -> tuple[float, str]:
        trace = self.trace
        if trace is None or self.i >= len(trace):
            return math.inf, ""
        self.i += 1
        return float(trace[self.i - 1][0]), trace[self.i - 1][1]

    def _drawn(self, lemons: int) -> tuple[float, str]:
        entry = self.rates.get(lemons) or self.rates_of(lemons)
        scale, total, cum, rest = entry
        if total <= 0:
            return math.inf, ""
        gap, u = self.exp(scale), (self.raw() >> 11) * TWO_M53 * total
        self.t += gap
        for acc, kind in cum:
            if u < acc:
                return self.t, kind
        return self.t, rest


class Nodes:
    """Hot spares, nodes in repair, lemons in the job (their failure counts)."""

    def __init__(self, job: StrategyJob, seed: int, replica: int, out: StrategyReplica):
        self.job = job
        self.out = out
        self.pool: list[int] = [0] * job.hot_spares  # a free node: 0 healthy, k > 0 a lemon with k failures
        self.returns: list[tuple[float, int, int]] = []  # (time, seq, state)
        self.seq = 0
        self.lemons: list[int] = [0] * job.lemon_nodes  # lemons in the job: failures so far
        self.rng = rngmod.stream(seed, replica, "strategy/repair")
        self.cold_since: list[float] = []
        #: what the last swap did, for the event log: (back from repair at, retired?, the replacement:
        #: ``hot spare``, ``cold node`` or ``repaired node``)
        self.last: tuple[float, bool, str] = (0.0, False, "")
        self.fixed = job.repair_fixed or job.repair_s == 0
        self._retired_delay = job.cold_provision_s if job.cold_provision_s is not None else job.repair_s

    def _repair_s(self) -> float:
        if self.fixed:
            return self.job.repair_s
        return float(self.rng.exponential(self.job.repair_s))

    def swap(self, now: float, kind: str) -> tuple[str, float]:
        """A node of the job failed at ``now`` (to repair, retired or misdiagnosed) and its slot is filled:
        (what failed, the wait for a node). What failed is ``lemon``, or ``node`` (a healthy node; also a
        ``lemon`` trace row with no lemon in the job). The replacement is a free hot spare (no wait; the
        node returned last goes first: a repaired node goes back to work), else a cold node
        (``cold_provision_s``), else the next node back from repair."""
        job = self.job
        lemons = self.lemons
        retired = False
        if kind == "lemon" and lemons:
            count = lemons.pop(int(self.rng.integers(len(lemons)))) + 1
            if job.retire_after and count >= job.retire_after:
                self.out.retired += 1
                retired = True
                back, state = now + self._retired_delay, 0  # a fresh node replaces the retired lemon in the pool
            elif job.escalate_after and count >= job.escalate_after:
                back, state = now + 2.0 * self._repair_s(), 0  # a thorough repair fixes it
            else:
                back, state = now + self._repair_s(), count
        else:
            kind = "node"
            broken = job.misdiagnosis > 0 and self.rng.random() < job.misdiagnosis
            back, state = now + self._repair_s(), 1 if broken else 0
        self.seq += 1
        returns = self.returns
        heapq.heappush(returns, (back, self.seq, state))
        pool = self.pool
        while returns and returns[0][0] <= now:
            pool.append(heapq.heappop(returns)[2])
        if pool:
            wait, source = 0.0, "hot spare"
            state = pool.pop()
        elif job.cold_provision_s is not None:
            self.cold_since.append(now)
            wait, state, source = job.cold_provision_s, 0, "cold node"
        elif returns:
            t, _, state = heapq.heappop(returns)
            wait, source = t - now, "repaired node"
        else:
            raise SimulationError("no node can ever fill the vacant slot (no spares, nothing in repair)")
        if state > 0:
            lemons.append(state)
        self.last = (back, retired, source)
        return kind, wait

    def finish(self, end_s: float) -> None:
        self.out.cold_node_s = sum(end_s - t for t in self.cold_since)


def restore(job: StrategyJob, g_fast: int, kind: str) -> tuple[int, bool]:
    """(checkpoint index to restore, from the fast tier?) after a failure of ``kind``, the newest
    checkpoint written being ``g_fast``."""
    m = job.storage_every
    if kind == "sdc":
        per = job.interval_s + job.write_s + job.storage_write_s / m
        back = math.ceil(job.sdc_detect_s / per) if job.sdc_detect_s > 0 else 0
        clean = g_fast - back  # the newest checkpoint written before the corruption
        newest_storage = (g_fast // m) * m
        oldest = max(0, newest_storage - (job.retention - 1) * m)
        target = (max(clean, 0) // m) * m
        return (target if target >= oldest else -1), False
    survives = job.tier_survives
    if survives == "none":
        return g_fast, False
    if survives == "node" or (survives == "job" and kind == "soft"):
        return g_fast, True
    return (g_fast // m) * m, False
