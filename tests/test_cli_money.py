"""The money and planning commands through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from clustersim.cli import cli
from tests.conftest import SCENARIOS

QUICK = str(SCENARIOS / "quickstart.yaml")


def test_finetune_json_is_an_object_with_rows(tmp_path):
    out = tmp_path / "ft.csv"
    result = CliRunner().invoke(cli, ["finetune", "llama2-70b", "--tokens", "1e8", "--gpu", "h100-sxm-80gb",
                                      "--json", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["kind"] == "finetune" and "4,096-token sequences x 64" in d["recipe"]
    rows = d["rows"]
    assert {r["mode"] for r in rows} == {"full-finetune", "lora", "qlora"}
    for r in rows:
        assert set(r) >= {"gpu", "mode", "min_gpus", "memory_per_gpu_gib", "days", "cost_usd"}
    by_mode = {r["mode"]: r["min_gpus"] for r in rows}
    assert by_mode["qlora"] <= by_mode["lora"] <= by_mode["full-finetune"]
    assert out.read_text().count("\n") >= 4


def test_costs_table_and_json():
    result = CliRunner().invoke(cli, ["costs", "7B", "70B", "--gpus", "512,2048", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert len(d["rows"]) == 4
    table = CliRunner().invoke(cli, ["costs", "7B", "--gpus", "512"])
    assert table.exit_code == 0 and "7B" in table.output


def test_plan_budget():
    result = CliRunner().invoke(cli, ["plan", "--budget-usd", "1e6", "--gpus", "256:2048", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["optimum"]["cost_usd"] <= 1e6 * 1.0001
    assert d["deadline_days"] == 90.0  # the default deadline, never an open-ended 269-day plan
    assert d["optimum"]["expected_wall_days"] <= 90.0


def test_spot_breakeven_and_dollars():
    result = CliRunner().invoke(cli, ["spot", QUICK, "--replicas", "10", "--max-replicas", "10", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert "breakeven_preemptions_per_node_day" in json.dumps(d)
    dollars = CliRunner().invoke(cli, ["dollars", QUICK, "--json", "--usd-per-kwh", "0.08"])
    assert dollars.exit_code == 0, dollars.output


def test_money_user_errors_exit_2():
    result = CliRunner().invoke(cli, ["finetune", "no-such-model", "--tokens", "1e9"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_finetune_recipe_options_change_the_steps():
    result = CliRunner().invoke(cli, ["finetune", "llama3-8b", "--tokens", "100M", "--gpu", "h100-sxm-80gb",
                                      "--mode", "lora", "--seq-len", "2048", "--batch-seqs", "32", "--lora-rank", "64",
                                      "--headroom", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert "2,048-token sequences x 32" in d["recipe"] and "LoRA rank 64" in d["recipe"]
    assert d["memory_headroom"] == 0.2
    row = d["rows"][0]
    assert row["memory_per_gpu_gib"] <= 0.8 * row["gpu_memory_gib"]


def test_plan_tokens_per_param_over_trains_a_smaller_model():
    base = ["plan", "--budget-usd", "1e6", "--gpus", "512:1024", "--json"]
    chinchilla = json.loads(CliRunner().invoke(cli, base).output)
    over = json.loads(CliRunner().invoke(cli, [*base, "--tokens-per-param", "200"]).output)
    assert over["optimum"]["params_b"] < chinchilla["optimum"]["params_b"]
    assert over["optimum"]["tokens_per_param"] == pytest.approx(200, rel=0.02)
    table = CliRunner().invoke(cli, ["plan", "--budget-usd", "1e6", "--gpus", "512:1024"])
    assert table.exit_code == 0 and "e+0" not in table.output  # tokens as 10.5T, not 1.048e+04B


def test_dollars_refuses_a_layout_that_does_not_fit():
    sets = ["--set", "training.parallelism.tp=1", "--set", "training.parallelism.dp=256",
            "--set", "training.recompute=none", "--set", "training.micro_batch_seqs=2"]
    result = CliRunner().invoke(cli, ["dollars", QUICK, *sets])
    assert result.exit_code == 2 and "GiB" in result.output and "$" not in result.output
    as_json = CliRunner().invoke(cli, ["dollars", QUICK, *sets, "--json"])
    assert as_json.exit_code == 2
    err = json.loads(as_json.stdout)["error"]
    assert err["type"] == "InfeasibleError" and "GiB" in err["message"] and err["exit_code"] == 2


NEVER_FINISHES = ["--set", "failures.preset=", "--set", "failures.node_mtbf_hours=20",
                  "--set", "failures.spare_nodes=0", "--set", "failures.repair_hours=200"]


def test_a_run_that_never_finishes_says_so_and_exits_3():
    result = CliRunner().invoke(cli, ["simulate", QUICK, "--replicas", "4", "--workers", "1", *NEVER_FINISHES])
    assert result.exit_code == 3, result.output
    assert "DOES NOT FINISH" in result.output and "horizon of" in result.output
    as_json = CliRunner().invoke(cli, ["simulate", QUICK, "--replicas", "4", "--workers", "1", "--json",
                                       *NEVER_FINISHES])
    assert as_json.exit_code == 3
    d = json.loads(as_json.stdout)
    assert d["finished"] is False and d["finished_fraction"] == 0.0 and "DOES NOT FINISH" in d["verdict"]
    assert d["horizon_days"] > d["train_days"] * 20  # 20 x (work + repair), not 20 x work
    assert any("node availability" in w for w in d["warnings"])
    dollars = CliRunner().invoke(cli, ["dollars", QUICK, "--simulate", "--replicas", "4", "--workers", "1",
                                       "--json", *NEVER_FINISHES])
    assert dollars.exit_code == 3
    assert json.loads(dollars.stdout)["finished"] is False


def test_estimate_warns_that_availability_limits_the_run():
    result = CliRunner().invoke(cli, ["estimate", QUICK, "--json", *NEVER_FINISHES])
    assert result.exit_code == 0, result.output
    assert any("node availability, not the failure rate" in w for w in json.loads(result.stdout)["warnings"])


def test_spot_reports_its_interval_and_return_delay():
    result = CliRunner().invoke(cli, ["spot", QUICK, "--replicas", "8", "--max-replicas", "16", "--tolerance",
                                      "0.5", "--workers", "1", "--json", "--set", "pricing.spot.discount=0.5",
                                      "--set", "pricing.spot.preemptions_per_node_day=0.01",
                                      "--set", "pricing.spot.return_hours=2"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    assert d["return_hours"] == 2.0 and d["return_hours_source"] == "pricing.spot.return_hours"
    lo, hi = d["breakeven_ci95"]
    assert lo <= d["breakeven_preemptions_per_node_day"] <= hi
    assert d["replicas"] in (8, 16)


def test_finetune_reads_a_base_scenario_priced_for_another_gpu():
    base = str(SCENARIOS / "llama2-70b-lora.yaml")  # priced with an A100 preset
    result = CliRunner().invoke(cli, ["finetune", "llama2-70b", "--tokens", "1e8", "--base", base, "--gpu",
                                      "h100-sxm-80gb", "--gpu", "v100-sxm-32gb", "--mode", "lora", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    by = {r["gpu"]: r for r in d["rows"]}
    assert by["h100-sxm-80gb"]["cost_usd"] > 0 and by["v100-sxm-32gb"]["cost_usd"] is None
    assert any("v100-sxm-32gb: no on-demand price" in n for n in d["notes"])
