"""The vectorized Monte Carlo engine: a block of replicas at once, in lockstep over their failures.

Between two failures a replica's job is deterministic, so the engine never steps through checkpoint
cycles: from the start of a run (time t0, work saved W) the write of cycle j ends at
t0 + (tau + b) + j (max(tau, g) + b) (b the blocking part of a checkpoint, g its background part when
async), the finish time is known in closed form, and a failure at x is placed in its cycle by one
division. Column k of the failure table (:mod:`.vecevents`) is every replica's k-th failure: the engine
first advances each replica to it (detection ending, nodes replaced or a wait for a repair, restart and
load, the finish), then applies it. Same semantics as the SimPy engine (:mod:`.replica`), for the jobs
:func:`clustersim.sim.engines.vector_unsupported` accepts: exponential and Weibull sources with node,
job or preempt effects, detection/restart/load, sync or async checkpoints, spares and repairs without a
repair crew limit. The test suite holds the two engines equal in distribution.

Two ways through a window, with the same result bit for bit (a test holds them so): the lockstep loop
above, column by column (``VectorEngine(job, fast=False)``), and, by default, :mod:`.vectorfast`, which
applies a whole window per replica in closed form and hands the lockstep loop only the failures it cannot
represent (spares short, a failure on a vacant slot, the finishing cycle, the event budget).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clustersim import rng as rngmod

from .job import SimJob
from .records import BUCKETS
from .scales import ReplicaScales
from .vecevents import FailureWindows, Window
from .vecstate import (
    DONE,
    NO_SLOT,
    REC,
    RUN,
    WAIT,
    CheckpointPlan,
    Nodes,
    Progress,
    Tally,
    components_of,
    widen,
)
from .vectorfast import run_window

__all__ = ["BLOCK", "VectorEngine", "BlockResult", "block_size"]

#: Replicas per block (each block has its own keyed stream: part of the definition of the sequence).
BLOCK = 4096
#: Expected failures per replica in one window of pre-drawn failures.
WINDOW_FAILURES = 128
#: Cap on replicas x Weibull units held at once (the per-unit renewal clocks), to bound memory.
WEIBULL_CELLS = 1 << 21

PROD, LOST, CKPT, DET, RST, LOAD, WAITB, PREB = (BUCKETS.index(b) for b in (
    "productive", "lost_work", "checkpointing", "detecting", "restarting", "loading", "waiting_for_spares",
    "preempted"))
NODE, PREEMPT, JOBLEVEL = range(3)
_EFFECT = {"node": NODE, "preempt": PREEMPT, "job": JOBLEVEL}


def _as_count(x: np.ndarray) -> np.ndarray:
    """Cycle counts (floats, exact below 2**53) as integers, saturated below int64's limit."""
    return np.minimum(x, 2.0**62).astype(np.int64)


