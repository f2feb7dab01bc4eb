"""Closed forms of queueing theory, the oracles the fleet simulation is tested against.

Erlang C (the M/M/c queue: Poisson arrivals of rate lambda, c servers, exponential service of rate mu,
offered load a = lambda / mu < c): the probability that a job waits,

    C(c, a) = [a^c / c! * c / (c - a)] / [sum_{k<c} a^k / k! + a^c / c! * c / (c - a)],

and the mean wait in queue W_q = C(c, a) / (c mu - lambda) (Erlang 1917; Kleinrock 1975, "Queueing
Systems, Vol. 1", Sec. 3.5, Eqs. 3.40 and 3.42). Computed with the stable recursion of the Erlang B
formula, B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)), and C = c B / (c - a (1 - B)) (Cooper 1981,
"Introduction to Queueing Theory", Sec. 3.4).
"""

from __future__ import annotations

__all__ = ["erlang_b", "erlang_c", "mmc_mean_wait_s"]


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c with offered load ``a`` (Erlang B, by its recursion)."""
    if c < 1 or a < 0:
        raise ValueError("need c >= 1 servers and a load a >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load ``a`` < c (Erlang C)."""
    if not a < c:
        raise ValueError(f"the queue is unstable: load {a} >= {c} servers")
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def mmc_mean_wait_s(c: int, arrival_rate_per_s: float, mean_service_s: float) -> float:
    """Mean time in queue of M/M/c: C(c, a) / (c mu - lambda) (Kleinrock 1975, Eq. 3.42)."""
    mu = 1.0 / mean_service_s
    a = arrival_rate_per_s / mu
    return erlang_c(c, a) / (c * mu - arrival_rate_per_s)
