"""``clustersim resilience``: the file format, strategies on common random numbers, the deadline pick."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from clustersim.cli import cli
from clustersim.errors import ScenarioError
from clustersim.resilience import compare, load_resilience
from clustersim.resilience.compare import build_strategy_job, load_file, storage_write_s
from tests.conftest import SCENARIOS

EXAMPLE = str(SCENARIOS / "resilience" / "llama3-strategies.yaml")

SMALL = """
job: {gpus: 512, days: 5, replicas: 8}
failures: {node_mtbf_hours: 2000, detect_minutes: 5, restart_minutes: 10, repair_hours: 12}
checkpoint: {interval_minutes: 30, storage_gbyte: 600, storage_gbyte_per_s: 10, storage_efficiency: 0.5}
spares: {cold_provision_minutes: 240}
pricing: {usd_per_gpu_hour: 2.0}
deadline_days: 6.5
replicas: 40
strategies:
  hot: {spares.hot: 4}
  ft: {mode: per_replica, spares.hot: 4, fault_tolerance.rejoin_minutes: 5}
"""


@pytest.fixture()
def small(tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    return p


def test_achieved_storage_bandwidth_sets_the_write(small) -> None:
    spec, _ = load_resilience(small)
    assert storage_write_s(spec) == pytest.approx(600 / (10 * 0.5))
    assert build_strategy_job(spec).storage_write_s == pytest.approx(120.0)


def test_strategies_compared_and_the_cheapest_in_time_picked(small) -> None:
    res = compare(small)
    by = {r.name: r for r in res.results}
    assert set(by) == {"base", "hot", "ft"}
    # cold spares wait 4 h per failure; hot spares only restart: faster, and here cheaper too
    assert by["hot"].raw["wall_s"].mean() < by["base"].raw["wall_s"].mean()
    assert by["ft"].raw["wall_s"].mean() < by["hot"].raw["wall_s"].mean()
    ok = [r for r in res.results if r.p90_days <= 6.5]
    assert res.pick == min(ok, key=lambda r: r.cost.mean()).name
    # the hot spares' own cost is in the dollars: 4 idle nodes for the whole wall time
    hot = by["hot"]
    gpu_usd = hot.raw["wall_s"] / 3600 * (512 + 32) * 2.0
    assert np.allclose(hot.cost, gpu_usd + hot.raw["cold_node_s"] / 3600 * 8 * 2.0)


def test_common_random_numbers_and_workers_do_not_change_results(small) -> None:
    a = compare(small, workers=1)
    b = compare(small, workers=2)
    for x, y in zip(a.results, b.results, strict=True):
        assert np.array_equal(x.raw["wall_s"], y.raw["wall_s"])


def test_no_strategy_meets_an_impossible_deadline(small) -> None:
    assert compare(small, deadline_days=1.0).pick is None


def test_bad_strategy_key_is_a_scenario_error(tmp_path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(SMALL.replace("hot: {spares.hot: 4}", "hot: {spares.hot: -4}"))
    with pytest.raises(ScenarioError, match="strategy 'hot'"):
        load_resilience(p)
    p.write_text(SMALL.replace("days: 5", "days: -5"))
    with pytest.raises(ScenarioError, match="days"):
        load_resilience(p)


def test_cli_json_and_set(small, tmp_path) -> None:
    out = tmp_path / "r.json"
    r = CliRunner().invoke(cli, ["resilience", str(small), "--json", "-o", str(out), "--set", "replicas=10",
                                 "--strategy", "base", "--strategy", "hot"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data == json.loads(out.read_text())
    assert [s["strategy"] for s in data["strategies"]] == ["base", "hot"] and data["replicas"] == 10
    bad = CliRunner().invoke(cli, ["resilience", str(small), "--set", "job.gpus=0", "--json"])
    assert bad.exit_code == 2 and "error" in json.loads(bad.stdout)


def test_example_file_loads_every_strategy() -> None:
    spec, _ = load_resilience(EXAMPLE)
    assert {"hot-spares", "memory-tier", "per-replica-ft", "short-retention"} <= set(spec.strategies)


def test_reference_page_is_current() -> None:
    from clustersim.resilience.reference import DOCS, resilience_reference

    assert (DOCS / "resilience.md").read_text(encoding="utf-8") == resilience_reference(), \
        "docs/reference/resilience.md is stale: python -m clustersim.resilience.reference"


def test_a_strategy_the_engine_cannot_run_is_refused_before_anything_runs(tmp_path) -> None:
    p = tmp_path / "sdc.yaml"
    p.write_text(SMALL.replace("repair_hours: 12}", "repair_hours: 12, sdc_mtbf_hours: 100}"))
    with pytest.raises(ScenarioError, match="strategy 'ft'.*sdc_mtbf_s"):
        load_file(p)
    r = CliRunner().invoke(cli, ["resilience", str(p), "--json"])
    assert r.exit_code == 2 and "strategy 'ft'" in json.loads(r.stdout)["error"]["message"] + r.stdout


def test_vary_sizes_the_spare_pool(small) -> None:
    res = compare(small, vary=["spares.hot=0,2,8"], only=["base", "spares.hot=0", "spares.hot=2", "spares.hot=8"])
    days = {r.name: float(r.raw["wall_s"].mean()) for r in res.results}
    assert np.array_equal(res.results[0].raw["wall_s"], res.results[1].raw["wall_s"])  # hot: 0 is the base
    assert days["spares.hot=8"] <= days["spares.hot=2"] <= days["spares.hot=0"]
    with pytest.raises(ScenarioError, match="--vary"):
        compare(small, vary=["spares.hot="])
