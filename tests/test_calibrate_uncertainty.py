"""Parameter uncertainty in simulate and dollars: keyed per-replica draws, both engines, both modes reported."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from clustersim.calibrate.intervals import interval_from_posterior
from clustersim.calibrate.special import normal_ppf
from clustersim.calibrate.uncertainty import ParameterUncertainty, RateBasis, parameter_uncertainty
from clustersim.sim import FailureSource, SimJob
from clustersim.sim import simulate as run_mc
from clustersim.sim.scales import ReplicaScales
from clustersim.simulate import build_job, simulate

ROOT = Path(__file__).resolve().parents[1]
QS = ROOT / "scenarios" / "quickstart.yaml"
EXAMPLE = ROOT / "scenarios" / "calibration" / "measurements.yaml"


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """The calibration example's profile, and a quickstart scenario that references it and uses its rates."""
    from clustersim.calibrate import calibrate

    tmp = tmp_path_factory.mktemp("profiled")
    result = calibrate(EXAMPLE)
    result.write_profile(tmp / "my-cluster.yaml")
    profile = result.profile()
    data = yaml.safe_load(QS.read_text())
    data["calibration"] = "my-cluster.yaml"
    data["failures"] = {"sources": profile.scenario_sources(), "detect_minutes": 5, "restart_minutes": 10,
                        "repair_hours": 24, "spare_nodes": 2}
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return profile, path


def _uncertainty(source):
    from clustersim.estimate import estimate

    est = estimate(source)
    return est, parameter_uncertainty(est.run, build_job(est.scenario, est))


def test_draws_are_keyed_follow_the_interval_and_the_posteriors(profiled):
    profile, path = profiled
    est, pu = _uncertainty(path)
    assert [r.basis for r in pu.rates] == ["profile-posterior"] * 4
    assert pu.step is not None and pu.step.method == "calibration-posterior"
    draws = pu.draws(seed=3, replicas=4000)
    again = pu.draws(seed=3, replicas=10)
    assert np.array_equal(draws.step_factor[:10], again.step_factor)  # independent of the replica count
    assert np.array_equal(draws.rate_scale[:10], again.rate_scale)
    assert not np.array_equal(pu.draws(seed=4, replicas=10).step_factor, again.step_factor)
    f = draws.step_factor
    share = float(np.mean((f >= pu.step.lo_factor) & (f <= pu.step.hi_factor)))
    assert 0.77 <= share <= 0.83  # 4,000 draws: sd of the share 0.6%
    gpu = profile.failures.sources[0]
    assert gpu.component == "gpu"
    mtbf = gpu.mtbf_hours / draws.rate_scale[:, 0]  # the scenario's gpu MTBF is the profile's
    lo, hi = gpu.mtbf_interval_hours
    assert 0.87 <= float(np.mean((mtbf >= lo) & (mtbf <= hi))) <= 0.93  # the log's 90% credible interval


def test_rate_bases_say_where_each_rate_uncertainty_comes_from():
    _, pu = _uncertainty(QS)  # the llama3-405b preset: every row has its study count
    assert {r.basis for r in pu.rates} == {"preset-count"}
    gpu = next(r for r in pu.rates if r.component == "gpu")
    assert gpu.failures == 148 and gpu.shape == 148.5
    draws = pu.draws(0, 4000).rate_scale[:, pu.rates.index(gpu)]
    # Gamma(148.5, 1) / 148: mean 148.5/148, sd sqrt(148.5)/148
    se = math.sqrt(148.5) / 148 / math.sqrt(4000)
    assert abs(draws.mean() - 148.5 / 148) < 4 * se
    from clustersim.resolve import load

    hand = load(QS, ["failures.preset=null", "failures.node_mtbf_hours=50000"])
    _, fixed = _uncertainty(hand)
    assert [r.basis for r in fixed.rates] == ["fixed"]
    assert (fixed.draws(0, 5).rate_scale == 1.0).all()


def _lognormal_job() -> SimJob:
    return SimJob(work_s=86_400.0, nodes=4, checkpoint_interval_s=86_400.0)  # no failures, no checkpoint cost


@pytest.mark.parametrize("engine", ["vector", "simpy"])
def test_lognormal_step_factor_without_failures_matches_the_closed_form(engine):
    """No failures: wall = work x f, f lognormal(0, sigma): its quantile q is work x exp(sigma z_q). The
    sample quantile's standard error is sqrt(q(1-q)/n) / density (asymptotic normality of a sample
    quantile, Serfling 1980 Sec. 2.3.3): |simulated - closed form| <= 4 standard errors, the standard
    error under 1% of the value."""
    sigma, n = 0.1, 4000 if engine == "vector" else 1500
    job = _lognormal_job()
    pu = ParameterUncertainty(interval_from_posterior(sigma), ())
    mc = run_mc(job, replicas=n, seed=11, engine=engine, scales=pu.draws(11, n), events=False)
    wall = np.asarray(mc.wall_s)
    for q in (0.5, 0.9, 0.99):
        z = normal_ppf(q)
        theory = job.work_s * math.exp(sigma * z)
        density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (sigma * theory)
        se = math.sqrt(q * (1 - q) / n) / density
        assert se < 0.01 * theory
        assert abs(float(np.quantile(wall, q)) - theory) <= 4 * se, (q, np.quantile(wall, q), theory, se)


