"""Failure records for the vectorized engine: every source of every replica, one time window at a time.

A failure strikes a unit whatever the job is doing (a unit in a vacant slot fails too, and the job
ignores it: thinning), so each source's failures are an exogenous point process that does not depend
on the job. The vectorized engine therefore draws them ahead, window by window, for every replica of
the block (those already finished too, so that a replica's failures do not depend on the others), and
replays them in time order:

* Exponential units: ``units`` Poisson processes of rate 1/mtbf superpose into one of rate units/mtbf
  with the failing unit uniform among them (Ross, "Introduction to Probability Models", Ch. 5). In a
  window of length W the count is Poisson(W units/mtbf) and, given the count, the times are iid uniform
  over the window (the order-statistic property of the Poisson process, Ross Ch. 5.3).
* Weibull units: each unit is its own renewal process (a repaired part is new): the next failure time of
  every unit of every replica is held in an array, and a window collects every renewal that falls in it.
  Memory: replicas x units floats, which is why the engine runs Weibull jobs in smaller blocks.

Per-replica rates (parameter uncertainty, :mod:`.scales`): row r's source j fails at its rate times
``rate_scale[r, j]``. The draws are the same numbers in the same order as without it, rescaled (an
exponential gap over the row's total rate; a Poisson count at the row's mean; a Weibull life over the
row's multiplier, the scale of a Weibull being proportional to its mean), so a block with every
multiplier 1 reproduces the unscaled block.

Repair durations are drawn per failure as in :class:`~clustersim.sim.distributions.RepairDraws`
(exponential, fixed, or lognormal with the same mean and cv). Every draw comes from one Generator per
block of replicas (keyed ``vector/failures`` on (seed, block)), consumed in a fixed order, so a block's
result does not depend on the number of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clustersim.theory import weibull_scale_s

from .job import SimJob

__all__ = ["Window", "FailureWindows", "repair_means_s"]


@dataclass(frozen=True)
class Window:
    """The failures of n replicas in one window, sorted by time per replica, padded with inf.

    ``time_s[k, r]`` is replica r's k-th failure in the window (row k: every replica's k-th failure); ``source`` the index of its source in
    ``job.sources``; ``slot`` the node slot it strikes (-1 for a job-level failure); ``repair_s`` the
    duration of its repair (or re-acquire). ``end_s[r]``: every failure of replica r up to this time is
    in the window (the next window starts there).
    """

    time_s: np.ndarray
    source: np.ndarray
    slot: np.ndarray
    repair_s: np.ndarray
    end_s: np.ndarray

    @property
    def columns(self) -> int:
        return int(self.time_s.shape[0])


def running_sum(a: np.ndarray) -> np.ndarray:
    """``np.cumsum(a, axis=0)`` in place, row by row (the same sums: an accumulate adds row k to the sum of
    rows 0..k-1; one add per row is faster than numpy's strided accumulate over axis 0)."""
    for k in range(1, a.shape[0]):
        np.add(a[k - 1], a[k], out=a[k])
    return a


def count_at_most(edges: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``np.searchsorted(edges, u, side="right")`` for sorted ``edges``: how many edges are <= each u
    (counted edge by edge when there are few: cheaper than a binary search per element)."""
    if edges.size > 32:
        return np.searchsorted(edges, u, side="right")
    out = np.zeros(u.shape, dtype=np.int8 if edges.size < 127 else np.int16)
    for e in edges:
        out += u >= e
    return out.astype(np.intp)


def repair_means_s(job: SimJob) -> np.ndarray:
    """Mean repair (or re-acquire, for a preemption) duration per source."""
    return np.array([job.preempt_return_s if s.effect == "preempt" and job.preempt_return_s is not None
                     else job.repair_s for s in job.sources], dtype=float)


class FailureWindows:
    """Draws the failures of ``n`` replicas window by window (see the module docstring)."""

    def __init__(self, job: SimJob, gen: np.random.Generator, n: int, rate_scale: np.ndarray | None = None):
        self.job = job
        self.gen = gen
        #: (n, sources) rate multipliers per replica (None: every replica at the job's rates)
        self.rate_scale = None if rate_scale is None else np.asarray(rate_scale, dtype=float)
        gpn = job.gpus_per_node
        self._exp: list[tuple[int, float, int, int]] = []  # (source, rate per s, units, units per slot)
        self._weib: list[tuple[int, float, float, int]] = []  # (source, scale, shape, units per slot)
        self.next_s: list[np.ndarray] = []  # per Weibull source: (n, units) next failure time of each unit
        for i, s in enumerate(job.sources):
            per_slot = 0 if s.effect == "job" else (gpn if s.per == "gpu" else 1)
            if s.distribution == "weibull":
                scale = float(weibull_scale_s(s.mtbf_s, s.shape))
                self._weib.append((i, scale, s.shape, per_slot))
                lives = scale * gen.weibull(s.shape, (n, s.units))
                self.next_s.append(lives if self.rate_scale is None else lives / self.rate_scale[:, i, None])
            else:
                self._exp.append((i, s.units / s.mtbf_s, s.units, per_slot))
        self._means = repair_means_s(job)
        dist = job.repair_distribution
        self._sigma = math.sqrt(math.log1p(job.repair_cv ** 2))
        self._dist = dist
        per_source = np.array([s.units / s.mtbf_s for s in job.sources])
        mean_scale = np.ones(len(job.sources)) if self.rate_scale is None else self.rate_scale.mean(axis=0)
        self.rate_per_s = float((per_source * mean_scale).sum()) if job.sources else 0.0

    def _repairs(self, source: np.ndarray) -> np.ndarray:
        if self._dist == "fixed" or source.size == 0:
            return self._means[source]
        # one positive mean for every source: the same numbers as with the per-source means, without
        # their gather and mask
        one = bool((self._means == self._means[0]).all() and self._means[0] > 0)
        mean = self._means[0] if one else self._means[source]
        if self._dist == "exponential":
            d = self.gen.exponential(1.0, source.size) * mean
        else:  # lognormal of mean m and cv c: mu = ln m - sigma^2 / 2, sigma^2 = ln(1 + c^2) (the lognormal's
            # moments, NIST/SEMATECH e-Handbook of Statistical Methods, Sec. 8.1.6.4; as RepairDraws)
            s = self._sigma
            d = np.exp(self.gen.normal(-s * s / 2, s, source.size)) * mean
        return d if one else np.where(mean > 0, d, 0.0)

    @property
    def memoryless(self) -> bool:
        """Every source is exponential: windows can be a fixed number of failures per replica."""
        return not self._weib

    def next_failures(self, t0_s: np.ndarray, k: int) -> Window:
        """The next ``k`` failures of each replica after its ``t0_s`` (exponential sources only): gaps of
        the superposed Poisson process, the source of each failure chosen in proportion to its rate and
        the unit uniform within it (Ross Ch. 5), both from one uniform draw. The window ends at each replica's k-th failure."""
        gen = self.gen
        n = t0_s.size
        rates = np.array([r for _, r, _, _ in self._exp])
        if self.rate_scale is not None:
            return self._next_failures_scaled(t0_s, k, rates, self.rate_scale)
        total = rates.sum()
        times = running_sum(gen.exponential(1.0 / total, (k, n)))
        times += t0_s[None, :]
        # one uniform picks the source (in proportion to its rate) and, rescaled within the source's
        # interval (again uniform, and independent of the choice), the unit within it
        cum = np.cumsum(rates) / total
        u = gen.random((k, n))
        which = np.minimum(count_at_most(cum, u), rates.size - 1)
        lo = np.concatenate(([0.0], cum[:-1]))
        within = (u - lo[which]) / (cum - lo)[which]
        del u
        return self._place(times, which, within, k, n)

    def _next_failures_scaled(self, t0_s: np.ndarray, k: int, rates: np.ndarray, scale: np.ndarray) -> Window:
        """:meth:`next_failures` with each row's own rates (the same draws, rescaled per row)."""
        gen = self.gen
        n = t0_s.size
        row_rates = rates[None, :] * scale[:n, [i for i, _, _, _ in self._exp]]  # (n, sources)
        total = row_rates.sum(axis=1)
        times = running_sum(gen.exponential(1.0 / total[None, :], (k, n)))
        times += t0_s[None, :]
        cum = np.cumsum(row_rates, axis=1) / total[:, None]  # (n, sources)
        u = gen.random((k, n))
        which = np.minimum((u[:, :, None] >= cum[None, :, :]).sum(axis=2), rates.size - 1)
        lo = np.concatenate((np.zeros((n, 1)), cum[:, :-1]), axis=1)
        col = np.broadcast_to(np.arange(n)[None, :], which.shape)
        within = (u - lo[col, which]) / (cum - lo)[col, which]
        del u
        return self._place(times, which, within, k, n)

    def _place(self, times: np.ndarray, which: np.ndarray, within: np.ndarray, k: int, n: int) -> Window:
        """The window of failures at ``times``: source index ``which`` among the exponential sources, the
        unit from ``within`` (uniform in [0, 1))."""
        ids = np.array([i for i, _, _, _ in self._exp])
        src = which if (ids == np.arange(len(self.job.sources))).all() else ids[which]  # (every source: itself)
        units = np.array([float(u) for _, _, u, _ in self._exp])
        per = np.array([p for _, _, _, p in self._exp])
        if ((per == 0) | ((per & (per - 1)) == 0)).all():
            # units per slot all powers of two (or a job-level source): the slot in floating point,
            # exactly: min(floor(y), U - 1) // p = floor(min(y, U - 1) / p) for y >= 0 and an integer p > 0,
            # and a division by a power of two is exact; a job-level source's -1 as min(0, -1)
            p = np.maximum(per, 1).astype(float)
            scale = np.where(per > 0, units / p, 0.0)
            top = np.where(per > 0, (units - 1.0) / p, -1.0)
            y = within
            y *= np.take(scale, which)
            np.minimum(y, np.take(top, which), out=y)
            slot = np.floor(y, out=y).astype(np.int64)
        else:
            uw = np.take(units, which)
            pw = np.take(per, which)
            unit = np.minimum(within * uw, uw - 1.0).astype(np.int64)
            slot = np.where(pw > 0, unit // np.maximum(pw, 1), -1)
        del which, within
        dur = self._repairs(src.ravel()).reshape(k, n)
        return Window(times, src, slot, dur, times[-1].copy())

    def window(self, n: int, t0_s: float, t1_s: float) -> Window:
        """The failures of the n replicas in [t0_s, t1_s)."""
        gen = self.gen
        rows, times, srcs, units, per = [], [], [], [], []
        width = t1_s - t0_s
        for i, rate, u, per_slot in self._exp:
            mean = rate * width if self.rate_scale is None else rate * width * self.rate_scale[:n, i]
            counts = gen.poisson(mean, n)
            total = int(counts.sum())
            rows.append(np.repeat(np.arange(n), counts))
            times.append(t0_s + width * gen.random(total))
            units.append(gen.integers(0, u, total) if u > 1 else np.zeros(total, dtype=np.int64))
            srcs.append(np.full(total, i))
            per.append(np.full(total, per_slot))
        for (i, scale, shape, per_slot), nxt in zip(self._weib, self.next_s, strict=True):
            r, ix = np.nonzero(nxt < t1_s)
            while r.size:
                rows.append(r)
                times.append(nxt[r, ix])
                units.append(ix)
                srcs.append(np.full(r.size, i))
                per.append(np.full(r.size, per_slot))
                life = scale * gen.weibull(shape, r.size)
                nxt[r, ix] += life if self.rate_scale is None else life / self.rate_scale[r, i]
                due = nxt[r, ix] < t1_s
                r, ix = r[due], ix[due]
        if not rows:
            empty = np.empty((0, n))
            return Window(empty, empty.astype(np.int64), empty.astype(np.int64), empty, np.full(n, t1_s))
        row = np.concatenate(rows)
        t = np.concatenate(times)
        src = np.concatenate(srcs)
        ps = np.concatenate(per)
        slot = np.where(ps > 0, np.concatenate(units) // np.maximum(ps, 1), -1)
        dur = self._repairs(src)
        order = np.lexsort((t, row))
        row, t, src, slot, dur = row[order], t[order], src[order], slot[order], dur[order]
        counts = np.bincount(row, minlength=n)
        k = int(counts.max()) if counts.size else 0
        pos = np.arange(row.size) - np.repeat(np.cumsum(counts) - counts, counts)
        tm = np.full((k, n), np.inf)
        sm = np.zeros((k, n), dtype=np.int64)
        lm = np.full((k, n), -1, dtype=np.int64)
        dm = np.zeros((k, n))
        tm[pos, row] = t
        sm[pos, row] = src
        lm[pos, row] = slot
        dm[pos, row] = dur
        return Window(tm, sm, lm, dm, np.full(n, t1_s))
