"""Failure-log statistics: Gamma-Poisson intervals at their nominal coverage, Weibull shape, recovery times."""

import math

import numpy as np
import pytest

from clustersim import rng, units
from clustersim.calibrate.failurelog import (
    MIN_FAILURES_FOR_SHAPE,
    FailureEvent,
    estimate_rate,
    failure_stats,
    rate_interval,
    read_failure_log,
    weibull_shape,
)
from clustersim.errors import ScenarioError

NODES, GPN, HOURS = 64, 8, 720.0
# component: (per, MTBF of one unit in hours); expected counts over the window: 20, 10, 35, 6
TRUTH = {"gpu": ("gpu", NODES * GPN * HOURS / 20), "host": ("node", NODES * HOURS / 10),
         "software": ("job", HOURS / 35), "leaf-switch": ("switch", 4 * HOURS / 6)}


def _synthetic_log(trial: int) -> list[FailureEvent]:
    """Exponential failures of every component over the window, drawn on keyed seeded streams."""
    units_of = {"gpu": NODES * GPN, "node": NODES, "job": 1, "switch": 4}
    events = []
    for comp, (per, mtbf_h) in TRUTH.items():
        g = rng.stream(2026, trial, f"test-calibrate/{comp}")
        t = 0.0
        while True:
            t += g.exponential(mtbf_h / units_of[per])
            if t > HOURS:
                break
            events.append(FailureEvent(t * units.HOUR_S, comp, int(g.integers(0, NODES))))
    return events


def test_gamma_poisson_90pct_intervals_cover_the_truth_at_nominal_rate():
    covered = {c: 0 for c in TRUTH}
    trials = 1000
    for trial in range(trials):
        stats = failure_stats(_synthetic_log(trial), observed_hours=HOURS, nodes=NODES, gpus_per_node=GPN, level=0.9)
        for r in stats.rates:
            lo, hi = r.rate_interval
            covered[r.component] += lo <= 1 / TRUTH[r.component][1] <= hi
    pooled = sum(covered.values()) / (trials * len(TRUTH))
    assert 0.88 <= pooled <= 0.92, (pooled, covered)
    for comp, n in covered.items():  # each component alone: 1,000 trials, binomial sd ~ 1%
        assert 0.85 <= n / trials <= 0.95, (comp, n)


def test_rate_interval_is_the_jeffreys_interval():
    # Jeffreys interval for a Poisson count of 10 at 95%: Gamma(10.5) quantiles = chi2(21 df) / 2, with
    # chi2_0.025(21) = 10.283 and chi2_0.975(21) = 35.479 (A&S Table 26.8)
    lo, hi = rate_interval(10, 1.0, 0.95)
    assert lo == pytest.approx(10.283 / 2, rel=2e-4) and hi == pytest.approx(35.479 / 2, rel=2e-4)
    # exposure scales the rate
    lo2, hi2 = rate_interval(10, 200.0, 0.95)
    assert (lo2, hi2) == pytest.approx((lo / 200, hi / 200))


def test_ten_failures_say_the_interval_is_wide_and_zero_failures_bound_it():
    r = estimate_rate("gpu", "gpu", 512, 10, 720.0)
    assert r.mtbf_hours == pytest.approx(512 * 720 / 10)
    assert "only 10 gpu failures" in r.note and "wide" in r.note
    lo, hi = r.rate_interval
    assert hi / lo > 2.5
    none = estimate_rate("host", "node", 64, 0, 720.0)
    lo_mtbf, hi_mtbf = none.mtbf_interval_hours
    assert none.count == 0 and hi_mtbf > 100 * lo_mtbf and "bounded below" in none.note
    many = estimate_rate("software", "job", 1, 400, 720.0)
    assert many.note == ""


def _weibull_renewals(seed: int, shape: float, mean_h: float, nodes: int, hours: float) -> list[FailureEvent]:
    g = rng.stream(seed, 0, "test-calibrate/weibull")
    scale = mean_h / math.gamma(1 + 1 / shape)
    events = []
    for node in range(nodes):
        t = 0.0
        while True:
            t += scale * g.weibull(shape)
            if t > hours:
                break
            events.append(FailureEvent(t * units.HOUR_S, "gpu", node))
    return events


