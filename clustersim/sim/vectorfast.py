"""The vectorized engine's fast path: a whole window of failures per replica at once, in closed form.

The lockstep loop (:meth:`.vector.VectorEngine.run_block` with ``fast=False``) applies column k of a
window (every replica's k-th failure) to every replica, one column after the other: about a hundred numpy
calls per failure, whatever the number of replicas. But in the common case a replica's history through a
window is a plain renewal: each failure starts a recovery (detect, replace from the free spares, restart,
load) and, where no failure cuts it short, a run from the work saved, whose cycles are counted in closed
form. With the failure times of a whole window known, every step of that history is an elementwise
expression of the previous failure time and of the saved work, and the saved work a running sum of what
each failure leaves saved: so one pass of array operations over the (failures x replicas) window does
what the lockstep loop does column by column, with the same floating-point operations in the same order
(every tally a sequential sum of the same terms, a term of 0.0 where the lockstep adds 0.0), so the
result is bit for bit the lockstep loop's.

The pass assumes, and checks, for each replica, failure by failure:

* every replacement finds enough free spares: the nodes away at a replacement are bounded, for the
  replacement after failure k-1, by the nodes away just after it, and those by the window's failures
  chunk by chunk (:func:`pool_ok`); no wait for a node, so spot preemptions act as node failures;
* no failure strikes a slot already vacant (the lockstep ignores it);
* the failure does not fall in the finishing cycle of a run (where the lockstep caps the cycles counted);
* the replica is not near its event budget, and the failure is before the horizon.

A replica stops at its first failure that breaks an assumption: the pass writes its state as of the
failure before (the same state the lockstep loop would have there), the lockstep loop applies that one
failure (:func:`step`), and a new pass takes the replicas that stopped from their next failure on. After
:data:`MAX_PASSES` passes in a window, the replicas still stopping go through the rest of the window in
lockstep. A replica that finishes, a failure at or past the horizon and the window's end stop a pass
normally. Source: the same model as the lockstep loop, :mod:`.vector` (no other).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .records import BUCKETS
from .vecevents import Window, running_sum
from .vecstate import DONE, NO_SLOT, REC, RUN, WAIT, Nodes, widen

if TYPE_CHECKING:
    from .vector import VectorEngine, _State

__all__ = ["MAX_PASSES", "CHUNK", "GROUP", "HANDOVER", "REFINE", "run_window", "pool_ok", "fast_pass", "step",
           "lockstep"]

#: Passes per window before the replicas that still stop go through the rest of it in lockstep.
MAX_PASSES = 12
#: Failures per chunk of the spare-pool bound (:func:`pool_ok`).
CHUNK = 16
#: Replicas per pass of 128 failures, more in a shorter one (the pass's temporaries are failures x
#: replicas: a few hundred kB each).
GROUP = 512
#: The lockstep loop takes a whole window when more than 1/HANDOVER of its replicas would hand failures
#: over (spares may be short in a chunk, or a pass stopped them; 0: never): the loop's cost is per column,
#: whatever the replicas, so a pass then saves nothing.
HANDOVER = 8
#: The spare bound is counted failure by failure in at most 1/REFINE of the (chunk, replica) pairs.
REFINE = 16

_PREEMPT = 1  # (vector.PREEMPT)
PROD, LOST, CKPT, DET, RST, LOAD = (BUCKETS.index(b) for b in (
    "productive", "lost_work", "checkpointing", "detecting", "restarting", "loading"))


def run_window(eng: VectorEngine, st: _State, w: Window, horizon: float, budget: int,
               rate_per_s: float = 0.0) -> None:
    """Apply every failure of window ``w`` to the replicas of ``st`` (as the lockstep loop does).
    ``rate_per_s``: the block's failure rate, to size the first pass (0: the whole window)."""
    p = st.p
    K = w.columns
    n = p.mode.size
    if K == 0:
        return
    active = p.mode != DONE
    near = active & (st.ta.failures + K >= budget)
    if near.any():  # the event budget may end these replicas in this window: the lockstep loop
        lockstep(eng, st, w, np.flatnonzero(near), np.zeros(int(near.sum()), dtype=np.int64), horizon, budget)
        active &= ~near
    live = int(active.sum())
    if live == 0:
        return
    table = st.nd.returns_s.copy()  # (as the window starts: the bound counts the window's own nodes itself)
    limit = _first_limit(st, np.flatnonzero(active), K, rate_per_s)
    short, ok = pool_ok(eng, table, w, active, None, limit)
    if short:
        # spares short in many replicas: the pass would hand most failures over, the lockstep loop takes all
        lockstep(eng, st, w, np.flatnonzero(active), np.zeros(live, dtype=np.int64), horizon, budget)
        return
    # the first pass covers every replica (those ended stop at once) unless few are left, or some were the
    # lockstep loop's for this window
    rows = np.arange(n) if live * 4 >= n * 3 and not near.any() else np.flatnonzero(active)
    cols: np.ndarray | None = None
    for it in range(MAX_PASSES):
        if it == 1 and limit < K:  # (the bound so far covers the first pass's failures only)
            ok = pool_ok(eng, table, w, active, rows)[1]
        a_rows, a_cols, c_rows, c_cols = _grouped_pass(eng, st, w, rows, cols, ok, horizon,
                                                       limit if it == 0 else K)
        if a_rows.size * HANDOVER > live and a_rows.size > 8:  # many the pass cannot take: the lockstep
            lockstep(eng, st, w, np.concatenate([a_rows, c_rows]), np.concatenate([a_cols, c_cols]), horizon,
                     budget)
            return
        if a_rows.size:
            step(eng, st, w, a_rows, a_cols, horizon)
            a_cols = a_cols + 1
            keep = (a_cols < K) & (p.mode[a_rows] != DONE)
            a_rows, a_cols = a_rows[keep], a_cols[keep]
        rows = np.concatenate([a_rows, c_rows])
        cols = np.concatenate([a_cols, c_cols])
        if rows.size == 0:
            return
    if cols is not None:
        lockstep(eng, st, w, rows, cols, horizon, budget)


