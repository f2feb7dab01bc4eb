"""A replica's failures in time order: every source's (and the trace's) merged a batch at a time.

Each source's failures come in batches (:mod:`.distributions`: ``block()``, the failure times and units
of a batch, then that batch's repair durations, in the order the source's stream draws them). The
stream concatenates what every source has not yet handed out, sorts it once (numpy, a stable sort:
ties go to the lower source index, then to a source's own order, as a heap keyed on (time, source)
would), and hands out, as plain lists, every failure before the first time at which some source's
batch ends (beyond it that source's next batch may hold earlier failures); then it draws that
source's next batch and merges again. A replica of a few hundred failures merges a few times, each
one numpy call per array, instead of a heap operation and two draws per failure in Python.

The sequence (time, source, unit, repair duration) is the one a heap of each source's next failure
gives with ``next()`` draws, number for number.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .distributions import BATCH

if TYPE_CHECKING:
    from .distributions import ExponentialUnits, RepairDraws, WeibullUnits

__all__ = ["FailureStream"]

#: A source draws ahead (to save a merge) while it holds fewer failures than this.
_AHEAD = 2 * BATCH


class FailureStream:
    """The merged failures: ``times``, ``sources``, ``units``, ``repairs`` (lists, nan for a trace row:
    its repair is drawn when it strikes), the next one at ``k``, ``n`` handed out so far in this merge.
    :meth:`more` merges the next run once ``k == n`` (nothing when every failure left is past
    ``horizon``). The trace, if any, is source ``len(gens)`` with all its times at once."""

    __slots__ = ("_gens", "_pt", "_pu", "_pr", "_exhausted", "_ends", "_taken", "horizon", "limit", "times", "sources", "units",
                 "repairs", "k", "n")

    def __init__(self, gens: list[tuple[ExponentialUnits | WeibullUnits, RepairDraws]],
                 trace_times: list[float] | None, horizon: float):
        self._gens = gens
        empty = np.empty(0)
        ns = len(gens) + (trace_times is not None)
        self._pt = [empty] * ns
        self._pu = [np.empty(0, dtype=np.int64)] * ns
        self._pr = [empty] * ns
        self._exhausted = [False] * ns
        self._ends = [math.inf] * ns  # each source's last failure drawn (inf: none left to draw)
        self._taken: np.ndarray | None = None
        if trace_times is not None:
            self._pt[-1] = np.asarray(trace_times, dtype=float)
            self._pu[-1] = np.arange(len(trace_times), dtype=np.int64)
            self._pr[-1] = np.full(len(trace_times), math.nan)
            self._exhausted[-1] = True
        self.horizon = horizon
        self.limit = -math.inf  # failures before it are handed out (inf: all of them)
        self.times: list[float] = []
        self.sources: list[int] = []
        self.units: list[int] = []
        self.repairs: list[float] = []
        self.k = 0
        self.n = 0
        self.more()

    def _pull(self, s: int) -> None:
        g, d = self._gens[s]
        times, units = g.block()
        reps = d.block()
        if self._pt[s].size:
            times = np.concatenate((self._pt[s], times))
            units = np.concatenate((self._pu[s], units))
            reps = np.concatenate((self._pr[s], reps))
        self._pt[s], self._pu[s], self._pr[s] = times, units, reps
        self._ends[s] = float(times[-1])

    def more(self) -> None:
        """If every failure handed out is used (``k == n``) and the next may come before the horizon,
        merge the next run (``k`` back to 0); else nothing."""
        if self.k < self.n or self.limit > self.horizon or self.limit == math.inf:
            return
        pt, exhausted = self._pt, self._exhausted
        ns = len(pt)
        if not ns:
            self.limit = math.inf
            return
        if self._taken is not None:  # what the last merge handed out
            taken = np.bincount(self._taken, minlength=ns).tolist()
            self._taken = None
            for s in range(ns):
                c = taken[s]
                if c:
                    pt[s], self._pu[s], self._pr[s] = pt[s][c:], self._pu[s][c:], self._pr[s][c:]
        for s in range(ns):
            if not pt[s].size and not exhausted[s]:
                self._pull(s)
        ends = self._ends
        limit = min(ends)
        first = ends.index(limit)
        # fewer merges: the source whose batch ends first draws ahead, up to the next source's end (a few
        # batches at most)
        target = min(min(ends[:first] + ends[first + 1:], default=math.inf), self.horizon)
        while limit < target and pt[first].size < _AHEAD:
            self._pull(first)
            limit = min(ends)
            first = ends.index(limit)
        while True:
            cat = np.concatenate(pt)
            if limit == math.inf:
                order = np.argsort(cat, kind="stable")
                break
            cand = (cat < limit).nonzero()[0]  # (what comes before the limit, sorted: the rest waits)
            if cand.size:
                order = cand[np.argsort(cat[cand], kind="stable")]
                break
            self._pull(first)
            limit = min(ends)
            first = ends.index(limit)
        src = np.repeat(np.arange(ns), [a.size for a in pt])[order]
        self.times = cat[order].tolist()
        self.sources = src.tolist()
        self.units = np.concatenate(self._pu)[order].tolist()
        self.repairs = np.concatenate(self._pr)[order].tolist()
        self._taken = src  # (dropped from the pending arrays at the next merge, if one comes)
        self.limit = limit
        self.k = 0
        self.n = order.size

    def next_s(self) -> float:
        """Time of the next failure (inf: none before the horizon)."""
        if self.k == self.n:
            self.more()
            if self.k == self.n:
                return math.inf
        t = self.times[self.k]
        return t if t <= self.horizon else math.inf
