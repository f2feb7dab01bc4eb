"""Figures stay physical: intervals inside their ranges, HFU below 1, a checkpoint interval longer than
the run treated as one segment (the hostile-input issue's "impossible figures printed as valid")."""

from __future__ import annotations

import math

import pytest

from clustersim import estimate, simulate

LONG = {"name": "long interval", "model": "llama3-8b",
        "training": {"tokens": 1.0e10, "seq_len": 4096, "global_batch_seqs": 256, "parallelism": {"tp": 1}},
        "cluster": {"gpu": "h100-sxm-80gb", "nodes": 4}, "failures": {"node_mtbf_hours": 1000},
        "checkpoint": {"interval_minutes": 500000}}


def test_an_interval_longer_than_the_run_is_one_segment():
    est = estimate(LONG)
    d = est.to_dict()
    assert d["expected_wall_days"] is not None and math.isfinite(d["expected_wall_days"])
    assert d["expected_wall_days"] >= est.train_days
    assert d["checkpoint_interval_minutes"] * 60 == pytest.approx(est.kernel["train_s"], rel=1e-9)
    sim = simulate(LONG, replicas=8, seed=1).to_dict()
    assert sim["finished_fraction"] == 1.0


def test_confidence_intervals_stay_in_their_physical_range():
    few = {**LONG, "checkpoint": {"interval_minutes": 30}, "failures": {"node_mtbf_hours": 20}}
    d = simulate(few, replicas=4, seed=3).to_dict()
    for key in ("wall_days", "goodput", "interruptions"):
        lo, hi = d[key]["mean_ci95"]
        assert 0.0 <= lo <= hi
    assert d["goodput"]["mean_ci95"][1] <= 1.0


@pytest.mark.parametrize("seq_len, cp", [(65536, 8), (131072, 16)])
def test_hfu_below_one_at_long_context(seq_len, cp):
    scenario = {"model": "llama3-8b", "training": {"tokens": 1e11, "seq_len": seq_len, "global_batch_seqs": 32,
                                                   "recompute": "selective",
                                                   "parallelism": {"tp": 8, "cp": cp}},
                "cluster": {"gpu": "h100-sxm-80gb", "nodes": 2 * cp}}
    k = estimate(scenario, with_theory=False).kernel
    assert 0.0 < k["hfu"] < 1.0 and 0.0 < k["mfu"] < 1.0


def test_money_tables_print_names_with_markup_as_themselves(tmp_path):
    """A scenario name with square brackets is user text, not terminal markup (dollars and spot)."""
    import yaml
    from click.testing import CliRunner

    from clustersim.cli import cli

    path = tmp_path / "brackets.yaml"
    path.write_text(yaml.safe_dump({**LONG, "name": "oops [/] x", "checkpoint": {"interval_minutes": 30},
                                    "pricing": {"spot": {"discount": 0.5, "preemptions_per_node_day": 0.1}}}),
                    encoding="utf-8")
    for command in (["dollars", str(path)], ["spot", str(path), "--max-replicas", "40"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output
        assert "oops [/] x" in result.output


def test_report_of_deeply_nested_json_is_a_refusal(tmp_path):
    from click.testing import CliRunner

    from clustersim.cli import cli

    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", str(path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "nested too deeply" in result.output


def test_auto_with_no_layout_at_all_is_a_refusal_that_says_why():
    from clustersim.errors import InfeasibleError

    quick = {"model": "llama3-8b", "training": {"tokens": 1e10, "seq_len": 4096, "global_batch_seqs": 1024,
                                                "parallelism": "auto"},
             "cluster": {"gpu": "h100-sxm-80gb", "nodes": 125}}
    with pytest.raises(InfeasibleError, match="no parallel layout exists for 1,000 GPUs"):
        estimate(quick)


def test_a_placement_that_is_not_an_order_of_the_dimensions_is_refused():
    from clustersim import load_scenario
    from clustersim.errors import ScenarioError

    bad = {**LONG, "training": {**LONG["training"], "parallelism": {"tp": 1, "placement": "tp-dp-ep-pp"}}}
    with pytest.raises(ScenarioError, match="ep must come right before dp"):
        load_scenario(bad)
    good = {**LONG, "training": {**LONG["training"], "parallelism": {"tp": 1, "placement": "tp-cp-pp-dp"}}}
    assert load_scenario(good).training.parallelism.placement == "tp-cp-pp-dp"
