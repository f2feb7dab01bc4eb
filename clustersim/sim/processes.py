"""The failure process, around a :class:`~clustersim.sim.replica.Replica`'s job process.

* One failure process per replica merges every source (and the trace) through a heap keyed on each
  source's next failure time: one SimPy timeout per failure, whatever the number of units.
* A failure changes the replica's node state, sends the node (or switch) to repair (:mod:`.nodes`) and
  interrupts the job process if the job was running or recovering.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

import simpy

from clustersim import rng as rngmod

from .distributions import RepairDraws, failure_generators, trace_generator
from .modes import DONE, MAINT, WAIT
from .nodes import request_replan, start_repair, sync_returns

if TYPE_CHECKING:
    from .replica import Replica

__all__ = ["start_failure_process"]


def start_failure_process(rep: Replica, seed: int, replica: int) -> None:
    """Set up the repair crew, the straggler repair draws and the failure process of ``rep``."""
    job = rep.job
    env = rep.env
    rep.crew = simpy.Resource(env, job.max_concurrent_repairs) if job.max_concurrent_repairs else None
    rep.straggler_repairs = RepairDraws(rngmod.stream(seed, replica, "repair/straggler"),
                                        job.repair_distribution, job.repair_s, job.repair_cv)
    gens = failure_generators(job, seed, replica)
    heap: list[tuple[float, int, int]] = []
    for i, (g, _draws) in enumerate(gens):
        t, unit = g.next()
        heap.append((t, i, unit))
    trace = None
    if job.trace:
        trace = trace_generator(job, seed, replica)
        t, unit = trace[0].next()
        heap.append((t, len(gens), unit))
    if not heap:
        return
    heapq.heapify(heap)
    env.process(_failure_process(rep, heap, gens, trace))


def _failure_process(rep: Replica, heap, gens, trace):  # type: ignore[no-untyped-def]
    env = rep.env
    job = rep.job
    horizon = job.horizon
    n_sources = len(gens)
    gpn = job.gpus_per_node
    # per source: (next failure, next repair duration, component, effect, units per node slot)
    plan = [(g.next, d.next, s.component, s.effect, gpn if s.per == "gpu" and s.effect != "job" else 1,
             s.effect == "job") for (g, d), s in zip(gens, job.sources, strict=True)]
    budget = job.max_events
    while True:
        t, i, unit = heap[0]
        if t > horizon:
            return
        if t > env.now:
            yield env.timeout(t - env.now)
        if i < n_sources:
            nxt, dur, component, effect, per_slot, job_level = plan[i]
            nt, nu = nxt()
            heapq.heapreplace(heap, (nt, i, nu))
            _on_failure(rep, component, effect, -1 if job_level else unit // per_slot, dur())
        else:
            times, events, repairs, returns = trace
            nt, nu = times.next()
            heapq.heapreplace(heap, (nt, i, nu))
            ev = events[unit]
            effect = job.trace_effect(ev)
            ident = {"job": -1, "leaf": ev.node // job.nodes_per_leaf}.get(effect, ev.node)
            _on_failure(rep, ev.component, effect, ident, (returns if effect == "preempt" else repairs).next())
        if rep.ph.mode == DONE:
            return
        rep.count.failures += 1
        if rep.count.failures >= budget:
            rep.stop_at_budget()
            return


def _on_failure(rep: Replica, component: str, effect: str, ident: int, dur: float) -> None:
    """One failure now. ``ident``: the node slot (node/preempt effects), the leaf switch (leaf), the
    spine switch (fabric), -1 (job)."""
    env = rep.env
    now = env.now
    rep.settle(now)
    mode = rep.ph.mode
    if mode == DONE:
        return
    job = rep.job
    doing = rep.current_part() if rep.log is not None else ""
    if effect == "fabric":
        if ident in rep.nodes.spines_down:
            _ignored(rep, now, component, ident, "spine already down")
            return
        old = rep.rate()
        rep.nodes.spines_down.add(ident)
        rep.count.degradations += 1
        rep.emit(now, "fabric_degraded", component, ident, f"spines_down={len(rep.nodes.spines_down)}")
        start_repair(rep, now, dur, "spine", 0, component, ident)
        if rep.rate() != old:
            request_replan(rep)
        return
    if effect == "job":
        if mode in (WAIT, MAINT):
            _ignored(rep, now, component, -1, "job not running")
            return
        _count(rep, now, component, -1, "during " + doing)
    elif effect == "leaf":
        sync_returns(rep, now)
        if ident in rep.nodes.leaves_down:
            _ignored(rep, now, component, ident, "leaf switch already down")
            return
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
            return
    else:  # node, preempt
        if ident in rep.nodes.vacant:
            _ignored(rep, now, component, ident, "node slot vacant")
            return
        rep.nodes.vacant[ident] = "preempt" if effect == "preempt" else "repair"
        rep.nodes.stragglers.discard(ident)
        _count(rep, now, component, ident, "during " + doing, "preempted" if effect == "preempt" else "failure")
        start_repair(rep, now, dur, effect, 1, component, ident)
    if mode not in (WAIT, MAINT):
        rep.proc.interrupt(component)


def _count(rep: Replica, now: float, component: str, node: int, detail: str, event: str = "failure") -> None:
    rep.count.interruptions_by[component] = rep.count.interruptions_by.get(component, 0) + 1
    rep.emit(now, event, component, node, detail)


def _ignored(rep: Replica, now: float, component: str, node: int, why: str) -> None:
    rep.count.ignored += 1
    rep.emit(now, "failure_ignored", component, node, why)
