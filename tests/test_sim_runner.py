"""The Monte Carlo runner, the summary and its statistics, the event CSV, feasibility."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest

from clustersim.errors import SimulationError
from clustersim.sim import BUCKETS, FailureSource, SimJob, check_feasible, job_mtbf_s, run_replica, simulate
from clustersim.sim.records import write_events_csv
from clustersim.sim.stats import (
    describe,
    kolmogorov_sf,
    ks_critical_value,
    ks_statistic,
    mean_ci,
    quantile_ci,
)

H = 3600.0


def busy_job(**kw) -> SimJob:
    """A small job with every mechanism switched on."""
    base = dict(
        work_s=200 * H, nodes=32, gpus_per_node=8, nodes_per_leaf=8, spine_switches=4,
        checkpoint_interval_s=1800.0, checkpoint_write_s=120.0, checkpoint_load_s=60.0,
        detect_s=300.0, restart_s=600.0, repair_s=12 * H, repair_distribution="lognormal", repair_cv=0.8,
        spare_nodes=2, max_concurrent_repairs=2, elastic=True, nodes_per_replica=4, min_replicas=7,
        elastic_speed=(1.0, 0.85, 0.7), degraded_speed=(1.0, 0.9, 0.8, 0.7, 0.5),
        straggler_fraction=0.05, straggler_slowdown=1.3, maintenance_period_s=48 * H,
        maintenance_duration_s=1800.0,
        sources=(
            FailureSource(component="gpu", per="gpu", units=256, mtbf_s=256 * 40 * H),
            FailureSource(component="host", per="node", units=32, mtbf_s=32 * 100 * H, distribution="weibull",
                          shape=0.7),
            FailureSource(component="leaf-switch", per="switch", units=4, mtbf_s=4 * 400 * H, effect="leaf"),
            FailureSource(component="spine-switch", per="switch", units=4, mtbf_s=4 * 100 * H, effect="fabric"),
            FailureSource(component="software", per="job", units=1, mtbf_s=60 * H, effect="job"),
            FailureSource(component="spot", per="node", units=32, mtbf_s=32 * 50 * H, effect="preempt"),
        ),
    )
    base.update(kw)
    return SimJob(**base)


def test_same_result_whatever_the_worker_count():
    job = busy_job()
    a = simulate(job, replicas=12, seed=5, workers=1)
    b = simulate(job, replicas=12, seed=5, workers=2)
    assert np.array_equal(a.wall_s, b.wall_s)
    for part in BUCKETS:
        assert np.array_equal(a.breakdown[part], b.breakdown[part])
    assert a.interruptions_by.keys() == b.interruptions_by.keys()
    for k in a.interruptions_by:
        assert np.array_equal(a.interruptions_by[k], b.interruptions_by[k])
    assert a.events == b.events and a.events is not None
    # and replica i is run_replica(job, seed, i), whatever the chunk it ran in
    r7 = run_replica(job, 5, 7)
    assert a.wall_s[7] == r7.wall_s and a.interruptions[7] == r7.interruptions
    c = simulate(job, replicas=12, seed=6)
    assert not np.array_equal(a.wall_s, c.wall_s)


@pytest.mark.parametrize("kw", [{}, {"checkpoint_async": True, "checkpoint_block_s": 10.0}])
def test_breakdown_adds_up_for_a_busy_job(kw):
    res = simulate(busy_job(**kw), replicas=20, seed=1)
    total = sum(res.breakdown[p] for p in BUCKETS)
    assert np.allclose(total, res.wall_s, rtol=1e-9)
    for p in BUCKETS:
        assert (res.breakdown[p] >= -1e-6).all(), p
    assert res.all_finished
    assert np.allclose(res.breakdown["productive"], 200 * H, rtol=1e-9)
    assert np.allclose(res.goodput, 200 * H / res.wall_s)
    # every mechanism did something in these 20 runs
    for part in BUCKETS:
        assert res.breakdown[part].sum() > 0, part
    assert {"gpu", "host", "leaf-switch", "software", "spot"} <= set(res.interruptions_by)
    assert res.counts["degradations"].sum() > 0 and res.counts["planned_interruptions"].sum() > 0
    assert (res.counts["sim_events"] > 0).all()


def test_summary_has_every_metric_with_cis():
    res = simulate(busy_job(), replicas=30, seed=2)
    s = res.summary()
    expected = {"wall_s", "goodput", "interruptions", "degradations", "planned_interruptions", *BUCKETS}
    assert expected <= set(s)
    assert any(k.startswith("interruptions/") for k in s)
    w = s["wall_s"]
    assert w.n == 30 and w.mean_lo < w.mean < w.mean_hi
    assert w.mean == pytest.approx(res.wall_s.mean())
    assert w.p50_lo <= w.p50 <= w.p50_hi
    assert math.isnan(w.p99_hi)  # 30 samples cannot bound a p99 from above
    days = w.scaled(1 / 86400.0)
    assert days.mean == pytest.approx(w.mean / 86400.0) and days.n == 30
    assert set(w.to_dict()) >= {"mean", "mean_lo", "mean_hi", "p50", "p90", "p99", "p99_lo"}


def test_events_csv_is_written_atomically(tmp_path):
    res = simulate(busy_job(), replicas=2, seed=3)
    path = tmp_path / "events.csv"
    res.write_events_csv(str(path))
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["time_s", "event", "component", "node", "detail"]
    assert len(rows) - 1 == len(res.events or [])
    assert rows[1][1] == "start" and rows[-1][1] == "finish"
    assert [float(r[0]) for r in rows[1:]] == sorted(float(r[0]) for r in rows[1:])
    assert os.listdir(tmp_path) == ["events.csv"]  # no temporary file left behind
    # a failing write leaves the old file in place and no temporary file
    with pytest.raises(ValueError):
        write_events_csv([(1.0, "x", "", -1)], path)  # type: ignore[list-item]
    assert os.listdir(tmp_path) == ["events.csv"] and len(list(csv.reader(path.open()))) == len(rows)


def test_check_feasible_quotes_the_numbers():
    bad = SimJob(work_s=100 * H, nodes=8, checkpoint_interval_s=600.0, checkpoint_write_s=300.0, detect_s=300.0,
                 restart_s=600.0, checkpoint_load_s=300.0,
                 sources=(FailureSource(component="node", per="node", units=8, mtbf_s=8 * 1000.0),))
    assert job_mtbf_s(bad) == pytest.approx(1000.0)
    with pytest.raises(SimulationError, match=r"MTBF is 0.278 h \(1000 s\).*checkpoint \(300 s\).*= 1200 s"):
        check_feasible(bad)
    with pytest.raises(SimulationError, match="cannot finish"):
        simulate(bad, replicas=2)
    slow = SimJob(work_s=100 * H, nodes=8, checkpoint_interval_s=600.0, checkpoint_write_s=60.0, detect_s=60.0,
                  horizon_s=101 * H,
                  sources=(FailureSource(component="node", per="node", units=8, mtbf_s=8 * 3 * H),))
    with pytest.raises(SimulationError, match="horizon"):
        check_feasible(slow)
    # without the check it runs, and every replica says it stopped at the horizon
    res = simulate(slow, replicas=3, seed=0, check=False)
    assert not res.finished.any() and np.all(res.wall_s == 101 * H)
    assert np.allclose(sum(res.breakdown[p] for p in BUCKETS), res.wall_s)
    check_feasible(busy_job())  # a feasible job passes
    check_feasible(SimJob(work_s=1.0, nodes=1, checkpoint_interval_s=1.0))  # no failures at all


@pytest.mark.parametrize("kw", [{"replicas": 0}, {"replicas": 2, "workers": 0}, {"replicas": 2, "seed": -1}])
def test_simulate_rejects_bad_arguments(kw):
    with pytest.raises(SimulationError):
        simulate(busy_job(), **kw)


def test_progress_bar_runs():
    res = simulate(busy_job(work_s=20 * H), replicas=3, seed=0, progress=True, events=False)
    assert res.events is None and res.replicas == 3


def test_mean_ci():
    m, lo, hi, se = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m == 2.5 and se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert lo == pytest.approx(2.5 - 1.959963984540054 * se) and hi == pytest.approx(2.5 + 1.959963984540054 * se)


def test_quantile_ci_matches_the_binomial_order_statistics():
    """n = 100, median: the 95% interval is [x_(40), x_(61)] (P(B <= 39) = 0.018, P(B <= 60) = 0.982)."""
    x = np.arange(1.0, 101.0)
    est, lo, hi = quantile_ci(x, 0.5)
    assert (lo, hi) == (40.0, 61.0) and est == 50.5
    # coverage of the p90 interval over many normal samples is at least 95%
    gen = np.random.default_rng(0)
    true_p90 = 1.2815515655446004
    hits = 0
    for _ in range(400):
        _, lo, hi = quantile_ci(gen.standard_normal(200), 0.9)
        hits += lo <= true_p90 <= hi
    assert hits / 400 >= 0.93
    with pytest.raises(ValueError):
        quantile_ci(x, 1.0)


def test_describe_small_samples():
    d = describe(np.array([3.0]))
    assert d.mean == 3.0 and math.isnan(d.mean_lo) and d.n == 1


def test_ks_statistic_and_critical_values():
    # F uniform on [0, 1]; sample {0.1, 0.5, 0.8}: D = max(1/3-0.1, 2/3-0.5, 1-0.8, 0.1, 0.5-1/3, 0.8-2/3)
    d = ks_statistic(np.array([0.5, 0.1, 0.8]), lambda x: x)
    assert d == pytest.approx(0.2333333333333333)
    # Kolmogorov's asymptotic critical values: 1.358 (5%) and 1.628 (1%) over sqrt(n)
    assert kolmogorov_sf(1.3581) == pytest.approx(0.05, abs=2e-4)
    assert kolmogorov_sf(1.6276) == pytest.approx(0.01, abs=1e-4)
    n = 10_000
    assert ks_critical_value(n, 0.01) == pytest.approx(1.6276 / (100 + 0.12 + 0.0011), rel=1e-3)
    # the test accepts exponential samples and rejects a wrong rate
    x = np.random.default_rng(1).exponential(2.0, n)
    assert ks_statistic(x, lambda t: 1 - np.exp(-t / 2.0)) < ks_critical_value(n, 0.01)
    assert ks_statistic(x, lambda t: 1 - np.exp(-t / 2.1)) > ks_critical_value(n, 0.01)


def test_progress_is_reported_per_replica():
    from clustersim.sim.pool import run_tasks
    from clustersim.sim.runner import run_chunk

    job = busy_job(work_s=20 * H)
    calls: list[int] = []
    run_chunk(job, 0, 0, 5, False, calls.append)
    assert calls == [1] * 5  # in process: one call per replica
    got: list[int] = []
    parts = run_tasks(run_chunk, [(job, 0, a, a + 3, False) for a in (0, 3, 6)], 2, got.append)
    assert sum(got) == 9  # from the workers: every replica reported, whatever the batching
    assert [r.replica for part in parts for r in part] == list(range(9))