def test_weibull_shape_mle_recovers_the_shape():
    hits, trials, estimates = 0, 200, []
    for seed in range(trials):
        ev = _weibull_renewals(seed, 0.7, 2000.0, 64, 5000.0)
        s = weibull_shape("gpu", ev, 64, 5000.0 * units.HOUR_S)
        assert s.shape is not None and s.shape_sd is not None
        estimates.append(s.shape)
        hits += abs(s.shape - 0.7) <= 1.6449 * s.shape_sd
    mean = float(np.mean(estimates))
    se = float(np.std(estimates, ddof=1)) / math.sqrt(trials)
    assert abs(mean - 0.7) <= 4 * se + 0.01  # the MLE's small-sample bias is of order 1/r
    assert 0.85 <= hits / trials <= 0.95
    ev = _weibull_renewals(7, 0.7, 2000.0, 64, 5000.0)
    assert "reject exponential" in weibull_shape("gpu", ev, 64, 5000.0 * units.HOUR_S).note


def test_weibull_shape_needs_enough_failures_and_exponential_data_are_consistent():
    few = [FailureEvent(float(i) * 3600.0, "gpu", i) for i in range(MIN_FAILURES_FOR_SHAPE - 1)]
    s = weibull_shape("gpu", few, 64, 720 * 3600.0)
    assert s.shape is None and f"at least {MIN_FAILURES_FOR_SHAPE}" in s.note
    ev = _weibull_renewals(3, 1.0, 2000.0, 64, 5000.0)
    est = weibull_shape("gpu", ev, 64, 5000.0 * units.HOUR_S)
    assert est.shape is not None and abs(est.shape - 1.0) < 3 * est.shape_sd


def test_recovery_times_and_the_log_reader(tmp_path):
    log = tmp_path / "failures.csv"
    log.write_text("time_hours,component,node,recovery_minutes\n1.5,gpu,3,20\n10,host,0,40\n30,software,0,\n"
                   "55,gpu,7,80\n", encoding="utf-8")
    events = read_failure_log(log)
    assert [e.component for e in events] == ["gpu", "host", "software", "gpu"]
    stats = failure_stats(events, observed_hours=100, nodes=8, gpus_per_node=8)
    assert stats.recovery is not None and stats.recovery.count == 3
    assert stats.recovery.median_minutes == pytest.approx((20 * 40 * 80) ** (1 / 3))
    assert stats.recovery.mean_minutes == pytest.approx(140 / 3)
    by = {r.component: r for r in stats.rates}
    assert by["gpu"].units == 64 and by["gpu"].count == 2 and by["software"].units == 1
    assert by["gpu"].mtbf_hours == pytest.approx(64 * 100 / 2)


def test_failure_log_errors_name_file_and_line(tmp_path):
    log = tmp_path / "bad.csv"
    log.write_text("time_hours,component,node\n1,gpu,0\nx,gpu,1\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        read_failure_log(log)
    assert f"{log}:3" in exc.value.render()
    ok = tmp_path / "ok.csv"
    ok.write_text("time_hours,component,node\n1,gpu,0\n900,gpu,1\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="after the observation window"):
        failure_stats(read_failure_log(ok), observed_hours=100, nodes=8, gpus_per_node=8)
    with pytest.raises(ScenarioError, match="outside the cluster"):
        failure_stats(read_failure_log(ok), observed_hours=1000, nodes=1, gpus_per_node=8)


def test_bad_recovery_minutes_are_located(tmp_path):
    log = tmp_path / "rec.csv"
    log.write_text("time_hours,component,node,recovery_minutes\n5,gpu,0,12\n2,gpu,1,-3\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        read_failure_log(log)
    assert f"{log}:3" in exc.value.render() and "recovery minutes" in exc.value.render()
    log.write_text("time_hours,component,node,recovery_minutes\n5,gpu,0,12\n2,host,1,30\n", encoding="utf-8")
    events = read_failure_log(log)  # sorted by time, each keeping its own recovery time
    assert [(e.component, e.recovery_s) for e in events] == [("host", 1800.0), ("gpu", 720.0)]
