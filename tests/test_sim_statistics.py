"""Statistical tests of the simulation against closed forms (fixed seeds: deterministic).

Daly's model (Daly 2006; reference.md D.8) is the simulation's special case where failures are Poisson,
a spare is always ready (or nothing needs repair), every segment of tau compute ends with a checkpoint of
delta, and a failure costs the work since the last checkpoint plus R = detect + restart + load, during
which failures can strike again (and start R again). There the expected wall time is exact, so the
Monte Carlo mean must be within 4 standard errors of it, and the standard error itself must be under
0.5% of the value so that a weak run cannot pass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim import theory
from clustersim.sim import FailureSource, SimJob, run_replica, simulate
from clustersim.sim.stats import ks_critical_value, ks_statistic

H = 3600.0
MIN = 60.0


def daly_job(mtbf_s: float, tau_s: float, delta_s: float, recovery_s: float, segments: int,
             per_node: bool = False) -> SimJob:
    if per_node:  # 64 nodes with a spare always ready and instant repair
        src = FailureSource(component="node", per="node", units=64, mtbf_s=64 * mtbf_s)
    else:  # a job-level source: restart only, nothing to repair
        src = FailureSource(component="software", per="job", units=1, mtbf_s=mtbf_s, effect="job")
    return SimJob(work_s=segments * tau_s, nodes=64, checkpoint_interval_s=tau_s, checkpoint_write_s=delta_s,
                  detect_s=0.25 * recovery_s, restart_s=0.5 * recovery_s, checkpoint_load_s=0.25 * recovery_s,
                  sources=(src,), spare_nodes=10**6 if per_node else 0, repair_s=0.0)


REGIMES = {
    # name: (M, tau, delta, R, segments, replicas, per_node)
    "mtbf_much_longer_than_interval": (50 * H, 1 * H, 5 * MIN, 10 * MIN, 200, 100, True),
    "mtbf_comparable_to_interval": (1 * H, 1 * H, 5 * MIN, 10 * MIN, 200, 200, False),
    "restart_dominated": (2 * H, 24 * MIN, 2.4 * MIN, 90 * MIN, 300, 500, False),
}


@pytest.mark.parametrize("engine", ["simpy", "vector"])
@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_mean_wall_time_matches_daly(regime, engine):
    m, tau, delta, r, segments, replicas, per_node = REGIMES[regime]
    job = daly_job(m, tau, delta, r, segments, per_node)
    res = simulate(job, replicas=replicas * (10 if engine == "vector" else 1), seed=2024, events=False,
                   engine=engine)
    replicas = res.replicas
    assert res.all_finished and res.engine == engine
    expected = theory.daly_expected_wall_s(job.work_s, tau, delta, m, r)
    mean = res.wall_s.mean()
    se = res.wall_s.std(ddof=1) / math.sqrt(replicas)
    assert se < 0.005 * expected, f"the run is too weak: SE {se / expected:.2%} of the value"
    assert abs(mean - expected) <= 4 * se, f"mean {mean:.0f} s, Daly {expected:.0f} s, SE {se:.0f} s"
    # and goodput is productive / wall with productive = the work
    assert np.allclose(res.goodput * res.wall_s, job.work_s)


def mixed_sources_job(horizon_s: float) -> tuple[SimJob, float]:
    """A job that cannot finish before the horizon, with three superposed Poisson sources; returns the
    job and its total failure rate (per second)."""
    sources = (
        FailureSource(component="gpu", per="gpu", units=512, mtbf_s=512 * 4 * H),
        FailureSource(component="host", per="node", units=64, mtbf_s=64 * 6 * H),
        FailureSource(component="software", per="job", units=1, mtbf_s=3 * H, effect="job"),
    )
    job = SimJob(work_s=1e9, nodes=64, gpus_per_node=8, checkpoint_interval_s=H, checkpoint_write_s=60.0,
                 detect_s=300.0, restart_s=300.0, checkpoint_load_s=60.0, repair_s=6 * H, spare_nodes=4,
                 sources=sources, horizon_s=horizon_s)
    rate = sum(s.units / s.mtbf_s for s in sources)
    return job, rate


@pytest.mark.parametrize("engine", ["simpy", "vector"])
def test_interruption_counts_are_poisson_with_mean_n_t_over_m(engine):
    """Over a fixed time T every failure of every unit is counted (also those while the job is down, and
    those that strike a slot whose node is already in repair): N(T) ~ Poisson(T sum units/mtbf)."""
    horizon = 200 * H
    job, rate = mixed_sources_job(horizon)
    res = simulate(job, replicas=200 if engine == "simpy" else 4000, seed=99, engine=engine, events=False,
                   check=False)
    assert res.engine == engine
    assert not res.finished.any() and np.all(res.wall_s == horizon)
    x = (res.interruptions + res.counts["ignored_failures"]).astype(float)
    expected = theory.poisson_mean_count(horizon, 1.0 / rate)  # N T / m with the job's rate
    assert expected == pytest.approx(horizon * rate)
    se = math.sqrt(expected / x.size)  # Poisson: variance = mean
    assert abs(x.mean() - expected) <= 4 * se
    # the variance of a Poisson count equals its mean (sample variance within ~4 of its own SEs)
    assert x.var(ddof=1) == pytest.approx(expected, rel=4 * math.sqrt(2 / (x.size - 1)))


def test_mean_interruptions_equal_rate_times_mean_wall_time():
    """For jobs that finish, N(T_wall) - rate T_wall is a martingale stopped at T_wall (Wald's identity):
    E[N] = rate E[T_wall], i.e. mean N T / m with the random T."""
    m = 2 * H
    job = daly_job(m, 1 * H, 5 * MIN, 10 * MIN, 100)
    res = simulate(job, replicas=200, seed=7, events=False)
    d = res.interruptions - res.wall_s / m
    assert abs(d.mean()) <= 4 * d.std(ddof=1) / math.sqrt(d.size)
    assert res.interruptions.mean() == pytest.approx(res.wall_s.mean() / m, rel=0.02)


def test_gaps_between_failures_are_exponential_ks():
    """The gaps between consecutive failures (all sources superposed) pass a Kolmogorov-Smirnov test
    against the exponential with the summed rate at the 1% level, and fail it for a 20% wrong rate."""
    job, rate = mixed_sources_job(3000 * H)
    r = run_replica(job, seed=3, replica=0, log=True)
    assert r.events is not None
    times = np.array([e[0] for e in r.events if e[1] in ("failure", "failure_ignored")])
    gaps = np.diff(times)
    assert gaps.size > 2000
    crit = ks_critical_value(gaps.size, 0.01)
    assert ks_statistic(gaps, lambda t: -np.expm1(-rate * t)) < crit
    assert ks_statistic(gaps, lambda t: -np.expm1(-1.2 * rate * t)) > crit
    # each cause's share is its share of the rate
    host = sum(1 for e in r.events if e[1] in ("failure", "failure_ignored") and e[2] == "host")
    share = (64 / (64 * 6 * H)) / rate
    n = times.size
    assert host / n == pytest.approx(share, abs=4 * math.sqrt(share * (1 - share) / n))


def raw_failures(job: SimJob, seed: int, replica: int) -> tuple[list[tuple[float, str, int, str]], float]:
    r = run_replica(job, seed, replica, log=True)
    assert r.events is not None
    rows = [(e[0], e[2], e[3], e[4] if e[1] == "repair_start" else "") for e in r.events
            if e[1] in ("failure", "failure_ignored", "preempted", "fabric_degraded", "repair_start")]
    return rows, r.wall_s


def test_common_random_numbers_across_checkpoint_policies():
    """Two checkpoint intervals (and sync vs async) see exactly the same failure times, units, causes and
    repair durations."""
    job, _ = mixed_sources_job(200 * H)
    job = SimJob(**{**job.__dict__, "work_s": 100 * H, "horizon_s": None})
    a, wall_a = raw_failures(job, 11, 4)
    b, wall_b = raw_failures(SimJob(**{**job.__dict__, "checkpoint_interval_s": 20 * MIN}), 11, 4)
    c, wall_c = raw_failures(SimJob(**{**job.__dict__, "checkpoint_async": True, "checkpoint_block_s": 5.0}), 11, 4)
    assert wall_a != wall_b
    end = min(wall_a, wall_b, wall_c)
    upto = lambda rows: [x for x in rows if x[0] <= end]  # noqa: E731
    assert len(upto(a)) > 20
    assert upto(a) == upto(b) == upto(c)
    # another replica sees other failures
    d, _ = raw_failures(job, 11, 5)
    assert upto(d) != upto(a)


def test_daly_interval_is_within_one_percent_of_the_best_simulated_interval():
    """A sweep of intervals on common random numbers: the best simulated mean wall time is no more than
    1% below the one at Daly's higher-order optimum, and the sweep's ends are clearly worse (so the
    sweep can tell intervals apart)."""
    m, delta, r = 2 * H, 5 * MIN, 10 * MIN
    tau_daly = theory.daly_interval_s(delta, m)
    factors = [0.4, 0.6, 0.8, 1.0, 1.25, 1.6, 2.5]
    means = {}
    for f in factors:
        job = daly_job(m, tau_daly * f, delta, r, 1)
        job = SimJob(**{**job.__dict__, "work_s": 150 * H})
        res = simulate(job, replicas=120, seed=31, events=False)
        means[f] = res.wall_s.mean()
    best = min(means.values())
    assert means[1.0] <= 1.01 * best
    assert means[0.4] > 1.03 * means[1.0] and means[2.5] > 1.03 * means[1.0]


@pytest.mark.parametrize("engine", ["simpy", "vector"])
def test_weibull_renewal_counts_match_the_renewal_theorem(engine):
    """Per-unit Weibull renewals (shape 0.7): over a long window t each unit fails
    t/mu + (cv^2 - 1)/2 + o(1) times on average (the renewal function's asymptotic expansion, e.g.
    Cox, "Renewal Theory", 1962, Sec. 4.5), with cv^2 = Gamma(1 + 2/k) / Gamma(1 + 1/k)^2 - 1."""
    k, mean, units, horizon = 0.7, 2000.0, 8, 100_000.0
    src = FailureSource(component="host", per="node", units=units, mtbf_s=mean, distribution="weibull", shape=k)
    job = SimJob(work_s=1e9, nodes=units, checkpoint_interval_s=600.0, checkpoint_write_s=10.0, detect_s=30.0,
                 restart_s=30.0, repair_s=60.0, spare_nodes=units, sources=(src,), horizon_s=horizon)
    res = simulate(job, replicas=100 if engine == "simpy" else 2000, seed=5, engine=engine, events=False,
                   check=False)
    assert res.engine == engine and not res.finished.any()
    counts = (res.interruptions + res.counts["ignored_failures"]).astype(float)
    cv2 = math.gamma(1 + 2 / k) / math.gamma(1 + 1 / k) ** 2 - 1
    expected = units * (horizon / mean + (cv2 - 1) / 2)
    se = counts.std(ddof=1) / math.sqrt(counts.size)
    assert abs(counts.mean() - expected) <= 4 * se
    # the variance grows like t sigma^2 / mu^3 per unit (Cox 1962, Sec. 4.5)
    assert counts.var(ddof=1) == pytest.approx(units * horizon * cv2 / mean, rel=0.35)
