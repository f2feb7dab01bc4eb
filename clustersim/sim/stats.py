"""Small statistics for Monte Carlo output, in numpy only (no scipy): confidence intervals and a KS test.

* Mean: mean +- z sd / sqrt(n), the normal (central limit) interval with the sample standard error
  (e.g. Law, "Simulation Modeling and Analysis", 5th ed., Ch. 4, confidence intervals for the mean).
* Quantile: distribution-free interval between two order statistics, chosen from the binomial
  distribution of the number of samples below the quantile (Conover, "Practical Nonparametric
  Statistics", 3rd ed., Sec. 3.2; David & Nagaraja, "Order Statistics", 3rd ed., Sec. 7.1).
* Kolmogorov-Smirnov: the one-sample statistic D_n = sup |F_n - F| and its asymptotic critical value
  from Kolmogorov's limiting distribution, P(sqrt(n) D_n > x) -> 2 sum_{k>=1} (-1)^{k-1} exp(-2 k^2 x^2)
  (Kolmogorov 1933; Smirnov 1948, Ann. Math. Statist. 19:279-281), with Stephens' finite-n scaling
  sqrt(n) + 0.12 + 0.11/sqrt(n) (Stephens 1970, J. R. Statist. Soc. B 32:115-122).
* Two-sample Kolmogorov-Smirnov: D = sup |F_n - G_m|, which under the null has the same limit with the
  effective size n m / (n + m) in place of n (Smirnov 1939; e.g. Conover, "Practical Nonparametric
  Statistics", 3rd ed., Sec. 6.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Z_975", "MetricSummary", "mean_ci", "quantile_ci", "describe", "ks_statistic", "kolmogorov_sf",
           "ks_critical_value", "kolmogorov_isf", "ks_two_sample", "ks_two_sample_critical_value"]

#: The standard normal's 0.975 quantile (two-sided 95%).
Z_975 = 1.959963984540054


def mean_ci(x: np.ndarray, z: float = Z_975) -> tuple[float, float, float, float]:
    """(mean, low, high, standard error) of the normal-approximation interval for the mean."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0:
        return (math.nan,) * 4
    m = float(x.mean())
    if n == 1:
        return m, math.nan, math.nan, math.nan
    se = float(x.std(ddof=1)) / math.sqrt(n)
    return m, m - z * se, m + z * se, se


def _binom_cdf(n: int, p: float) -> np.ndarray:
    """P(B <= k) for k = 0..n, B ~ Binomial(n, p), summed in log space (stable for large n)."""
    k = np.arange(n + 1, dtype=float)
    log_choose = np.concatenate(([0.0], np.cumsum(np.log(n - k[1:] + 1.0) - np.log(k[1:]))))
    with np.errstate(divide="ignore"):
        logpmf = log_choose + k * math.log(p) + (n - k) * math.log1p(-p)
    pmf = np.exp(logpmf - logpmf.max())
    return np.minimum(np.cumsum(pmf) / pmf.sum(), 1.0)


