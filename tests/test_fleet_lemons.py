"""Lemon nodes (clustersim.fleet.lemons): their repair share matches the alternating-renewal closed form,
nodes and lemons stay conserved under every policy, and a pool without lemons is unchanged."""

from __future__ import annotations

import copy

import pytest

from clustersim import theory
from clustersim.errors import ScenarioError
from clustersim.fleet import fleet, load_fleet
from tests.test_fleet_queueing import check

MIXED = {"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 60, "spare_nodes": 2,
                    "failures": {"node_mtbf_hours": 2000.0, "repair_hours": 12, "lemon_nodes": 6,
                                 "lemon_mtbf_hours": 40.0, "lemon_repair_hours": 3}}],
         "workload": {"generated": {"count": 400, "arrivals_per_hour": 1.5, "gpus": {"choices": [8, 64, 256]},
                                    "duration_hours": {"distribution": "exponential", "mean": 8},
                                    "priority": {"choices": [0, 5]}, "elastic_fraction": 0.2}},
         "scheduler": {"policy": "backfill", "preemption": True, "preempt_after_hours": 1},
         "repair": {"crew": 3}, "simulation": {"horizon_days": 20, "replicas": 2, "seed": 3}}


def test_the_lemons_time_in_repair_is_the_alternating_renewal_share():
    """No job runs: each lemon alternates up (mean M) and in repair (mean R), in repair R / (M + R) of the
    time (the availability's complement, Barlow & Proschan); the other nodes almost never fail."""
    mtbf_h, mttr_h, lemons, nodes = 10.0, 5.0, 20, 100
    data = {"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": nodes,
                       "failures": {"node_mtbf_hours": 1e9, "repair_hours": 1, "lemon_nodes": lemons,
                                    "lemon_mtbf_hours": mtbf_h, "lemon_repair_hours": mttr_h}}],
            "workload": {"jobs": [{"gpus": 8, "duration_hours": 1, "submit_hours": 1e6}]},
            "simulation": {"horizon_days": 200, "replicas": 8, "seed": 11}}
    res = fleet(data)
    gpu_h = nodes * 8 * 200 * 24
    share = lemons / nodes * (1 - float(theory.availability(mtbf_h * 3600, mttr_h * 3600)))
    check(res.values("gpu_hours_repair") / gpu_h, share)


@pytest.mark.parametrize("policy", ["fifo", "priority", "backfill"])
def test_nodes_and_lemons_are_conserved_and_lemons_interrupt_jobs(policy):
    data = copy.deepcopy(MIXED)
    data["scheduler"]["policy"] = policy
    data["scheduler"]["preemption"] = policy != "fifo"
    with_lemons = fleet(data)  # Pool.check() raises at the end of a replica if a count is broken
    data["pools"][0]["failures"]["lemon_nodes"] = 0
    without = fleet(data)
    assert with_lemons.values("interruptions").sum() > 2 * without.values("interruptions").sum()


def test_lemon_nodes_need_their_mtbf_and_fit_the_pool():
    bad = copy.deepcopy(MIXED)
    del bad["pools"][0]["failures"]["lemon_mtbf_hours"]
    with pytest.raises(ScenarioError, match="lemon_mtbf_hours"):
        load_fleet(bad)
    bad = copy.deepcopy(MIXED)
    bad["pools"][0]["failures"]["lemon_nodes"] = 61
    with pytest.raises(ScenarioError, match="lemon_nodes"):
        load_fleet(bad)