@pytest.mark.parametrize("distribution", ["exponential", "weibull"])
def test_engines_agree_with_scales_and_the_simpy_replica_is_its_scaled_job(distribution):
    job = SimJob(work_s=5 * 86_400.0, nodes=16, checkpoint_interval_s=3_600.0, checkpoint_write_s=60.0,
                 restart_s=600.0, repair_s=3_600.0, spare_nodes=1,
                 sources=(FailureSource(component="node", per="node", units=16, mtbf_s=4e5, distribution=distribution,
                                        shape=0.7),
                          FailureSource(component="sw", per="job", units=1, mtbf_s=2e5, effect="job")))
    rng = np.random.default_rng(5)
    n = 400
    scales = ReplicaScales(np.exp(rng.normal(0, 0.1, n)), rng.gamma(20.0, 1 / 20.0, (n, 2)))
    vec = np.asarray(run_mc(job, replicas=n, seed=2, engine="vector", scales=scales, events=False).wall_s)
    sim = np.asarray(run_mc(job, replicas=n, seed=2, engine="simpy", scales=scales, events=False).wall_s)
    se = math.sqrt(vec.var(ddof=1) / n + sim.var(ddof=1) / n)
    assert abs(vec.mean() - sim.mean()) <= 4 * se
    # the scaled replica is exactly the replica of the scaled job
    from clustersim.sim import run_replica

    assert sim[7] == run_replica(scales.job_for(job, 7), 2, 7).wall_s
    # every multiplier 1: the vectorized block is the unscaled block, draw for draw
    plain = run_mc(job, replicas=n, seed=2, engine="vector", events=False).wall_s
    ones = run_mc(job, replicas=n, seed=2, engine="vector", scales=ReplicaScales.ones(n, 2), events=False).wall_s
    assert np.array_equal(plain, ones)


def test_simulate_reports_both_modes_and_is_the_same_on_any_worker_count():
    one = simulate(QS, replicas=64, seed=5, engine="simpy")
    two = simulate(QS, replicas=64, seed=5, engine="simpy", workers=2)
    assert np.array_equal(one.monte_carlo.wall_s, two.monte_carlo.wall_s)
    d = one.to_dict()
    assert d["parameter_uncertainty"]["enabled"] is True
    assert d["parameter_uncertainty"]["step_factor"]["method"] == "validation-residuals"
    fixed = simulate(QS, replicas=64, seed=5, engine="simpy", parameter_uncertainty=False)
    assert np.array_equal(one.failure_only.wall_s, fixed.monte_carlo.wall_s)  # the failure-only run, as reported
    assert d["failure_only"]["wall_days"]["p90"] == fixed.to_dict()["wall_days"]["p90"]
    assert fixed.to_dict()["parameter_uncertainty"] == {"enabled": False}
    # the drawn step factors widen the days: 80% of the factor's spread is tens of percent on Hopper 3D
    spread = d["wall_days"]["p90"] - d["wall_days"]["p50"]
    assert spread > 5 * (d["failure_only"]["wall_days"]["p90"] - d["failure_only"]["wall_days"]["p50"])
    vec = simulate(QS, replicas=64, seed=5, engine="vector")
    assert np.array_equal(vec.uncertainty.draws(5, 64).step_factor, one.uncertainty.draws(5, 64).step_factor)


def test_dollars_shows_the_failure_only_percentiles_beside_them():
    from clustersim.money import dollars

    r = dollars(QS, simulate=True, replicas=50)
    days = r.wall_days
    assert days["p99"] >= days["p90"] >= days["p50"] and days["p90_failures_only"] is not None
    assert r.items["gpu_usd"]["p90_failures_only"] < r.items["gpu_usd"]["p90"]
    assert r.assumptions["parameter_uncertainty"]["enabled"] is True
    off = dollars(QS, simulate=True, replicas=50, parameter_uncertainty=False)
    assert off.wall_days["p90_failures_only"] is None
    assert off.wall_days["p90"] == pytest.approx(days["p90_failures_only"])


def test_scales_are_checked():
    from clustersim.errors import SimulationError

    job = _lognormal_job()
    with pytest.raises(SimulationError, match="finite and > 0"):
        ReplicaScales(np.array([1.0, -1.0]), np.ones((2, 0)))
    with pytest.raises(SimulationError, match="replicas"):
        run_mc(job, replicas=5, seed=0, scales=ReplicaScales.ones(3, 0))
    assert RateBasis("gpu", "gpu", "fixed").to_dict()["basis"] == "fixed"
    assert dataclasses.replace(job) == ReplicaScales.ones(1, 0).job_for(job, 0)


def test_vector_blocks_take_their_own_rows_of_the_scales_on_any_worker_count():
    from clustersim.sim.vector import BLOCK

    job = SimJob(work_s=86_400.0, nodes=4, checkpoint_interval_s=3_600.0, checkpoint_write_s=30.0, restart_s=300.0,
                 sources=(FailureSource(component="node", per="node", units=4, mtbf_s=2e5),))
    n = BLOCK + 100  # two blocks
    pu = ParameterUncertainty(interval_from_posterior(0.05), (RateBasis("node", "node", "preset-count", 10, 10.5, 0.1),))
    scales = pu.draws(4, n)
    one = run_mc(job, replicas=n, seed=4, engine="vector", scales=scales, events=False).wall_s
    two = run_mc(job, replicas=n, seed=4, engine="vector", scales=scales, events=False, workers=2).wall_s
    assert np.array_equal(one, two)
    # the second block ran with replicas BLOCK.. of the scales (not the first block's rows)
    from clustersim.sim.vector import VectorEngine

    second = VectorEngine(job).run_block(4, 1, 100, scales=scales.rows(BLOCK, n)).wall_s
    assert np.array_equal(one[BLOCK:], second)
    shifted = VectorEngine(job).run_block(4, 1, 100, scales=scales.rows(0, 100)).wall_s
    assert not np.array_equal(one[BLOCK:], shifted)
