"""Special functions the calibration needs, written out (no scipy): normal and Gamma quantiles.

* :func:`gamma_p` - the regularized lower incomplete gamma function P(a, x), by its power series for
  x < a + 1 (Abramowitz & Stegun 6.5.29) and by the continued fraction of Q = 1 - P otherwise (A&S
  6.5.31), evaluated with the modified Lentz algorithm (Press et al., Numerical Recipes 3rd ed., Sec. 5.2
  and 6.2).
* :func:`normal_ppf` - the standard normal quantile: the rational approximation of A&S 26.2.23 as a start
  (|error| < 4.5e-4), refined by Newton steps on Phi(x) - p with Phi from ``math.erfc``.
* :func:`gamma_ppf` - the quantile of Gamma(shape a, rate 1): the Wilson-Hilferty cube-root normal
  approximation (Wilson & Hilferty 1931; A&S 26.4.17) as a start for a >= 1, the small-x form
  (p a Gamma(a))^(1/a) of the series for a < 1 (as in Numerical Recipes' ``invgammp``), refined by
  Newton steps on P(a, x) - p kept inside a bisection bracket so that it always converges.
"""

from __future__ import annotations

import math

__all__ = ["gamma_p", "gamma_q", "normal_cdf", "normal_ppf", "gamma_ppf"]

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 10_000


def _check_a(a: float) -> None:
    if not (a > 0 and math.isfinite(a)):
        raise ValueError(f"the Gamma shape must be positive and finite, got {a}")


def _series(a: float, x: float) -> float:
    """P(a, x) by A&S 6.5.29: x^a e^-x / Gamma(a+1) * sum_n x^n / ((a+1)...(a+n))."""
    term = 1.0 / a
    total = term
    ap = a
    for _ in range(_MAX_ITER):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _continued_fraction(a: float, x: float) -> float:
    """Q(a, x) by the continued fraction A&S 6.5.31, modified Lentz (Numerical Recipes Sec. 5.2, 6.2)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gamma_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) = gamma(a, x) / Gamma(a) (the Gamma(a, 1) CDF at x)."""
    _check_a(a)
    if x <= 0:
        return 0.0
    if math.isinf(x):
        return 1.0
    if x < a + 1.0:
        return min(1.0, _series(a, x))
    return max(0.0, 1.0 - _continued_fraction(a, x))


def gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate in the far right tail."""
    _check_a(a)
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _series(a, x))
    return min(1.0, _continued_fraction(a, x))


def normal_cdf(x: float) -> float:
    """Phi(x) = erfc(-x / sqrt 2) / 2."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _check_p(p: float) -> None:
    if not 0.0 < p < 1.0:
        raise ValueError(f"a probability strictly between 0 and 1 is needed, got {p}")


def normal_ppf(p: float) -> float:
    """The standard normal quantile: A&S 26.2.23 as a start, then Newton on Phi(x) - p."""
    _check_p(p)
    q = p if p < 0.5 else 1.0 - p  # work in the lower tail, where erfc keeps full relative precision
    t = math.sqrt(-2.0 * math.log(q))
    x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1.0 + 1.432788 * t + 0.189269 * t * t
                                                            + 0.001308 * t ** 3))
    for _ in range(50):
        pdf = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        step = (normal_cdf(x) - q) / pdf
        x -= step
        if abs(step) < 1e-14 * max(1.0, abs(x)):
            break
    x = x if p < 0.5 else -x
    return x


def gamma_ppf(p: float, a: float) -> float:
    """The p-quantile of Gamma(shape a, rate 1): x with P(a, x) = p (divide by a rate for other rates)."""
    _check_p(p)
    _check_a(a)
    if a >= 1.0:
        z = normal_ppf(p)
        x = a * (1.0 - 1.0 / (9.0 * a) + z / (3.0 * math.sqrt(a))) ** 3
        if x <= 0:
            x = 0.5 * a
    else:
        # P(a, x) ~ x^a / (a Gamma(a)) for small x (the series' leading term)
        x = math.exp((math.log(p) + math.log(a) + math.lgamma(a)) / a)
    lo, hi = 0.0, max(2.0 * x, a + 10.0 * math.sqrt(a) + 10.0)
    while gamma_p(a, hi) < p:
        lo, hi = hi, 2.0 * hi
    log_norm = math.lgamma(a)
    for _ in range(200):
        f = gamma_p(a, x) - p
        if f < 0:
            lo = max(lo, x)
        else:
            hi = min(hi, x)
        density = math.exp((a - 1.0) * math.log(x) - x - log_norm) if x > 0 else 0.0
        new = x - f / density if density > 0 else 0.5 * (lo + hi)
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        if abs(new - x) <= 1e-13 * max(x, 1e-300):
            return new
        x = new
    return x
