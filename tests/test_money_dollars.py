"""Dollars: prices with dates, GPU time, energy, storage, and the dollars of a scenario."""

from __future__ import annotations

import csv
import importlib
import io
import json

import numpy as np
import pytest

from clustersim import units
from clustersim.errors import ClustersimError, ScenarioError
from clustersim.money.prices import newest_price, presets_for_gpu, quote

# the module (clustersim.money re-exports the function of the same name)
dl = importlib.import_module("clustersim.money.dollars")


def test_quote_preset_and_inline() -> None:
    q = quote("lambda-h100-2026")
    assert q.usd_per_gpu_hour == 2.99 and q.kind == "on-demand" and q.date == "2026-03"
    assert "lambda-h100-2026" in q.label()
    assert quote(2.5).usd_per_gpu_hour == 2.5 and quote(2.5).preset is None
    assert quote("$3.10").usd_per_gpu_hour == pytest.approx(3.10)
    with pytest.raises(ScenarioError, match="did you mean"):
        quote("lambda-h100-2025")
    with pytest.raises(ClustersimError):
        quote(-1.0)


def test_presets_for_gpu_newest_first() -> None:
    h100 = presets_for_gpu("h100-sxm-80gb")
    dates = [q.date for q in h100]
    assert dates == sorted(dates, reverse=True)
    assert all(q.gpu == "h100-sxm-80gb" for q in h100)
    newest = newest_price("h100-sxm-80gb")
    assert newest is not None and newest.kind == "on-demand" and newest.date == "2026-03"
    assert newest_price("v100-sxm-32gb") is None  # the catalog has no V100 price
    assert newest_price("a100-sxm-80gb", "reserved").preset == "mosaicml-a100-80gb-2023"  # type: ignore[union-attr]


def test_gpu_energy_storage_by_hand() -> None:
    # 1024 GPUs for 10 days at $2/GPU-h = 1024 * 240 * 2
    assert dl.gpu_cost_usd(1024, 240.0, 2.0) == pytest.approx(491_520.0)
    # 1024 H100 (700 W) + 128 nodes x 1 kW overhead, 240 h, PUE 1.2 -> kWh
    kwh = dl.energy_kwh(1024, 128, 240.0, 700.0, pue=1.2, node_overhead_w=1000.0)
    assert kwh == pytest.approx((1024 * 700 + 128 * 1000) * 240 * 1.2 / 1000)
    assert dl.energy_cost_usd(kwh, 0.08) == pytest.approx(kwh * 0.08)
    assert dl.energy_kwh(8, 1, 1.0, 700.0, gpu_power_fraction=0.5) == pytest.approx(2.8)
    # 2.3 TB checkpoint (BLOOM, reference.md B.4), 2 kept, 3 months, $20 per TB-month
    assert dl.storage_cost_usd(2.3e12, 2, 3.0, 20.0) == pytest.approx(2.3 * 2 * 3 * 20)
    # vectorised over samples
    np.testing.assert_allclose(dl.gpu_cost_usd(8, np.array([1.0, 2.0]), 3.0), [24.0, 48.0])


QUICK = {
    "name": "dollars test",
    "model": "llama3-8b",
    "training": {"tokens": 20e9, "seq_len": 4096, "global_batch_seqs": 256,
                 "parallelism": {"tp": 1, "pp": 1, "dp": 64, "zero": 1}},
    "cluster": {"gpu": "h100-sxm-80gb", "nodes": 8},
    "failures": {"node_mtbf_hours": 3692, "spare_nodes": 1},
    "pricing": {"preset": "lambda-h100-2026", "energy": {"usd_per_kwh": 0.1, "pue": 1.25, "node_overhead_w": 2000},
                "storage_usd_per_tb_month": 20.0},
}


def test_dollars_of_a_scenario_adds_up() -> None:
    r = dl.dollars(QUICK)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    ff = r.wall_days["failure_free"]
    exp = r.wall_days["expected"]
    assert ff is not None and exp is not None and exp > ff
    paid = 64 + 8  # one spare node of 8 GPUs is paid for too
    assert r.paid_gpus == paid
    assert r.items["gpu_usd"]["failure_free"] == pytest.approx(paid * ff * 24 * 2.99)
    kwh = (64 * 700 + 8 * 2000) * ff * 24 * 1.25 / 1000
    assert r.items["energy_kwh"]["failure_free"] == pytest.approx(kwh)
    assert r.items["energy_usd"]["failure_free"] == pytest.approx(kwh * 0.1)
    months = ff * units.DAY_S / units.MONTH_S
    ck_tb = r.assumptions["checkpoint_size_gb"] / 1e3
    assert r.items["storage_usd"]["failure_free"] == pytest.approx(ck_tb * 2 * months * 20)
    for col in ("failure_free", "expected"):
        total = sum(r.items[k][col] for k in ("gpu_usd", "energy_usd", "storage_usd"))  # type: ignore[misc]
        assert r.items["total_usd"][col] == pytest.approx(total)
        assert r.items["usd_per_billion_tokens"][col] == pytest.approx(total / 20.0)
    assert r.items["total_usd"]["mean"] is None  # no simulation given
    assert {p["preset"] for p in r.by_preset} >= {"lambda-h100-2026", "aws-p5-on-demand-2023"}
    rows = list(csv.DictReader(io.StringIO(r.csv())))
    assert [row["item"] for row in rows][:3] == ["wall days", "gpu_hours", "gpu_usd"]


