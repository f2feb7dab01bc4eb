"""costs: each point's best parallelism from one batched kernel pass, theory's goodput, dollars, curves."""

from __future__ import annotations

import csv
import io
import json

import pytest

from clustersim.errors import ClustersimError
from clustersim.estimate import estimate
from clustersim.money import batch
from clustersim.money.costs import COLUMNS, base_mapping, costs, parse_gpu_counts, resolve_model
from clustersim.search import search


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    return costs(["8B", "llama3-70b", "1T"], gpu=["h100-sxm-80gb", "a100-sxm-80gb"], gpus=[64, 512])


def test_rows_cover_every_point(table) -> None:  # type: ignore[no-untyped-def]
    assert len(table.rows) == 3 * 2 * 2
    assert {(r["gpu"], r["gpus"]) for r in table.rows} == {(g, n) for g in ("h100-sxm-80gb", "a100-sxm-80gb")
                                                          for n in (64, 512)}
    for r in table.rows:
        assert r["tokens"] == pytest.approx(20 * r["params_b"] * 1e9)  # chinchilla: 20 tokens per parameter
    # a 1T model cannot fit on 64 GPUs of 80 GiB (16 bytes of model state per parameter = 16 TB)
    small = [r for r in table.rows if r["model"] == "rule-1T" and r["gpus"] == 64]
    assert all(not r["fits"] and "fits" in r["note"] and r["cost_usd"] is None for r in small)
    json.dumps(table.to_dict(), allow_nan=False)


def test_batched_winner_equals_the_search_of_each_point(table) -> None:  # type: ignore[no-untyped-def]
    base = base_mapping(None)
    for r in table.rows:
        if not r["fits"] or r["gpus"] != 64:
            continue
        _, model = resolve_model(r["model"] if r["model"].startswith("llama") else "8B")
        s = batch.point_scenario(base, model=model, gpu=r["gpu"], gpus=r["gpus"], tokens="chinchilla",
                                 usd_per_gpu_hour=r["usd_per_gpu_hour"])
        best = search(s, top=1).rows[0]
        assert r["step_time_s"] == pytest.approx(best["step_time_s"], rel=1e-12)
        assert r["configs"] == search(s, top=1).configs_evaluated


def test_goodput_and_cost_agree_with_estimate(table) -> None:  # type: ignore[no-untyped-def]
    r = next(x for x in table.rows if x["model"] == "llama3-70b" and x["gpus"] == 512 and x["gpu"] == "h100-sxm-80gb")
    base = base_mapping(None)
    s = batch.point_scenario(base, model="llama3-70b", gpu=r["gpu"], gpus=512, tokens="chinchilla",
                             usd_per_gpu_hour=r["usd_per_gpu_hour"])
    e = estimate(s).to_dict()  # parallelism auto: the search's fastest, with theory's goodput
    assert r["train_days"] == pytest.approx(e["train_days"], rel=1e-9)
    assert r["expected_goodput"] == pytest.approx(e["expected_goodput"], rel=1e-9)
    assert r["expected_wall_days"] == pytest.approx(e["expected_wall_days"], rel=1e-9)
    assert r["cost_usd"] == pytest.approx(e["cost_usd"], rel=1e-9)
    assert r["expected_cost_usd"] == pytest.approx(r["expected_wall_days"] * 24 * 512 * r["usd_per_gpu_hour"])
    assert 0.5 < r["expected_goodput"] < 1.0
    # kokolis-rsc1: 6.5 failures per 1000 node-days -> 64 nodes: MTBF = 1000 / 6.5 / 64 days
    assert r["job_mtbf_hours"] == pytest.approx(3692.3 / 64, rel=1e-6)


def test_chunking_does_not_change_the_answer(table) -> None:  # type: ignore[no-untyped-def]
    small = costs(["8B", "llama3-70b", "1T"], gpu=["h100-sxm-80gb", "a100-sxm-80gb"], gpus=[64, 512],
                  chunk_rows=5_000)
    for a, b in zip(table.rows, small.rows, strict=True):
        assert a.get("step_time_s") == b.get("step_time_s")
        assert a.get("tp") == b.get("tp") and a.get("pp") == b.get("pp")


def test_cost_is_linear_in_price() -> None:
    one = costs(["8B"], gpus=64, price=1.0)
    three = costs(["8B"], gpus=64, price=3.0)
    assert three.rows[0]["cost_usd"] == pytest.approx(3 * one.rows[0]["cost_usd"])
    assert three.rows[0]["expected_cost_usd"] == pytest.approx(3 * one.rows[0]["expected_cost_usd"])
    assert one.rows[0]["price"] == "given"


