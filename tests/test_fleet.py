"""The fleet file, its errors, and the fleet simulation's bookkeeping (fast checks)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from clustersim.errors import ScenarioError
from clustersim.fleet import capacity_search, fleet, load_fleet, what_if
from clustersim.fleet.engine import FleetEngine
from clustersim.fleet.results import GPU_STATES
from clustersim.fleet.state import segment_progress, timeline_s
from clustersim.fleet.workload import plan_fleet

ROOT = Path(__file__).resolve().parents[1]
FLEETS = sorted((ROOT / "scenarios" / "fleet").glob("*.yaml"))


def base(**over):
    data = {
        "pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 16, "spare_nodes": 1,
                   "failures": {"node_mtbf_hours": 500, "repair_hours": 12}}],
        "workload": {"jobs": [{"name": "big", "gpus": 64, "duration_hours": 48, "priority": 5}],
                     "generated": {"count": 200, "arrivals_per_hour": 2, "gpus": {"choices": [8, 16, 32]},
                                   "duration_hours": {"distribution": "lognormal", "median": 3, "sigma": 1},
                                   "priority": {"choices": [0, 1]}, "elastic_fraction": 0.2}},
        "scheduler": {"policy": "backfill", "preemption": True},
        "repair": {"crew": 2},
        "simulation": {"horizon_days": 10, "replicas": 3, "seed": 7},
    }
    data.update(over)
    return data


def errors_of(tmp_path: Path, text: str) -> tuple[Path, ScenarioError, dict]:
    """Load a fleet file written from ``text``; its ScenarioError and the items by field path."""
    p = tmp_path / "f.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        load_fleet(p)
    return p, e.value, {i.path: i for i in e.value.items}


@pytest.mark.parametrize("path", FLEETS, ids=lambda p: p.name)
def test_example_fleets_validate(path):
    ff = load_fleet(path)
    assert ff.spec.pools


def test_unknown_key_is_located_with_a_suggestion(tmp_path):
    p, err, by_path = errors_of(tmp_path, "pools:\n  - name: p\n    gpu: h100-sxm-80gb\n    nodez: 4\nworkload:\n"
                                          "  jobs: [{gpus: 8, duration_hours: 1}]\n")
    assert by_path["pools.0.nodes"].message == "required field is missing"
    item = by_path["pools.0.nodez"]
    assert item.line == 4
    assert item.hint == "did you mean `nodes`?"
    assert "spare_nodes" in (item.expected or "")
    assert f"{p}:4:5" in err.render()


def test_bad_pool_reference_and_missing_scenario_are_located(tmp_path):
    _, _, by_path = errors_of(tmp_path, "pools:\n  - {name: h100, gpu: h100-sxm-80gb, nodes: 4}\nworkload:\n  jobs:\n"
                                        "    - {pool: h10, gpus: 8, duration_hours: 1}\n    - {scenario: nope.yaml}\n")
    assert by_path["workload.jobs.0.pool"].line == 5
    assert by_path["workload.jobs.0.pool"].hint == "did you mean `h100`?"
    assert by_path["workload.jobs.1.scenario"].line == 6


@pytest.mark.parametrize("change, words", [
    ({"scheduler": {"policy": "fifo", "preemption": True}}, "preemption needs priorities"),
    ({"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 2, "spare_nodes": 2}]}, "must be fewer"),
    ({"pools": [{"name": "p", "gpu": "h999", "nodes": 2}]}, "unknown GPU"),
    ({"workload": {"jobs": [{"gpus": 8}]}}, "needs a scenario, or gpus and duration_hours"),
    ({"simulation": {"horizon_days": 1, "warmup_days": 2}}, "warmup_days"),
])
def test_invalid_fleets_are_refused_with_the_reason(change, words):
    with pytest.raises(ScenarioError) as e:
        load_fleet(base(**change))
    assert words in e.value.render()


def test_a_job_larger_than_its_pool_is_refused():
    data = base(workload={"jobs": [{"gpus": 8 * 16, "duration_hours": 1}]})
    with pytest.raises(ScenarioError) as e:
        plan_fleet(load_fleet(data))
    assert "schedules at most 15" in e.value.render()


def test_segment_progress_by_hand():
    # tau 10, delta 2, 35 s of work: segments 10+2, 10+2, 10+2, 5+2 -> 43 s in all
    assert timeline_s(35.0, 1.0, 10.0, 2.0) == 43.0
    assert segment_progress(0.0, 35.0, 1.0, 10.0, 2.0) == (0, 0.0, 0.0)
    assert segment_progress(11.0, 35.0, 1.0, 10.0, 2.0) == (0, 10.0, 1.0)  # mid-checkpoint: nothing saved
    assert segment_progress(26.5, 35.0, 1.0, 10.0, 2.0) == (2, 2.5, 0.0)
    assert segment_progress(40.0, 35.0, 1.0, 10.0, 2.0) == (3, 4.0, 0.0)  # inside the short last segment
    assert segment_progress(42.0, 35.0, 1.0, 10.0, 2.0) == (3, 5.0, 1.0)  # 36 + 5 compute, 1 s into the last save


def test_gpu_hours_by_state_add_up_and_nodes_are_conserved():
    res = fleet(base())
    horizon_h = 10 * 24
    for m in res.metrics:
        total = sum(m[f"gpu_hours_{s}"] for s in GPU_STATES)
        assert total == pytest.approx(16 * 8 * horizon_h, rel=1e-9)
    (pool,) = res.per_pool()
    assert sum(pool["gpu_hours_by_state"].values()) == pytest.approx(16 * 8 * horizon_h, rel=1e-9)
    assert pool["utilization"]["mean"] == pytest.approx(res.summary()["utilization"]["mean"], rel=1e-12)
    s = res.summary()
    assert s["interruptions"]["mean"] > 0 and s["preemptions"]["mean"] > 0
    assert 0 < s["utilization"]["mean"] < 1


def test_every_node_is_in_one_place_after_each_event():
    ff = load_fleet(base())
    plan = plan_fleet(ff)
    eng = FleetEngine(plan, plan.jobs(7, 0), 7, 0)
    checks = []
    original = eng.env.step

    def step():
        original()
        for p in eng.pools:
            p.check()
        checks.append(1)

    eng.env.step = step  # type: ignore[method-assign]
    eng.run()
    assert len(checks) > 500


def test_same_seed_same_result_and_workers_do_not_matter():
    a = fleet(base(), replicas=2).to_dict()
    b = fleet(base(), replicas=2, workers=2).to_dict()
    for d in (a, b):
        d.pop("python_version", None)
    assert a == b
    c = fleet(base(), replicas=2, seed=8).to_dict()
    assert c["summary"] != a["summary"]


def test_fifo_blocks_behind_the_head_and_backfill_does_not():
    # 4 nodes; a 4-node job runs 10 h; then a 4-node job and a 1-node 1-h job arrive
    def run(policy):
        data = {"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 4}],
                "workload": {"jobs": [{"name": "a", "gpus": 24, "duration_hours": 10},
                                      {"name": "b", "gpus": 32, "duration_hours": 5, "submit_hours": 1},
                                      {"name": "c", "gpus": 8, "duration_hours": 1, "submit_hours": 2}]},
                "scheduler": {"policy": policy}, "simulation": {"horizon_days": 2, "replicas": 1}}
        res = fleet(data)
        return {j["name"]: j["wait_hours"]["mean"] for j in res.to_dict()["jobs"]}

    fifo = run("fifo")
    backfill = run("backfill")
    assert fifo["b"] == pytest.approx(9.0, abs=0.1)  # waits for a (10 h plus its last checkpoint)
    assert fifo["c"] >= fifo["b"]  # stuck behind b
    assert backfill["c"] == 0.0  # c fits the idle node and ends before b's reservation
    assert backfill["b"] == pytest.approx(fifo["b"])


def test_preemption_gives_a_high_priority_job_its_nodes():
    data = {"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 4}],
            "workload": {"jobs": [{"name": "low", "gpus": 32, "duration_hours": 10, "priority": 0},
                                  {"name": "high", "gpus": 16, "duration_hours": 1, "priority": 9,
                                   "submit_hours": 1}]},
            "scheduler": {"policy": "priority", "preemption": True}, "simulation": {"horizon_days": 2, "replicas": 1}}
    jobs = {j["name"]: j for j in fleet(data).to_dict()["jobs"]}
    assert jobs["high"]["wait_hours"]["mean"] == 0.0
    assert jobs["low"]["completion_hours"]["mean"] > 11.0


def test_a_node_failure_without_spares_requeues_a_rigid_job_and_shrinks_an_elastic_one():
    def run(elastic):
        data = {"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 4,
                           "failures": {"node_mtbf_hours": 100, "repair_hours": 5}}],
                "workload": {"jobs": [{"gpus": 32, "duration_hours": 100, "elastic": elastic}]},
                "scheduler": {"replace_from_idle": False},
                "simulation": {"horizon_days": 30, "replicas": 2}}
        return fleet(data).summary()

    rigid, elastic = run(False), run(True)
    assert rigid["requeues"]["mean"] > 0
    assert elastic["requeues"]["mean"] == 0
    assert elastic["p90_completion_hours"]["mean"] < rigid["p90_completion_hours"]["mean"]


def test_a_scenario_job_runs_for_the_kernels_train_time(tmp_path):
    import yaml

    from clustersim import estimate
    from clustersim.scenario.loader import read_scenario_mapping

    quick = read_scenario_mapping(ROOT / "scenarios" / "quickstart.yaml")
    software_h = 20.57  # the llama3-405b preset's per-job source: it stays a job-level source in a fleet
    plan = plan_fleet(load_fleet({"pools": [{"name": "h100", "gpu": "h100-sxm-80gb", "nodes": 40}],
                                  "workload": {"jobs": [{"scenario": str(ROOT / "scenarios" / "quickstart.yaml")}]}}))
    assert plan.fixed.soft_rate_per_s[0] == pytest.approx(1 / (software_h * 3600))
    quick.pop("failures")
    path = tmp_path / "quiet.yaml"
    path.write_text(yaml.safe_dump(quick), encoding="utf-8")
    data = {"pools": [{"name": "h100", "gpu": "h100-sxm-80gb", "nodes": 40}],
            "workload": {"jobs": [{"scenario": str(path)}]}, "simulation": {"horizon_days": 30, "replicas": 1}}
    plan = plan_fleet(load_fleet(data))
    assert plan.fixed.work_s[0] == pytest.approx(estimate(path).kernel["train_s"], rel=1e-12)
    job = fleet(data).to_dict()["jobs"][0]
    # no failure anywhere: the work plus one checkpoint (its blocking time) per segment of a day
    n = math.ceil(plan.fixed.work_s[0] / plan.fixed.tau_s[0])
    expected_h = plan.fixed.work_s[0] / 3600 + n * plan.fixed.delta_s[0] / 3600
    assert job["completion_hours"]["mean"] == pytest.approx(expected_h, rel=1e-9)
    assert job["interruptions"]["mean"] == 0


def test_capacity_search_returns_the_smallest_size_meeting_the_target():
    data = base(workload={"generated": {"count": 300, "arrivals_per_hour": 4, "gpus": 8,
                                        "duration_hours": {"distribution": "exponential", "mean": 2}}},
                scheduler={"policy": "fifo"}, pools=[{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 16}])
    res = capacity_search(data, "p", 0.5, replicas=3)
    assert res.nodes is not None
    by_n = {p["nodes"]: p["p90_wait_hours"] for p in res.points}
    assert by_n[res.nodes] <= 0.5
    assert res.nodes - 1 in by_n and by_n[res.nodes - 1] > 0.5  # bisection bracketed it
    rows = what_if(data, {"p": [res.nodes - 1, res.nodes]}, ["fifo", "backfill"], replicas=3)
    assert len(rows) == 4
    assert {r["policy"] for r in rows} == {"fifo", "backfill"}


def test_generated_jobs_share_their_draws_across_policies():
    plan_a = plan_fleet(load_fleet(base()))
    plan_b = plan_fleet(load_fleet(base(scheduler={"policy": "fifo"})))
    a, b = plan_a.jobs(3, 1), plan_b.jobs(3, 1)
    assert np.array_equal(a.submit_s, b.submit_s) and np.array_equal(a.work_s, b.work_s)


def test_reference_page_and_schema_are_current():
    from clustersim.fleet.reference import DOCS, fleet_reference, schema_text

    assert (DOCS / "fleet.md").read_text(encoding="utf-8") == fleet_reference(), \
        "docs/reference/fleet.md is stale: python -m clustersim.fleet.reference"
    assert (DOCS / "fleet.schema.json").read_text(encoding="utf-8") == schema_text()


def test_example_fleets_validate_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from clustersim.fleet import fleet_json_schema

    for path in FLEETS:
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), fleet_json_schema())


def test_cli_runs_a_fleet_and_refuses_bad_input(tmp_path):
    import json

    from click.testing import CliRunner

    from clustersim.cli import cli

    fleet_file = tmp_path / "f.yaml"
    import yaml

    fleet_file.write_text(yaml.safe_dump(base()), encoding="utf-8")
    out = tmp_path / "out.json"
    report = tmp_path / "r.html"
    r = CliRunner().invoke(cli, ["fleet", str(fleet_file), "--json", "--replicas", "2", "-o", str(out),
                                 "--report", str(report)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["kind"] == "fleet" and data["replicas"] == 2
    assert json.loads(out.read_text()) == data
    html = report.read_text()
    assert "Queue-wait CDF" in html and "GPU-hours by state" in html
    from clustersim.report import figure_count

    assert figure_count(data, kind=None) == 3  # the kind comes from the result: utilization, CDF, states
    r = CliRunner().invoke(cli, ["report", str(out), "-o", str(tmp_path / "again.html")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["fleet", str(fleet_file), "--replicas", "1"])
    assert r.exit_code == 0 and "GPU-hours by state" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("pools: []\nworkload: {jobs: []}\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["fleet", str(bad)])
    assert r.exit_code == 2 and "bad.yaml" in r.output
    r = CliRunner().invoke(cli, ["fleet", str(fleet_file), "--nodes", "p=x"])
    assert r.exit_code == 2 and "--nodes" in r.output
    r = CliRunner().invoke(cli, ["fleet", str(fleet_file), "--capacity", "p", "--target-hours", "100",
                                 "--replicas", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["kind"] == "fleet-capacity"


def test_a_resize_below_the_spares_is_refused_with_the_field():
    from clustersim.fleet import with_changes

    with pytest.raises(ScenarioError) as e:
        with_changes(load_fleet(base()), nodes={"p": 1})
    assert "spare_nodes" in e.value.render() and "pools.0" in e.value.render()
    with pytest.raises(ScenarioError):
        with_changes(load_fleet(base()), nodes={"nope": 4})


def test_a_scenario_that_cannot_run_on_its_pool_is_refused_with_the_job(tmp_path):
    # the quickstart's fixed layout (tp 2 x dp 128 = 256 GPUs) cannot run on 64 GPUs
    data = {"pools": [{"name": "h100", "gpu": "h100-sxm-80gb", "nodes": 40}],
            "workload": {"jobs": [{"scenario": str(ROOT / "scenarios" / "quickstart.yaml"), "gpus": 64}]}}
    with pytest.raises(ScenarioError) as e:
        plan_fleet(load_fleet(data))
    assert "workload.jobs.0" in e.value.render()


def test_preemption_waits_for_preempt_after_hours_then_happens_on_time():
    data = {"pools": [{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 4}],
            "workload": {"jobs": [{"name": "low", "gpus": 32, "duration_hours": 10, "priority": 0},
                                  {"name": "high", "gpus": 16, "duration_hours": 1, "priority": 9,
                                   "submit_hours": 0.5}]},
            "scheduler": {"policy": "priority", "preemption": True, "preempt_after_hours": 2},
            "simulation": {"horizon_days": 2, "replicas": 1}}
    jobs = {j["name"]: j for j in fleet(data).to_dict()["jobs"]}
    assert jobs["high"]["wait_hours"]["mean"] == pytest.approx(1.5)  # low becomes preemptible at 2 h
    assert jobs["low"]["preemptions"]["mean"] == 1


def test_the_submission_fast_path_decides_as_full_passes(monkeypatch):
    from clustersim.fleet import scheduler
    from clustersim.fleet.engine import run_replica

    data = base(workload={"generated": {"count": 600, "arrivals_per_hour": 2, "gpus": {"choices": [8, 16, 64, 96]},
                                        "duration_hours": {"distribution": "lognormal", "median": 3, "sigma": 1},
                                        "priority": {"choices": [0, 5], "weights": [0.85, 0.15]}}},
                scheduler={"policy": "backfill", "preemption": True, "preempt_after_hours": 1, "backfill_depth": 5})
    plan = plan_fleet(load_fleet(data))
    fast = run_replica(plan, 7, 0)
    full = scheduler.schedule
    monkeypatch.setattr(scheduler, "schedule", lambda eng, pool, submitted=None: full(eng, pool, None))
    slow = run_replica(plan, 7, 0)
    for key in ("first_start_s", "end_s", "queue_s"):
        assert np.array_equal(fast[key], slow[key], equal_nan=True), key
    assert fast["preemptions"].sum() > 0


def test_capacity_result_is_json_even_when_a_size_never_finishes_its_jobs():
    import json

    data = base(workload={"generated": {"count": 100, "arrivals_per_hour": 10, "gpus": 8,
                                        "duration_hours": {"distribution": "fixed", "mean": 20}}},
                scheduler={"policy": "fifo"}, simulation={"horizon_days": 2, "replicas": 1},
                pools=[{"name": "p", "gpu": "h100-sxm-80gb", "nodes": 8}])
    res = capacity_search(data, "p", 30.0, metric="p90_completion_hours", replicas=1)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["points"][0]["p90_completion_hours"] is None  # 8 nodes: most jobs unfinished after 2 days
    assert d["met"] and d["nodes"] > 8
