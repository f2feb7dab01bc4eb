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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from clustersim import rng as rngmod

from .job import SimJob
from .records import BUCKETS
from .scales import ReplicaScales
from .vecevents import FailureWindows
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
    put_rows,
    take_rows,
    widen,
)

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

    def take(self, rows: np.ndarray) -> _State:
        return _State(take_rows(self.p, rows), take_rows(self.nd, rows), take_rows(self.ta, rows), self.work_s[rows])

    def put(self, rows: np.ndarray, part: _State) -> None:
        put_rows(self.p, rows, part.p)
        put_rows(self.nd, rows, part.nd)
        put_rows(self.ta, rows, part.ta)


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

    def __init__(self, job: SimJob):
        self.job = job
        self.plan = CheckpointPlan.of(job)
        self.components, self.comp_of = components_of(job)
        self.effect = np.array([_EFFECT[s.effect] for s in job.sources], dtype=np.int64)
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
        self._begin_run(st, np.arange(n), np.zeros(n))
        horizon = job.horizon
        budget = job.max_events
        span = WINDOW_FAILURES / windows.rate_per_s if windows.rate_per_s > 0 else horizon
        rows = np.arange(n)
        t0 = np.zeros(n)  # where each replica's next window starts
        while rows.size:
            # every window is drawn for the whole block, finished replicas included, so that replica r's
            # failures do not depend on when the others finish: common random numbers across policies
            if windows.memoryless and windows.rate_per_s > 0:
                whole = windows.next_failures(t0, WINDOW_FAILURES)
            else:
                t1 = float(t0[0])
                whole = windows.window(n, t1, min(max(t1 + span, np.nextafter(t1, np.inf)), horizon))
            t0 = whole.end_s
            w = whole.rows(rows)
            sub = st.take(rows)
            for k in range(w.columns):
                x = w.time_s[k]
                live = (x < horizon) & (sub.p.mode != DONE)
                if not live.any():
                    break
                idx = np.flatnonzero(live)
                self._advance(sub, idx, x[idx])
                idx = idx[sub.p.mode[idx] != DONE]
                xi = x[idx]
                last = sub.ta.failures[idx] + 1 >= budget  # the budget's last failure: counted, then stop
                self._fail(sub, idx, xi, w.source[k][idx], w.slot[k][idx], w.repair_s[k][idx], ~last)
                if last.any():
                    sub.p.budget_hit[idx[last]] = True
                    self._stop(sub, idx[last], xi[last])
            end = np.minimum(w.end_s, horizon)
            live = np.flatnonzero(sub.p.mode != DONE)
            self._advance(sub, live, end[live])
            live = np.flatnonzero((sub.p.mode != DONE) & (end >= horizon))
            self._stop(sub, live, np.full(live.size, horizon))
            st.put(rows, sub)
            keep = sub.p.mode != DONE
            if done is not None and (~keep).any():
                done(int((~keep).sum()))
            rows = rows[keep]
        return BlockResult(st.p.wall_s, ~st.p.stopped, st.p.budget_hit, st.ta.acc, st.ta.by, st.ta.ignored,
                           st.ta.checkpoints, st.ta.failures)

    # ------------------------------------------------------------------ between failures
    def _advance(self, st: _State, idx: np.ndarray, x: np.ndarray) -> None:
        """Apply every deterministic transition of replicas ``idx`` up to times ``x`` (in order)."""
        p = st.p
        acc = st.ta.acc
        mode = p.mode[idx]
        m = (mode == REC) & ~p.filled[idx]
        if m.any():  # detection ends: replace the nodes, or wait for one
            td = p.t0[idx] + self.detect_s
            m &= td <= x
            if m.any():
                r, t = idx[m], td[m]
                acc[r, DET] += self.detect_s
                self._replaced(st, r, t, False)
        while True:  # waiting: every return of a node
            m = p.mode[idx] == WAIT
            if not m.any():
                break
            r, xr = idx[m], x[m]
            nxt = st.nd.returns_s[r].min(axis=1)
            due = nxt <= xr
            if not due.any():
                break
            r, t = r[due], nxt[due]
            acc[r, np.where(p.wait_preempt[r], PREB, WAITB)] += t - p.t0[r]
            self._replaced(st, r, t, True)
        m = (p.mode[idx] == REC) & p.filled[idx]
        if m.any():  # restart and load end: the job runs again
            tr = p.t1[idx] + (self.restart_s + self.load_s)
            m &= tr <= x
            if m.any():
                r = idx[m]
                acc[r, RST] += self.restart_s
                acc[r, LOAD] += self.load_s
                self._begin_run(st, r, tr[m])
        m = (p.mode[idx] == RUN) & (p.fin_s[idx] <= x)
        if m.any():
            self._finish(st, idx[m])

    def _replaced(self, st: _State, r: np.ndarray, t: np.ndarray, waiting: bool) -> None:
        """Nodes replaced at ``t`` (end of detection, or a return while waiting): restart or (go on) wait."""
        p = st.p
        full = self._replace(st.nd, r, t)
        rf = r[full]
        p.mode[rf] = REC
        p.filled[rf] = True
        p.t1[rf] = t[full]
        rw = r[~full]
        if rw.size:
            p.mode[rw] = WAIT
            p.t0[rw] = t[~full]
            p.wait_preempt[rw] = st.nd.vacant_preempt[rw].any(axis=1)

    @staticmethod
    def _replace(nd: Nodes, r: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Nodes back by ``t`` join the pool; vacant slots take free spares, lowest slot first (as
        :func:`clustersim.sim.nodes.replace`). Returns whether every slot is filled."""
        v = nd.n_vacant[r]
        short = nd.pool[r] < v
        if short.any():  # the free spares do not cover the vacant slots: count the nodes back by now
            VectorEngine._sync_returns(nd, r[short], t[short])
        pool = nd.pool[r]
        full = pool >= v
        rf = r[full]
        if rf.size:
            nd.vacant[rf] = NO_SLOT
            nd.vacant_preempt[rf] = False
            nd.pool[rf] -= v[full]
            nd.n_vacant[rf] = 0
        if not full.all():
            rp, k = r[~full], pool[~full]
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
    def _begin_run(self, st: _State, r: np.ndarray, t: np.ndarray) -> None:
        """Start a run at ``t`` from the saved work: the finishing cycle and the finish time."""
        pl = self.plan
        p = st.p
        tau = pl.tau_s
        rem = st.work_s[r] - p.saved[r]
        tol = rem - 1e-9 * tau  # as the SimPy engine: a remainder of a billionth of tau earns no cycle
        jf = np.maximum(np.ceil(tol / tau) - 1.0, 0.0)
        jf = np.where(tol > (jf + 1.0) * tau, jf + 1.0, jf)
        jf = np.where((jf > 0) & (tol <= jf * tau), jf - 1.0, jf)
        last = rem - jf * tau
        fin = t + np.where(jf > 0, pl.first_s + (jf - 1.0) * pl.period_s, 0.0) + last
        if pl.final:
            fin = fin + pl.final_s + np.where(jf > 0, np.maximum(0.0, pl.background_s - last), 0.0)
        p.mode[r] = RUN
        p.filled[r] = False
        p.t0[r] = t
        p.jf[r] = jf
        p.last_s[r] = last
        p.fin_s[r] = fin

    def _count_cycles(self, jf: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Non-final cycles whose blocking write has ended ``e`` seconds into the run."""
        pl = self.plan
        m = np.where(e >= pl.first_s, np.minimum(jf, np.floor((e - pl.first_s) / pl.period_s) + 1.0), 0.0)
        over = (m > 0) & (pl.first_s + (m - 1.0) * pl.period_s > e)
        return np.where(over, m - 1.0, m)

    def _cycles(self, st: _State, r: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """At ``x`` in a run: (cycles written, checkpoints on storage, time into the current cycle, its
        compute, checkpoint time of the written cycles)."""
        pl = self.plan
        p = st.p
        jf = p.jf[r]
        e = x - p.t0[r]
        m_blk = self._count_cycles(jf, e)
        m_c = self._count_cycles(jf, e - pl.background_s) if pl.background_s > 0 else m_blk
        into = e - np.where(m_blk > 0, pl.first_s + (m_blk - 1.0) * pl.period_s, 0.0)
        c_len = np.where(m_blk == jf, p.last_s[r], pl.tau_s)
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
            ta.checkpoints[r] += _as_count(self._cycles(st, r, p.fin_s[r])[1])
        ta.acc[r, PROD] += st.work_s[r] - p.saved[r]
        ta.acc[r, CKPT] += ckpt
        p.saved[r] = st.work_s[r]
        p.wall_s[r] = p.fin_s[r]
        p.mode[r] = DONE

    # ------------------------------------------------------------------ failures
    def _fail(self, st: _State, idx: np.ndarray, x: np.ndarray, src: np.ndarray, slot: np.ndarray,
              dur: np.ndarray, stop: np.ndarray) -> None:
        """One failure per replica of ``idx`` at ``x`` (after :meth:`_advance` to ``x``); where ``stop`` is
        False it is only counted and its node sent away (the replica stops at the budget right after)."""
        p, nd, ta = st.p, st.nd, st.ta
        eff = self.effect[src]
        mode = p.mode[idx]
        on_node = eff != JOBLEVEL
        ignored = ~on_node & (mode == WAIT)
        some = nd.n_vacant[idx] > 0  # only a vacant slot can be struck twice
        if some.any():
            ignored[some] |= on_node[some] & (nd.vacant[idx[some]] == slot[some, None]).any(axis=1)
        ta.failures[idx] += 1
        if ignored.any():
            ta.ignored[idx[ignored]] += 1
            keep = ~ignored
            idx, x, src, slot, dur, eff, mode, on_node, stop = (
                a[keep] for a in (idx, x, src, slot, dur, eff, mode, on_node, stop))
        ta.by[idx, self.comp_of[src]] += 1
        if on_node.any():
            self._vacate(nd, idx[on_node], slot[on_node], eff[on_node] == PREEMPT, x[on_node],
                         x[on_node] + dur[on_node])
        mode = np.where(stop, mode, WAIT)  # (not stopping the job: as while it waits)
        run = mode == RUN
        if run.any():
            r, xr = idx[run], x[run]
            m_blk, m_c, into, _c, ckpt = self._cycles(st, r, xr)
            tau = self.plan.tau_s
            ta.acc[r, PROD] += m_c * tau
            ta.acc[r, CKPT] += ckpt
            ta.acc[r, LOST] += (m_blk - m_c) * tau + into
            ta.checkpoints[r] += _as_count(m_c)
            p.saved[r] += m_c * tau
        rec = mode == REC
        if rec.any():
            self._recovery_part(st, idx[rec], x[rec])
        stops = mode != WAIT
        r = idx[stops]
        p.mode[r] = REC
        p.filled[r] = False
        p.t0[r] = x[stops]

    def _recovery_part(self, st: _State, r: np.ndarray, x: np.ndarray) -> None:
        """Account the part of a recovery done by ``x`` (cut short by a failure or the horizon)."""
        p = st.p
        acc = st.ta.acc
        f = p.filled[r]
        nf = r[~f]
        acc[nf, DET] += x[~f] - p.t0[nf]
        rf = r[f]
        into = x[f] - p.t1[rf]
        acc[rf, RST] += np.minimum(into, self.restart_s)
        acc[rf, LOAD] += np.maximum(into - self.restart_s, 0.0)

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

    def _stop(self, st: _State, r: np.ndarray, t: np.ndarray) -> None:
        """Stop replicas at ``t`` (the horizon or the event budget): compute not yet checkpointed counts as
        productive, as in the SimPy engine."""
        p = st.p
        acc = st.ta.acc
        mode = p.mode[r]
        run = mode == RUN
        if run.any():
            rr, tr = r[run], t[run]
            m_blk, m_c, into, c_len, ckpt = self._cycles(st, rr, tr)
            comp = np.minimum(into, c_len)
            acc[rr, PROD] += m_blk * self.plan.tau_s + comp
            acc[rr, CKPT] += ckpt + (into - comp)
            st.ta.checkpoints[rr] += _as_count(m_c)
        rec = mode == REC
        if rec.any():
            self._recovery_part(st, r[rec], t[rec])
        wait = mode == WAIT
        if wait.any():
            rw = r[wait]
            acc[rw, np.where(p.wait_preempt[rw], PREB, WAITB)] += t[wait] - p.t0[rw]
        p.wall_s[r] = t
        p.stopped[r] = True
        p.mode[r] = DONE