def test_fixed_tokens_and_no_price() -> None:
    r = costs(["8B"], tokens="100B", gpu="v100-sxm-32gb", gpus=64, reliability=None)
    row = r.rows[0]
    assert row["tokens"] == 100e9
    assert row["cost_usd"] is None and row["expected_goodput"] is None
    assert any("no on-demand price" in n for n in r.notes)


def test_curves_carry_the_rows(table) -> None:  # type: ignore[no-untyped-def]
    cost_curve, days_curve = table.curves()
    assert cost_curve["log_x"] and days_curve["x_title"] == "GPUs"
    fits = [r for r in table.rows if r["fits"]]
    assert sum(len(s["x"]) for s in cost_curve["series"]) == len(fits)
    for series in days_curve["series"]:
        assert series["x"] == sorted(series["x"])


def test_csv(table) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO(table.csv())))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == len(table.rows)
    assert rows[0]["model"] == "rule-8B"


def test_gpu_counts_and_models() -> None:
    assert parse_gpu_counts("512:4096") == [512, 1024, 2048, 4096]
    assert parse_gpu_counts("8,64") == [8, 64]
    assert parse_gpu_counts(16) == [16]
    for bad in ("a", "4096:512", "0", ""):
        with pytest.raises(ClustersimError):
            parse_gpu_counts(bad)
    assert resolve_model("llama3-8b") == ("llama3-8b", "llama3-8b")
    label, arch = resolve_model("30B")
    assert label == "rule-30B" and arch["hidden_size"] % 1024 == 0
    with pytest.raises(ClustersimError, match="did you mean"):
        resolve_model("llama3-8c")
    with pytest.raises(ClustersimError):
        batch.split_gpus("h100-sxm-80gb", 12)
    assert batch.split_gpus("h100-sxm-80gb", 4) == (1, 4)
    assert batch.split_gpus("gb200-nvl72", 16) == (4, 4)


def test_price_for_prefers_the_given_then_the_base_then_the_catalog() -> None:
    from clustersim.money.costs import price_for

    assert price_for("h100-sxm-80gb", 1.5).usd_per_gpu_hour == 1.5  # type: ignore[union-attr]
    base = {"cluster": {"gpu": "h100-sxm-80gb"}, "pricing": {"preset": "aws-p5-on-demand-2026"}}
    assert price_for("h100-sxm-80gb", None, base).preset == "aws-p5-on-demand-2026"  # type: ignore[union-attr]
    # the base's preset is for an H100: an A100 gets its own newest on-demand price
    assert price_for("a100-sxm-80gb", None, base).preset == "coreweave-a100-80gb"  # type: ignore[union-attr]
    inline = {"cluster": {"gpu": "h100-sxm-80gb"}, "pricing": {"usd_per_gpu_hour": 2.2}}
    assert price_for("h100-sxm-80gb", None, inline).usd_per_gpu_hour == 2.2  # type: ignore[union-attr]
    # several offers of the newest month: the cheapest (Lambda's $2.99 of March 2026)
    assert price_for("h100-sxm-80gb", None, None).preset == "lambda-h100-2026"  # type: ignore[union-attr]
    assert price_for("v100-sxm-32gb", None, None) is None


def test_rows_carry_estimates_prediction_interval(table) -> None:  # type: ignore[no-untyped-def]
    """Each fitting row has the 80% interval estimate gives its winner's layout, around its figures, and
    the costs report draws it as a band."""
    from clustersim import estimate
    from clustersim.report.sections import _interval_sections

    fitting = [r for r in table.rows if r["fits"]]
    assert fitting
    for r in fitting:
        for fig in ("train_days", "gpu_hours", "cost_usd"):
            lo, hi = r[f"prediction_interval_{fig}_lo"], r[f"prediction_interval_{fig}_hi"]
            assert lo < r[fig] < hi, (r["model"], fig)
    r = next(x for x in table.rows if x["model"] == "llama3-70b" and x["gpus"] == 512 and x["gpu"] == "h100-sxm-80gb")
    s = batch.point_scenario(base_mapping(None), model="llama3-70b", gpu=r["gpu"], gpus=512, tokens="chinchilla",
                             usd_per_gpu_hour=r["usd_per_gpu_hour"])
    e = estimate(s).to_dict()  # the same winner (test_goodput_and_cost_agree_with_estimate)
    lo, hi = e["prediction_interval"]["train_days"]
    assert r["prediction_interval_train_days_lo"] == pytest.approx(lo, rel=1e-9)
    assert r["prediction_interval_train_days_hi"] == pytest.approx(hi, rel=1e-9)
    sections = _interval_sections(table.to_dict()["rows"])
    assert [s.title for s in sections] == ["Days against GPUs, with their interval",
                                           "Cost against model size, with its interval"]
