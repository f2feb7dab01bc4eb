"""Failure-time and repair-time generators, each source on its own keyed RNG stream.

Every source draws everything (the gaps between its failures, which unit fails, and each failure's repair
duration) from one stream named after it, ``fail/{component}/{i}`` (see :func:`clustersim.rng.stream`),
one of each per failure of the source, in the order of the source's own failures, whatever the job
does. So a replica's failure times and repair durations do not depend on the checkpoint policy, the
spares or anything else the job decides: common random numbers across policies. (One stream per
source rather than three: each stream costs a SeedSequence and a PCG64 to set up, per replica.)

Draws come in fixed-size batches (one numpy call per :data:`BATCH` values); as each kind of draw is
used once per failure, the refills happen at the same failures whatever the job does, so the sequence
depends only on the stream and the batch size. ``block()`` hands out a batch at a time: the failure
times and units of batch b, then (from the repair draws) batch b's repair durations, is the order in
which :meth:`next` draws them too (a source's batch b of times comes before its failure 128 b + 1, whose
repair draws the repair batch), so the two give the same numbers.

* Exponential units: ``units`` independent Poisson processes of rate 1/mtbf superpose into one
  Poisson process of rate units/mtbf, and the unit that fails is uniform among them (Ross,
  "Introduction to Probability Models", Ch. 5). One draw per failure, so a 16,384-GPU source costs
  no more than a one-GPU source.
* Weibull units: no such shortcut (a renewal process is not memoryless), so each unit has its own
  renewal sequence: all first failure times are drawn at once (vectorized) and sorted; each failure
  pushes that unit's next time (failure time + a fresh Weibull draw: the replacement part is new)
  onto a small heap; the next failure is the smaller head of the sorted array and the heap.
  Cost: O(units log units) once per replica, then O(log failures) per failure.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from clustersim import rng as rngmod
from clustersim.theory import weibull_scale_s

from .job import FailureSource, SimJob, TraceEvent

__all__ = ["BATCH", "ExponentialUnits", "WeibullUnits", "TraceTimes", "RepairDraws", "failure_generators",
           "trace_generator"]

#: Values drawn per numpy call (amortizes the call overhead; part of the definition of the sequence).
BATCH = 128


class ExponentialUnits:
    """Superposed Poisson failures of ``units`` exponential units: next() -> (time_s, unit)."""

    __slots__ = ("_rng_t", "_rng_u", "_mean_gap", "_units", "_t", "_times", "_unit_list", "_i")

    def __init__(self, rng_time: np.random.Generator, rng_unit: np.random.Generator, mtbf_s: float, units: int):
        self._rng_t = rng_time
        self._rng_u = rng_unit
        self._mean_gap = mtbf_s / units
        self._units = units
        self._t = 0.0
        self._times: list[float] = []
        self._unit_list: list[int] = []
        self._i = 0

    def _draw(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The next batch: failure times, and the units that fail (None: one unit, no draw)."""
        gaps = self._rng_t.exponential(self._mean_gap, BATCH)
        times = self._t + gaps.cumsum()
        self._t = float(times[-1])
        return times, None if self._units == 1 else self._rng_u.integers(0, self._units, BATCH)

    def _refill(self) -> None:
        times, units = self._draw()
        self._times = times.tolist()
        self._unit_list = [0] * BATCH if units is None else units.tolist()
        self._i = 0

    def block(self) -> tuple[np.ndarray, np.ndarray]:
        """The failures left in the current batch (the next whole batch once it is used up), as arrays of
        times and units: the same sequence as :meth:`next`, a batch at a time."""
        if self._i == len(self._times):
            times, units = self._draw()
            self._times, self._unit_list = [], []  # (used up: a mix with next() draws the next batch)
            return times, np.zeros(BATCH, dtype=np.int64) if units is None else units
        i = self._i
        self._i = len(self._times)
        return np.array(self._times[i:]), np.array(self._unit_list[i:], dtype=np.int64)

    def next(self) -> tuple[float, int]:
        if self._i == len(self._times):
            self._refill()
        i = self._i
        self._i = i + 1
        return self._times[i], self._unit_list[i]


