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