def _grouped_pass(eng: VectorEngine, st: _State, w: Window, rows: np.ndarray, cols: np.ndarray | None,
                  ok: np.ndarray | None, horizon: float, limit: int) -> tuple[np.ndarray, ...]:
    """:func:`fast_pass` over groups of at most :data:`GROUP` replicas (each replica's pass is its own: the
    same result, with temporaries a fraction of the block's size)."""
    cells = limit if cols is None else w.columns - int(cols.min())
    size = max(GROUP, (GROUP * 128) // max(cells, 1))  # (a short pass takes more replicas at once)
    if rows.size <= size:
        return fast_pass(eng, st, w, rows, cols, ok, horizon, limit)
    parts = [fast_pass(eng, st, w, rows[a:a + size], None if cols is None else cols[a:a + size], ok, horizon,
                       limit) for a in range(0, rows.size, size)]
    return tuple(np.concatenate([q[i] for q in parts]) for i in range(4))


def _first_limit(st: _State, rows: np.ndarray, K: int, rate_per_s: float) -> int:
    """Columns of the first pass: every column, unless the replicas are expected to finish well before the
    window's end (twice the failures expected in their remaining work, plus 16: a pass that stops short
    only costs a second pass)."""
    if rate_per_s <= 0:
        return K
    rem = float((st.work_s[rows] - st.p.saved[rows]).max())
    return int(min(K, 2.0 * rem * rate_per_s + 16))


def lockstep(eng: VectorEngine, st: _State, w: Window, rows: np.ndarray, cols: np.ndarray, horizon: float,
             budget: int) -> None:
    """The lockstep loop over the rest of window ``w`` for replicas ``rows``, each from its column ``cols``."""
    p, ta = st.p, st.ta
    K = w.columns
    c0 = int(cols.min())
    same = bool((cols == c0).all())
    if same:  # (one column for all: the window's rows as they are, under a mask)
        mine = np.zeros(p.mode.size, dtype=bool)
        mine[rows] = True
    for j in range(K - c0):
        if same:
            k = c0 + j
            x, src, slot, dur = w.time_s[k], w.source[k], w.slot[k], w.repair_s[k]
            live = mine & (x < horizon) & (p.mode != DONE)
        else:
            c = cols + j
            keep = c < K
            r, c = rows[keep], c[keep]
            if r.size == 0:
                break
            x, src, slot, dur = _column(w, r, c, p.mode.size)
            live = (x < horizon) & (p.mode != DONE)
        if not live.any():
            break
        eng._advance(st, live, x)
        live &= p.mode != DONE
        last = live & (ta.failures + 1 >= budget)  # the budget's last failure: counted, then stop
        if not last.any():
            eng._fail(st, live, x, src, slot, dur, None)
            continue
        eng._fail(st, live, x, src, slot, dur, ~last)
        p.budget_hit[last] = True
        eng._stop(st, last, x)


def step(eng: VectorEngine, st: _State, w: Window, rows: np.ndarray, cols: np.ndarray, horizon: float) -> None:
    """The lockstep loop's step for one failure of each replica of ``rows`` (its column ``cols``); none is
    near its event budget."""
    p = st.p
    x, src, slot, dur = _column(w, rows, cols, p.mode.size)
    live = (x < horizon) & (p.mode != DONE)
    eng._advance(st, live, x)
    live &= p.mode != DONE
    eng._fail(st, live, x, src, slot, dur, None)


def _column(w: Window, rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Block-wide failure arrays holding each replica of ``rows``'s failure ``cols`` (inf elsewhere)."""
    x = np.full(n, np.inf)
    x[rows] = w.time_s[cols, rows]
    src = np.zeros(n, dtype=np.int64)
    src[rows] = w.source[cols, rows]
    slot = np.full(n, -1, dtype=np.int64)
    slot[rows] = w.slot[cols, rows]
    dur = np.zeros(n)
    dur[rows] = w.repair_s[cols, rows]
    return x, src, slot, dur


def pool_ok(eng: VectorEngine, tab: np.ndarray, w: Window, active: np.ndarray, rows: np.ndarray | None = None,
            upto: int | None = None) -> tuple[bool, np.ndarray | None]:
    """(short, ok): ``ok`` whether a replacement after failure k-1 of the window surely finds its spares
    (None: every one does), for the window's first ``upto`` failures (None: all) of replicas ``rows``
    (None: every one; ``ok`` is indexed by the window's columns and replicas either way, the other rows
    left unset); ``short``: more than 1/:data:`HANDOVER` of the ``active`` replicas may find too few (the
    window is the lockstep loop's; ``ok`` is then not computed). ``tab``: the table of nodes away as the
    window starts (:class:`.vecstate.Nodes` ``returns_s``).

    The free spares cover the vacant slots exactly when the nodes away (sent to repair, not yet back) are
    at most the spares (free = spares + vacant - away, an invariant of the pool). Between failure k-1 and
    the replacement no node leaves, so the nodes away then are at most those away just after failure k-1,
    which lies in chunk c (failures c CHUNK ... of the window, the chunk starting at time B_c): at most the
    nodes of the table (away at the window's start) still away at B_c, plus the window's node failures
    before the chunk still away at B_c, plus every node failure of the chunk. Where that bound exceeds the
    spares, the nodes away just after each failure of the chunk are counted one by one. Column 0 takes
    every node of the table. (A failure the lockstep ignores sends no node away: counting it is safe.)"""
    job = eng.job
    K = w.columns if upto is None else upto
    cut: slice | np.ndarray = slice(None) if rows is None else rows
    node = np.take(eng.on_node, w.source[:K, cut])
    if not node.any():
        return False, None
    spares = job.spare_nodes
    if rows is not None:
        tab, active = tab[rows], active[rows]
    held = tab < np.inf
    nfin = np.count_nonzero(held, axis=1)
    if bool((nfin + np.count_nonzero(node, axis=0) <= spares).all()):
        return False, None
    X = w.time_s[:K, cut]
    ret = np.where(node, X + w.repair_s[:K, cut], -np.inf)
    nc = -(-K // CHUNK)
    okc = np.empty((nc, X.shape[1]), dtype=bool)
    short = active & (nfin > spares)
    live = int(np.count_nonzero(active))
    for c in range(nc):
        a = c * CHUNK
        b = X[a]
        bound = np.count_nonzero((tab > b[:, None]) & held, axis=1) + np.count_nonzero(node[a:a + CHUNK], axis=0)
        if a:
            bound += np.count_nonzero(ret[:a] > b, axis=0)
        okc[c] = bound <= spares
        short |= active & ~okc[c]
        if rows is None and HANDOVER and np.count_nonzero(short) * HANDOVER > max(live, 8 * HANDOVER):
            return True, None  # (a bound that exceeds the spares in so many replicas: the spares are short)
    ok = np.empty((K, X.shape[1]), dtype=bool)
    ok[0] = nfin <= spares
    ok[1:] = np.repeat(okc, CHUNK, axis=0)[:K - 1]
    bc, br = np.nonzero(~okc)
    if 0 < bc.size <= max(16, okc.size // REFINE):  # (many: spares are short, the lockstep will take most)
        for c in np.unique(bc):  # those chunks failure by failure: the nodes away just after failure j
            r = br[bc == c]
            top = min(K, (c + 1) * CHUNK)
            j = np.arange(c * CHUNK, top)
            xj = X[j][:, r].T  # (pairs, failures of the chunk)
            away = ((tab[r][:, None, :] > xj[:, :, None]) & held[r][:, None, :]).sum(axis=2)
            rj = ret[:top, r].T  # (pairs, failures up to the chunk's end)
            before = np.arange(top)[None, None, :] <= j[None, :, None]
            away += ((rj[:, None, :] > xj[:, :, None]) & before).sum(axis=2)
            k = j + 1
            inside = k < K
            ok[k[inside][:, None], r[None, :]] = (away <= spares).T[inside]
    if rows is None and K == w.columns:
        return False, ok
    full = np.ones((w.columns, active.size if rows is None else int(rows.max()) + 1), dtype=bool)
    full[:K, cut] = ok
    return False, full


def _count(eng: VectorEngine, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cycles whose blocking write has ended ``e`` into a run, without the finishing cycle's cap (and, to
    check the cap: whether e reaches the first write, the uncapped floor count). The same expressions as
    :meth:`.vector.VectorEngine._count_cycles`, which they equal where the floor count is at most jf."""
    pl = eng.plan
    ge = e >= pl.first_s
    q = np.floor((e - pl.first_s) / pl.period_s) + 1.0
    m = q * ge.astype(float)  # (q where ge; 0.0 or -0.0 elsewhere, which add as 0.0 does)
    over = (m > 0) & (pl.first_s + (m - 1.0) * pl.period_s > e)
    m -= over.astype(float)  # (m - 1.0 where over)
    return m, ge, q


def fast_pass(eng: VectorEngine, st: _State, w: Window, rows: np.ndarray, cols: np.ndarray | None,
              ok: np.ndarray | None, horizon: float, limit: int) -> tuple[np.ndarray, ...]:
    """One pass over window ``w`` for replicas ``rows``, each from its column ``cols`` (None: 0), up to column
    ``limit`` (with ``cols`` None; else the window's end); writes their state back and returns (replicas
    stopped at a failure the pass cannot apply, that failure's column, replicas that reached ``limit``,
    ``limit``)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _fast_pass(eng, st, w, rows, cols, ok, horizon, limit)


def _fast_pass(eng: VectorEngine, st: _State, w: Window, R: np.ndarray, cols: np.ndarray | None,
               ok: np.ndarray | None, horizon: float, limit: int) -> tuple[np.ndarray, ...]:
    p, nd, ta = st.p, st.nd, st.ta
    pl = eng.plan
    K = w.columns
    m = R.size
    if cols is None:
        Kp = limit
        # a run of consecutive replicas: views of the window, else its columns gathered
        cut: slice | np.ndarray = slice(int(R[0]), int(R[-1]) + 1) if m and R[-1] - R[0] + 1 == m else R
        X = w.time_s[:Kp, cut]
        SRC = w.source[:Kp, cut]
        SLOT = w.slot[:Kp, cut]
        DUR = w.repair_s[:Kp, cut]
        OK = None if ok is None else ok[:Kp, cut]
        base = np.zeros(m, dtype=np.int64)
    else:
        base = cols
        Kp = K - int(cols.min())
        idx = cols[None, :] + np.arange(Kp)[:, None]
        valid = idx < K
        idx = np.minimum(idx, K - 1)
        X = np.where(valid, w.time_s[idx, R], np.inf)
        SRC = w.source[idx, R]
        SLOT = w.slot[idx, R]
        DUR = w.repair_s[idx, R]
        OK = None if ok is None else ok[idx, R]
    mode = p.mode[R]
    filled0 = p.filled[R]
    t0s = p.t0[R]
    run0 = mode == RUN
    unf0 = (mode == REC) & ~filled0
    fil0 = (mode == REC) & filled0
    detect, restart, load = eng.detect_s, eng.restart_s, eng.load_s
    tau = pl.tau_s
    kcol = np.arange(Kp)[:, None]

    end = ~(X < horizon)
    X = np.minimum(X, horizon)  # (finite: a failure at or past the horizon is not applied, its terms unused)
    node = np.take(eng.on_node, SRC)
    prev = np.empty_like(X)
    prev[1:] = X[:-1]
    prev[0] = t0s
    td = prev + detect
    repl = td <= X
    repl[0] &= unf0
    D = ~repl
    D[0] &= unf0
    t1 = td
    t1[0] = np.where(fil0, p.t1[R], td[0])
    filled = repl.copy()
    filled[0] |= fil0
    tr = t1 + (restart + load)
    started = filled & (tr <= X)
    run = started.copy()
    run[0] |= run0
    b = tr
    b[0] = np.where(run0, t0s, tr[0])
    E = X - b
    mblk, ge, q = _count(eng, E)
    if pl.background_s > 0:
        mc, ge_c, q_c = _count(eng, E - pl.background_s)
    else:
        mc, ge_c, q_c = mblk, ge, q
    gain = mc * tau
    gain *= run.astype(float)  # (0.0 where no run)
    S = _prefix(p.saved[R], gain)  # the work saved before each failure
    work = st.work_s[R]
    rem = work[None, :] - S[:-1]

    # runs that may finish, or reach their finishing cycle, by this failure: their exact plan
    scale = max(abs(float(horizon)), float(work.max()) if m else 0.0, 1.0)
    slack = tau + 1e-6 * scale
    # (before its finish a replica has work left: rem > 0 keeps out the failures after it)
    ck, cr = np.nonzero(run & ~end & (rem <= E + slack) & (rem > 0))
    at0 = (ck == 0) & run0[cr]
    jf_c, last_c, fin_c = eng.plan.begin(rem[ck, cr], b[ck, cr])
    if at0.any():
        r0 = R[cr[at0]]
        jf_c[at0], last_c[at0], fin_c[at0] = p.jf[r0], p.last_s[r0], p.fin_s[r0]
    fin_hit = fin_c <= X[ck, cr]
    cap = ~fin_hit & ge[ck, cr] & (q[ck, cr] > jf_c)
    if pl.background_s > 0:
        cap |= ~fin_hit & ge_c[ck, cr] & (q_c[ck, cr] > jf_c)

    # the first failure the pass cannot apply (or the finish, or the end), per replica
    stop = X.shape[0] - np.count_nonzero(end, axis=0)  # (the times increase: at or past the horizon, the rest)
    # the advance to the failure itself not representable: a replacement that may find too few spares, a
    # wait (these stop before a finish at the same failure)
    adv_bad = np.where(mode == WAIT, 0, Kp)
    stop[mode == DONE] = 0
    if OK is not None:
        bad = repl & ~OK
        if bad.any():
            adv_bad = np.minimum(adv_bad, np.where(bad.any(axis=0), bad.argmax(axis=0), Kp))
    stop = np.minimum(stop, adv_bad)
    flag = fin_hit | cap
    if flag.any():
        np.minimum.at(stop, cr[flag], ck[flag])
    ik, ir = _ignored(nd, R, D, node, SLOT)
    if ik.size:
        np.minimum.at(stop, ir, ik)
    e = stop
    fin = np.zeros(m, dtype=bool)
    fsel = fin_hit & (ck == e[cr]) & (ck < adv_bad[cr])
    fin[cr[fsel]] = True
    ecl = np.minimum(e, Kp - 1)
    anom = ~fin & (e < Kp) & ~end[ecl, np.arange(m)] & (mode != DONE)
    cont = (e == Kp) & (base + Kp < K)  # (only a first pass, with cols None, stops short of the window's end)

    # write back: the tallies of the failures applied (and of the finishing advance)
    proc = kcol < e[None, :]
    adv = kcol < (e + fin)[None, :]
    acc = ta.acc[R]
    buf = np.empty((Kp + 1, m))  # (row 0 the tally so far, then each failure's term: one buffer for all)
    terms = buf[1:]
    # each term where the lockstep adds it (a detection ended, or cut short; a restart and load ended, or cut
    # short), the same expression, as a product with 1.0 (0.0 elsewhere: every term is finite, X being
    # clamped at the horizon)
    on = (repl & adv).astype(float)  # a detection ended
    np.subtract(X, prev, out=terms)
    terms *= (D & adv).astype(float)  # cut short
    terms += on * detect
    acc[:, DET] = _sum(buf, acc[:, DET])
    on = (started & adv).astype(float)  # a restart and load ended
    part = (filled & ~started & adv).astype(float)  # cut short
    into_r = X - t1
    np.minimum(into_r, restart, out=terms)
    terms *= part
    terms += on * restart
    acc[:, RST] = _sum(buf, acc[:, RST])
    into_r -= restart
    np.maximum(into_r, 0.0, out=terms)
    terms *= part
    terms += on * load
    acc[:, LOAD] = _sum(buf, acc[:, LOAD])
    runp = (run & proc).astype(float)
    np.multiply(gain, runp, out=terms)
    acc[:, PROD] = _sum(buf, acc[:, PROD])
    np.multiply(mblk, pl.block_s, out=terms)
    if pl.wait_s != 0:  # (+ 0.0 otherwise: the same number)
        terms += np.maximum(mblk - 1.0, 0.0) * pl.wait_s
    terms *= runp
    acc[:, CKPT] = _sum(buf, acc[:, CKPT])
    # into the current cycle (E less the end of the last blocking write, where one ended)
    np.multiply(mblk - 1.0, pl.period_s, out=terms)
    terms += pl.first_s
    terms *= mblk > 0
    np.subtract(E, terms, out=terms)
    if pl.background_s > 0:
        terms += (mblk - mc) * tau  # (synchronous: mc is mblk, and 0.0 + into is into)
    terms *= runp
    acc[:, LOST] = _sum(buf, acc[:, LOST])
    ta.acc[R] = acc
    # (cycle counts: exact in floating point, far below the lockstep's saturation at 2**62)
    np.multiply(mc, runp, out=terms)
    ta.checkpoints[R] += _sum(buf, np.zeros(m)).astype(np.int64)
    ta.failures[R] += e
    comps = ta.by.shape[1]
    comp = SRC if eng.own_components else np.take(eng.comp_of, SRC)
    flat = (comp + (np.arange(m) * comps)[None, :])[proc]
    ta.by[R] += np.bincount(flat, minlength=comps * m).reshape(m, comps)
    ar = np.arange(m)
    saved = S[e, ar]

    # the replicas that finished
    if fin.any():
        fi = np.flatnonzero(fsel)
        rf = cr[fi]
        g = R[rf]
        p.mode[g] = RUN
        p.filled[g] = False
        p.t0[g] = b[ck[fi], rf]
        p.jf[g], p.last_s[g], p.fin_s[g] = jf_c[fi], last_c[fi], fin_c[fi]
        p.saved[g] = saved[rf]
        eng._finish(st, g)

    # the others that applied failures: recovering from the last one, its vacant slots, the nodes away
    grow = ~fin & (e > 0)
    if grow.any():
        gi = np.flatnonzero(grow)
        g = R[gi]
        p.mode[g] = REC
        p.filled[g] = False
        p.t0[g] = X[e[gi] - 1, gi]
        p.saved[g] = saved[gi]
        _nodes(eng, nd, gi, g, e, D, node, SRC, SLOT, X, DUR, proc)
    return R[anom], base[anom] + e[anom], R[cont], base[cont] + Kp


def _prefix(start: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Running sums start, start + t_0, (start + t_0) + t_1, ... (an accumulate is sequential: each the
    sum that ``+=`` failure by failure gives)."""
    out = np.empty((terms.shape[0] + 1, start.size))
    out[0] = start
    out[1:] = terms
    return running_sum(out)


def _sum(buf: np.ndarray, start: np.ndarray) -> np.ndarray:
    """start + t_0 + t_1 + ..., the terms in rows 1... of ``buf``: sequentially, left to right, as ``+=``
    failure by failure does. A sum over the rows of a C-ordered table adds row after row (numpy sums
    pairwise only along the fast axis in memory, numpy.sum's notes); a table of one column is one run in
    memory, which numpy may sum pairwise: an accumulate, sequential by definition, takes narrow tables."""
    buf[0] = start
    if buf.shape[1] < 8:
        return np.add.accumulate(buf, axis=0)[-1]
    return buf.sum(axis=0)


def _ignored(nd: Nodes, R: np.ndarray, D: np.ndarray, node: np.ndarray,
             SLOT: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(column, replica) of the node failures that strike a vacant slot (the lockstep ignores them): a
    failure during the detection after failure k-1 finds vacant the slots of the node failures since the
    last replacement, k-1, k-2 while k-1 fell in the detection after k-2, ... (and, through column 0, the
    slots vacant at the pass's start)."""
    kk, rr = np.nonzero(D & node)
    if kk.size == 0:
        return kk, rr
    sk = SLOT[kk, rr]
    hit = np.zeros(kk.size, dtype=bool)
    j = kk - 1
    alive = np.ones(kk.size, dtype=bool)
    vacant = nd.vacant
    while True:
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        jj = j[idx]
        neg = jj < 0
        if neg.any():  # through column 0: the slots vacant at the start
            i2 = idx[neg]
            hit[i2] |= (vacant[R[rr[i2]]] == sk[i2, None]).any(axis=1)
            alive[i2] = False
        i3 = idx[~neg]
        j3 = jj[~neg]
        r3 = rr[i3]
        hit[i3] |= node[j3, r3] & (SLOT[j3, r3] == sk[i3])
        alive[i3] = D[j3, r3]
        j[i3] -= 1
    return kk[hit], rr[hit]


def _nodes(eng: VectorEngine, nd: Nodes, gi: np.ndarray, g: np.ndarray, e: np.ndarray, D: np.ndarray,
           node: np.ndarray, SRC: np.ndarray, SLOT: np.ndarray, X: np.ndarray, DUR: np.ndarray,
           proc: np.ndarray) -> None:
    """The node state of replicas ``g`` (pass rows ``gi``) after their failures 0..e-1 of the pass: the
    vacant slots those since the last replacement (with those vacant at the start if no replacement came),
    the nodes sent away in the table, the pool less the slots filled; the nodes back by the last failure
    join the pool (as a sync of the lockstep does)."""
    eg = e[gi]
    # the chain of vacant slots: back from the last failure while each fell in the previous one's detection
    mem_r: list[np.ndarray] = []
    mem_k: list[np.ndarray] = []
    idx = np.arange(gi.size)
    j = eg - 1
    keep_old = np.zeros(gi.size, dtype=bool)
    while idx.size:
        c = gi[idx]
        isnode = node[j, c]
        mem_r.append(idx[isnode])
        mem_k.append(j[isnode])
        go = D[j, c]  # failure j fell in a detection: the slots before it are still vacant
        at0 = go & (j == 0)
        keep_old[idx[at0]] = True
        go &= j > 0
        idx, j = idx[go], j[go] - 1
    mr = np.concatenate(mem_r)
    mk = np.concatenate(mem_k)
    order = np.lexsort((mk, mr))  # by replica, then in time order
    mr, mk = mr[order], mk[order]
    nv_old = nd.n_vacant[g]
    kept = np.where(keep_old, nv_old, 0)
    counts = np.bincount(mr, minlength=gi.size)
    nv = kept + counts
    gone = node & proc  # the nodes the pass sent away
    nnode = np.count_nonzero(gone, axis=0)[gi]
    filled = nv_old + nnode - nv
    vac, vpre = nd.vacant, nd.vacant_preempt
    width = int(nv.max()) if nv.size else 0
    if width > vac.shape[1]:
        vac = widen(vac, max(width, 2 * vac.shape[1]))
        vpre = widen(vpre, vac.shape[1])
        nd.vacant, nd.vacant_preempt = vac, vpre
    drop = g[~keep_old]
    vac[drop] = NO_SLOT
    vpre[drop] = False
    if mr.size:
        pos = np.arange(mr.size) - np.repeat(np.cumsum(counts) - counts, counts) + kept[mr]
        col = gi[mr]
        vac[g[mr], pos] = SLOT[mk, col]
        vpre[g[mr], pos] = eng.effect[SRC[mk, col]] == _PREEMPT
    nd.n_vacant[g] = nv

    # the nodes away: the table's and the pass's, less those back by the last failure
    now = X[eg - 1, gi]
    old = nd.returns_s[g]
    back = old <= now[:, None]
    nd.pool[g] += np.count_nonzero(back, axis=1) - filled
    old[back] = np.inf
    held = np.count_nonzero(old < np.inf, axis=1)
    if held.any():
        old.sort(axis=1)
    last = np.full(X.shape[1], np.inf)  # (inf: a replica without a failure applied keeps nothing)
    last[gi] = now
    away = gone
    away &= X + DUR > last[None, :]
    ar, ak = np.nonzero(away.T)  # by pass row, then in time order
    slot_of = np.empty(X.shape[1], dtype=np.int64)
    slot_of[gi] = np.arange(gi.size)
    ar = slot_of[ar]
    new_counts = np.bincount(ar, minlength=gi.size)
    nd.pool[g] += nnode - new_counts  # the pass's nodes already back
    total = held + new_counts
    need = int(total.max()) if total.size else 0
    ret = nd.returns_s
    if need > ret.shape[1]:
        ret = widen(ret, max(need, 2 * ret.shape[1]))
        nd.returns_s = ret
    w = min(old.shape[1], ret.shape[1])
    table = np.full((g.size, ret.shape[1]), np.inf)
    table[:, :w] = old[:, :w]
    if ar.size:
        pos = np.arange(ar.size) - np.repeat(np.cumsum(new_counts) - new_counts, new_counts) + held[ar]
        col = gi[ar]
        table[ar, pos] = X[ak, col] + DUR[ak, col]
    ret[g] = table
    nd.n_returns[g] = total