class WeibullUnits:
    """Per-unit Weibull renewal processes (mean ``mtbf_s``, ``shape``): next() -> (time_s, unit)."""

    __slots__ = ("_rng", "_scale", "_shape", "_first_t", "_first_u", "_ptr", "_heap", "_draws", "_j")

    def __init__(self, rng_first: np.random.Generator, rng_renew: np.random.Generator, mtbf_s: float,
                 shape: float, units: int):
        self._rng = rng_renew
        self._scale = float(weibull_scale_s(mtbf_s, shape))
        self._shape = shape
        first = self._scale * rng_first.weibull(shape, units)
        order = np.argsort(first, kind="stable")
        self._first_t: list[float] = first[order].tolist()
        self._first_u: list[int] = order.tolist()
        self._ptr = 0
        self._heap: list[tuple[float, int]] = []
        self._draws: list[float] = []
        self._j = 0

    def _renewal(self) -> float:
        if self._j == len(self._draws):
            self._draws = (self._scale * self._rng.weibull(self._shape, BATCH)).tolist()
            self._j = 0
        d = self._draws[self._j]
        self._j += 1
        return d

    def block(self) -> tuple[np.ndarray, np.ndarray]:
        """The next :data:`BATCH` failures (times and units): BATCH calls of :meth:`next`, so a batch
        uses one batch of renewal draws, as in :meth:`ExponentialUnits.block`."""
        pairs = [self.next() for _ in range(BATCH)]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=np.int64)

    def next(self) -> tuple[float, int]:
        heap = self._heap
        ptr = self._ptr
        if ptr < len(self._first_t) and (not heap or self._first_t[ptr] <= heap[0][0]):
            t, unit = self._first_t[ptr], self._first_u[ptr]
            self._ptr = ptr + 1
        else:
            t, unit = heapq.heappop(heap)
        heapq.heappush(heap, (t + self._renewal(), unit))
        return t, unit


class TraceTimes:
    """A replayed trace: next() -> (time_s, row index), then inf when the trace is over."""

    __slots__ = ("_times", "_i")

    def __init__(self, times: list[float]):
        self._times = times
        self._i = 0

    def next(self) -> tuple[float, int]:
        i = self._i
        if i >= len(self._times):
            return math.inf, -1
        self._i = i + 1
        return self._times[i], i


class RepairDraws:
    """Repair (or re-acquire) durations with a given mean: exponential, fixed, or lognormal with ``cv``.

    Lognormal with mean m and coefficient of variation c: sigma^2 = ln(1 + c^2), mu = ln m - sigma^2/2
    (the lognormal's moments, e.g. NIST/SEMATECH e-Handbook of Statistical Methods, Sec. 8.1.6.4).
    """

    __slots__ = ("_rng", "_kind", "_mean", "_mu", "_sigma", "_buf", "_i")

    def __init__(self, rng: np.random.Generator | None, distribution: str, mean_s: float, cv: float = 1.0):
        self._rng = rng
        self._kind = "fixed" if mean_s == 0 else distribution
        self._mean = mean_s
        self._sigma = math.sqrt(math.log1p(cv * cv))
        self._mu = math.log(mean_s) - self._sigma**2 / 2 if mean_s > 0 else 0.0
        self._buf: list[float] = []
        self._i = 0

    def _draw(self) -> np.ndarray:
        if self._rng is None:
            raise RuntimeError("a random repair distribution needs a Generator")
        if self._kind == "exponential":
            return self._rng.exponential(self._mean, BATCH)
        return self._rng.lognormal(self._mu, self._sigma, BATCH)

    def next(self) -> float:
        if self._kind == "fixed":
            return self._mean
        if self._i == len(self._buf):
            self._buf = self._draw().tolist()
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return v

    def block(self) -> np.ndarray:
        """The durations left in the current batch (the next whole batch once it is used up): the same
        sequence as :meth:`next`, a batch at a time."""
        if self._kind == "fixed":
            return np.full(BATCH, self._mean)
        if self._i == len(self._buf):
            self._buf = []
            return self._draw()
        i = self._i
        self._i = len(self._buf)
        return np.array(self._buf[i:])


def _source_generator(src: FailureSource, gen: np.random.Generator) -> ExponentialUnits | WeibullUnits:
    if src.distribution == "weibull":
        return WeibullUnits(gen, gen, src.mtbf_s, src.shape, src.units)
    return ExponentialUnits(gen, gen, src.mtbf_s, src.units)


def failure_generators(job: SimJob, seed: int, replica: int
                       ) -> list[tuple[ExponentialUnits | WeibullUnits, RepairDraws]]:
    """One (failure times, repair durations) pair per source, in ``job.sources`` order."""
    out: list[tuple[ExponentialUnits | WeibullUnits, RepairDraws]] = []
    gens = rngmod.streams(seed, replica, [f"fail/{src.component}/{i}" for i, src in enumerate(job.sources)])
    for src, gen in zip(job.sources, gens, strict=True):
        mean = job.repair_s
        if src.effect == "preempt" and job.preempt_return_s is not None:
            mean = job.preempt_return_s
        out.append((_source_generator(src, gen), RepairDraws(gen, job.repair_distribution, mean, job.repair_cv)))
    return out


def trace_generator(job: SimJob, seed: int, replica: int
                    ) -> tuple[TraceTimes, list[TraceEvent], RepairDraws, RepairDraws]:
    """The trace sorted by time (a stable sort), its times, and draws for repairs and re-acquires."""
    events = sorted(job.trace or (), key=lambda e: e.time_s)
    returns = job.repair_s if job.preempt_return_s is None else job.preempt_return_s
    return (TraceTimes([e.time_s for e in events]), events,
            RepairDraws(rngmod.stream(seed, replica, "repair/trace"), job.repair_distribution, job.repair_s,
                        job.repair_cv),
            RepairDraws(rngmod.stream(seed, replica, "preempt/trace"), job.repair_distribution, returns,
                        job.repair_cv))
