"""``clustersim dollars`` on a scenario whose resilience keys bring the strategy's own costs (cold spares,
the in-memory tier's host memory, retained storage): billed by the rule simulate and resilience use."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from clustersim import dollars, simulate, units
from clustersim.cli import cli
from clustersim.estimate import estimate
from clustersim.resilience.scenario import memory_tier_gib_per_node
from clustersim.simulate import strategy_job_of
from tests.conftest import SCENARIOS

QUICK = str(SCENARIOS / "quickstart.yaml")
#: quickstart with no hot spare, cold nodes in 2 h, a peer memory tier at $0.001 per GiB-hour, storage at
#: $20 per TB-month keeping the last 3 storage checkpoints
STRATEGY = ["failures.spare_nodes=0", "failures.cold_provision_minutes=120",
            "checkpoint.memory_tier.interval_minutes=5", "checkpoint.memory_tier.holder=peer",
            "checkpoint.memory_tier.usd_per_gib_hour=0.001", "pricing.storage_usd_per_tb_month=20",
            "checkpoint.retention=3", "checkpoint.interval_minutes=60"]


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate(QUICK, replicas=6, seed=4, set=STRATEGY)


def test_dollars_bills_the_strategy_as_simulate_does(sim) -> None:  # type: ignore[no-untyped-def]
    d = sim.to_dict()
    assert d["engine"] == "strategy"
    r = dollars(QUICK, set=STRATEGY, simulation=sim)
    total = r.items["total_usd"]
    # no energy price: dollars' total is simulate's cost, replica by replica (mean and percentiles)
    for c in ("mean", "p50", "p90", "p99"):
        assert total[c] == pytest.approx(d["wall_cost_usd"][c], rel=1e-12)
    # each item by hand
    est = estimate(QUICK, set=STRATEGY)
    sjob = strategy_job_of(est)
    price = est.run.usd_per_gpu_hour
    hours = np.asarray(d["samples"]["wall_days"]) * 24.0
    cold_h = np.asarray(d["samples"]["cold_node_hours"])
    assert cold_h.mean() > 0  # no hot spare: every node failure provisions a cold node
    assert r.items["cold_spares_usd"]["mean"] == pytest.approx(cold_h.mean() * 8 * price, rel=1e-12)
    gib = memory_tier_gib_per_node(est.scenario, est.kernel["checkpoint_bytes"])
    assert gib == pytest.approx(2 * est.kernel["checkpoint_bytes"] / 32 / units.GIB)  # peer: two copies
    assert r.items["memory_tier_usd"]["mean"] == pytest.approx(hours.mean() * 32 * gib * 0.001, rel=1e-12)
    assert sjob.retention == 3 and math.ceil(sjob.cycles / sjob.storage_every) > 3
    tb = est.kernel["checkpoint_bytes"] / 1e12
    assert r.items["storage_usd"]["mean"] == pytest.approx(3 * tb * 20 * hours.mean() / (365.25 / 12 * 24),
                                                           rel=1e-12)
    assert r.assumptions["retained_checkpoints"] == 3
    assert r.assumptions["strategy_costs"]["hot_spares"] == 0


def test_failure_free_and_expected_columns(sim) -> None:  # type: ignore[no-untyped-def]
    r = dollars(QUICK, set=STRATEGY, simulation=sim)
    assert r.items["cold_spares_usd"]["failure_free"] == 0.0  # no failure, no cold node
    assert r.items["cold_spares_usd"]["expected"] is None  # needs a simulation: said in a note
    assert any("cold spares' node-hours need a simulation" in n for n in r.notes)
    ff = r.items
    parts = ("gpu_usd", "cold_spares_usd", "memory_tier_usd", "storage_usd")
    assert ff["total_usd"]["failure_free"] == pytest.approx(sum(ff[k]["failure_free"] for k in parts), rel=1e-12)
    assert [row["item"] for row in r.rows][:4] == ["wall days", "gpu_hours", "gpu_usd", "cold_spares_usd"]


def test_retained_checkpoints_given_overrides_the_retention(sim) -> None:  # type: ignore[no-untyped-def]
    a = dollars(QUICK, set=STRATEGY, simulation=sim)
    b = dollars(QUICK, set=STRATEGY, simulation=sim, retained_checkpoints=6)
    assert b.items["storage_usd"]["mean"] == pytest.approx(2 * a.items["storage_usd"]["mean"], rel=1e-12)


def test_a_plain_scenario_keeps_its_bill() -> None:
    r = dollars(QUICK, set=["pricing.storage_usd_per_tb_month=20"])
    assert r.items["cold_spares_usd"]["failure_free"] is None and r.items["memory_tier_usd"]["failure_free"] is None
    assert "cold_spares_usd" not in {row["item"] for row in r.rows}  # no empty rows in the table or the CSV
    assert r.assumptions["retained_checkpoints"] == 2 and r.assumptions["strategy_costs"] is None
    kept = dollars(QUICK, set=["pricing.storage_usd_per_tb_month=20", "checkpoint.retention=5"])
    assert kept.assumptions["retained_checkpoints"] == 5
    assert kept.items["storage_usd"]["failure_free"] == pytest.approx(2.5 * r.items["storage_usd"]["failure_free"])


def test_cli_dollars_json_matches_simulate() -> None:
    sets = [a for kv in STRATEGY for a in ("--set", kv)]
    run = CliRunner().invoke(cli, ["dollars", QUICK, *sets, "--simulate", "--replicas", "4", "--json"])
    assert run.exit_code == 0, run.output
    d = json.loads(run.output)
    assert set(d["items"]) >= {"gpu_usd", "cold_spares_usd", "memory_tier_usd", "storage_usd", "total_usd"}
    assert d["items"]["memory_tier_usd"]["mean"] > 0 and d["items"]["cold_spares_usd"]["mean"] > 0
    s = CliRunner().invoke(cli, ["simulate", QUICK, *sets, "--replicas", "4", "--json"])
    assert s.exit_code == 0, s.output
    assert d["items"]["total_usd"]["mean"] == pytest.approx(json.loads(s.output)["wall_cost_usd"]["mean"],
                                                            rel=1e-12)
    table = CliRunner().invoke(cli, ["dollars", QUICK, *sets])
    assert table.exit_code == 0 and "memory tier usd" in table.output and "cold spares usd" in table.output


def test_a_strategy_the_engine_cannot_run_is_refused_as_simulate_refuses_it() -> None:
    sets = ["--set", "checkpoint.memory_tier.interval_minutes=5", "--set", "failures.elastic=true"]
    for cmd in (["dollars", QUICK, *sets], ["simulate", QUICK, *sets, "--replicas", "2"]):
        run = CliRunner().invoke(cli, cmd)
        assert run.exit_code == 2 and "does not model elastic training" in run.output, run.output
