"""The run phase: compute and checkpoint cycles, as one timeout from the last restart to the next decision.

A run phase covers n checkpoint cycles: cycle 0 computes ``c1`` = what is left of tau since the last
checkpoint (or restart), later cycles tau each, every cycle then writes its checkpoint. The last cycle
can be special: the finishing one (the rest of the work, then the final checkpoint or none), or a
full blocking checkpoint before a maintenance window or an elastic re-expansion. Nothing but a failure,
a change of speed or the job's own next decision can end the phase, so one SimPy timeout serves all of
its cycles; its boundaries (checkpoint start, checkpoint end) are applied by :meth:`settle_run` when
time reaches them, in order, exactly as separate events would have been.

Boundary i of the phase is the end of cycle j = i // 2's compute (i even) or write (i odd).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .modes import DONE, MAINT, RECOVER, RUN
from .records import BUCKETS

__all__ = ["EXACT_CYCLES", "NO_WRITE", "begin_run", "finishing_cycle", "bound", "settle_run", "close_run", "run_part", "computing"]

PROD, LOST, CKPT, DEGR = (BUCKETS.index(b) for b in ("productive", "lost_work", "checkpointing", "degraded"))
NO_WRITE = -1.0
#: Beyond this many cycles a cycle count is no longer exact in floating point (and counting up to it would
#: never end): a run with more left runs that many cycles (some 10**17 s at a 4-minute interval, far past
#: any sensible horizon) and then stops as at the event budget (``budget_hit``), unfinished.
EXACT_CYCLES = 2**50

if TYPE_CHECKING:
    from .replica import Replica


def begin_run(rep: Replica, now: float, expand: bool = False) -> float:
    """Start a run phase ``now`` (the environment's time); returns its duration. ``expand``: a shrunk
    elastic job can grow back at the end of its first cycle (:func:`clustersim.sim.nodes.can_expand`)."""
    job = rep.job
    nodes = rep.nodes
    rate = rep.rate() if nodes.missing or nodes.spines_down or nodes.stragglers else 1.0
    tau = job.checkpoint_interval_s
    prog = rep.prog
    rem = (job.work_s - prog.work) / rate
    c1 = tau - prog.since
    if c1 < 0.0:
        c1 = 0.0
    async_ = job.checkpoint_async
    full_w = job.checkpoint_write_s
    w = job.checkpoint_block_s if async_ else full_w
    inflight = prog.inflight
    single = async_ and (inflight is not None and inflight[0] > now + c1
                         or full_w - job.checkpoint_block_s > tau)
    # first cycle that finishes the job: the smallest j with rem <= c1 + j tau (within rounding: a
    # remainder of a billionth of tau does not earn a checkpoint cycle of its own)
    jf = finishing_cycle(rem, c1, tau)
    if jf < 0:  # (also nan, inf): run that many cycles, then stop
        rep.stop_after_phase = True
        return _set_run(rep, now, rate, c1, tau, w, EXACT_CYCLES, False, RUN, tau, w, not async_)
    if not async_ and not nodes.missing and rep.next_maint == math.inf:
        # the common case: synchronous checkpoints, nothing due before the finish
        return _set_run(rep, now, rate, c1, tau, w, jf, True, RUN,
                        rem - (c1 + (jf - 1) * tau) if jf else rem,
                        full_w if job.final_checkpoint else NO_WRITE, True)
    # first cycle whose checkpoint starts at or after a due maintenance window
    jm = math.inf
    if rep.next_maint != math.inf:
        gap = rep.next_maint - now - c1
        jm = 0 if gap <= 0 else math.ceil(gap / (tau + w))
        while jm > 0 and now + c1 + (jm - 1) * (tau + w) >= rep.next_maint:
            jm -= 1
    je = 0 if expand else math.inf
    last = 0 if single else int(min(jf, jm, je))
    finishing = jf == last
    kind_after = RUN
    if not finishing:
        if jm == last:
            kind_after = MAINT
        elif je == last:
            kind_after = RECOVER
    if finishing:
        last_c = rem - (c1 + (last - 1) * tau) if last else rem
    else:
        last_c = c1 if last == 0 else tau
    # the last cycle's write
    if finishing and not job.final_checkpoint:
        last_w, last_commit = NO_WRITE, True
    elif finishing or kind_after != RUN or not async_:
        last_commit = True
        last_w = full_w if (finishing or kind_after != RUN) else w
    else:
        last_commit, last_w = False, w
    if async_ and last_w != NO_WRITE:
        if last == 0:
            wait = max(0.0, inflight[0] - (now + last_c)) if inflight is not None else 0.0
        else:
            wait = max(0.0, full_w - job.checkpoint_block_s - last_c)
        last_w += wait
    return _set_run(rep, now, rate, c1, tau, w, last, finishing, kind_after, last_c, last_w, last_commit)


def finishing_cycle(rem: float, c1: float, tau: float) -> int:
    """The first cycle that finishes the job, ``rem`` seconds of compute left at the current rate: the
    smallest j with rem <= c1 + j tau (within rounding: a remainder of a billionth of tau does not earn a
    checkpoint cycle of its own); -1 if there are :data:`EXACT_CYCLES` cycles or more to go (or rem is
    nan or inf)."""
    rem_tol = rem - 1e-9 * tau
    if rem_tol <= c1:
        return 0
    if not rem_tol - c1 < EXACT_CYCLES * tau:
        return -1
    jf = max(1, math.ceil((rem_tol - c1) / tau))
    while jf > 1 and rem_tol <= c1 + (jf - 1) * tau:
        jf -= 1
    while rem_tol > c1 + jf * tau:
        jf += 1
    return jf


def _set_run(rep: Replica, now: float, rate: float, c1: float, tau: float, w: float, last: int,
             finishing: bool, after: int, last_c: float, last_w: float, last_commit: bool) -> float:
    """Store a run phase of ``last + 1`` cycles; returns its duration (to its last boundary)."""
    ph = rep.ph
    ph.mode = RUN
    ph.phase_id += 1
    ph.ph_next = 0
    ph.rp_t0 = now
    ph.rp_c1 = c1
    ph.rp_tau = tau
    ph.rp_w = w
    ph.rp_period = period = tau + w
    ph.rp_base = base = now + c1 + w
    ph.rp_n = last + 1
    ph.rp_last_c = last_c
    ph.rp_last_w = last_w
    ph.rp_last_commit = last_commit
    ph.rp_plain_commit = not rep.job.checkpoint_async
    ph.rp_finishing = finishing
    ph.rp_after = after
    ph.rp_rate = rate
    ph.rp_nb = 2 * (last + 1) - (1 if last_w == NO_WRITE else 0)
    # bound(rep, 0) and bound(rep, rp_nb - 1), with the same operations
    ph.next_t = now + (last_c if last == 0 else c1)
    end_c = (now if last == 0 else base + (last - 1) * period) + last_c
    return (end_c if last_w == NO_WRITE else end_c + last_w) - now


def bound(rep: Replica, i: int) -> float:
    """Time of boundary i of the current run phase."""
    j = i >> 1
    start = rep.ph.rp_t0 if j == 0 else rep.ph.rp_base + (j - 1) * rep.ph.rp_period
    if j == rep.ph.rp_n - 1:
        end_c = start + rep.ph.rp_last_c
        return end_c if i & 1 == 0 else end_c + rep.ph.rp_last_w
    end_c = start + (rep.ph.rp_c1 if j == 0 else rep.ph.rp_tau)
    return end_c if i & 1 == 0 else end_c + rep.ph.rp_w

def _cycle_start(rep: Replica, j: int) -> float:
    return rep.ph.rp_t0 if j == 0 else rep.ph.rp_base + (j - 1) * rep.ph.rp_period

def settle_run(rep: Replica, now: float, force: bool = False) -> float:
    """Apply the run phase's boundaries up to ``now`` (all of them with ``force``: the phase ended);
    returns the time of the next boundary not yet applied (inf: none, or the phase ended)."""
    ph = rep.ph
    i = ph.ph_next
    nb = ph.rp_nb
    bulk = ph.rp_plain_commit and ph.rp_n > 1
    while i < nb:
        if bulk and not i & 1 and rep.log is None:  # (the log may fill up on the way)
            i = _bulk_cycles(rep, i, now, force)
            bulk = False
            if i >= nb:
                break
        t = bound(rep, i)
        if t > now and not force:
            return t
        ph.ph_next = i + 1
        if i & 1:
            _write_end(rep, i >> 1, t)
        else:
            _compute_end(rep, i >> 1, t)
        if ph.mode == DONE:
            return math.inf
        i += 1
    return math.inf

def _bulk_cycles(rep: Replica, i: int, now: float, force: bool) -> int:
    """Apply every complete plain (synchronous) cycle up to ``now`` at once; returns the next boundary.

    The write of cycle m ends at base + m * period (m >= 0), so the cycles done by ``now`` are counted
    by one division (checked against :func:`bound` for rounding). Used only without an event log; the
    sums are those of the cycle-by-cycle path (up to floating-point rounding).
    """
    j = i >> 1
    ph = rep.ph
    plain = ph.rp_n - 1  # cycles 0 .. n-2 are plain
    if force:
        m = plain
    else:
        base, period = ph.rp_base, ph.rp_period
        if now < base:
            return i
        m = min(plain, int((now - base) // period) + 1)
        # bound(rep, 2k + 1), the end of plain cycle k's write, with bound's own operations
        tau, w, first = ph.rp_tau, ph.rp_w, ph.rp_t0 + ph.rp_c1 + ph.rp_w
        while m > j and (first if m == 1 else base + (m - 2) * period + tau + w) > now:
            m -= 1
        while m < plain and (first if m == 0 else base + (m - 1) * period + tau + w) <= now:
            m += 1
    k = m - j
    if k <= 0:
        return i
    compute = (rep.ph.rp_c1 + (k - 1) * rep.ph.rp_tau) if j == 0 else k * rep.ph.rp_tau
    work = rep.prog.work + compute * rep.ph.rp_rate
    pend = rep.prog.pend_wall + compute
    done = work - rep.prog.work_saved
    acc = rep.prog.acc
    acc[PROD] += done
    acc[DEGR] += pend - done
    acc[CKPT] += k * rep.ph.rp_w
    rep.prog.checkpoints += k
    rep.prog.work = rep.prog.work_saved = work
    rep.prog.pend_wall = 0.0
    rep.prog.since = 0.0
    rep.ph.ph_next = 2 * m
    return 2 * m


def _compute_end(rep: Replica, j: int, t: float) -> None:
    last = j == rep.ph.rp_n - 1
    c = rep.ph.rp_last_c if last else (rep.ph.rp_c1 if j == 0 else rep.ph.rp_tau)
    rep.prog.pend_wall += c
    rep.prog.since += c
    if last and rep.ph.rp_finishing:
        rep.prog.work = rep.job.work_s
        if rep.ph.rp_last_w == NO_WRITE:
            if rep.prog.inflight is not None:  # an async write still going at the finish no longer matters
                rep.commit_inflight(t)
                rep.prog.inflight = None
            rep.prog.commit(rep.prog.work, rep.prog.pend_wall)
            rep.finish(t)
            return
    else:
        rep.prog.work += c * rep.ph.rp_rate
    if rep.log is not None:
        rep.emit(t, "checkpoint_start", detail=f"work_s={rep.prog.work!r}")

def _write_end(rep: Replica, j: int, t: float) -> None:
    last = j == rep.ph.rp_n - 1
    rep.prog.acc[CKPT] += rep.ph.rp_last_w if last else rep.ph.rp_w
    if rep.prog.inflight is not None:
        rep.commit_inflight(t)
    rep.prog.since = 0.0
    if rep.ph.rp_last_commit if last else rep.ph.rp_plain_commit:
        rep.prog.commit(rep.prog.work, rep.prog.pend_wall)
        rep.prog.checkpoints += 1
        if rep.log is not None:
            rep.emit(t, "checkpoint_done", detail=f"work_s={rep.prog.work!r}")
        if last and rep.ph.rp_finishing:
            rep.finish(t)
    else:
        job = rep.job
        done_at = t + job.checkpoint_write_s - job.checkpoint_block_s
        rep.prog.inflight = (done_at, rep.prog.work, rep.prog.pend_wall)
        if rep.log is not None:
            rep.emit(t, "checkpoint_copied", detail=f"persisted_at={done_at!r}")

def close_run(rep: Replica, now: float, at_horizon: bool) -> str:
    """Account the unfinished boundary interval of the run phase up to ``now``; returns its name."""
    ph = rep.ph
    i = ph.ph_next
    if i >= ph.rp_nb:
        return "idle"
    ph.ph_next = ph.rp_nb
    if i & 1 == 0:
        j = i >> 1
        e = now - (ph.rp_t0 if j == 0 else ph.rp_base + (j - 1) * ph.rp_period)  # (_cycle_start)
        prog = rep.prog
        prog.pend_wall += e
        prog.since += e
        prog.work += e * rep.ph.rp_rate
        return "compute"
    e = now - bound(rep, i - 1)
    rep.prog.acc[CKPT if at_horizon else LOST] += e
    return "checkpoint write"

def run_part(rep: Replica) -> str:
    i = rep.ph.ph_next
    if i >= rep.ph.rp_nb:
        return "idle"
    return "checkpoint write" if i & 1 else "compute"

def computing(rep: Replica, now: float) -> bool:
    """Whether the job is computing (in a run phase, not writing) at ``now``, after settling."""
    i = rep.ph.ph_next
    return rep.ph.mode == RUN and i < rep.ph.rp_nb and not i & 1 and now < bound(rep, i)
