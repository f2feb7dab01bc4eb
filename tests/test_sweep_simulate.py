"""Simulated sweeps with the real Monte Carlo: each row is ``clustersim simulate --json`` for its point,
and the rows are identical on one worker and on two (seeds come from the scenario, not the worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clustersim.scenario import load_scenario
from clustersim.simulate import simulate
from clustersim.sweep import load_rows, run_sweep
from clustersim.sweep.expand import expand_points
from clustersim.sweep.spec import read_sweep
from clustersim.sweep.tasks import flatten
from tests.test_sweep_estimate import BASE

REPO = Path(__file__).resolve().parents[1]

SWEEP = """\
name: simulated test sweep
base: base.yaml
mode: simulate
set:
  simulation.replicas: 6
  simulation.seed: 3
grid:
  failures.node_mtbf_hours: [300, 3000]
  failures.spare_nodes: [0, 1]
"""


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP, encoding="utf-8")
    return path


def test_rows_are_the_simulation_json_of_each_point(tmp_path, sweep):
    summary = run_sweep(sweep, tmp_path / "s.db", progress=False)
    rows = load_rows(tmp_path / "s.db")
    assert len(rows) == 4 and summary.ok == 4, [r["error"] for r in rows]
    points = {p.index: p for p in expand_points(read_sweep(sweep))}
    for row in rows:
        want = flatten(simulate(load_scenario(points[row["point_index"]].data), workers=1).to_dict())
        for key, value in want.items():
            assert row[key] == (int(value) if isinstance(value, bool) else value), key
    assert {"wall_days_mean", "wall_days_p90", "goodput_mean", "interruptions_mean", "wall_cost_usd_mean",
            "wall_days_mean_ci95_lo", "time_breakdown_productive_days_mean"} <= set(rows[0])
    # fewer failures, never more interruptions on average (same seed, common random numbers)
    by = {(r["failures.node_mtbf_hours"], r["failures.spare_nodes"]): r for r in rows}
    assert by[(3000, 0)]["interruptions_mean"] <= by[(300, 0)]["interruptions_mean"]


def test_one_and_two_workers_give_identical_simulated_rows(tmp_path, sweep):
    run_sweep(sweep, tmp_path / "one.db", progress=False)
    run_sweep(sweep, tmp_path / "two.db", workers=2, progress=False)
    assert load_rows(tmp_path / "one.db") == load_rows(tmp_path / "two.db")


def test_the_simulated_example_sweep_runs(tmp_path):
    summary = run_sweep(REPO / "scenarios" / "sweeps" / "quickstart-failures.yaml", tmp_path / "q.db", progress=False)
    assert summary.ok == 9 and not summary.failed and summary.pareto
