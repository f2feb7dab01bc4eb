"""One convention for every command, checked by walking click's command tree (see clustersim.cli_conventions).

A new command is held to it too: it must have --json and -o, help on every option, --set when it
reads a scenario, and a bad invocation listed in ``BAD`` that exits 2 with a JSON error under --json.
"""

from __future__ import annotations

import importlib
import json

import click
import pytest
from click.testing import CliRunner

from clustersim.cli import cli
from clustersim.errors import InfeasibleError
from tests.conftest import SCENARIOS

QUICK = str(SCENARIOS / "quickstart.yaml")
COMMANDS = sorted(cli.commands)  # type: ignore[attr-defined]

#: A bad invocation of each command (a user error it must refuse with exit 2).
BAD: dict[str, list[str]] = {
    "validate": ["no-such-file.yaml"],
    "schema": ["--no-such-option"],
    "catalog": ["tpus"],
    "estimate": ["no-such-file.yaml"],
    "search": ["no-such-file.yaml"],
    "simulate": ["no-such-file.yaml"],
    "report": ["no-such-result.json", "-o", "r.html"],
    "sweep": ["no-such-sweep.yaml"],
    "dollars": ["no-such-file.yaml"],
    "costs": ["no-such-model"],
    "plan": ["--budget-usd", "1e6", "--gpu", "no-such-gpu"],
    "finetune": ["no-such-model", "--tokens", "1e9"],
    "spot": ["no-such-file.yaml"],
    "fleet": ["no-such-fleet.yaml"],
    "resilience": ["no-such-file.yaml"],
    "calibrate": ["no-such-measurements.yaml"],
}

#: Commands whose FILE is not a scenario (a fleet file: its overrides are --nodes and --policy).
NOT_A_SCENARIO = {"fleet"}


def _options(command: click.Command) -> dict[str, click.Option]:
    out = {}
    for p in command.params:
        if isinstance(p, click.Option):
            for name in p.opts:
                out[name] = p
    return out


def _reads_scenario(command: click.Command) -> bool:
    if command.name in NOT_A_SCENARIO:
        return False
    args = [p.name for p in command.params if isinstance(p, click.Argument)]
    return bool({"file", "files"} & set(args)) or "--base" in _options(command)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_json_and_output(name):
    opts = _options(cli.commands[name])  # type: ignore[attr-defined]
    assert "--json" in opts, f"{name} has no --json"
    assert "-o" in opts and "--output" in opts, f"{name} has no -o/--output"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help(name):
    command = cli.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"{name} has no help"
    missing = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.help
               and p.opts[0] != "--help"]
    assert not missing, f"{name}: options without help text: {missing}"


@pytest.mark.parametrize("name", COMMANDS)
def test_set_where_a_scenario_is_read(name):
    command = cli.commands[name]  # type: ignore[attr-defined]
    if _reads_scenario(command):
        assert "--set" in _options(command), f"{name} reads a scenario but has no --set"


@pytest.mark.parametrize("name", COMMANDS)
def test_workers_default_to_one_per_cpu(name):
    opts = _options(cli.commands[name])  # type: ignore[attr-defined]
    if "--workers" in opts:
        assert opts["--workers"].default is None and "one per CPU" in (opts["--workers"].help or "")


def test_every_command_has_a_bad_invocation_listed():
    assert sorted(BAD) == COMMANDS, "add the new command's bad invocation to BAD"


