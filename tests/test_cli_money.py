"""The money and planning commands through click's CliRunner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from clustersim.cli import cli
from tests.conftest import SCENARIOS

QUICK = str(SCENARIOS / "quickstart.yaml")


def test_finetune_json_is_the_documented_list(tmp_path):
    out = tmp_path / "ft.csv"
    result = CliRunner().invoke(cli, ["finetune", "llama2-70b", "--tokens", "1e8", "--gpu", "h100-sxm-80gb",
                                      "--json", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
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


def test_spot_breakeven_and_dollars():
    result = CliRunner().invoke(cli, ["spot", QUICK, "--replicas", "10", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert "breakeven_preemptions_per_node_day" in json.dumps(d)
    dollars = CliRunner().invoke(cli, ["dollars", QUICK, "--json", "--usd-per-kwh", "0.08"])
    assert dollars.exit_code == 0, dollars.output


def test_money_user_errors_exit_2():
    result = CliRunner().invoke(cli, ["finetune", "no-such-model", "--tokens", "1e9"])
    assert result.exit_code == 2 and "Traceback" not in result.output
