"""The fleet simulation against closed forms (Ciw style: |mean - theory| <= 4 standard errors, se < 1%)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim import theory
from clustersim.fleet import fleet
from clustersim.fleet.queueing import erlang_b, erlang_c, mmc_mean_wait_s

Z_LIMIT = 4.0
SE_LIMIT = 0.01
FREE = {"write_minutes": 0, "load_minutes": 0, "detect_minutes": 0, "restart_minutes": 0}


def check(values: np.ndarray, expected: float) -> tuple[float, float]:
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(values.size))
    assert se < SE_LIMIT * expected, f"standard error {se / expected:.2%} of the value is too weak a test"
    z = (mean - expected) / se
    assert abs(z) <= Z_LIMIT, f"simulated {mean:.6g} vs theory {expected:.6g}: z = {z:+.2f}"
    return mean, z


def test_erlang_formulas_by_hand():
    # c = 1: C = rho; c = 2, a = 1: B = 1/5, C = 1/3 (the textbook M/M/2 at rho = 0.5)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert mmc_mean_wait_s(2, 1.0, 1.0) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        erlang_c(2, 2.0)


def test_mean_wait_is_erlang_c():
    """M/M/2 at 50% load: one-GPU jobs, Poisson arrivals, exponential durations, no failures."""
    c, lam_per_h, mean_h = 2, 1.0, 1.0
    data = {"pools": [{"name": "q", "gpu": "h100-sxm-80gb", "nodes": c, "gpus_per_node": 1}],
            "workload": {"generated": {"count": 60_000, "arrivals_per_hour": lam_per_h, "gpus": 1,
                                       "duration_hours": {"distribution": "exponential", "mean": mean_h},
                                       "checkpoint": FREE}},
            # every job arrives (about 2,500 days) and ends before the horizon; the first 100 days warm up
            "simulation": {"horizon_days": 2700, "warmup_days": 100, "replicas": 12, "seed": 20240601}}
    res = fleet(data)
    assert min(res.values("finished_fraction")) == 1.0
    expected_h = mmc_mean_wait_s(c, lam_per_h, mean_h)
    check(res.values("mean_wait_hours"), expected_h)


def test_utilization_with_failures_only_is_the_availability():
    """A saturated pool of one-node jobs, failures only: allocated share = MTBF / (MTBF + MTTR)."""
    mtbf_h, mttr_h = 100.0, 10.0
    data = {"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 40,
                       "failures": {"node_mtbf_hours": mtbf_h, "repair_hours": mttr_h}}],
            "workload": {"jobs": [{"gpus": 8, "duration_hours": 1e6, "count": 80,
                                   "checkpoint": {**FREE, "interval_minutes": 600}}]},
            "simulation": {"horizon_days": 150, "warmup_days": 0, "replicas": 4, "seed": 5}}
    res = fleet(data)
    check(res.values("utilization"), float(theory.availability(mtbf_h * 3600, mttr_h * 3600)))


def test_a_single_job_matches_dalys_expected_wall_time():
    """One 8-node job, node failures (job MTBF 6 h), spares always ready: Daly's T_w (Daly 2006)."""
    nodes, job_mtbf_h, work_h = 8, 6.0, 240.0
    delta_s, restart_s = 300.0, 600.0
    data = {"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": nodes + 4, "spare_nodes": 4,
                       "failures": {"node_mtbf_hours": nodes * job_mtbf_h, "repair_hours": 0.01,
                                    "repair_distribution": "fixed"}}],
            "workload": {"jobs": [{"gpus": 8 * nodes, "duration_hours": work_h,
                                   "checkpoint": {"interval_minutes": "auto", "write_minutes": delta_s / 60,
                                                  "load_minutes": 0, "detect_minutes": 0,
                                                  "restart_minutes": restart_s / 60}}]},
            "simulation": {"horizon_days": 60, "replicas": 100, "seed": 11}}
    res = fleet(data)
    m = job_mtbf_h * 3600
    tau = theory.daly_interval_s(delta_s, m)
    expected_h = theory.daly_expected_wall_s(work_h * 3600, tau, delta_s, m, restart_s) / 3600
    assert min(res.values("finished_fraction")) == 1.0
    assert res.values("requeues").sum() == 0  # a spare was always there
    check(res.values("mean_completion_hours"), expected_h)
