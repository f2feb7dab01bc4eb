"""The SimPy engine's loop for the common job, with the replica's state in local variables.

Most jobs are *plain*: synchronous checkpoints, node and job-level failures only (exponential or
Weibull sources), repairs without a crew limit, no maintenance, no elastic shrink, no stragglers, no
trace, no event log. For them :func:`run_plain` runs the job process's loop itself: the same SimPy
timeouts (one to the next failure or to the end of the current phase, whichever comes first: the
next failure of the merged stream, :mod:`.failstream`, drives the loop, no interrupt), and the same
arithmetic in the same order as :mod:`.runphase` and :class:`~clustersim.sim.replica.Replica` (so the
same result to the last bit, and the same SimPy events), but with the progress, the phase and the
time buckets in local variables instead of attributes of the state objects, and none of the general
engine's branches.

It hands over to the general loop, after writing its state back into the replica's state objects
(:mod:`.state`), as soon as anything it does not model comes up: the free spares do not cover the
vacant slots after a failure (the job may wait), a failure in the run phase's last cycle, the end of a
run phase (the finish), the horizon, the event budget, a run too long to count its cycles. The general
loop then carries on from exactly that state, with the same timeout the plain loop would have waited
for.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

from simpy.events import Timeout

from .modes import DETECT_RESTART_LOAD, RECOVER, RUN
from .records import BUCKETS
from .runphase import EXACT_CYCLES, NO_WRITE, begin_run, finishing_cycle

if TYPE_CHECKING:
    from collections.abc import Generator

    import simpy

    from .replica import Replica

__all__ = ["plain_job", "run_plain"]

PROD, LOST, CKPT, DET, RST, LOAD, DEGR = (BUCKETS.index(b) for b in (
    "productive", "lost_work", "checkpointing", "detecting", "restarting", "loading", "degraded"))
# what the general loop does first after the hand-over
_TOP, _RECOVER, _BEGIN_RUN = range(3)


def plain_job(rep: Replica) -> bool:
    """Whether :func:`run_plain` models the replica (checked once, when it is built)."""
    job = rep.job
    nodes = rep.nodes
    return (rep.log is None and rep.crew is None and rep.feed.trace is None and not job.checkpoint_async
            and rep.next_maint == math.inf and not job.elastic and not nodes.stragglers
            and all(s.effect in ("node", "job") for s in job.sources))


def run_plain(rep: Replica) -> Generator[simpy.Event, object, None]:
    """The job process of a plain job (:func:`plain_job`): its loop, until it hands over to
    :meth:`~clustersim.sim.replica.Replica.loop`."""
    ph = rep.ph
    end = rep.env.now + begin_run(rep, rep.env.now, False)
    if (rep.stop_after_phase or ph.mode != RUN or ph.ph_next != 0 or not ph.rp_finishing or ph.rp_after != RUN
            or ph.rp_rate != 1.0 or not ph.rp_plain_commit or not ph.rp_last_commit):
        yield from rep.loop(end)  # (a run too long to count its cycles)
        return
    env = rep.env
    job = rep.job
    prog, nodes, count, feed = rep.prog, rep.nodes, rep.count, rep.feed
    stream, plan, horizon = feed.stream, feed.plan, feed.horizon
    last_failure = feed.budget - 1  # the failure that spends the event budget: the general loop's
    ft, fs, fu, fr, k, nf = stream.times, stream.sources, stream.units, stream.repairs, stream.k, stream.n
    vacant, returns, by = nodes.vacant, nodes.returns, count.interruptions_by
    heappush, heappop = heapq.heappush, heapq.heappop
    inf = math.inf
    tau, w, period = ph.rp_tau, ph.rp_w, ph.rp_period
    work_s = job.work_s
    d0, d1, d2 = rep._recover_durs
    acc = prog.acc
    a_prod, a_lost, a_ckpt, a_det, a_rst, a_load, a_degr = (acc[PROD], acc[LOST], acc[CKPT], acc[DET], acc[RST],
                                                            acc[LOAD], acc[DEGR])
    # (the work is the checkpoint's, and no compute is pending, at every phase start of a plain job: the
    # work done, the compute since the checkpoint and Daly's tau clock go back to it at each failure)
    saved = prog.work_saved
    ckpts = float(prog.checkpoints)
    if prog.work != saved or prog.pend_wall or prog.since:  # pragma: no cover - begin_run at time 0
        yield from rep.loop(end)
        return
    pool, seq = nodes.pool, nodes.return_seq
    failures, ignored = count.failures, count.ignored
    phase_id = ph.phase_id
    # the run phase (runphase._set_run's fields), or the recovery (detect, restart, load ending at e0, e1, e2;
    # r_next: the parts already applied)
    running = True
    t0, c1, base, n, last_c, last_w = ph.rp_t0, ph.rp_c1, ph.rp_base, ph.rp_n, ph.rp_last_c, ph.rp_last_w
    # the next node back from repair (the head of ``returns``)
    back = returns[0][0] if returns else inf
    nvac = len(vacant)  # (0: plain_job; vacant slots, kept as a count)
    # per source: its component, and units per node slot (0: a job-level failure)
    splan = [(component, 0 if job_level else per_slot) for component, _e, per_slot, job_level in plan]
    lazy = False
    rem = rem_tol = 0.0
    far = EXACT_CYCLES * tau
    tol = 1e-9 * tau  # (finishing_cycle's rounding margin)
    r_t0 = e0 = e1 = e2 = 0.0
    r_next = 0
    m = 0.0  # (cycles complete by a failure, a whole float)
    now = env.now
    action = _TOP
    while True:
        if k == nf:  # (FailureStream.next_s)
            stream.k = k
            stream.more()
            ft, fs, fu, fr, k, nf = stream.times, stream.sources, stream.units, stream.repairs, stream.k, stream.n
        tf = ft[k] if k < nf else inf
        # (a failure past the horizon counts as none: the horizon comes first, and the general loop has it)
        if tf < end:  # the next failure comes first
            t_ev = now + (tf - now)  # (the time SimPy will give the timeout)
            if t_ev >= horizon or tf > horizon or failures >= last_failure:
                break
            if running:
                m = 0.0
                if t_ev >= base:  # complete cycles by then (runphase._bulk_cycles, its operations, without
                    # its cap at the last cycle; its first cycle's end, rp_t0 + rp_c1 + rp_w, is base)
                    m = (t_ev - base) // period + 1  # (a whole float: the same products as an int's)
                    while m > 0 and (base if m == 1 else base + (m - 2) * period + tau + w) > t_ev:
                        m -= 1
                    while (base if m == 0 else base + (m - 1) * period + tau + w) <= t_ev:
                        m += 1
                # a failure in cycle m (and runphase's cap does not apply) if the finish is at least two
                # cycles later: more than c1 + (m + 1) tau of compute left (see runphase.finishing_cycle)
                if not (lazy and rem_tol > c1 + (m + 1) * tau):
                    if lazy:
                        n, last_c, end = _plan(rem, t0, c1, tau, base, period, last_w)
                        lazy = False
                    if not tf < end or m >= n - 1:  # the finish first, or a failure in the last cycle
                        break
            yield Timeout(env, tf - now)
            now = t_ev
            unit = fu[k]  # (FailureFeed.fire)
            d = fr[k]
            component, per_slot = splan[fs[k]]
            k += 1
            if running:  # settle_run, then close_run and _lose_work (without their dead stores: the work
                # and the compute since the last checkpoint go back to the checkpoint's right after)
                if m:  # m cycles complete (_bulk_cycles), then cycle m's compute (or its write: lost)
                    compute = c1 + (m - 1) * tau
                    w2 = saved + compute
                    done = w2 - saved
                    a_prod += done
                    a_degr += compute - done  # (pending 0.0 + compute)
                    a_ckpt += m * w
                    ckpts += m
                    saved = w2
                    cs = base + (m - 1) * period
                    ce = cs + tau
                    if ce <= now:
                        a_lost += now - ce
                        a_lost += tau  # (the write's compute: 0.0 + tau)
                    else:
                        a_lost += now - cs  # (0.0 + (now - cs))
                else:
                    ce = t0 + c1
                    if ce <= now:  # writing cycle 0's checkpoint
                        a_lost += now - ce
                        a_lost += c1
                    else:
                        a_lost += now - t0
                try:
                    by[component] += 1
                except KeyError:  # (its first: the same order of keys)
                    by[component] = 1
                if per_slot:  # (vacant is empty while running)
                    ident = unit // per_slot
                    vacant[ident] = "repair"
                    nvac = 1
                    seq += 1
                    t_back = now + d
                    heappush(returns, (t_back, seq, "node", 1, component, ident))
                    if t_back < back:
                        back = t_back
                failures += 1
                running = False
            else:  # Replica.settle, the failure, Replica._close_partial
                if r_next == 0 and e0 <= now:
                    a_det += d0
                    if back <= e0:  # (replace at the end of detection)
                        while returns and returns[0][0] <= e0:
                            heappop(returns)
                            pool += 1
                        back = returns[0][0] if returns else inf
                    if nvac:
                        pool -= nvac
                        vacant.clear()
                        nvac = 0
                    r_next = 1
                if r_next == 1 and e1 <= now:
                    a_rst += d1
                    r_next = 2
                if r_next == 2 and e2 <= now:
                    a_load += d2
                    r_next = 3
                if per_slot:
                    ident = unit // per_slot
                    if ident in vacant:  # its node is away already: ignored, the recovery goes on
                        ignored += 1
                        failures += 1
                        continue
                    vacant[ident] = "repair"
                    nvac += 1
                    try:
                        by[component] += 1
                    except KeyError:
                        by[component] = 1
                    seq += 1
                    t_back = now + d
                    heappush(returns, (t_back, seq, "node", 1, component, ident))
                    if t_back < back:
                        back = t_back
                else:
                    try:
                        by[component] += 1
                    except KeyError:
                        by[component] = 1
                failures += 1
                if r_next == 0:
                    a_det += now - r_t0
                elif r_next == 1:
                    a_rst += now - e0
                elif r_next == 2:
                    a_load += now - e1
                r_next = 3
            # Replica._begin_recover: detection, restart and load in one phase if the spares suffice
            if back <= now:
                while returns and returns[0][0] <= now:
                    heappop(returns)
                    pool += 1
                back = returns[0][0] if returns else inf
            if nvac > pool:
                action = _RECOVER
                break
            phase_id += 1
            r_t0 = now
            r_next = 0
            e0 = now + d0
            e1 = e0 + d1
            e2 = e1 + d2
            end = now + (e2 - now)
            continue
        # the phase ends first
        if running:  # the finish (or a run phase cut short at the horizon): the general loop
            break
        t_ev = now + (end - now)
        if t_ev >= horizon:
            break
        yield Timeout(env, end - now)
        now = t_ev
        # the recovery's remaining parts (Replica.settle with force), then the next run phase
        if r_next == 0:
            a_det += d0
            if back <= e0:
                while returns and returns[0][0] <= e0:
                    heappop(returns)
                    pool += 1
                back = returns[0][0] if returns else inf
            if nvac:
                pool -= nvac
                vacant.clear()
                nvac = 0
            a_rst += d1
            a_load += d2
        elif r_next == 1:
            a_rst += d1
            a_load += d2
        elif r_next == 2:
            a_load += d2
        r_next = 3
        # runphase.begin_run for a plain job: rate 1, synchronous checkpoints, nothing due before the finish;
        # the compute since the last checkpoint (since) is 0 after a restart, so cycle 0 computes tau - 0
        # (the cycles to the finish and the phase's end are worked out only when a failure comes near
        # the finish, or at the hand-over: lazy)
        rem = work_s - saved
        c1 = tau
        rem_tol = rem - tol
        if not rem_tol - c1 < far:  # (finishing_cycle's -1)
            action = _BEGIN_RUN
            break
        phase_id += 1
        t0 = now
        base = now + c1 + w
        end = inf
        lazy = True
        running = True

    # hand over: the state back into the replica's objects
    if running and lazy:
        n, last_c, end = _plan(rem, t0, c1, tau, base, period, last_w)
    acc[PROD], acc[LOST], acc[CKPT], acc[DET], acc[RST], acc[LOAD], acc[DEGR] = (a_prod, a_lost, a_ckpt, a_det, a_rst,
                                                                                 a_load, a_degr)
    prog.work = prog.work_saved = saved
    prog.pend_wall = prog.since = 0.0
    prog.checkpoints = int(ckpts)  # (a sum of whole floats, exact)
    nodes.pool, nodes.return_seq = pool, seq
    count.failures, count.ignored = failures, ignored
    stream.k = k
    ph.phase_id = phase_id
    if running:
        ph.mode = RUN
        ph.ph_next = 0
        ph.next_t = t0 + (last_c if n == 1 else c1)
        ph.rp_t0, ph.rp_c1, ph.rp_base, ph.rp_n, ph.rp_last_c, ph.rp_last_w = t0, c1, base, n, last_c, last_w
        ph.rp_nb = 2 * n - (1 if last_w == NO_WRITE else 0)
        ph.rp_last_commit = ph.rp_finishing = True
        ph.rp_after = RUN
        ph.rp_rate = 1.0
    else:
        ph.mode = RECOVER
        ph.ph_t0 = r_t0
        ph.ph_next = r_next
        ph.gp_parts = DETECT_RESTART_LOAD
        ph.gp_durs = rep._recover_durs
        ph.gp_ends = [e0, e1, e2]
        ph.gp_merged = True
        ph.next_t = (e0, e1, e2)[r_next] if r_next < 3 else inf
    if action == _RECOVER:
        end = now + rep._begin_recover(now)
    elif action == _BEGIN_RUN:
        end = now + begin_run(rep, now, False)
    yield from rep.loop(end)


def _plan(rem: float, t0: float, c1: float, tau: float, base: float, period: float, last_w: float
          ) -> tuple[int, float, float]:
    """A plain run phase from ``t0`` with ``rem`` of compute left (runphase.begin_run and _set_run, their
    operations): its cycles, its last cycle's compute, its end."""
    jf = finishing_cycle(rem, c1, tau)
    if jf:
        last_c = rem - (c1 + (jf - 1) * tau)
        end_c = base + (jf - 1) * period + last_c
    else:
        last_c = rem
        end_c = t0 + last_c
    return jf + 1, last_c, t0 + ((end_c if last_w == NO_WRITE else end_c + last_w) - t0)
