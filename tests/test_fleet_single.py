"""A one-job fleet is `clustersim simulate` of the same scenario: the same events at the same times.

The fleet of :func:`clustersim.fleet.single.single_job_fleet` (the scenario's job with its own failures
on a pool of its nodes plus its spares, waiting for a repaired node when no spare is left) against the
SimPy engine of ``clustersim simulate`` with the same seed: every event of the log (type, time,
component of a failure) and the wall time of each replica, at rtol 1e-12. Variants: spare nodes, none
(the job waits for repairs), a repair crew of one with lognormal repairs, fixed repairs with no
detection delay; exponential, Weibull and job-level sources.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from clustersim.errors import ScenarioError
from clustersim.fleet import load_fleet
from clustersim.fleet.engine import run_replica as fleet_replica
from clustersim.fleet.single import single_job_fleet
from clustersim.fleet.workload import plan_fleet
from clustersim.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [{"component": "node", "per": "node", "mtbf_hours": 300.0},
           {"component": "gpu", "per": "gpu", "mtbf_hours": 8000.0, "distribution": "weibull", "shape": 0.7},
           {"component": "software", "per": "job", "mtbf_hours": 30.0}]
VARIANTS = {
    "spares": {"sources": SOURCES, "spare_nodes": 2, "repair_hours": 6},
    "no-spares": {"sources": SOURCES, "spare_nodes": 0, "repair_hours": 3},
    "crew": {"sources": SOURCES, "spare_nodes": 1, "repair_hours": 2, "max_concurrent_repairs": 1,
             "repair_distribution": "lognormal"},
    "fixed-repairs": {"sources": SOURCES, "spare_nodes": 1, "repair_hours": 8, "repair_distribution": "fixed",
                      "detect_minutes": 0},
}
SEEDS = (0, 1, 7)
REPLICAS = 3


def _scenario(tmp_path: Path, name: str, failures: dict) -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8"))
    data["training"]["tokens"] = 3.0e11  # about two days of work: some 10-20 failures per replica
    data["name"] = name
    data["failures"] = copy.deepcopy(failures)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _key(rows: list) -> list[tuple[float, str, str]]:
    """(time, event, component of a failure), in time order (events at one time by name)."""
    out = [(float(t), e, c if e.startswith("failure") else "") for t, e, c, *_ in rows]
    return sorted(out, key=lambda r: (round(r[0], 3), r[1], r[2]))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_one_job_fleet_has_the_events_and_wall_times_of_simulate(tmp_path, variant):
    path = _scenario(tmp_path, variant, VARIANTS[variant])
    for seed in SEEDS:
        sim = simulate(path, replicas=REPLICAS, seed=seed, engine="simpy", parameter_uncertainty=False)
        plan = plan_fleet(load_fleet(single_job_fleet(path, seed=seed)))
        reps = [fleet_replica(plan, seed, r, log_jobs=(0,)) for r in range(REPLICAS)]
        assert sim.monte_carlo.finished.all()
        np.testing.assert_allclose([rep["end_s"][0] for rep in reps], sim.monte_carlo.wall_s, rtol=1e-12, atol=0)
        expected, got = _key(sim.monte_carlo.events or []), _key(reps[0]["logs"][0])
        assert [r[1:] for r in got] == [r[1:] for r in expected], f"{variant}, seed {seed}: event types differ"
        np.testing.assert_allclose([r[0] for r in got], [r[0] for r in expected], rtol=1e-12, atol=0)
        kinds = {r[1] for r in expected}
        assert {"failure", "detected", "resumed", "checkpoint_done", "repair_done", "finish"} <= kinds
        if variant == "no-spares":
            assert "wait_for_spares" in kinds


def test_the_equivalence_is_not_vacuous(tmp_path):
    """A fleet that differs in one respect (the job requeued instead of waiting) differs from simulate."""
    path = _scenario(tmp_path, "no-spares", VARIANTS["no-spares"])
    sim = simulate(path, replicas=1, seed=0, engine="simpy", parameter_uncertainty=False)
    data = single_job_fleet(path, seed=0)
    data["scheduler"]["no_spare"] = "requeue"
    rep = fleet_replica(plan_fleet(load_fleet(data)), 0, 0, log_jobs=(0,))
    assert rep["requeues"][0] > 0
    assert abs(rep["end_s"][0] / sim.monte_carlo.wall_s[0] - 1) > 1e-6


def test_a_scenario_the_fleet_cannot_model_is_refused_with_the_reason(tmp_path):
    failures = {**VARIANTS["spares"], "stragglers": {"fraction": 0.01, "slowdown": 1.2}}
    path = _scenario(tmp_path, "stragglers", failures)
    with pytest.raises(ScenarioError, match="stragglers"):
        plan_fleet(load_fleet(single_job_fleet(path)))


def test_the_quickstart_scenario_as_shipped_is_its_one_job_fleet():
    """The shipped quickstart (the llama3-405b preset's 16 sources, two spares, auto interval)."""
    path = ROOT / "scenarios" / "quickstart.yaml"
    sim = simulate(path, replicas=2, seed=0, engine="simpy", parameter_uncertainty=False)
    plan = plan_fleet(load_fleet(single_job_fleet(path, seed=0)))
    reps = [fleet_replica(plan, 0, r, log_jobs=(0,)) for r in range(2)]
    np.testing.assert_allclose([rep["end_s"][0] for rep in reps], sim.monte_carlo.wall_s, rtol=1e-12, atol=0)
    expected, got = _key(sim.monte_carlo.events or []), _key(reps[0]["logs"][0])
    assert [r[1:] for r in got] == [r[1:] for r in expected]
    np.testing.assert_allclose([r[0] for r in got], [r[0] for r in expected], rtol=1e-12, atol=0)
