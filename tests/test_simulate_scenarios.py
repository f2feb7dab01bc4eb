"""Every failure feature of the scenario format reaches the simulation (the adapter in clustersim.simulate)."""

from __future__ import annotations

import copy

import pytest

from clustersim import ScenarioError, simulate
from clustersim.reliability import failure_sources

BASE = {
    "name": "adapter",
    "model": "llama3-8b",
    "training": {"tokens": 5e10, "seq_len": 4096, "global_batch_seqs": 256,
                 "parallelism": {"tp": 2, "pp": 1, "dp": 32}},
    "cluster": {"gpu": "h100-sxm-80gb", "nodes": 8, "network": {"nodes_per_leaf": 4}},
    "failures": {"node_mtbf_hours": 200, "spare_nodes": 1, "repair_hours": 8},
    "checkpoint": {"interval_minutes": 30, "write_gbyte_per_s": 20, "read_gbyte_per_s": 40},
    "pricing": {"usd_per_gpu_hour": 2.0},
    "simulation": {"replicas": 8, "seed": 5},
}


def scenario(**failures):
    d = copy.deepcopy(BASE)
    d["failures"].update(failures)
    return d


def run(data, **kw):
    return simulate(data, workers=1, **kw)


def test_trace_replay_gives_exactly_those_failures(tmp_path):
    trace = tmp_path / "failures.csv"
    trace.write_text("time_hours,component,node\n1.0,gpu,3\n5.5,host,0\n")
    result = run(scenario(node_mtbf_hours=None, trace=str(trace)))
    d = result.to_dict()
    assert d["interruptions"]["mean"] == 2 and d["interruptions"]["p99"] == 2
    failures = [e for e in result.monte_carlo.events if e[1] == "failure"]
    assert [round(e[0]) for e in failures] == [3600, 19800]


def test_trace_errors_name_the_line(tmp_path):
    trace = tmp_path / "bad.csv"
    trace.write_text("time_hours,component,node\n1.0,gpu,3\nsoon,gpu,1\n")
    with pytest.raises(ScenarioError, match=":3"):
        run(scenario(node_mtbf_hours=None, trace=str(trace)))
    trace.write_text("time_hours,component,node\n1.0,gpu,99\n")
    with pytest.raises(ScenarioError, match="node 99 does not exist"):
        run(scenario(node_mtbf_hours=None, trace=str(trace)))


def test_sources_units_by_per():
    from clustersim import load_scenario

    s = load_scenario(scenario(node_mtbf_hours=None, sources=[
        {"component": "gpu", "per": "gpu", "mtbf_hours": 50000},
        {"component": "host", "per": "node", "mtbf_hours": 30000, "distribution": "weibull", "shape": 0.8},
        {"component": "leaf-switch", "per": "switch", "mtbf_hours": 200000},
        {"component": "software", "per": "job", "mtbf_hours": 100}]))
    got = {src["component"]: (src["units"], src["effect"]) for src in failure_sources(s)}
    assert got == {"gpu": (64, "node"), "host": (8, "node"), "leaf-switch": (2, "leaf"), "software": (1, "job")}
    d = run(s).to_dict()
    assert d["finished_fraction"] == 1.0


def test_stragglers_maintenance_async_and_elastic_change_the_breakdown():
    base = run(scenario()).to_dict()
    slow = run(scenario(stragglers={"fraction": 0.5, "slowdown": 1.5})).to_dict()
    assert slow["time_breakdown_days"]["degraded"]["mean"] > 0
    maint = run(scenario(maintenance={"period_hours": 4, "duration_minutes": 30})).to_dict()
    assert maint["time_breakdown_days"]["maintenance"]["mean"] > 0
    asynchronous = copy.deepcopy(BASE)
    asynchronous["checkpoint"]["async"] = True
    fast = run(asynchronous).to_dict()
    assert fast["time_breakdown_days"]["checkpointing"]["mean"] < base["time_breakdown_days"]["checkpointing"]["mean"]
    elastic = run(scenario(spare_nodes=0, elastic=True, repair_hours=48)).to_dict()
    waiting = run(scenario(spare_nodes=0, repair_hours=48)).to_dict()
    assert elastic["time_breakdown_days"]["waiting_for_spares"]["mean"] == 0
    assert waiting["time_breakdown_days"]["waiting_for_spares"]["mean"] > 0
    assert elastic["wall_days"]["mean"] < waiting["wall_days"]["mean"]


def test_spot_preemptions_are_a_failure_source():
    d = copy.deepcopy(BASE)
    d["pricing"]["spot"] = {"discount": 0.6, "preemptions_per_node_day": 1.0}
    out = run(d).to_dict()
    assert out["interruptions_by_cause"].get("spot", 0) > 0
    assert out["time_breakdown_days"]["preempted"]["mean"] >= 0


def test_limited_repair_crew_waits_longer():
    many = run(scenario(spare_nodes=0, repair_hours=24)).to_dict()
    one = run(scenario(spare_nodes=0, repair_hours=24, max_concurrent_repairs=1, node_mtbf_hours=50)).to_dict()
    assert one["time_breakdown_days"]["waiting_for_spares"]["mean"] > many["time_breakdown_days"]["waiting_for_spares"]["mean"]


def test_same_seed_same_result_any_workers():
    a = simulate(BASE, workers=1).to_dict()
    b = simulate(BASE, workers=2).to_dict()
    assert a["samples"] == b["samples"]
    c = simulate(BASE, workers=1, seed=6).to_dict()
    assert c["samples"] != a["samples"]


def test_elastic_speed_is_the_kernel_rate_at_fewer_replicas():
    from clustersim import load_scenario
    from clustersim.cost.kernel import evaluate_one
    from clustersim.estimate import estimate
    from clustersim.resolve import kernel_inputs
    from clustersim.simulate import build_job

    s = load_scenario(scenario(spare_nodes=0, elastic=True))
    job = build_job(s, estimate(s))
    base = kernel_inputs(s)
    full = evaluate_one(**base)["tokens_per_s"]
    assert len(job.elastic_speed) == 32 and job.elastic_speed[0] == pytest.approx(1.0, rel=1e-12)
    for k in (1, 5, 31):
        inputs = {**base, "dp": 32 - k, "global_batch_seqs": 8 * (32 - k)}
        assert job.elastic_speed[k] == pytest.approx(evaluate_one(**inputs)["tokens_per_s"] / full, rel=1e-12)
