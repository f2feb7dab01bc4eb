"""Nodes of a replica: spare swaps at a restart, stragglers, elastic shrink, repairs, nodes coming back.

Functions of a :class:`~clustersim.sim.replica.Replica` that change its
:class:`~clustersim.sim.state.NodeState` (``rep.nodes``). Node slots are the job's places in its layout
(slot i sits below leaf switch i // nodes_per_leaf); a slot is vacant while its node is away (in repair,
or taken by a spot preemption) and no spare has taken its place.

* Repairs: each failed node (or switch) is repaired for a duration drawn from the repair distribution.
  With ``max_concurrent_repairs`` a repair is a SimPy process queueing for a ``simpy.Resource`` of that
  capacity (first come, first served); without a limit it costs no process. A repaired node joins the
  spare pool; a repaired leaf switch returns the nodes below it; a repaired spine restores the fabric's
  speed. Preempted nodes come back after their re-acquire delay without queueing for the repair crew.
* Without a repair crew, nodes come back lazily: each return is a heap entry applied by
  :func:`sync_returns` before anything reads the spare pool, so a return costs no event; only while the
  job waits for a node, or runs shrunk (elastic) and could grow back, does each return also get an event
  that wakes the job (:func:`watch_returns`).
"""

from __future__ import annotations

import heapq
from functools import partial
from typing import TYPE_CHECKING

from .modes import DONE, RATE_CHANGE, RUN
from .runphase import bound

if TYPE_CHECKING:
    from .replica import Replica

__all__ = ["can_expand", "replace", "add_return", "sync_returns", "watch_returns", "node_returned",
           "request_replan", "start_repair"]


def can_expand(rep: Replica) -> bool:
    """Whether a shrunk elastic job could get back at least one replica from the free spares."""
    if not rep.nodes.missing:
        return False
    sync_returns(rep, rep.env.now)
    return bool(rep.nodes.pool and rep.nodes.missing_after(rep.nodes.pool, rep.job.nodes_per_replica) < rep.nodes.missing)


def replace(rep: Replica, t: float) -> bool:
    """Fill vacant slots with free spares, swap stragglers out, shrink if elastic. True: the job can go on."""
    job = rep.job
    nodes = rep.nodes
    if nodes.returns and nodes.returns[0][0] <= t:
        sync_returns(rep, t)
    vacant = nodes.vacant
    if vacant and nodes.pool:
        if len(vacant) == 1 and rep.log is None:  # (the common case: one slot, one spare)
            vacant.clear()
            nodes.pool -= 1
        else:
            for slot in sorted(vacant)[: nodes.pool]:
                del vacant[slot]
                nodes.pool -= 1
                if rep.log is not None:
                    rep.emit(t, "spare_swap", node=slot, detail=f"spares_left={nodes.pool}")
    if nodes.stragglers and nodes.pool and not vacant:
        for slot in sorted(rep.nodes.stragglers)[: rep.nodes.pool]:
            rep.nodes.stragglers.discard(slot)
            rep.nodes.pool -= 1
            rep.emit(t, "straggler_swap", node=slot, detail=f"spares_left={rep.nodes.pool}")
            dur = rep.straggler_repairs.next() if rep.straggler_repairs else job.repair_s
            start_repair(rep, t, dur, "node", 1, "straggler", slot)
    old = nodes.missing
    if not vacant:
        nodes.missing = 0
        nodes.wake_on_return = False
        if old:
            rep.emit(t, "expand", detail=f"replicas={job.dp_replicas}/{job.dp_replicas}")
        return True
    watch_returns(rep)  # the job waits, or runs shrunk: a returning node matters now
    if job.elastic:
        k = rep.nodes.missing_after(0, rep.job.nodes_per_replica)
        if job.dp_replicas - k >= job.min_replicas:
            rep.nodes.missing = k
            if k != old:
                rep.emit(t, "shrink" if k > old else "expand",
                          detail=f"replicas={job.dp_replicas - k}/{job.dp_replicas}")
            return True
    return False


def add_return(rep: Replica, t: float, kind: str, count: int, component: str, ident: int) -> None:
    """A node (or a leaf's nodes) will be back at ``t``, without a repair crew to queue for."""
    rep.nodes.return_seq += 1
    heapq.heappush(rep.nodes.returns, (t, rep.nodes.return_seq, kind, count, component, ident))
    if rep.nodes.wake_on_return:
        rep.env.timeout(t - rep.env.now).callbacks.append(partial(_wake, rep))


def sync_returns(rep: Replica, upto: float) -> None:
    """Apply every return due by ``upto`` (in time order), as if each had been an event."""
    nodes = rep.nodes
    returns = nodes.returns
    while returns and returns[0][0] <= upto:
        t, _seq, kind, count, component, ident = heapq.heappop(returns)
        if kind == "leaf":
            nodes.leaves_down.discard(ident)
        nodes.pool += count
        if rep.log is not None:
            rep.emit(t, "capacity_returned" if kind == "preempt" else "repair_done", component, ident,
                      f"nodes={count} spares={nodes.pool}")


