"""Nodes of a replica: spare swaps at a restart, stragglers, elastic shrink, and nodes coming back.

A mixin of :class:`~clustersim.sim.replica.Replica` (the state lives there). Node slots are the job's
places in its layout (slot i sits below leaf switch i // nodes_per_leaf); a slot is vacant while its node
is away (in repair, or taken by a spot preemption) and no spare has taken its place.

Without a repair crew, nodes come back lazily: each return is a heap entry applied by
:meth:`NodesMixin.sync_returns` before anything reads the spare pool, so a return costs no event; only
while the job waits for a node, or runs shrunk (elastic) and could grow back, does each return also get
an event that wakes the job (:meth:`NodesMixin.watch_returns`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import simpy

from .distributions import RepairDraws
from .job import SimJob
from .modes import DONE, RATE_CHANGE, RUN
from .runphase import bound

if TYPE_CHECKING:
    from .replica import Replica

__all__ = ["NodesMixin"]


class NodesMixin:
    """Spare pool, replacements and returns, for :class:`~clustersim.sim.replica.Replica`."""

    # state and methods provided by Replica
    job: SimJob
    env: simpy.Environment
    log: list[Any] | None
    vacant: dict[int, str]
    pool: int
    missing: int
    leaves_down: set[int]
    stragglers: set[int]
    straggler_repairs: RepairDraws | None
    returns: list[tuple[float, int, str, int, str, int]]
    return_seq: int
    wake_on_return: bool
    waiter: simpy.Event | None
    mode: int
    phase_id: int
    ph_next: int
    rp_nb: int
    proc: simpy.Process
    emit: Callable[..., None]
    settle: Callable[..., None]
    computing: Callable[[float], bool]

    def can_expand(self) -> bool:
        """Whether a shrunk elastic job could get back at least one replica from the free spares."""
        if not self.missing:
            return False
        self.sync_returns(self.env.now)
        return bool(self.pool and self._missing_after(self.pool) < self.missing)

    def _missing_after(self, fill: int) -> int:
        left = max(len(self.vacant) - fill, 0)
        return -(-left // self.job.nodes_per_replica)

    def replace(self, t: float) -> bool:
        """Fill vacant slots with free spares, swap stragglers out, shrink if elastic. True: the job can go on."""
        from .processes import start_repair

        job = self.job
        if self.returns and self.returns[0][0] <= t:
            self.sync_returns(t)
        if self.vacant and self.pool:
            for slot in sorted(self.vacant)[: self.pool]:
                del self.vacant[slot]
                self.pool -= 1
                if self.log is not None:
                    self.emit(t, "spare_swap", node=slot, detail=f"spares_left={self.pool}")
        if self.stragglers and self.pool and not self.vacant:
            for slot in sorted(self.stragglers)[: self.pool]:
                self.stragglers.discard(slot)
                self.pool -= 1
                self.emit(t, "straggler_swap", node=slot, detail=f"spares_left={self.pool}")
                dur = self.straggler_repairs.next() if self.straggler_repairs else job.repair_s
                start_repair(cast("Replica", self), t, dur, "node", 1, "straggler", slot)
        old = self.missing
        if not self.vacant:
            self.missing = 0
            self.wake_on_return = False
            if old:
                self.emit(t, "expand", detail=f"replicas={job.dp_replicas}/{job.dp_replicas}")
            return True
        self.watch_returns()  # the job waits, or runs shrunk: a returning node matters now
        if job.elastic:
            k = self._missing_after(0)
            if job.dp_replicas - k >= job.min_replicas:
                self.missing = k
                if k != old:
                    self.emit(t, "shrink" if k > old else "expand",
                              detail=f"replicas={job.dp_replicas - k}/{job.dp_replicas}")
                return True
        return False

    def add_return(self, t: float, kind: str, count: int, component: str, ident: int) -> None:
        """A node (or a leaf's nodes) will be back at ``t``, without a repair crew to queue for."""
        self.return_seq += 1
        heapq.heappush(self.returns, (t, self.return_seq, kind, count, component, ident))
        if self.wake_on_return:
            self.env.timeout(t - self.env.now).callbacks.append(self._wake)

    def sync_returns(self, upto: float) -> None:
        """Apply every return due by ``upto`` (in time order), as if each had been an event."""
        returns = self.returns
        while returns and returns[0][0] <= upto:
            t, _seq, kind, count, component, ident = heapq.heappop(returns)
            if kind == "leaf":
                self.leaves_down.discard(ident)
            self.pool += count
            if self.log is not None:
                self.emit(t, "capacity_returned" if kind == "preempt" else "repair_done", component, ident,
                          f"nodes={count} spares={self.pool}")

    def watch_returns(self) -> None:
        """From now on (until the job is whole again) every return wakes the job: schedule the pending ones."""
        if self.wake_on_return:
            return
        self.wake_on_return = True
        now = self.env.now
        for t in sorted({r[0] for r in self.returns}):
            self.env.timeout(max(t - now, 0.0)).callbacks.append(self._wake)

    def _wake(self, _event: object) -> None:
        now = self.env.now
        self.settle(now)
        if self.mode == DONE:
            return
        self.sync_returns(now)
        self.node_returned(0)

    def node_returned(self, count: int) -> None:
        """``count`` nodes came back to the spare pool (repair done, switch repaired, capacity back)."""
        self.pool += count
        w = self.waiter
        if w is not None and not w.triggered:
            w.succeed()
        if self.mode == RUN and self.can_expand():
            self.request_replan()

    def request_replan(self) -> None:
        """The run phase's plan is out of date (speed changed, or a shrunk job can grow back): rebuild it
        now if the job is computing, else when the checkpoint being written ends."""
        if self.mode != RUN:
            return
        now = self.env.now
        if self.computing(now):
            self.proc.interrupt(RATE_CHANGE)
            return
        i = self.ph_next
        if i < self.rp_nb:  # writing: look again when the write ends
            pid = self.phase_id
            self.env.timeout(bound(cast("Replica", self), i) - now).callbacks.append(lambda _e: self._replan_if(pid))

    def _replan_if(self, pid: int) -> None:
        now = self.env.now
        self.settle(now)
        if self.phase_id == pid and self.computing(now):
            self.proc.interrupt(RATE_CHANGE)
