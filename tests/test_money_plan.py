"""plan: the largest Chinchilla-optimal model a budget trains by a deadline, and the trade-off curve."""

from __future__ import annotations

import json

import pytest

from clustersim.errors import ClustersimError, InfeasibleError
from clustersim.money import scaling
from clustersim.money.plan import plan

LADDER = "64:1024"


@pytest.fixture(scope="module")
def one_million():  # type: ignore[no-untyped-def]
    return plan(1e6, gpus=LADDER, price=2.0, curve_points=5, rel_tol=0.02)


def test_optimum_spends_the_budget_on_a_chinchilla_model(one_million) -> None:  # type: ignore[no-untyped-def]
    o = one_million.optimum
    assert o["expected_cost_usd"] <= 1e6
    assert o["tokens_per_param"] == pytest.approx(20.0)
    assert o["loss"] == pytest.approx(scaling.chinchilla_loss(o["params_b"] * 1e9, o["tokens"]))
    assert o["flop"] == pytest.approx(6 * o["params_b"] * 1e9 * o["tokens"])
    assert o["expected_wall_days"] <= 365.0  # the default planning horizon without a deadline
    # dollars -> FLOPs through the achieved MFU and goodput: the model FLOPs the money buys are
    # cost / price x 3600 x peak x MFU x goodput; they exceed 6ND by the attention term (PaLM App. B:
    # 12 L H Q T per token, a few % at 4096 tokens), never by more than 15%
    peak = 989e12
    flop = o["expected_cost_usd"] / 2.0 * 3600 * peak * o["mfu"] * o["expected_goodput"]
    assert o["flop"] < flop < 1.15 * o["flop"]
    json.dumps(one_million.to_dict(), allow_nan=False)


def test_the_next_size_up_is_not_affordable(one_million) -> None:  # type: ignore[no-untyped-def]
    from clustersim.money.costs import costs

    n = one_million.optimum["params_b"] * 1e9
    bigger = costs([n * 1.05], gpu="h100-sxm-80gb", gpus=LADDER, price=2.0)
    ok = [r for r in bigger.rows if r["fits"] and r["expected_wall_days"] <= 365.0]
    assert min(r["expected_cost_usd"] for r in ok) > 1e6


def test_more_money_buys_a_bigger_model_and_a_lower_loss(one_million) -> None:  # type: ignore[no-untyped-def]
    four = plan(4e6, gpus=LADDER, price=2.0, curve_points=3, rel_tol=0.05)
    assert four.optimum["params_b"] > 1.5 * one_million.optimum["params_b"]  # cost ~ N^2: about 2x
    assert four.optimum["loss"] < one_million.optimum["loss"]


def test_deadline_is_met_and_costs_model_size(one_million) -> None:  # type: ignore[no-untyped-def]
    rushed = plan(1e6, deadline_days=10, gpus=LADDER, price=2.0, curve_points=3, rel_tol=0.05)
    assert rushed.optimum["expected_wall_days"] <= 10
    assert rushed.optimum["params_b"] <= one_million.optimum["params_b"]
    assert rushed.optimum["gpus"] >= one_million.optimum["gpus"]
    assert rushed.optimum["min_gpus_meeting_deadline"] <= rushed.optimum["gpus"]


def test_trade_off_curve(one_million) -> None:  # type: ignore[no-untyped-def]
    rows = one_million.rows
    assert len(rows) >= 3
    sizes = [r["params_b"] for r in rows]
    assert sizes == sorted(sizes)
    for r in rows:
        assert r["loss"] == pytest.approx(scaling.chinchilla_loss(r["params_b"] * 1e9, r["tokens"]))
        assert r["cost_usd"] == 1e6
    # at the optimum's size the whole budget buys at least the 20 tokens per parameter it was sized for
    at_opt = min(rows, key=lambda r: abs(r["params_b"] - one_million.optimum["params_b"]))
    assert at_opt["tokens_per_param"] >= 20.0 * (1 - 1e-9)
    # bigger models get fewer tokens from the same budget
    tokens = [r["tokens"] for r in rows]
    assert tokens == sorted(tokens, reverse=True)
    assert one_million.loss_optimal == min(rows, key=lambda r: r["loss"])
    curves = one_million.curves()
    assert curves[0]["series"][0]["x"] == sizes
    d = one_million.to_dict()
    assert d["tradeoff"] == json.loads(json.dumps(rows)) and d["rows"] == d["by_gpus"]
    assert {r["gpus"] for r in d["rows"]} == {64, 128, 256, 512, 1024}


def test_errors() -> None:
    with pytest.raises(InfeasibleError):
        plan(0.05, gpus=LADDER, price=2.0)
    with pytest.raises(ClustersimError, match="no on-demand price"):
        plan(1e6, gpu="v100-sxm-32gb")
    with pytest.raises(ClustersimError):
        plan(-5.0)
    with pytest.raises(ClustersimError):
        plan(1e6, deadline_days=0)
