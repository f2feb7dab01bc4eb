"""Resilience keys of a training scenario: the mapping to the strategy engine, exact traces through it,
closed forms, the dispatch of ``simulate`` and ``clustersim resilience`` on a training scenario."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from clustersim import theory
from clustersim.errors import ScenarioError, SimulationError
from clustersim.estimate import estimate
from clustersim.resilience import compare
from clustersim.scenario import load_scenario
from clustersim.sim.strategy import run_strategy_replica
from clustersim.simulate import build_job, simulate, strategy_job_of
from tests.conftest import SCENARIOS

QUICK = str(SCENARIOS / "quickstart.yaml")
TIER = ["checkpoint.memory_tier.interval_minutes=5", "checkpoint.memory_tier.holder=peer"]


def _jobs(*overrides: str):
    est = estimate(QUICK, set=list(overrides))
    whole = build_job(est.scenario, est)
    return est, whole, strategy_job_of(est, whole)


def test_a_plain_scenario_stays_on_the_whole_job_engines_and_a_memory_tier_dispatches() -> None:
    assert simulate(QUICK, replicas=4).monte_carlo.engine == "vector"
    r = simulate(QUICK, replicas=4, set=TIER)
    d = r.to_dict()
    assert d["engine"] == "strategy" and "checkpoint.memory_tier" in d["engine_note"]
    with pytest.raises(SimulationError, match="engine vector cannot represent this run.*memory_tier"):
        simulate(QUICK, replicas=4, set=TIER, engine="vector")


def test_scenario_keys_map_to_the_strategy_job() -> None:
    est, whole, j = _jobs(*TIER, "failures.cold_provision_minutes=90", "failures.node_health.lemon_nodes=2",
                          "failures.node_health.lemon_mtbf_hours=300", "failures.node_health.retire_after=2",
                          "failures.node_health.misdiagnosis=0.1", "failures.silent_corruption.mtbf_hours=500",
                          "failures.silent_corruption.detect_hours=3", "checkpoint.retention=5")
    per_gpu = est.kernel["checkpoint_bytes"] / est.run.gpus
    assert j.work_s == whole.work_s and j.nodes == 32 and j.interval_s == 300.0
    assert j.storage_every == max(1, round(whole.checkpoint_interval_s / 300.0))
    assert j.write_s == pytest.approx(per_gpu / 25e9) and j.tier_load_s == j.write_s and j.tier_survives == "node"
    assert j.storage_write_s == whole.checkpoint_write_s and j.storage_load_s == whole.checkpoint_load_s
    node = sum(s.units / s.mtbf_s for s in whole.sources if s.effect == "node")
    soft = sum(s.units / s.mtbf_s for s in whole.sources if s.effect == "job")
    assert j.node_mtbf_s == pytest.approx(32 / node) and j.soft_mtbf_s == pytest.approx(1 / soft)
    assert (j.cold_provision_s, j.lemon_nodes, j.lemon_mtbf_s, j.retire_after, j.misdiagnosis) == (
        5400.0, 2, 300 * 3600.0, 2, 0.1)
    assert (j.sdc_mtbf_s, j.sdc_detect_s, j.retention, j.hot_spares) == (500 * 3600.0, 3 * 3600.0, 5, 2)
    _, whole2, ft = _jobs("failures.fault_tolerance.mode=per_replica", "failures.fault_tolerance.step_time_factor=1.25",
                          "failures.fault_tolerance.convergence_factor=1.1")
    assert ft.mode == "per_replica" and ft.replicas == 32 // whole2.nodes_per_replica
    assert ft.ft_speed == pytest.approx(0.8) and ft.work_s == pytest.approx(1.1 * whole2.work_s)


@pytest.mark.parametrize("holder,kind,fast", [("peer", "node", True), ("host", "soft", True), ("host", "node", False)])
def test_scripted_failure_through_a_scenario_is_exact(holder: str, kind: str, fast: bool) -> None:
    """One failure half-way through the first in-memory interval: it loses that half, recovers (detect +
    restart + the load of the copy that survived: memory, or storage when host memory died with its
    node), then the run is failure-free: wall = t + detect + restart + load + failure-free wall."""
    _, _, j = _jobs("checkpoint.memory_tier.interval_minutes=5", f"checkpoint.memory_tier.holder={holder}",
                    "checkpoint.memory_tier.load_seconds=7")
    t = j.interval_s / 2
    r = run_strategy_replica(dataclasses.replace(j, trace=((t, kind),)))
    load = 7.0 if fast else j.storage_load_s
    assert r.wall_s == pytest.approx(t + j.detect_s + j.restart_s + load + j.failure_free_s, rel=1e-12)
    assert (r.fast_restores, r.storage_restores, r.lost_s) == (int(fast), int(not fast), pytest.approx(t))


def test_cold_spare_through_a_scenario_is_exact_and_paid() -> None:
    est, _, j = _jobs("failures.spare_nodes=0", "failures.cold_provision_minutes=90")
    t = j.interval_s / 2
    r = run_strategy_replica(dataclasses.replace(j, trace=((t, "node"),)))
    assert r.wall_s == pytest.approx(t + j.detect_s + 5400.0 + j.restart_s + j.storage_load_s + j.failure_free_s)
    assert r.cold_node_s == pytest.approx(r.wall_s - t)


def _check(mean: float, se: float, value: float) -> None:
    assert se < 0.01 * value
    assert abs(mean - value) <= 4 * se, (mean, se, value)


def test_memory_tier_scenario_matches_daly() -> None:
    """A peer tier written at the storage interval (every checkpoint to both tiers), hot spares always
    free: every failure restores from memory, Daly 2006 with delta = tier write + storage write and
    R = detect + restart + the tier's load."""
    over = ["checkpoint.interval_minutes=20", "checkpoint.memory_tier.interval_minutes=20",
            "checkpoint.memory_tier.load_seconds=30", "failures.spare_nodes=10000",
            "failures.node_mtbf_hours=400", "failures.preset=null", "training.tokens=3e11"]
    est, whole, j = _jobs(*over)
    r = simulate(QUICK, replicas=300, seed=7, set=over)
    assert r.monte_carlo.engine == "strategy" and j.storage_every == 1
    w = np.asarray(r.monte_carlo.wall_s)
    m = j.node_mtbf_s / j.nodes
    _check(float(w.mean()), float(w.std(ddof=1) / math.sqrt(w.size)),
           float(theory.daly_expected_wall_s(j.work_s, j.interval_s, j.write_s + j.storage_write_s, m,
                                             j.detect_s + j.restart_s + 30.0)))