def block_size(job: SimJob) -> int:
    """Replicas per block for this job: :data:`BLOCK`, fewer when Weibull sources need per-unit clocks."""
    units = sum(s.units for s in job.sources if s.distribution == "weibull")
    return int(max(1, min(BLOCK, WEIBULL_CELLS // max(units, 1))))


@dataclass
class _State:
    p: Progress
    nd: Nodes
    ta: Tally
    work_s: np.ndarray  # each replica's failure-free compute (the job's, times its step factor)


@dataclass(frozen=True)
class BlockResult:
    """Per-replica arrays of one block (see :class:`~clustersim.sim.summary.MonteCarloResult`)."""

    wall_s: np.ndarray
    finished: np.ndarray
    budget_hit: np.ndarray
    acc: np.ndarray
    by: np.ndarray
    ignored: np.ndarray
    checkpoints: np.ndarray
    failures: np.ndarray


class VectorEngine:
    """Runs blocks of replicas of one job (see the module docstring)."""

    def __init__(self, job: SimJob, fast: bool = True):
        self.job = job
        #: whole windows in closed form (:mod:`.vectorfast`; the same result, bit for bit), else the lockstep loop
        self.fast = fast
        self.plan = CheckpointPlan.of(job)
        self.components, self.comp_of = components_of(job)
        #: every source its own component (the component of source i is i)
        self.own_components = bool((self.comp_of == np.arange(self.comp_of.size)).all())
        self.effect = np.array([_EFFECT[s.effect] for s in job.sources], dtype=np.int64)
        self.on_node = self.effect != JOBLEVEL  # per source: a failure that vacates a node slot
        self.detect_s = job.detect_s
        self.restart_s = job.restart_s
        self.load_s = job.checkpoint_load_s

    # ------------------------------------------------------------------ one block
    def run_block(self, seed: int, block: int, n: int, done: Callable[[int], None] | None = None,
                  windows: FailureWindows | None = None, scales: ReplicaScales | None = None) -> BlockResult:
        """Replicas of block ``block`` (n of them) on the keyed stream (seed, block, ``vector/failures``);
        ``done(k)`` is called as k more replicas end. ``windows``: another source of failure windows
        (the tests script failures with it). ``scales``: the block's per-replica step factors and rate
        multipliers (row 0 is the block's first replica; :mod:`.scales`)."""
        job = self.job
        if scales is not None:
            scales.check(job, n)
        if windows is None:
            windows = FailureWindows(job, rngmod.stream(seed, block, "vector/failures"), n,
                                     None if scales is None else scales.rate_scale[:n])
        work = np.full(n, job.work_s) if scales is None else job.work_s * scales.step_factor[:n]
        st = _State(Progress.start(n), Nodes.start(n, job.spare_nodes), Tally.start(n, len(self.components)), work)
        self._begin_run(st, np.ones(n, bool), np.zeros(n))
        horizon = job.horizon
        budget = job.max_events
        span = WINDOW_FAILURES / windows.rate_per_s if windows.rate_per_s > 0 else horizon
        p = st.p
        running = np.ones(n, bool)
        t0 = np.zeros(n)  # where each replica's next window starts
        while running.any():
            # every window is drawn for the whole block, finished replicas included, so that replica r's
            # failures do not depend on when the others finish: common random numbers across policies
            if windows.memoryless and windows.rate_per_s > 0:
                w = windows.next_failures(t0, WINDOW_FAILURES)
            else:
                t1 = float(t0[0])
                w = windows.window(n, t1, min(max(t1 + span, np.nextafter(t1, np.inf)), horizon))
            t0 = w.end_s
            if self.fast:
                run_window(self, st, w, horizon, budget, windows.rate_per_s)
            else:
                self._lockstep(st, w, horizon, budget)
            end = np.minimum(w.end_s, horizon)
            self._advance(st, p.mode != DONE, end)
            self._stop(st, (p.mode != DONE) & (end >= horizon), end)
            ended = running & (p.mode == DONE)
            if done is not None and ended.any():
                done(int(ended.sum()))
            running &= ~ended
        return BlockResult(st.p.wall_s, ~st.p.stopped, st.p.budget_hit, st.ta.acc, st.ta.by, st.ta.ignored,
                           st.ta.checkpoints, st.ta.failures)

    def _lockstep(self, st: _State, w: Window, horizon: float, budget: int) -> None:
        """The failures of window ``w``, column by column: every replica's k-th failure at once."""
        p = st.p
        near_budget = bool((st.ta.failures + w.columns >= budget).any())
        for k in range(w.columns):
            x = w.time_s[k]
            live = (x < horizon) & (p.mode != DONE)
            if not live.any():
                break
            self._advance(st, live, x)
            live &= p.mode != DONE
            if not near_budget:
                self._fail(st, live, x, w.source[k], w.slot[k], w.repair_s[k], None)
                continue
            last = live & (st.ta.failures + 1 >= budget)  # the budget's last failure: counted, then stop
            self._fail(st, live, x, w.source[k], w.slot[k], w.repair_s[k], ~last)
            if last.any():
                p.budget_hit[last] = True
                self._stop(st, last, x)

    # The steps below work on whole arrays under a mask of the replicas concerned (``m``, ``live``):
    # at a thousand replicas a numpy call costs about what its data does, so a masked update of every
    # row is cheaper than gathering the rows and scattering them back. A masked sum adds 0.0 elsewhere,
    # which leaves every (non-negative) tally bit for bit as it was.

    # ------------------------------------------------------------------ between failures
    def _advance(self, st: _State, live: np.ndarray, x: np.ndarray) -> None:
        """Apply every deterministic transition of the replicas in ``live`` up to times ``x`` (in order)."""
        p = st.p
        acc = st.ta.acc
        rec = p.mode == REC
        td = p.t0 + self.detect_s
        m = live & rec & ~p.filled & (td <= x)
        if m.any():  # detection ends: replace the nodes, or wait for one
            acc[:, DET] += np.where(m, self.detect_s, 0.0)
            self._replaced(st, m, td)
        m = live & (p.mode == WAIT)
        while m.any():  # waiting: every return of a node
            nxt = np.full(x.size, np.inf)
            nxt[m] = st.nd.returns_s[m].min(axis=1)
            m &= nxt <= x
            if not m.any():
                break
            r = np.flatnonzero(m)
            acc[r, np.where(p.wait_preempt[r], PREB, WAITB)] += nxt[r] - p.t0[r]
            self._replaced(st, m, nxt)
            m = live & (p.mode == WAIT)
        tr = p.t1 + (self.restart_s + self.load_s)
        m = live & (p.mode == REC) & p.filled & (tr <= x)
        if m.any():  # restart and load end: the job runs again
            acc[:, RST] += np.where(m, self.restart_s, 0.0)
            acc[:, LOAD] += np.where(m, self.load_s, 0.0)
            self._begin_run(st, m, tr)
        m = live & (p.mode == RUN) & (p.fin_s <= x)
        if m.any():
            self._finish(st, np.flatnonzero(m))

    def _replaced(self, st: _State, m: np.ndarray, t: np.ndarray) -> None:
        """Nodes replaced at ``t`` (end of detection, or a return while waiting): restart or (go on) wait."""
        p = st.p
        full = self._replace(st.nd, m, t)
        np.copyto(p.mode, REC, where=full)
        np.copyto(p.filled, True, where=full)
        np.copyto(p.t1, t, where=full)
        wait = m & ~full
        if wait.any():
            np.copyto(p.mode, WAIT, where=wait)
            np.copyto(p.t0, t, where=wait)
            np.copyto(p.wait_preempt, st.nd.vacant_preempt.any(axis=1), where=wait)

    @staticmethod
    def _replace(nd: Nodes, m: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Nodes back by ``t`` join the pool; vacant slots take free spares, lowest slot first (as
        :func:`clustersim.sim.nodes.replace`). Returns where every slot is filled (within ``m``)."""
        short = m & (nd.pool < nd.n_vacant)
        if short.any():  # the free spares do not cover the vacant slots: count the nodes back by now
            r = np.flatnonzero(short)
            VectorEngine._sync_returns(nd, r, t[r])
        full = m & (nd.pool >= nd.n_vacant)
        if full.any():
            np.copyto(nd.vacant, NO_SLOT, where=full[:, None])
            np.copyto(nd.vacant_preempt, False, where=full[:, None])
            nd.pool -= np.where(full, nd.n_vacant, 0)
            np.copyto(nd.n_vacant, 0, where=full)
        part = m & ~full
        if part.any():
            rp = np.flatnonzero(part)
            k = nd.pool[rp]
            order = np.argsort(nd.vacant[rp], axis=1, kind="stable")
            sv = np.take_along_axis(nd.vacant[rp], order, axis=1)
            sp = np.take_along_axis(nd.vacant_preempt[rp], order, axis=1)
            clear = np.arange(sv.shape[1]) < k[:, None]
            sv[clear] = NO_SLOT
            sp[clear] = False
            order = np.argsort(sv, axis=1, kind="stable")  # the slots left, first
            nd.vacant[rp] = np.take_along_axis(sv, order, axis=1)
            nd.vacant_preempt[rp] = np.take_along_axis(sp, order, axis=1)
            nd.n_vacant[rp] -= k
            nd.pool[rp] = 0
        return full

    # ------------------------------------------------------------------ run phases
    def _begin_run(self, st: _State, m: np.ndarray, t: np.ndarray) -> None:
        """Start a run at ``t`` from the saved work: the finishing cycle and the finish time."""
        p = st.p
        jf, last, fin = self.plan.begin(st.work_s - p.saved, t)
        np.copyto(p.mode, RUN, where=m)
        np.copyto(p.filled, False, where=m)
        np.copyto(p.t0, t, where=m)
        np.copyto(p.jf, jf, where=m)
        np.copyto(p.last_s, last, where=m)
        np.copyto(p.fin_s, fin, where=m)

    def _count_cycles(self, jf: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Non-final cycles whose blocking write has ended ``e`` seconds into the run."""
        pl = self.plan
        m = np.where(e >= pl.first_s, np.minimum(jf, np.floor((e - pl.first_s) / pl.period_s) + 1.0), 0.0)
        over = (m > 0) & (pl.first_s + (m - 1.0) * pl.period_s > e)
        return np.where(over, m - 1.0, m)

    def _cycles(self, jf: np.ndarray, e: np.ndarray, last_s: np.ndarray) -> tuple[np.ndarray, ...]:
        """``e`` seconds into a run of finishing cycle ``jf`` (its compute ``last_s``): (cycles written,
        checkpoints on storage, time into the current cycle, its compute, checkpoint time of the written
        cycles)."""
        pl = self.plan
        m_blk = self._count_cycles(jf, e)
        m_c = self._count_cycles(jf, e - pl.background_s) if pl.background_s > 0 else m_blk
        into = e - np.where(m_blk > 0, pl.first_s + (m_blk - 1.0) * pl.period_s, 0.0)
        c_len = np.where(m_blk == jf, last_s, pl.tau_s)
        ckpt = m_blk * pl.block_s + np.maximum(m_blk - 1.0, 0.0) * pl.wait_s
        return m_blk, m_c, into, c_len, ckpt

    def _finish(self, st: _State, r: np.ndarray) -> None:
        pl = self.plan
        p = st.p
        ta = st.ta
        jf = p.jf[r]
        ckpt = jf * pl.block_s + np.maximum(jf - 1.0, 0.0) * pl.wait_s
        if pl.final:
            ckpt = ckpt + pl.final_s + np.where(jf > 0, np.maximum(0.0, pl.background_s - p.last_s[r]), 0.0)
            ta.checkpoints[r] += _as_count(jf + 1.0)
        else:
            ta.checkpoints[r] += _as_count(self._cycles(jf, p.fin_s[r] - p.t0[r], p.last_s[r])[1])
        ta.acc[r, PROD] += st.work_s[r] - p.saved[r]
        ta.acc[r, CKPT] += ckpt
        p.saved[r] = st.work_s[r]
        p.wall_s[r] = p.fin_s[r]
        p.mode[r] = DONE

    # ------------------------------------------------------------------ failures
    def _fail(self, st: _State, live: np.ndarray, x: np.ndarray, src: np.ndarray, slot: np.ndarray,
              dur: np.ndarray, stop: np.ndarray | None) -> None:
        """One failure per replica of ``live`` at ``x`` (after :meth:`_advance` to ``x``); where ``stop`` is
        False it is only counted and its node sent away (the replica stops at the budget right after;
        None: no replica is at its budget)."""
        p, nd, ta = st.p, st.nd, st.ta
        acc = ta.acc
        eff = self.effect[src]
        mode = p.mode  # (written only at the end)
        on_node = eff != JOBLEVEL
        ignored = live & ~on_node & (mode == WAIT)
        some = live & on_node & (nd.n_vacant > 0)  # only a vacant slot can be struck twice
        if some.any():
            hit = nd.vacant[:, 0] == slot
            for j in range(1, nd.vacant.shape[1]):  # (a few columns: cheaper than a 2-D test and a reduction)
                hit |= nd.vacant[:, j] == slot
            ignored |= some & hit
        ta.failures += live
        if ignored.any():
            ta.ignored += ignored
            live = live & ~ignored
        r = np.flatnonzero(live)
        # one scatter on the flat table (``by`` is C-contiguous: made by np.zeros or a row take)
        ta.by.reshape(-1)[r * ta.by.shape[1] + self.comp_of[src[r]]] += 1
        on = live & on_node
        if on.any():
            r = np.flatnonzero(on)
            self._vacate(nd, r, slot[r], eff[r] == PREEMPT, x[r], x[r] + dur[r])
        if stop is not None:
            live = live & stop  # (not stopping the job: as while it waits)
        run = live & (mode == RUN)
        if run.any():
            m_blk, m_c, into, _c, ckpt = self._cycles(p.jf, x - p.t0, p.last_s)
            tau = self.plan.tau_s
            gain = np.where(run, m_c * tau, 0.0)
            acc[:, PROD] += gain
            acc[:, CKPT] += np.where(run, ckpt, 0.0)
            acc[:, LOST] += np.where(run, (m_blk - m_c) * tau + into, 0.0)
            ta.checkpoints += np.where(run, _as_count(m_c), 0)
            p.saved += gain
        rec = live & (mode == REC)
        if rec.any():
            self._recovery_part(st, rec, x)
        stops = live & (mode != WAIT)
        np.copyto(p.mode, REC, where=stops)
        np.copyto(p.filled, False, where=stops)
        np.copyto(p.t0, x, where=stops)

    def _recovery_part(self, st: _State, m: np.ndarray, x: np.ndarray) -> None:
        """Account the part of a recovery done by ``x`` (cut short by a failure or the horizon)."""
        p = st.p
        acc = st.ta.acc
        f = p.filled
        acc[:, DET] += np.where(m & ~f, x - p.t0, 0.0)
        into = x - p.t1
        mf = m & f
        acc[:, RST] += np.where(mf, np.minimum(into, self.restart_s), 0.0)
        acc[:, LOAD] += np.where(mf, np.maximum(into - self.restart_s, 0.0), 0.0)

    @staticmethod
    def _sync_returns(nd: Nodes, r: np.ndarray, t: np.ndarray) -> None:
        """Nodes back by ``t`` join the free pool (returns are applied lazily: the pool at t is the pool
        plus the returns due by t, whenever they are counted)."""
        ret = nd.returns_s[r]
        back = ret <= t[:, None]
        if back.any():
            nd.pool[r] += back.sum(axis=1)
            nd.returns_s[r] = np.where(back, np.inf, ret)

    @staticmethod
    def _vacate(nd: Nodes, r: np.ndarray, slot: np.ndarray, preempt: np.ndarray, now_s: np.ndarray,
                back_s: np.ndarray) -> None:
        """Slots become vacant at ``now_s``; their nodes come back at ``back_s``."""
        pos = nd.n_vacant[r]
        if pos.max() >= nd.vacant.shape[1]:
            nd.vacant = widen(nd.vacant, 2 * nd.vacant.shape[1])
            nd.vacant_preempt = widen(nd.vacant_preempt, 2 * nd.vacant_preempt.shape[1])
        nd.vacant[r, pos] = slot
        nd.vacant_preempt[r, pos] = preempt
        nd.n_vacant[r] = pos + 1
        pos = nd.n_returns[r]
        full = pos >= nd.returns_s.shape[1]
        if full.any():  # compact: nodes back by now join the pool, the rest move to the front
            rf = r[full]
            VectorEngine._sync_returns(nd, rf, now_s[full])
            ret = np.sort(nd.returns_s[rf], axis=1)
            nd.returns_s[rf] = ret
            nd.n_returns[rf] = np.isfinite(ret).sum(axis=1)
            pos = nd.n_returns[r]
            if pos.max() >= nd.returns_s.shape[1]:
                nd.returns_s = widen(nd.returns_s, 2 * nd.returns_s.shape[1])
        nd.returns_s[r, pos] = back_s
        nd.n_returns[r] = pos + 1

    def _stop(self, st: _State, m: np.ndarray, t: np.ndarray) -> None:
        """Stop the replicas of ``m`` at ``t`` (the horizon or the event budget): compute not yet
        checkpointed counts as productive, as in the SimPy engine."""
        p = st.p
        acc = st.ta.acc
        run = m & (p.mode == RUN)
        if run.any():
            m_blk, m_c, into, c_len, ckpt = self._cycles(p.jf, t - p.t0, p.last_s)
            comp = np.minimum(into, c_len)
            acc[:, PROD] += np.where(run, m_blk * self.plan.tau_s + comp, 0.0)
            acc[:, CKPT] += np.where(run, ckpt + (into - comp), 0.0)
            st.ta.checkpoints += np.where(run, _as_count(m_c), 0)
        rec = m & (p.mode == REC)
        if rec.any():
            self._recovery_part(st, rec, t)
        wait = m & (p.mode == WAIT)
        if wait.any():
            rw = np.flatnonzero(wait)
            acc[rw, np.where(p.wait_preempt[rw], PREB, WAITB)] += t[rw] - p.t0[rw]
        np.copyto(p.wall_s, t, where=m)
        p.stopped |= m
        np.copyto(p.mode, DONE, where=m)
