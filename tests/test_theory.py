"""Closed forms: hand-computed values and the published figures they must reproduce."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim import theory

MIN = 60.0
HOUR = 3600.0


def test_young_interval_hand_value():
    # sqrt(2 * 5 min * 24 h) = sqrt(2 * 300 * 86400) s = 7200 s
    assert theory.young_interval_s(300.0, 86400.0) == pytest.approx(7200.0, rel=1e-12)


def test_daly_first_order_is_young_minus_delta():
    assert theory.daly_interval_first_order_s(300.0, 86400.0) == pytest.approx(7200.0 - 300.0, rel=1e-12)
    # floored at zero when the write is longer than the optimum
    assert theory.daly_interval_first_order_s(1000.0, 1.0) == 0.0


@pytest.mark.parametrize("mtbf_s, expected_min", [(24 * HOUR, 117.0), (6 * HOUR, 57.0), (15 * MIN, 9.1)])
def test_daly_higher_order_matches_paper_figures(mtbf_s, expected_min):
    """Daly 2006, Figs. 3-5: delta = 5 min, R = 10 min; the model predicts 117, 57 and 9.1 minutes."""
    tau = theory.daly_interval_s(5 * MIN, mtbf_s)
    assert tau / MIN == pytest.approx(expected_min, abs=0.5 if expected_min > 20 else 0.05)


def test_daly_higher_order_hand_value():
    d, m = 300.0, 86400.0
    xi = d / (2 * m)
    expected = math.sqrt(2 * d * m) * (1 + math.sqrt(xi) / 3 + xi / 9) - d
    assert theory.daly_interval_s(d, m) == pytest.approx(expected, rel=1e-14)


def test_daly_interval_is_mtbf_when_write_is_long():
    assert theory.daly_interval_s(2 * 3600.0, 3600.0) == 3600.0
    assert theory.daly_interval_s(5 * 3600.0, 3600.0) == 3600.0


def test_daly_interval_vectorized_and_rejects_bad_input():
    d = np.array([60.0, 300.0, 10_000.0])
    m = np.array([3600.0, 86400.0, 3600.0])
    out = theory.daly_interval_s(d, m)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    for i in range(3):
        assert out[i] == pytest.approx(theory.daly_interval_s(float(d[i]), float(m[i])), rel=1e-14)
    with pytest.raises(ValueError):
        theory.daly_interval_s(1.0, 0.0)


def test_daly_expected_wall_hand_value():
    ts, tau, d, m, r = 100 * HOUR, 2 * HOUR, 300.0, 24 * HOUR, 600.0
    expected = m * math.exp(r / m) * (math.exp((tau + d) / m) - 1) * ts / tau
    assert theory.daly_expected_wall_s(ts, tau, d, m, r) == pytest.approx(expected, rel=1e-13)
    # without failures (M -> inf) the wall time tends to T_s (1 + delta/tau)
    assert theory.daly_expected_wall_s(ts, tau, d, 1e15, r) == pytest.approx(ts * (1 + d / tau), rel=1e-6)


def test_daly_optimum_minimises_expected_wall_time():
    """Eq. 37 is a perturbation solution: the true minimum of T_w is within 0.1% of its value there."""
    for m in (15 * MIN, 6 * HOUR, 24 * HOUR):
        d, r, ts = 5 * MIN, 10 * MIN, 500 * HOUR
        taus = np.linspace(0.2, 5.0, 20001) * theory.daly_interval_s(d, m)
        walls = theory.daly_expected_wall_s(ts, taus, d, m, r)
        best = float(walls.min())
        at_daly = theory.daly_expected_wall_s(ts, theory.daly_interval_s(d, m), d, m, r)
        assert best * (1 - 1e-6) <= at_daly <= best * 1.001
        # and Young's estimate is no better than Daly's
        assert theory.daly_expected_wall_s(ts, theory.young_interval_s(d, m), d, m, r) >= at_daly


def test_expected_goodput_and_wasted_fraction():
    ts, tau, d, m, r = 100 * HOUR, 1 * HOUR, 60.0, 1000 * HOUR, 300.0
    g = theory.expected_goodput(ts, tau, d, m, r)
    assert g == pytest.approx(ts / theory.daly_expected_wall_s(ts, tau, d, m, r), rel=1e-14)
    # for M >> tau the first-order waste is close to 1 - goodput
    w = theory.wasted_fraction_first_order(tau, d, m, r)
    assert w == pytest.approx(d / tau + (tau / 2 + r) / m, rel=1e-14)
    assert 1 - g == pytest.approx(w, rel=0.02)


def test_poisson_counts():
    assert theory.poisson_mean_count(54 * 24 * HOUR, 5.8 * 365.25 * 24 * HOUR, 16384) == pytest.approx(
        16384 * 54 / (5.8 * 365.25), rel=1e-12)
    mu = 3.7
    k = np.arange(60)
    p = theory.poisson_pmf(k, mu)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert (k * p).sum() == pytest.approx(mu, rel=1e-12)
    assert theory.poisson_pmf(2, mu) == pytest.approx(math.exp(-mu) * mu**2 / 2, rel=1e-12)
    assert theory.poisson_pmf(0, 0.0) == 1.0 and theory.poisson_pmf(3, 0.0) == 0.0
    assert theory.poisson_cdf(2, mu) == pytest.approx(sum(math.exp(-mu) * mu**i / math.factorial(i)
                                                          for i in range(3)), rel=1e-12)
    with pytest.raises(ValueError):
        theory.poisson_pmf(1.5, mu)


def test_availability():
    assert theory.availability(99.0, 1.0) == pytest.approx(0.99)
    assert np.allclose(theory.availability(np.array([1.0, 3.0]), 1.0), [0.5, 0.75])


def test_job_mtbf_llama3_preset():
    """The Llama 3 405B preset (catalog reliability.yaml): 419 interruptions in 1296 h -> 3.09 h."""
    gpu_mtbf_h = [143470.7, 294912.0, 1117561.3, 1249039.1, 3538944.0, 3538944.0]
    node_mtbf_h = [82944.0, 379172.6, 884736.0, 884736.0, 1327104.0, 1327104.0, 1327104.0, 1327104.0,
                   75834.5]
    units = [16384] * len(gpu_mtbf_h) + [2048] * len(node_mtbf_h) + [1]
    mtbf_s = [h * HOUR for h in gpu_mtbf_h + node_mtbf_h + [20.57]]
    assert theory.job_mtbf_s(units, mtbf_s) / HOUR == pytest.approx(1296 / 419, rel=1e-3)
    assert theory.job_mtbf_s([], []) == math.inf
    assert theory.job_mtbf_s([2, 3], [10.0, 30.0]) == pytest.approx(1 / (0.2 + 0.1))


def test_weibull_mean_and_scale():
    # shape 1 is the exponential: scale == mean
    assert theory.weibull_scale_s(100.0, 1.0) == pytest.approx(100.0, rel=1e-14)
    # shape 2: Gamma(1.5) = sqrt(pi)/2
    assert theory.weibull_mean_s(10.0, 2.0) == pytest.approx(10.0 * math.sqrt(math.pi) / 2, rel=1e-14)
    for k in (0.5, 0.8, 1.5, 3.0):
        assert theory.weibull_mean_s(theory.weibull_scale_s(123.0, k), k) == pytest.approx(123.0, rel=1e-13)
    with pytest.raises(ValueError):
        theory.weibull_scale_s(1.0, 0.0)


def test_kokolis():
    n, rf = 2048, 6.5e-3 / 86400.0  # RSC-1: 6.50 failures per 1000 node-days
    w, u0 = 60.0, 600.0
    dt = theory.kokolis_interval_s(n, rf, w)
    assert dt == pytest.approx(math.sqrt(2 * w / (n * rf)), rel=1e-14)
    ettr = theory.kokolis_ettr(n, rf, u0, dt, w)
    assert ettr == pytest.approx((1 - n * rf * (u0 + dt / 2)) / (1 + w / dt), rel=1e-14)
    # the first-order optimum is close to the maximum of E[ETTR]
    grid = np.linspace(0.3, 3.0, 301) * dt
    assert ettr >= theory.kokolis_ettr(n, rf, u0, grid, w).max() * 0.995
    assert theory.kokolis_ettr(10**6, 1.0, 1.0, 1.0, 1.0) == 0.0


def test_aliases_for_the_scenario_adapter():
    assert theory.job_mtbf is theory.job_mtbf_s
    assert theory.daly_interval is theory.daly_interval_s
    assert theory.daly_expected_wall_time is theory.daly_expected_wall_s
