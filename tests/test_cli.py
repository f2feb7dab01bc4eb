"""The command line through click's CliRunner: each command, its JSON, its exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import clustersim
from clustersim.cli import cli
from tests.conftest import SCENARIOS, VALID


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert clustersim.__version__ in result.output


def test_help_lists_commands(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "schema", "catalog", "estimate", "search", "simulate"):
        assert command in result.output


def test_validate_all_examples(runner):
    files = [str(p) for p in sorted(SCENARIOS.glob("*.yaml"))]
    result = runner.invoke(cli, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(files)


def test_validate_mixed_good_and_bad_exits_2(runner, write):
    bad = write(VALID.replace("nodes: 2", "nodes: 0"), "bad.yaml")
    good = write(VALID, "good.yaml")
    result = runner.invoke(cli, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert "good.yaml: ok" in result.output
    assert "bad.yaml:16:" in result.output


def test_validate_with_set(runner, write):
    path = write(VALID)
    result = runner.invoke(cli, ["validate", str(path), "--set", "cluster.nodes=3"])
    assert result.exit_code == 2
    assert "tp*pp*dp*cp" in result.output


def test_schema_is_json(runner):
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "training" in schema["properties"]


@pytest.mark.parametrize("kind", ["gpus", "models", "prices", "reliability"])
def test_catalog_tables_and_json(runner, kind):
    result = runner.invoke(cli, ["catalog", kind])
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(cli, ["catalog", kind, "--json"]).output)
    assert data
    first = next(iter(data))
    assert first in result.output


def test_catalog_unknown_kind_is_usage_error(runner):
    result = runner.invoke(cli, ["catalog", "tpus"])
    assert result.exit_code == 2


QUICK = str(SCENARIOS / "quickstart.yaml")


def test_estimate_json_has_the_contract_keys(runner):
    result = runner.invoke(cli, ["estimate", QUICK, "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    for key in ("step_time_s", "tokens_per_s", "mfu", "hfu", "model_tflops_per_gpu", "hardware_tflops_per_gpu",
                "memory_per_gpu_gib", "fits_in_memory", "train_days", "gpu_hours", "cost_usd", "parallelism",
                "breakdown_s", "clustersim_version", "schema_version", "expected_goodput", "job_mtbf_hours"):
        assert key in d, key
    assert abs(sum(d["breakdown_s"].values()) - d["step_time_s"]) <= 1e-9 * d["step_time_s"]
    table = runner.invoke(cli, ["estimate", QUICK])
    assert table.exit_code == 0 and "step time" in table.output


def test_estimate_reports_partial_recomputation(runner):
    """training.recompute_layers shows in the layout line and the JSON's parallelism (null when unset)."""
    d = json.loads(runner.invoke(cli, ["estimate", QUICK, "--json"]).output)
    assert d["parallelism"]["recompute_layers"] is None
    sets = ["--set", "training.recompute=full", "--set", "training.recompute_layers=2"]
    part = runner.invoke(cli, ["estimate", QUICK, "--json", *sets])
    assert part.exit_code == 0, part.output
    got = json.loads(part.output)
    assert got["parallelism"]["recompute"] == "full" and got["parallelism"]["recompute_layers"] == 2
    table = runner.invoke(cli, ["estimate", QUICK, *sets])
    flat = " ".join(table.output.replace("│", " ").split())  # the table may wrap the layout line
    assert table.exit_code == 0 and "recompute full (2 layers a chunk)" in flat, flat


def test_estimate_reports_the_selective_recomputation_modules(runner):
    """training.recompute_modules shows in the layout line and the JSON's parallelism (null when unset), and
    rerunning the norms as well as the attention core trades memory for time."""
    base = json.loads(runner.invoke(cli, ["estimate", QUICK, "--json"]).output)
    assert base["parallelism"]["recompute_modules"] is None
    sets = ["--set", "training.recompute_modules=[core_attn, layernorm]"]
    got = json.loads(runner.invoke(cli, ["estimate", QUICK, "--json", *sets]).output)
    assert got["parallelism"]["recompute_modules"] == ["core_attn", "layernorm"]
    assert got["memory_per_gpu_gib"] < base["memory_per_gpu_gib"] and got["step_time_s"] > base["step_time_s"]
    table = runner.invoke(cli, ["estimate", QUICK, *sets])
    flat = " ".join(table.output.replace("│", " ").split())
    assert table.exit_code == 0 and "recompute selective (core_attn, layernorm)" in flat, flat
    bad = runner.invoke(cli, ["estimate", QUICK, "--set", "training.recompute_modules=[mla_up_proj]"])
    assert bad.exit_code == 2 and "kv_lora_rank" in bad.output