@pytest.mark.parametrize("name", COMMANDS)
def test_errors_exit_2_and_are_json_under_json(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    plain = runner.invoke(cli, [name, *BAD[name]])
    assert plain.exit_code == 2, plain.output
    assert "Traceback" not in plain.output
    as_json = runner.invoke(cli, [name, *BAD[name], "--json"])
    assert as_json.exit_code == 2, as_json.output
    err = json.loads(as_json.stdout)["error"]
    assert err["exit_code"] == 2 and err["message"] and err["type"]


def test_a_scenario_error_lists_its_problems_in_json(write):
    path = write("model: llama3-8b\ntraining:\n  tokens: -1\ncluster:\n  gpu: h100-sxm-80gb\n  nodes: 2\n")
    result = CliRunner().invoke(cli, ["estimate", str(path), "--json"])
    assert result.exit_code == 2
    err = json.loads(result.stdout)["error"]
    assert err["type"] == "ScenarioError"
    assert any(p["path"] == "training.tokens" and p["line"] == 3 for p in err["problems"])


def test_infeasible_estimate_is_a_refusal(monkeypatch):
    # Until clustersim.estimate() raises InfeasibleError itself (the lead's change), this stands in for it.
    def refuse(*args, **kwargs):
        raise InfeasibleError("needs 130.8 GiB per GPU but the h100-sxm-80gb has 80.0 GiB")

    monkeypatch.setattr(importlib.import_module("clustersim.estimate"), "estimate", refuse)
    for command in (["estimate", QUICK], ["dollars", QUICK]):
        plain = CliRunner().invoke(cli, command)
        assert plain.exit_code == 2 and "130.8 GiB" in plain.output and "$" not in plain.output
        as_json = CliRunner().invoke(cli, [*command, "--json"])
        assert as_json.exit_code == 2
        assert json.loads(as_json.stdout)["error"]["type"] == "InfeasibleError"


def test_output_writes_what_json_prints(tmp_path):
    out = tmp_path / "e.json"
    printed = CliRunner().invoke(cli, ["estimate", QUICK, "--json"])
    written = CliRunner().invoke(cli, ["estimate", QUICK, "-o", str(out)])
    assert printed.exit_code == written.exit_code == 0
    a, b = json.loads(printed.stdout), json.loads(out.read_text())
    for key in ("step_time_s", "train_days", "cost_usd", "parallelism"):
        assert a[key] == b[key]


def test_validate_json_lists_each_file(write):
    good = write("model: llama3-8b\ntraining:\n  tokens: 1e9\ncluster:\n  gpu: gb200-nvl72\n  nodes: 256\n", "g.yaml")
    result = CliRunner().invoke(cli, ["validate", str(good), "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.stdout)
    f = d["files"][0]
    assert d["ok"] and f["gpus"] == 1024 and f["gpus_per_node"] == 4
    assert any("256 nodes = 1,024 GPUs" in w for w in f["warnings"])
    text = CliRunner().invoke(cli, ["validate", str(good)])
    assert "1,024 GPUs = 256 nodes x 4" in text.output


def test_count_suffixes_are_the_same_in_yaml_and_on_the_command_line(write):
    from clustersim.money.scaling import parse_size
    from clustersim.scenario import load_scenario

    path = write("model: llama3-8b\ntraining:\n  tokens: 15T\ncluster:\n  gpu: h100-sxm-80gb\n  nodes: 2\n")
    assert load_scenario(path).training.tokens == 15e12 == parse_size("15T")
    assert load_scenario(path, ["training.tokens=500B"]).training.tokens == 500e9 == parse_size("500b")
    bad = CliRunner().invoke(cli, ["validate", str(path), "--set", "training.tokens=15X"])
    assert bad.exit_code == 2 and "training.tokens" in bad.output


def test_an_output_that_cannot_be_written_is_a_refusal(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = str(blocker / "out.json")  # a path under a regular file: mkdir fails
    for command in (["estimate", QUICK, "-o", target], ["costs", "7B", "--gpus", "512", "--csv", target]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        assert ("cannot write" in result.output or "does not exist" in result.output) and "Traceback" not in result.output


def test_estimate_refuses_a_layout_that_does_not_fit():
    sets = ["--set", "training.parallelism.tp=1", "--set", "training.parallelism.dp=256",
            "--set", "training.recompute=none", "--set", "training.micro_batch_seqs=2"]
    result = CliRunner().invoke(cli, ["estimate", QUICK, *sets, "--json"])
    assert result.exit_code == 2
    err = json.loads(result.stdout)["error"]
    assert err["type"] == "InfeasibleError" and "GiB per GPU" in err["message"]