def watch_returns(rep: Replica) -> None:
    """From now on (until the job is whole again) every return wakes the job: schedule the pending ones."""
    if rep.nodes.wake_on_return:
        return
    rep.nodes.wake_on_return = True
    now = rep.env.now
    for t in sorted({r[0] for r in rep.nodes.returns}):
        rep.env.timeout(max(t - now, 0.0)).callbacks.append(partial(_wake, rep))


def _wake(rep: Replica, _event: object) -> None:
    now = rep.env.now
    rep.settle(now)
    if rep.ph.mode == DONE:
        return
    sync_returns(rep, now)
    node_returned(rep, 0)


def node_returned(rep: Replica, count: int) -> None:
    """``count`` nodes came back to the spare pool (repair done, switch repaired, capacity back)."""
    rep.nodes.pool += count
    rep.woken = True
    w = rep.waiter
    if w is not None and not w.triggered:
        w.succeed()
    if rep.ph.mode == RUN and can_expand(rep):
        request_replan(rep)


def request_replan(rep: Replica) -> None:
    """The run phase's plan is out of date (speed changed, or a shrunk job can grow back): rebuild it
    now if the job is computing, else when the checkpoint being written ends."""
    if rep.ph.mode != RUN:
        return
    now = rep.env.now
    if rep.computing(now):
        _replan_now(rep)
        return
    i = rep.ph.ph_next
    if i < rep.ph.rp_nb:  # writing: look again when the write ends
        pid = rep.ph.phase_id
        rep.env.timeout(bound(rep, i) - now).callbacks.append(lambda _e: _replan_if(rep, pid))


def _replan_if(rep: Replica, pid: int) -> None:
    now = rep.env.now
    rep.settle(now)
    if rep.ph.phase_id == pid and rep.computing(now):
        _replan_now(rep)


def _replan_now(rep: Replica) -> None:
    """Re-plan now: from inside the job process (a failure it handles) by a flag, else by interrupting it."""
    proc = rep.proc
    if proc is None:  # pragma: no cover - a plain job's speed never changes (fastpath.plain_job)
        raise RuntimeError("a plain job has no process to interrupt")
    if rep.env.active_process is proc:
        rep.replan = True
    else:
        proc.interrupt(RATE_CHANGE)


def start_repair(rep: Replica, now: float, dur: float, kind: str, count: int, component: str, ident: int) -> None:
    """Send a node (``count`` nodes for a leaf, 0 for a spine) to repair, or away for ``preempt``."""
    env = rep.env
    if kind == "preempt" or rep.crew is None:
        if rep.log is not None:
            rep.emit(now, "repair_start" if kind != "preempt" else "reacquire_start", component, ident,
                     f"until={now + dur!r}")
        if kind != "spine":  # a node comes back: applied lazily (Replica.sync_returns)
            nodes = rep.nodes
            if nodes.wake_on_return:
                add_return(rep, now + dur, kind, count, component, ident)
            else:  # (add_return without the wake-up)
                nodes.return_seq += 1
                heapq.heappush(nodes.returns, (now + dur, nodes.return_seq, kind, count, component, ident))
            return
        # ``now`` can be a boundary applied lazily (a swap at the end of detection): keep its time
        env.timeout(now + dur - env.now).callbacks.append(partial(_repair_done, rep, kind, count, component, ident))
    else:
        done = partial(_repair_done, rep, kind, count, component, ident)
        env.process(_crew_repair(rep, dur, component, ident, done))


def _crew_repair(rep: Replica, dur: float, component: str, ident: int, done):  # type: ignore[no-untyped-def]
    env = rep.env
    crew = rep.crew
    if crew is None:  # pragma: no cover - start_repair only comes here with a crew
        raise RuntimeError("no repair crew")
    with crew.request() as req:
        yield req
        rep.emit(env.now, "repair_start", component, ident, f"until={env.now + dur!r}")
        yield env.timeout(dur)
    done(None)


def _repair_done(rep: Replica, kind: str, count: int, component: str, ident: int, _event: object) -> None:
    now = rep.env.now
    rep.settle(now)
    if rep.ph.mode == DONE:
        return
    if kind == "spine":
        old = rep.rate()
        rep.nodes.spines_down.discard(ident)
        rep.emit(now, "fabric_restored", component, ident, f"spines_down={len(rep.nodes.spines_down)}")
        if rep.rate() != old:
            request_replan(rep)
        return
    if kind == "leaf":
        rep.nodes.leaves_down.discard(ident)
    if rep.log is not None:
        rep.emit(now, "capacity_returned" if kind == "preempt" else "repair_done", component, ident,
                 f"nodes={count} spares={rep.nodes.pool + count}")
    node_returned(rep, count)