def test_estimate_set_changes_the_answer(runner):
    base = json.loads(runner.invoke(cli, ["estimate", QUICK, "--json"]).output)
    cheaper = json.loads(runner.invoke(cli, ["estimate", QUICK, "--json", "--set", "pricing.preset=",
                                             "--set", "pricing.usd_per_gpu_hour=1.0"]).output)
    assert cheaper["cost_usd"] < base["cost_usd"]
    assert cheaper["train_days"] == base["train_days"]


def test_search_json(runner):
    result = runner.invoke(cli, ["search", QUICK, "--json", "--top", "3"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["configs_evaluated"] > d["feasible"] > 0 and len(d["top"]) == 3 and d["elapsed_s"] >= 0
    times = [r["step_time_s"] for r in d["top"]]
    assert times == sorted(times)


def test_simulate_json_events_report(runner, tmp_path):
    events, report, out = tmp_path / "ev.csv", tmp_path / "r.html", tmp_path / "r.json"
    result = runner.invoke(cli, ["simulate", QUICK, "--replicas", "20", "--json", "--events", str(events),
                                 "--report", str(report), "-o", str(out)])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    for key in ("wall_days", "wall_cost_usd", "goodput", "interruptions", "checkpoint_interval_minutes",
                "checkpoint_size_gb", "checkpoint_write_s", "checkpoint_load_s", "job_mtbf_hours",
                "time_breakdown_days", "train_days", "cost_usd"):
        assert key in d, key
    assert set(d["wall_days"]) >= {"mean", "p50", "p90", "p99"}
    assert d["replicas"] == 20
    parts = sum(v["mean"] for v in d["time_breakdown_days"].values())
    assert abs(parts - d["wall_days"]["mean"]) < 1e-6 * d["wall_days"]["mean"]
    assert events.read_text().startswith("time_s,event")
    assert "<html" in report.read_text()[:500].lower()
    assert json.loads(out.read_text()) == d
    again = runner.invoke(cli, ["report", str(out), "-o", str(tmp_path / "again.html")])
    assert again.exit_code == 0, again.output


def test_simulate_table(runner):
    result = runner.invoke(cli, ["simulate", QUICK, "--replicas", "10"])
    assert result.exit_code == 0, result.output
    assert "wall days" in result.output and "interruptions by cause" in result.output


def test_simulate_infeasible_memory_exits_2(runner):
    result = runner.invoke(cli, ["simulate", QUICK, "--set", "training.parallelism.tp=1",
                                 "--set", "training.parallelism.dp=256", "--set", "training.recompute=none",
                                 "--set", "training.micro_batch_seqs=2"])
    assert result.exit_code == 2, result.output
    assert "GiB" in result.output and "Traceback" not in result.output


def test_sweep_and_export(runner, tmp_path):
    db, csv_path = tmp_path / "s.db", tmp_path / "s.csv"
    sweep_file = SCENARIOS / "sweeps" / "quickstart-grid.yaml"
    result = runner.invoke(cli, ["sweep", str(sweep_file), "--out", str(db), "--export", str(csv_path)])
    assert result.exit_code == 0, result.output
    assert csv_path.read_text().count("\n") > 2
    again = runner.invoke(cli, ["sweep", str(sweep_file), "--out", str(db), "--resume", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["skipped"] > 0
    html = tmp_path / "sweep.html"
    rep = runner.invoke(cli, ["report", str(db), "-o", str(html)])
    assert rep.exit_code == 0, rep.output


def test_job_that_cannot_finish(runner):
    sets = ["--set", "failures.preset=", "--set", "failures.node_mtbf_hours=0.5", "--set", "failures.restart_minutes=30"]
    sim = runner.invoke(cli, ["simulate", QUICK, *sets])
    assert sim.exit_code == 2
    assert "cannot finish" in sim.output and "Traceback" not in sim.output
    est = json.loads(runner.invoke(cli, ["estimate", QUICK, "--json", *sets]).output)
    assert est["expected_goodput"] == 0.0 and "shorter than a checkpoint" in est["cannot_finish"]