def test_dollars_price_override_and_missing_prices() -> None:
    r = dl.dollars(QUICK, price=1.0)
    base = dl.dollars(QUICK)
    assert r.items["gpu_usd"]["failure_free"] == pytest.approx(base.items["gpu_usd"]["failure_free"] / 2.99)
    bare = {k: v for k, v in QUICK.items() if k != "pricing"}
    bare["cluster"] = {"gpu": "v100-sxm-32gb", "nodes": 8}  # the catalog has no V100 price
    bare["training"] = {**QUICK["training"], "precision": "fp16", "parallelism": "auto"}
    none = dl.dollars(bare)
    assert none.items["gpu_usd"]["failure_free"] is None and none.items["total_usd"]["failure_free"] is None
    assert any("no price" in n for n in none.notes)
    assert none.items["energy_kwh"]["failure_free"] is not None  # energy needs no price to count kWh
    # an H100 scenario without pricing gets the catalog's default: the newest, cheapest on-demand offer
    default = dl.dollars({k: v for k, v in QUICK.items() if k != "pricing"})
    assert default.price is not None and default.price.preset == "lambda-h100-2026"


def test_dollars_spot_discount_applies() -> None:
    spot = json.loads(json.dumps(QUICK))
    spot["pricing"]["spot"] = {"discount": 0.6, "preemptions_per_node_day": 0.0}
    r = dl.dollars(spot)
    base = dl.dollars(QUICK)
    assert r.items["gpu_usd"]["failure_free"] == pytest.approx(0.4 * base.items["gpu_usd"]["failure_free"])


def test_dollars_from_simulation_samples() -> None:
    fake = {"paid_gpus": 72, "samples": {"wall_days": [1.0, 2.0, 3.0, 4.0, 10.0]},
            "wall_days": {"mean": 4.0, "p50": 3.0, "p90": 7.6}}
    r = dl.dollars(QUICK, simulation=fake)
    assert r.wall_days["mean"] == pytest.approx(4.0)
    assert r.wall_days["p50"] == pytest.approx(3.0)
    assert r.wall_days["p90"] == pytest.approx(np.percentile([1, 2, 3, 4, 10], 90))
    assert r.items["gpu_usd"]["mean"] == pytest.approx(72 * 4.0 * 24 * 2.99)
    assert r.items["gpu_usd"]["p90"] == pytest.approx(72 * r.wall_days["p90"] * 24 * 2.99)  # type: ignore[operator]
    assert r.total_usd("p90") > r.total_usd("p50")  # type: ignore[operator]
    with pytest.raises(ClustersimError):
        dl.dollars(QUICK, simulation=42)


def test_write_csv_is_atomic_and_complete(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = dl.dollars(QUICK)
    out = tmp_path / "sub" / "dollars.csv"
    r.write_csv(out)
    assert out.read_text().startswith("item,failure_free,expected,mean,p50,p90,p99,p50_failures_only,p90_failures_only,p99_failures_only\n")
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_dollars_with_a_real_simulation_matches_its_cost() -> None:
    from clustersim.simulate import simulate

    sim = simulate(QUICK, replicas=12, seed=5)
    r = dl.dollars(QUICK, simulation=sim)
    d = sim.to_dict()
    assert r.paid_gpus == d["paid_gpus"]
    # GPU dollars are the simulation's own wall cost (same wall time, GPUs paid and price)
    assert r.items["gpu_usd"]["mean"] == pytest.approx(d["wall_cost_usd"]["mean"], rel=1e-12)
    assert r.items["gpu_usd"]["p90"] == pytest.approx(d["wall_cost_usd"]["p90"], rel=1e-12)
    assert r.items["total_usd"]["p50"] <= r.items["total_usd"]["p90"]  # type: ignore[operator]
    # failures only add time; the drawn step-time factors (parameter uncertainty) can also take it away
    assert r.items["total_usd"]["p50_failures_only"] >= r.items["total_usd"]["failure_free"]  # type: ignore[operator]
    fixed = dl.dollars(QUICK, simulation=simulate(QUICK, replicas=12, seed=5, parameter_uncertainty=False))
    assert fixed.items["total_usd"]["mean"] >= fixed.items["total_usd"]["failure_free"]  # type: ignore[operator]


def test_dollars_refuses_a_layout_that_does_not_fit() -> None:
    from clustersim.errors import InfeasibleError

    bare = {k: v for k, v in QUICK.items() if k != "pricing"}
    bare["cluster"] = {"gpu": "v100-sxm-32gb", "nodes": 8}
    bare["training"] = {**QUICK["training"], "precision": "fp16"}  # the fixed layout needs 53.8 GiB of 32
    with pytest.raises(InfeasibleError, match="GiB per GPU"):
        dl.dollars(bare)


@pytest.mark.parametrize("gpu", ["h200-sxm-141gb", "b200-sxm-192gb", "gb200-nvl72", "mi300x-192gb"])
def test_newer_gpus_have_a_dated_cited_on_demand_price(gpu) -> None:
    q = newest_price(gpu)
    assert q is not None and q.kind == "on-demand" and q.usd_per_gpu_hour > 0
    assert q.date is not None and q.date >= "2026-01" and q.source and "reference.md C.3" in q.source