def test_strategy_engine_agrees_with_the_vector_engine_on_a_plain_scenario() -> None:
    a = np.asarray(simulate(QUICK, replicas=400, seed=3, engine="vector").monte_carlo.goodput)
    b = np.asarray(simulate(QUICK, replicas=400, seed=3, engine="strategy").monte_carlo.goodput)
    se = math.hypot(a.std(ddof=1) / math.sqrt(a.size), b.std(ddof=1) / math.sqrt(b.size))
    assert se < 0.01 * a.mean() and abs(a.mean() - b.mean()) <= 4 * se


def test_breakdown_adds_up_and_dollars_include_the_strategy() -> None:
    r = simulate(QUICK, replicas=20, seed=1, set=[*TIER, "checkpoint.memory_tier.usd_per_gib_hour=0.01"])
    mc = r.monte_carlo
    total = sum(np.asarray(v) for v in mc.breakdown.values())
    assert np.allclose(total, mc.wall_s, rtol=1e-9)
    plain = np.asarray(mc.wall_s) / 3600 * (r.estimate.run.gpus + 2 * 8) * r.estimate.run.usd_per_gpu_hour
    assert (r.strategy_cost_usd > plain).all()  # the memory tier's host memory is paid


def test_refusals_name_the_key() -> None:
    with pytest.raises(ScenarioError, match="async or memory_tier"):
        load_scenario(QUICK, [*TIER, "checkpoint.async=true"])
    with pytest.raises(ScenarioError, match="elastic or fault_tolerance"):
        load_scenario(QUICK, ["failures.elastic=true", "failures.fault_tolerance.mode=per_replica"])
    with pytest.raises(ScenarioError, match="lemon_mtbf_hours"):
        load_scenario(QUICK, ["failures.node_health.lemon_nodes=3"])
    with pytest.raises(SimulationError, match="does not model.*maintenance"):
        simulate(QUICK, replicas=2, set=[*TIER, "failures.maintenance.period_hours=100",
                                         "failures.maintenance.duration_minutes=30"])


def test_write_efficiency_slows_the_checkpoint_everywhere() -> None:
    a = estimate(QUICK).to_dict()
    b = estimate(QUICK, set=["checkpoint.write_efficiency=0.25", "checkpoint.read_efficiency=0.5"]).to_dict()
    assert b["checkpoint_write_s"] == pytest.approx(4 * a["checkpoint_write_s"])
    assert b["checkpoint_load_s"] == pytest.approx(2 * a["checkpoint_load_s"])


STRATEGIES = """
resilience:
  deadline_days: 6
  strategies:
    hot: {failures.spare_nodes: 8}
    tier: {checkpoint.memory_tier: {holder: peer, interval_minutes: 5}}
    cold: {failures.spare_nodes: 0, failures.cold_provision_minutes: 600}
"""


def test_compare_a_training_scenario(tmp_path) -> None:
    p = tmp_path / "q.yaml"
    p.write_text((SCENARIOS / "quickstart.yaml").read_text() + STRATEGIES)
    c = compare(p, replicas=30, seed=2)
    names = [r.name for r in c.results]
    assert names == ["base", "hot", "tier", "cold"]
    by = {r.name: r for r in c.results}
    assert by["tier"].raw["fast_restores"].sum() > 0 and by["cold"].raw["cold_node_s"].sum() > 0
    ok = [r for r in c.results if r.p90_days <= 6 and r.raw["finished"].all()]
    assert c.pick == min(ok, key=lambda r: float(r.cost.mean())).name
    # same seed, more workers: the same numbers
    c2 = compare(p, replicas=30, seed=2, workers=2, only=["base", "tier"])
    assert np.array_equal(c2.results[1].raw["wall_s"], by["tier"].raw["wall_s"])
    with pytest.raises(ScenarioError, match="no strategy 'nope'"):
        compare(p, replicas=2, only=["nope"])
