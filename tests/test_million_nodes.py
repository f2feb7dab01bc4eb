"""10^6 nodes (the cluster-size cap, clustersim.scenario.spec.MAX_NODES): every command answers without
building the cluster graph, and what cannot be modelled at that size is refused with the reason.

Each command below runs in well under a second here (benchmarks are where speed is measured; these tests
hold that the answer comes, with the right counts, and that nothing sized by the node count blows up).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clustersim.cli import cli

#: Llama 3 405B on 10^6 8-GPU nodes with 1:7 above 3,072-GPU pods, very reliable nodes, leaf and spine
#: failures (so the degraded fabric is used), an elastic job (so the replicas-missing table is used).
BIG = """\
name: llama3-405b on 8M GPUs
model: llama3-405b
training:
  tokens: 15.6e12
  seq_len: 8192
  global_batch_seqs: 1000000
  micro_batch_seqs: 1
  recompute: full
  parallelism: {tp: 8, pp: 16, dp: 62500, vpp: 4, zero: 1, sequence_parallel: true}
cluster:
  gpu: h100-sxm-80gb
  nodes: 1000000
  network: {oversubscription: 7.0, nodes_per_leaf: 384}
failures:
  sources:
    - {component: node, per: node, mtbf_hours: 1.0e8}
    - {component: leaf switch, per: switch, mtbf_hours: 1.0e7}
    - {component: spine switch, per: switch, mtbf_hours: 1.0e4}
  restart_minutes: 10
  repair_hours: 24
  spare_nodes: 32
  elastic: true
pricing: {usd_per_gpu_hour: 2.0}
simulation: {replicas: 5, seed: 0}
"""


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.yaml"
    path.write_text(BIG)
    return path


def _ok(args: list[str]) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_estimate_search_and_dollars_at_a_million_nodes(big: Path):
    from clustersim.planning import cluster_for, network_params
    from clustersim.scenario import load_scenario

    est = _ok(["estimate", str(big)])
    assert est["gpus"] == 8_000_000
    assert 0 < est["step_time_s"] < 100 and est["expected_wall_days"] > est["train_days"] > 0
    auto = _ok(["search", str(big), "--set", "training.parallelism=auto", "--top", "3"])
    assert auto["gpus"] == 8_000_000 and auto["feasible"] > 0 and len(auto["top"]) == 3
    money = _ok(["dollars", str(big)])
    assert money["kind"] == "dollars" and money["paid_gpus"] == 8_000_256 and money["wall_days"]
    # none of it built the graph (which would need ~40 GB)
    assert cluster_for(network_params(load_scenario(big)))._graph is None


def test_simulate_and_report_at_a_million_nodes(big: Path, tmp_path: Path):
    out = tmp_path / "sim.json"
    result = CliRunner().invoke(cli, ["simulate", str(big), "--replicas", "5", "--workers", "1", "-o", str(out),
                                      "--report", str(tmp_path / "sim.html")])
    assert result.exit_code == 0, result.output
    sim = json.loads(out.read_text())
    assert sim["replicas"] == 5 and sim["gpus"] == 8_000_000
    report = CliRunner().invoke(cli, ["report", str(out), "-o", str(tmp_path / "again.html")])
    assert report.exit_code == 0, report.output
    assert (tmp_path / "again.html").stat().st_size > 10_000


def test_elastic_rates_are_exact_up_to_the_cap_and_proportional_beyond(big: Path):
    """The replicas-missing table has at most _ELASTIC_EXACT entries (62,500 replicas here); beyond it
    SimJob.elastic_rate is the surviving share."""
    from clustersim.estimate import estimate
    from clustersim.simulate import _ELASTIC_EXACT, build_job

    est = estimate(big)
    job = build_job(est.scenario, est)
    assert len(job.elastic_speed) == _ELASTIC_EXACT
    assert job.elastic_speed[0] == 1.0 and job.elastic_speed[-1] < 1.0
    assert job.elastic_rate(50_000) == pytest.approx(12_500 / 62_500)


def test_a_fabric_with_too_many_spines_to_simulate_is_refused(big: Path):
    """nodes_per_leaf 500,000 at 1:1 gives 4,000,000 spine switches: estimate answers, a simulation with
    spine failures is refused with the reason (its rate table has one entry per spine)."""
    sets = ["--set", "cluster.network.nodes_per_leaf=500000", "--set", "cluster.network.oversubscription=1.0"]
    assert _ok(["estimate", str(big), *sets])["gpus"] == 8_000_000
    result = CliRunner().invoke(cli, ["simulate", str(big), "--replicas", "2", "--workers", "1", *sets])
    assert result.exit_code == 2, result.output
    assert "4,000,000 spine switches" in result.stderr and "failures.sources" in result.stderr
    assert str(big) in result.stderr


def test_the_node_cap_is_a_located_refusal(big: Path):
    result = CliRunner().invoke(cli, ["validate", str(big), "--set", "cluster.nodes=1000001"])
    assert result.exit_code == 2
    assert "cluster.nodes" in result.output and "1000000" in result.output
    gpus = CliRunner().invoke(cli, ["validate", str(big), "--set", "cluster.gpus_per_node=16",
                                    "--set", "training.parallelism=auto"])
    assert gpus.exit_code == 2
    assert "16,000,000 GPUs" in gpus.output and "at most 8,388,608" in gpus.output
