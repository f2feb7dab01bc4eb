"""The rich tables of the money results render the figures they are given."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from clustersim.money import costs, dollars, finetune
from clustersim.money.tables import costs_table, days, dollars_table, finetune_table, usd


def _text(*tables) -> str:  # type: ignore[no-untyped-def]
    console = Console(record=True, width=200)
    for t in tables:
        console.print(t)
    return console.export_text()


def test_formatters() -> None:
    assert usd(None) == "\u2014"
    assert usd(1_270_000) == "$1.27M" and usd(7.42e9) == "$7.42B" and usd(9120.4) == "$9,120"
    assert usd(2.991) == "$2.99"
    # always days: a column never mixes "0.1 h" with "2,545"
    assert days(0.5) == "0.5" and days(0.004) == "0.004" and days(54.0) == "54" and days(1430.2) == "1,430"


def test_tables_show_the_results() -> None:
    r = costs(["8B", "1T"], gpus=64, price=2.0)
    text = _text(costs_table(r))
    assert "rule-8B" in text and "does not fit" in text
    assert usd(r.rows[0]["expected_cost_usd"]) in text
    f = finetune("llama3-8b", 1e8, gpus=["h100-sxm-80gb"], modes=["qlora"])
    text = _text(finetune_table(f))
    assert "qlora" in text and "lambda-h100-2026" in text and usd(f.rows[0]["cost_usd"]) in text
    d = dollars(Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml")
    text = _text(dollars_table(d))
    assert "failure-free" in text and usd(d.items["gpu_usd"]["failure_free"]) in text


def test_the_report_draws_costs_and_plan() -> None:
    import pytest

    report = pytest.importorskip("clustersim.report")
    from clustersim.money import plan

    c = costs(["8B", "70B"], gpus=[64, 256], price=2.0).to_dict()
    assert report.figure_count(c, kind=None) >= 3  # cost vs size, days vs GPUs, Pareto front
    p = plan(2e5, gpus="64:256", price=2.0, curve_points=3, rel_tol=0.1).to_dict()
    assert report.figure_count(p, kind=None) >= 4  # loss trade-off, days and cost vs GPUs, Pareto front
    assert "<script>alert" not in report.render_html({**c, "name": "<script>alert(1)</script>"}, kind=None)
