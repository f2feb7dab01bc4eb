"""The failure process and the repairs, around a :class:`~clustersim.sim.replica.Replica`'s job process.

* One failure process per replica merges every source (and the trace) through a heap keyed on each
  source's next failure time: one SimPy timeout per failure, whatever the number of units.
* Repairs: each failed node (or switch) is repaired for a duration drawn from the repair distribution.
  With ``max_concurrent_repairs`` a repair is a SimPy process queueing for a ``simpy.Resource`` of that
  capacity (first come, first served); without a limit it is a bare timeout with a callback (the same
  semantics without the process's events). A repaired node joins the spare pool; a repaired leaf
  switch returns the nodes below it; a repaired spine restores the fabric's speed. Preempted nodes come
  back after their re-acquire delay without queueing for the repair crew.
"""

from __future__ import annotations

import heapq
from functools import partial
from typing import TYPE_CHECKING

import simpy

from clustersim import rng as rngmod

from .distributions import RepairDraws, failure_generators, trace_generator
from .modes import DONE, MAINT, WAIT

if TYPE_CHECKING:
    from .replica import Replica

__all__ = ["start_failure_process", "start_repair"]


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
        if rep.mode == DONE:
            return
        rep.failures += 1
        if rep.failures >= budget:
            rep.stop_at_budget()
            return


def _on_failure(rep: Replica, component: str, effect: str, ident: int, dur: float) -> None:
    """One failure now. ``ident``: the node slot (node/preempt effects), the leaf switch (leaf), the
    spine switch (fabric), -1 (job)."""
    env = rep.env
    now = env.now
    rep.settle(now)
    mode = rep.mode
    if mode == DONE:
        return
    job = rep.job
    doing = rep.current_part() if rep.log is not None else ""
    if effect == "fabric":
        if ident in rep.spines_down:
            _ignored(rep, now, component, ident, "spine already down")
            return
        old = rep.rate()
        rep.spines_down.add(ident)
        rep.degradations += 1
        rep.emit(now, "fabric_degraded", component, ident, f"spines_down={len(rep.spines_down)}")
        start_repair(rep, now, dur, "spine", 0, component, ident)
        if rep.rate() != old:
            rep.request_replan()
        return
    if effect == "job":
        if mode in (WAIT, MAINT):
            _ignored(rep, now, component, -1, "job not running")
            return
        _count(rep, now, component, -1, "during " + doing)
    elif effect == "leaf":
        rep.sync_returns(now)
        if ident in rep.leaves_down:
            _ignored(rep, now, component, ident, "leaf switch already down")
            return
        rep.leaves_down.add(ident)
        lo = ident * job.nodes_per_leaf
        slots = [s for s in range(lo, min(lo + job.nodes_per_leaf, job.nodes)) if s not in rep.vacant]
        for s in slots:
            rep.vacant[s] = "repair"
            rep.stragglers.discard(s)
        if not slots:
            _ignored(rep, now, component, ident, "no active node below the leaf switch")
        else:
            _count(rep, now, component, ident, f"during {doing}; nodes {slots[0]}-{slots[-1]} down"
                   if rep.log is not None else "")
        start_repair(rep, now, dur, "leaf", len(slots), component, ident)
        if not slots:
            return
    else:  # node, preempt
        if ident in rep.vacant:
            _ignored(rep, now, component, ident, "node slot vacant")
            return
        rep.vacant[ident] = "preempt" if effect == "preempt" else "repair"
        rep.stragglers.discard(ident)
        _count(rep, now, component, ident, "during " + doing, "preempted" if effect == "preempt" else "failure")
        start_repair(rep, now, dur, effect, 1, component, ident)
    if mode not in (WAIT, MAINT):
        rep.proc.interrupt(component)


def _count(rep: Replica, now: float, component: str, node: int, detail: str, event: str = "failure") -> None:
    rep.interruptions_by[component] = rep.interruptions_by.get(component, 0) + 1
    rep.emit(now, event, component, node, detail)


def _ignored(rep: Replica, now: float, component: str, node: int, why: str) -> None:
    rep.ignored += 1
    rep.emit(now, "failure_ignored", component, node, why)


def start_repair(rep: Replica, now: float, dur: float, kind: str, count: int, component: str, ident: int) -> None:
    """Send a node (``count`` nodes for a leaf, 0 for a spine) to repair, or away for ``preempt``."""
    env = rep.env
    if kind == "preempt" or rep.crew is None:
        if rep.log is not None:
            rep.emit(now, "repair_start" if kind != "preempt" else "reacquire_start", component, ident,
                     f"until={now + dur!r}")
        if kind != "spine":  # a node comes back: applied lazily (Replica.sync_returns)
            rep.add_return(now + dur, kind, count, component, ident)
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
    if rep.mode == DONE:
        return
    if kind == "spine":
        old = rep.rate()
        rep.spines_down.discard(ident)
        rep.emit(now, "fabric_restored", component, ident, f"spines_down={len(rep.spines_down)}")
        if rep.rate() != old:
            rep.request_replan()
        return
    if kind == "leaf":
        rep.leaves_down.discard(ident)
    if rep.log is not None:
        rep.emit(now, "capacity_returned" if kind == "preempt" else "repair_done", component, ident,
                 f"nodes={count} spares={rep.pool + count}")
    rep.node_returned(count)
