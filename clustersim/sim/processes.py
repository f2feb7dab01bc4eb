"""The failures of a replica, for a :class:`~clustersim.sim.replica.Replica`'s job process.

* :class:`FailureFeed` hands out every source's (and the trace's) failures in time order, merged a
  batch at a time (:class:`~clustersim.sim.failstream.FailureStream`: the order of a heap keyed on each
  source's next failure); the job process reads the next time from it and waits for whichever comes
  first, the failure or its own next decision: one SimPy timeout per failure, whatever the number of
  units, and no interrupt.
* A failure changes the replica's node state and sends the node (or switch) to repair (:mod:`.nodes`);
  the job process then stops the job if it was running or recovering.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import simpy

from .distributions import failure_generators, trace_generator
from .failstream import FailureStream
from .modes import DONE, MAINT, WAIT
from .nodes import request_replan, start_repair, sync_returns

if TYPE_CHECKING:
    from .replica import Replica

__all__ = ["FailureFeed"]


class FailureFeed:
    """Every source's (and the trace's) failures in time order (:class:`~.failstream.FailureStream`).

    The job process asks :meth:`next_s` for the time of the next failure and, when it comes first,
    :meth:`fire` applies it: no process, no interrupt, one SimPy timeout per failure."""

    def __init__(self, rep: Replica, seed: int, replica: int):
        job = rep.job
        self.rep = rep
        rep.crew = simpy.Resource(rep.env, job.max_concurrent_repairs) if job.max_concurrent_repairs else None
        self.trace = None
        if job.trace:
            self.trace = trace_generator(job, seed, replica)
        gens = failure_generators(job, seed, replica)
        self.horizon = job.horizon
        self.stream = FailureStream(gens, None if self.trace is None else [e.time_s for e in self.trace[1]],
                                    self.horizon)
        self.n_sources = len(gens)
        self.budget = job.max_events
        gpn = job.gpus_per_node
        # per source: (component, effect, units per node slot, job-level)
        self.plan = [(s.component, s.effect, gpn if s.per == "gpu" and s.effect != "job" else 1, s.effect == "job")
                     for s in job.sources]

    def next_s(self) -> float:
        """Time of the next failure (inf: none before the horizon)."""
        return self.stream.next_s()

    def fire(self, now: float) -> bool:
        """Apply the next failure (due ``now``, the environment's time); True if it stops the job (it was
        running or recovering)."""
        rep = self.rep
        st = self.stream
        k = st.k
        st.k = k + 1
        i = st.sources[k]
        unit = st.units[k]
        if i < self.n_sources:
            component, effect, per_slot, job_level = self.plan[i]
            stops = _on_failure(rep, now, component, effect, -1 if job_level else unit // per_slot, st.repairs[k])
        else:
            job = rep.job
            _times, events, repairs, returns = self.trace  # type: ignore[misc]
            ev = events[unit]
            effect = job.trace_effect(ev)
            ident = {"job": -1, "leaf": ev.node // job.nodes_per_leaf}.get(effect, ev.node)
            stops = _on_failure(rep, now, ev.component, effect, ident,
                                (returns if effect == "preempt" else repairs).next())
        if rep.ph.mode == DONE:
            return False
        count = rep.count
        count.failures += 1
        if count.failures >= self.budget:
            rep.stop_at_budget()
            return False
        return stops


def _on_failure(rep: Replica, now: float, component: str, effect: str, ident: int, dur: float) -> bool:
    """One failure ``now``. ``ident``: the node slot (node/preempt effects), the leaf switch (leaf), the
    spine switch (fabric), -1 (job). True: the job stops (it was running or recovering)."""
    if now >= rep.ph.next_t or rep.prog.inflight is not None:
        rep.settle(now)
    mode = rep.ph.mode
    if mode == DONE:
        return False
    log = rep.log is not None
    if effect == "node" and not log:  # the common case, without a log: a node (or a GPU's node) fails
        nodes = rep.nodes
        if ident in nodes.vacant:
            _ignored(rep, now, component, ident, "node slot vacant")
            return False
        nodes.vacant[ident] = "repair"
        if nodes.stragglers:
            nodes.stragglers.discard(ident)
        by = rep.count.interruptions_by
        by[component] = by.get(component, 0) + 1
        if rep.crew is None and not nodes.wake_on_return:  # (start_repair: a lazy return, no wake-up)
            nodes.return_seq += 1
            heapq.heappush(nodes.returns, (now + dur, nodes.return_seq, effect, 1, component, ident))
        else:
            start_repair(rep, now, dur, effect, 1, component, ident)
        return mode != WAIT and mode != MAINT
    job = rep.job
    doing = rep.current_part() if log else ""  # (for the log only)
    if effect == "fabric":
        if ident in rep.nodes.spines_down:
            _ignored(rep, now, component, ident, "spine already down")
            return False
        old = rep.rate()
        rep.nodes.spines_down.add(ident)
        rep.count.degradations += 1
        rep.emit(now, "fabric_degraded", component, ident, f"spines_down={len(rep.nodes.spines_down)}")
        start_repair(rep, now, dur, "spine", 0, component, ident)
        if rep.rate() != old:
            request_replan(rep)
        return False
    if effect == "job":
        if mode in (WAIT, MAINT):
            _ignored(rep, now, component, -1, "job not running")
            return False
        _count(rep, now, component, -1, "during " + doing)
    elif effect == "leaf":
        sync_returns(rep, now)
        if ident in rep.nodes.leaves_down:
            _ignored(rep, now, component, ident, "leaf switch already down")
            return False
        rep.nodes.leaves_down.add(ident)
        lo = ident * job.nodes_per_leaf
        slots = [s for s in range(lo, min(lo + job.nodes_per_leaf, job.nodes)) if s not in rep.nodes.vacant]
        for s in slots:
            rep.nodes.vacant[s] = "repair"
            rep.nodes.stragglers.discard(s)
        if not slots:
            _ignored(rep, now, component, ident, "no active node below the leaf switch")
        else:
            _count(rep, now, component, ident, f"during {doing}; nodes {slots[0]}-{slots[-1]} down"
                   if rep.log is not None else "")
        start_repair(rep, now, dur, "leaf", len(slots), component, ident)
        if not slots:
            return False
    else:  # node, preempt
        nodes = rep.nodes
        if ident in nodes.vacant:
            _ignored(rep, now, component, ident, "node slot vacant")
            return False
        nodes.vacant[ident] = "preempt" if effect == "preempt" else "repair"
        if nodes.stragglers:
            nodes.stragglers.discard(ident)
        _count(rep, now, component, ident, "during " + doing, "preempted" if effect == "preempt" else "failure")
        start_repair(rep, now, dur, effect, 1, component, ident)
    return mode != WAIT and mode != MAINT


def _count(rep: Replica, now: float, component: str, node: int, detail: str, event: str = "failure") -> None:
    by = rep.count.interruptions_by
    by[component] = by.get(component, 0) + 1
    if rep.log is not None:
        rep.emit(now, event, component, node, detail)


def _ignored(rep: Replica, now: float, component: str, node: int, why: str) -> None:
    rep.count.ignored += 1
    rep.emit(now, "failure_ignored", component, node, why)
