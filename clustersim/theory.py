"""Closed forms for failures and checkpoints: the instant answer, and the oracle the simulation is tested on.

Notation (reference.md D.8): delta = checkpoint write time, M = mean time between failures of the whole
job, R = time from a failure until work resumes (detection + restart + checkpoint load), T_s = the
failure-free solve time, tau = compute time between the end of one checkpoint and the start of the next.
Everything is in seconds. Each function takes floats or numpy arrays (broadcast together) and returns
a float for scalar inputs, an array otherwise.

MTBF is always a MEAN. For a Weibull source the scale is derived from it:
``scale = mtbf / Gamma(1 + 1/shape)`` (:func:`weibull_scale_s`), so a source's ``mtbf_hours`` keeps its
meaning whatever its distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "young_interval_s",
    "daly_interval_first_order_s",
    "daly_interval_s",
    "daly_segment_time_s",
    "daly_expected_wall_s",
    "expected_goodput",
    "wasted_fraction_first_order",
    "poisson_mean_count",
    "poisson_pmf",
    "poisson_cdf",
    "availability",
    "job_mtbf_s",
    "weibull_scale_s",
    "weibull_mean_s",
    "kokolis_ettr",
    "kokolis_interval_s",
    # aliases used by clustersim.reliability
    "job_mtbf",
    "daly_interval",
    "daly_expected_wall_time",
]

ArrayLike = float | int | np.ndarray | Sequence[float]


def _out(x: np.ndarray) -> Any:
    """A 0-d result as a Python float, anything else as an array."""
    return float(x) if np.ndim(x) == 0 else x


def _arr(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


def young_interval_s(write_s: ArrayLike, mtbf_s: ArrayLike) -> Any:
    """Young's first-order optimum checkpoint interval, sqrt(2 delta M).

    Young 1974, "A first order approximation to the optimum checkpoint interval", CACM 17(9):530-531
    (doi:10.1145/361147.361115); reference.md D.8.
    """
    return _out(np.sqrt(2.0 * _arr(write_s) * _arr(mtbf_s)))


def daly_interval_first_order_s(write_s: ArrayLike, mtbf_s: ArrayLike) -> Any:
    """Daly's first-order optimum, sqrt(2 delta M) - delta, floored at 0 (reference.md D.8).

    Daly 2006, "A higher order estimate of the optimum checkpoint interval for restart dumps", FGCS
    22(3):303-312 (doi:10.1016/j.future.2004.11.016): the first-order model, as given in reference.md.
    """
    d, m = _arr(write_s), _arr(mtbf_s)
    return _out(np.maximum(np.sqrt(2.0 * d * m) - d, 0.0))


def daly_interval_s(write_s: ArrayLike, mtbf_s: ArrayLike) -> Any:
    """Daly's higher-order optimum checkpoint interval (Daly 2006, Eq. 37; reference.md D.8).

    tau = sqrt(2 delta M) [1 + (1/3) sqrt(delta/(2M)) + (1/9) (delta/(2M))] - delta   for delta < 2M,
    tau = M                                                                             for delta >= 2M.

    Checked against the paper's Figs. 3-5 (delta = 5 min, M = 24 h / 6 h / 15 min: 117, 57, 9.1 min).
    """
    d, m = _arr(write_s), _arr(mtbf_s)
    if np.any(m <= 0) or np.any(d < 0):
        raise ValueError("mtbf_s must be > 0 and write_s >= 0")
    xi = d / (2.0 * m)
    tau = np.sqrt(2.0 * d * m) * (1.0 + np.sqrt(xi) / 3.0 + xi / 9.0) - d
    return _out(np.where(d < 2.0 * m, tau, m))


def daly_segment_time_s(interval_s: ArrayLike, write_s: ArrayLike, mtbf_s: ArrayLike,
                        restart_s: ArrayLike) -> Any:
    """Expected wall time to get one segment of tau compute + delta write done: M e^{R/M} (e^{(tau+delta)/M} - 1).

    Daly 2006 (FGCS 22(3):303-312), the complete cost function behind Eq. 37 (reference.md D.8): failures
    are Poisson with mean M, each costs the time since the segment started plus a restart R, and a
    failure during R starts R again (the e^{R/M} factor).
    """
    tau, d, m, r = _arr(interval_s), _arr(write_s), _arr(mtbf_s), _arr(restart_s)
    return _out(m * np.exp(r / m) * np.expm1((tau + d) / m))


def daly_expected_wall_s(work_s: ArrayLike, interval_s: ArrayLike, write_s: ArrayLike, mtbf_s: ArrayLike,
                         restart_s: ArrayLike) -> Any:
    """Daly's expected wall-clock time T_w(tau) = M e^{R/M} (e^{(tau+delta)/M} - 1) T_s / tau.

    Daly 2006 (FGCS 22(3):303-312; reference.md D.8). Exact for T_s/tau whole segments that each end
    with a checkpoint (the last one too), Poisson failures, and failures possible during the restart.
    """
    seg = daly_segment_time_s(interval_s, write_s, mtbf_s, restart_s)
    return _out(_arr(seg) * _arr(work_s) / _arr(interval_s))


def expected_goodput(work_s: ArrayLike, interval_s: ArrayLike, write_s: ArrayLike, mtbf_s: ArrayLike,
                     restart_s: ArrayLike) -> Any:
    """Expected goodput T_s / T_w = tau / E[segment] (Daly 2006; reference.md D.8 "goodput = tau / E[segment]")."""
    wall = _arr(daly_expected_wall_s(work_s, interval_s, write_s, mtbf_s, restart_s))
    return _out(_arr(work_s) / wall)


def wasted_fraction_first_order(interval_s: ArrayLike, write_s: ArrayLike, mtbf_s: ArrayLike,
                                restart_s: ArrayLike) -> Any:
    """First-order fraction of time wasted, delta/tau + (tau/2 + R)/M (reference.md D.8)."""
    tau, d, m, r = _arr(interval_s), _arr(write_s), _arr(mtbf_s), _arr(restart_s)
    return _out(d / tau + (tau / 2.0 + r) / m)


def poisson_mean_count(time_s: ArrayLike, mtbf_s: ArrayLike, units: ArrayLike = 1) -> Any:
    """Expected number of failures of ``units`` units, each with exponential MTBF, in ``time_s``: N T / m.

    A superposition of independent Poisson processes is Poisson with the summed rate (Ross,
    "Introduction to Probability Models", Ch. 5, the Poisson process).
    """
    return _out(_arr(units) * _arr(time_s) / _arr(mtbf_s))


_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def poisson_pmf(k: ArrayLike, mean: ArrayLike) -> Any:
    """P(K = k) = e^{-mu} mu^k / k! for a Poisson count with mean ``mean`` (computed in log space)."""
    kk, mu = np.broadcast_arrays(_arr(k), _arr(mean))
    if np.any(kk < 0) or np.any(kk != np.floor(kk)) or np.any(mu < 0):
        raise ValueError("k must be a non-negative integer and mean >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = kk * np.log(mu) - mu - np.asarray(_lgamma(kk + 1.0), dtype=float)
        p = np.exp(logp)
    p = np.where(mu == 0, (kk == 0).astype(float), p)
    return _out(p)


def poisson_cdf(k: ArrayLike, mean: ArrayLike) -> Any:
    """P(K <= k) for a Poisson count with mean ``mean`` (sum of :func:`poisson_pmf`)."""
    kk, mu = np.broadcast_arrays(_arr(k), _arr(mean))
    out = np.empty(kk.shape)
    for idx in np.ndindex(kk.shape):
        terms = np.asarray(poisson_pmf(np.arange(int(kk[idx]) + 1), mu[idx]))
        out[idx] = min(1.0, float(terms.sum()))
    return _out(out)


def availability(mtbf_s: ArrayLike, mttr_s: ArrayLike) -> Any:
    """Steady-state availability of one repairable unit, MTBF / (MTBF + MTTR).

    The alternating renewal process's long-run fraction of time up (Ross, "Introduction to
    Probability Models", Ch. 7, alternating renewal processes).
    """
    m, r = _arr(mtbf_s), _arr(mttr_s)
    return _out(m / (m + r))


def job_mtbf_s(units: ArrayLike, mtbf_s: ArrayLike) -> Any:
    """The whole job's MTBF from its sources: 1 / sum(units_i / mtbf_i) (reference.md D.8, "Job MTTF").

    For exponential sources this is the mean of the superposed Poisson process. For a Weibull source,
    ``mtbf_i`` is the MEAN of the per-unit distribution (scale * Gamma(1 + 1/shape)); by the renewal
    theorem each unit's long-run failure rate is 1/mean (elementary renewal theorem; Ross, Ch. 7), so the same sum
    gives the long-run job MTBF.
    Returns inf without sources.
    """
    u, m = _arr(units), _arr(mtbf_s)
    if u.size == 0:
        return math.inf
    if np.any(m <= 0) or np.any(u < 0):
        raise ValueError("mtbf_s must be > 0 and units >= 0")
    rate = float(np.sum(u / m))
    return math.inf if rate == 0 else 1.0 / rate


_gamma = np.frompyfunc(math.gamma, 1, 1)


def weibull_scale_s(mean_s: ArrayLike, shape: ArrayLike) -> Any:
    """Scale of a Weibull with the given mean: mean / Gamma(1 + 1/shape) (the Weibull mean, e.g. NIST/SEMATECH
    e-Handbook of Statistical Methods, Sec. 8.1.6.2)."""
    k = _arr(shape)
    if np.any(k <= 0):
        raise ValueError("shape must be > 0")
    return _out(_arr(mean_s) / np.asarray(_gamma(1.0 + 1.0 / k), dtype=float))


def weibull_mean_s(scale_s: ArrayLike, shape: ArrayLike) -> Any:
    """Mean of a Weibull, scale * Gamma(1 + 1/shape) (NIST/SEMATECH e-Handbook, Sec. 8.1.6.2)."""
    k = _arr(shape)
    if np.any(k <= 0):
        raise ValueError("shape must be > 0")
    return _out(_arr(scale_s) * np.asarray(_gamma(1.0 + 1.0 / k), dtype=float))


def kokolis_ettr(nodes: ArrayLike, node_failure_rate_per_s: ArrayLike, restart_overhead_s: ArrayLike,
                 interval_s: ArrayLike, write_s: ArrayLike) -> Any:
    """Kokolis et al.'s expected effective training time ratio (arXiv:2410.21680; reference.md D.8).

    E[ETTR] = (1 - N r_f (u0 + dt/2)) / (1 + w/dt), with N nodes, r_f failures per node per second,
    u0 the fixed time lost per failure, dt the checkpoint interval and w the checkpoint write time.
    Floored at 0 (the first-order form goes negative when failures are too frequent).
    """
    n, rf, u0 = _arr(nodes), _arr(node_failure_rate_per_s), _arr(restart_overhead_s)
    dt, w = _arr(interval_s), _arr(write_s)
    return _out(np.maximum((1.0 - n * rf * (u0 + dt / 2.0)) / (1.0 + w / dt), 0.0))


def kokolis_interval_s(nodes: ArrayLike, node_failure_rate_per_s: ArrayLike, write_s: ArrayLike) -> Any:
    """Kokolis et al.'s optimum interval sqrt(2 w / (N r_f)) (arXiv:2410.21680; reference.md D.8)."""
    return _out(np.sqrt(2.0 * _arr(write_s) / (_arr(nodes) * _arr(node_failure_rate_per_s))))


# Names used by clustersim.reliability (same functions; the _s names say the unit).
job_mtbf = job_mtbf_s
daly_interval = daly_interval_s
daly_expected_wall_time = daly_expected_wall_s