def quantile_ci(x: np.ndarray, p: float, level: float = 0.95) -> tuple[float, float, float]:
    """(estimate, low, high) for the p-quantile: numpy's default (linear) estimate, and the interval
    [x_(r), x_(s)] with the largest r such that P(B <= r-1) <= (1-level)/2 and the smallest s such that
    P(B <= s-1) >= 1-(1-level)/2, B ~ Binomial(n, p) (coverage >= level). A bound the sample is too
    small to give is nan."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    x = np.sort(np.asarray(x, dtype=float))
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    est = float(np.quantile(x, p))
    a = (1.0 - level) / 2.0
    cdf = _binom_cdf(n, p)  # cdf[k] = P(B <= k)
    # r: largest r in 1..n with cdf[r-1] <= a ; s: smallest s in 1..n with cdf[s-1] >= 1 - a
    ok_low = np.nonzero(cdf[:n] <= a)[0]
    ok_high = np.nonzero(cdf[:n] >= 1.0 - a)[0]
    low = float(x[ok_low[-1]]) if ok_low.size else math.nan  # r - 1 = index of x_(r)
    high = float(x[ok_high[0]]) if ok_high.size else math.nan
    return est, low, high


@dataclass(frozen=True)
class MetricSummary:
    """Mean, p50, p90, p99 of one metric over the replicas, each with its 95% confidence interval."""

    n: int
    mean: float
    mean_lo: float
    mean_hi: float
    std_err: float
    std: float
    p50: float
    p50_lo: float
    p50_hi: float
    p90: float
    p90_lo: float
    p90_hi: float
    p99: float
    p99_lo: float
    p99_hi: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def scaled(self, factor: float) -> MetricSummary:
        """The same summary in another unit (e.g. 1/86400 for days); n is kept."""
        d = {k: (v * factor if k != "n" else v) for k, v in asdict(self).items()}
        return MetricSummary(**d)


def describe(x: np.ndarray) -> MetricSummary:
    """The :class:`MetricSummary` of a sample."""
    x = np.asarray(x, dtype=float)
    m, lo, hi, se = mean_ci(x)
    q = {p: quantile_ci(x, p) for p in (0.5, 0.9, 0.99)}
    std = float(x.std(ddof=1)) if x.size > 1 else math.nan
    return MetricSummary(x.size, m, lo, hi, se, std, *q[0.5], *q[0.9], *q[0.99])


def ks_statistic(samples: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    """One-sample Kolmogorov-Smirnov statistic D_n = max_i max(i/n - F(x_(i)), F(x_(i)) - (i-1)/n)."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = x.size
    if n == 0:
        raise ValueError("no samples")
    f = np.asarray(cdf(x), dtype=float)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def kolmogorov_sf(x: float, terms: int = 100) -> float:
    """P(K > x) for Kolmogorov's limiting distribution: 2 sum_{k>=1} (-1)^{k-1} exp(-2 k^2 x^2)."""
    if x <= 0:
        return 1.0
    k = np.arange(1, terms + 1)
    s = 2.0 * float(np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * k * k * x * x)))
    return min(max(s, 0.0), 1.0)


def kolmogorov_isf(alpha: float) -> float:
    """x with kolmogorov_sf(x) = alpha (bisection; the tail is monotone)."""
    if not 0 < alpha < 1:
        raise ValueError("0 < alpha < 1")
    lo, hi = 0.1, 5.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if kolmogorov_sf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ks_critical_value(n: int, alpha: float = 0.01) -> float:
    """The D_n above which the KS test rejects at level ``alpha``: x_alpha / (sqrt(n) + 0.12 + 0.11/sqrt(n)),
    with x_alpha = :func:`kolmogorov_isf` (alpha)."""
    if n < 1 or not 0 < alpha < 1:
        raise ValueError("n >= 1 and 0 < alpha < 1")
    rn = math.sqrt(n)
    return kolmogorov_isf(alpha) / (rn + 0.12 + 0.11 / rn)


def ks_two_sample(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic D = max over the pooled sample of |F_x - F_y|."""
    x = np.sort(np.asarray(x, dtype=float))
    y = np.sort(np.asarray(y, dtype=float))
    if x.size == 0 or y.size == 0:
        raise ValueError("no samples")
    pooled = np.concatenate([x, y])
    fx = np.searchsorted(x, pooled, side="right") / x.size
    fy = np.searchsorted(y, pooled, side="right") / y.size
    return float(np.max(np.abs(fx - fy)))


def ks_two_sample_critical_value(n: int, m: int, alpha: float = 0.01) -> float:
    """The D above which the two-sample test rejects at level ``alpha`` (asymptotic, with Stephens'
    scaling at the effective size n m / (n + m))."""
    if n < 1 or m < 1:
        raise ValueError("n, m >= 1")
    rn = math.sqrt(n * m / (n + m))
    return kolmogorov_isf(alpha) / (rn + 0.12 + 0.11 / rn)
