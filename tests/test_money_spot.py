"""Spot vs on-demand: the simulated break-even preemption rate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clustersim.errors import ClustersimError
from clustersim.money.spot import catalog_discount, spot_breakeven
from clustersim.simulate import simulate

SMALL = {
    "name": "spot test",
    "model": "llama3.2-1b",
    "training": {"tokens": 300e9, "seq_len": 4096, "global_batch_seqs": 256,
                 "parallelism": {"tp": 1, "pp": 1, "dp": 32, "zero": 1}},
    "cluster": {"gpu": "h100-sxm-80gb", "nodes": 4},
    "failures": {"node_mtbf_hours": 3692, "spare_nodes": 1, "repair_hours": 2},
    "checkpoint": {"write_gbyte_per_s": 20, "read_gbyte_per_s": 40},
    "pricing": {"usd_per_gpu_hour": 3.0},
}


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return spot_breakeven(SMALL, discount=0.5, replicas=16, seed=3, rel_tol=0.05)


def test_breakeven_brackets_the_cost_crossing(result) -> None:  # type: ignore[no-untyped-def]
    lo, hi = result.bracket
    assert lo < result.breakeven_preemptions_per_node_day < hi
    assert hi / lo <= 1.05 + 1e-12
    by_rate = {r["preemptions_per_node_day"]: r for r in result.rows}
    assert by_rate[lo]["spot_cheaper"] and not by_rate[hi]["spot_cheaper"]
    assert by_rate[lo]["spot_cost_usd_mean"] < result.on_demand_cost_usd["mean"] <= by_rate[hi]["spot_cost_usd_mean"]
    # with common random numbers the cost grows with the rate along the doubling scan
    doubling = [r["spot_cost_usd_mean"] for r in result.rows
                if np.log2(r["preemptions_per_node_day"] / 0.01) == round(np.log2(r["preemptions_per_node_day"] / 0.01))]
    assert len(doubling) >= 4 and doubling == sorted(doubling)
    # half price, so spot wins while its wall time stays under twice on-demand's
    be = [r for r in result.rows if r["preemptions_per_node_day"] == lo][0]
    assert be["wall_days_mean"] < 2 * result.on_demand_wall_days["mean"]
    json.dumps(result.to_dict(), allow_nan=False)
    assert result.breakeven_job_mtbf_hours == pytest.approx(24 / (4 * result.breakeven_preemptions_per_node_day))


def test_costs_come_from_the_simulation(result) -> None:  # type: ignore[no-untyped-def]
    # the break-even compares paired failure-only runs (the same replicas with and without spot)
    on_demand = simulate(SMALL, replicas=16, seed=3, parameter_uncertainty=False).to_dict()
    assert result.on_demand_cost_usd["mean"] == pytest.approx(on_demand["wall_cost_usd"]["mean"], rel=1e-12)
    rate = result.rows[0]["preemptions_per_node_day"]
    spot = simulate(SMALL, replicas=16, seed=3, parameter_uncertainty=False,
                    set=["pricing.spot.discount=0.5", f"pricing.spot.preemptions_per_node_day={rate!r}"]).to_dict()
    wall = np.asarray(spot["samples"]["wall_days"])
    assert result.rows[0]["spot_cost_usd_mean"] == pytest.approx(float(np.mean(wall)) * 24 * spot["paid_gpus"] * 1.5)


def test_same_seed_same_answer_and_discount_moves_it(result) -> None:  # type: ignore[no-untyped-def]
    again = spot_breakeven(SMALL, discount=0.5, replicas=16, seed=3, rel_tol=0.05)
    assert again.breakeven_preemptions_per_node_day == result.breakeven_preemptions_per_node_day
    smaller = spot_breakeven(SMALL, discount=0.2, replicas=16, seed=3, rel_tol=0.05)
    assert smaller.breakeven_preemptions_per_node_day < result.breakeven_preemptions_per_node_day
    none = spot_breakeven(SMALL, discount=0.0, replicas=4)
    assert none.breakeven_preemptions_per_node_day == 0.0 and any("never cheaper" in n for n in none.notes)


def test_discount_sources_and_the_scenarios_rate() -> None:
    with_spot = json.loads(json.dumps(SMALL))
    with_spot["pricing"]["spot"] = {"discount": 0.5, "preemptions_per_node_day": 0.01}
    r = spot_breakeven(with_spot, replicas=8, seed=1, rel_tol=0.2)
    assert r.discount == 0.5 and "scenario" in r.discount_source
    assert r.current is not None and r.current["preemptions_per_node_day"] == 0.01
    assert r.current["spot_cheaper"] == (0.01 < r.breakeven_preemptions_per_node_day)  # type: ignore[operator]
    found = catalog_discount("h100-sxm-80gb")
    assert found is not None and found[0] == pytest.approx(1 - 2.25 / 3.00)  # GCP A3-High, the smaller discount
    assert catalog_discount("v100-sxm-32gb") is None
    via_price = spot_breakeven(SMALL, spot_price=1.5, replicas=4, rel_tol=0.5)
    assert via_price.discount == pytest.approx(0.5)
    with pytest.raises(ClustersimError):
        spot_breakeven({**SMALL, "cluster": {"gpu": "v100-sxm-32gb", "nodes": 4}}, replicas=4)
    with pytest.raises(ClustersimError):
        spot_breakeven(SMALL, discount=1.5)


def test_return_delay_defaults_to_the_cited_measurement() -> None:
    from clustersim.money.spot_return import default_return_hours, return_delay_entry
    from clustersim.scenario import load_scenario
    from clustersim.scenario.spec import SpotSpec

    entry = return_delay_entry()
    assert "spot-traces" in entry["source"] and "NSDI 2024" in entry["source"]
    # the default is the catalog's figure, and that figure is the measured mean rounded to 1 h
    assert SpotSpec.model_fields["return_hours"].default == default_return_hours() == entry["return_hours"]
    assert abs(entry["measured"]["mean_hours_both"] - entry["return_hours"]) < 0.1
    assert abs(entry["measured"]["mean_hours_other_reading"] - entry["return_hours"]) < 0.1
    with_spot = json.loads(json.dumps(SMALL))
    with_spot["pricing"]["spot"] = {"discount": 0.5, "preemptions_per_node_day": 0.01}
    r = spot_breakeven(with_spot, replicas=4, seed=1, rel_tol=0.5)
    assert r.return_hours == 1.0 and "Wu et al. NSDI 2024" in (r.return_hours_source or "")
    assert any("1 h on average" in n for n in r.notes)
    # no spot section at all: the same default, not the node repair time (2 h here)
    assert spot_breakeven(SMALL, discount=0.5, replicas=4, seed=1, rel_tol=0.5).return_hours == 1.0
    # null keeps the old meaning: the node repair time
    with_spot["pricing"]["spot"]["return_hours"] = None
    r = spot_breakeven(with_spot, replicas=4, seed=1, rel_tol=0.5)
    assert r.return_hours == 2.0 and "repair" in (r.return_hours_source or "")
    # simulate uses the same default for a scenario with a spot section
    from clustersim.estimate import estimate
    from clustersim.simulate import build_job

    s = load_scenario({**SMALL, "pricing": {"usd_per_gpu_hour": 3.0,
                                            "spot": {"discount": 0.5, "preemptions_per_node_day": 0.01}}})
    assert build_job(s, estimate(s)).preempt_return_s == 3600.0


def test_unavailable_periods_are_closed_runs_of_the_unavailable_value() -> None:
    from clustersim.money.spot_return import unavailable_periods_h

    # runs open at the start or the end are dropped: only the middle run of two probes counts
    assert list(unavailable_periods_h([1, 0, 1, 1, 0, 0, 1], 600)) == [pytest.approx(1 / 3)]
    assert list(unavailable_periods_h([0, 1, 0, 1, 1, 1, 0], 3600)) == [1.0, 3.0]
    assert list(unavailable_periods_h([0, 1, 0, 1, 1, 1, 0], 3600, unavailable=0)) == [1.0]
    assert unavailable_periods_h([], 600).size == 0
