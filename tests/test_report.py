"""The HTML report: built from result dicts only, self-contained, escaped; figures hold the right numbers.

The example results below are built by hand and follow the JSON contract of ``estimate --json`` and
``simulate --json`` (shared/SCENARIO.md) for a quickstart-like run: Llama 3 8B on 64 H100, 100B tokens.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersim.errors import ClustersimError
from clustersim.report import figure_count, pareto_front, render_html, render_report, report_from_file
from clustersim.report.data import fmt_usd, infer_kind
from clustersim.report.figures import time_breakdown_figure, timeline_figure, tornado_figure
from clustersim.report.planfigs import heatmap_figure
from clustersim.report.sensitivity import cost_of_estimate, sensitivity
from clustersim.rng import stream

XSS = "<script>alert(1)</script>"

# ---- quickstart-like example (hand-built; numbers from the formulas noted) --------------------------

DAY_S = 86400.0
TRAIN_DAYS = 2.65  # 100e9 tokens / 4.36e5 tokens/s (6.1e10 FLOP/token at 42% MFU on 64 x 989 TFLOP/s)
PRICE = 2.99
GPUS = 64
CKPT_WRITE_S = 5.6  # 112 GB at 20 GB/s
CKPT_LOAD_S = 2.8  # 112 GB at 40 GB/s
INTERVAL_S = 4313.0  # Young: sqrt(2 x 5.6 s x 461.5 h)
DETECT_S, RESTART_S = 300.0, 600.0
JOB_MTBF_H = 3692 / 8


def _stats(values: np.ndarray) -> dict[str, Any]:
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(len(values)))
    return {"mean": mean, "p50": float(np.percentile(values, 50)), "p90": float(np.percentile(values, 90)),
            "p99": float(np.percentile(values, 99)), "mean_ci95": [mean - 1.96 * se, mean + 1.96 * se]}


def estimate_example(name: str = "quickstart - llama3-8b on 64 H100") -> dict[str, Any]:
    breakdown = {"compute": 8.90, "tp_comm": 0.45, "cp_comm": 0.0, "ep_comm": 0.0, "pp_comm": 0.0,
                 "dp_comm": 0.18, "bubble": 0.0, "optimizer": 0.10}
    memory = {"weights": 7.48, "grads": 7.48, "optimizer": 1.40, "activations": 17.0, "overhead": 4.0}
    train_days = TRAIN_DAYS
    ckpt_overhead = CKPT_WRITE_S / INTERVAL_S
    lost_per_failure_s = DETECT_S + RESTART_S + CKPT_LOAD_S + INTERVAL_S / 2
    exp_interruptions = train_days * 24 / JOB_MTBF_H
    expected_wall_days = train_days * (1 + ckpt_overhead) + exp_interruptions * lost_per_failure_s / DAY_S
    return {
        "name": name, "model": "llama3-8b", "gpu": "h100-sxm-80gb", "gpus": GPUS, "params_b": 8.03,
        "active_params_b": 8.03, "tokens": 100e9, "step_time_s": sum(breakdown.values()),
        "tokens_per_s": 4.36e5, "mfu": 0.42, "hfu": 0.44, "model_tflops_per_gpu": 415.0,
        "hardware_tflops_per_gpu": 435.0, "memory_per_gpu_gib": sum(memory.values()),
        "memory_breakdown_gib": memory, "gpu_memory_gib": 80, "fits_in_memory": True, "memory_excess_gib": 0.0,
        "train_days": train_days, "gpu_hours": train_days * 24 * GPUS, "usd_per_gpu_hour": PRICE,
        "cost_usd": train_days * 24 * GPUS * PRICE,
        "parallelism": {"tp": 2, "pp": 1, "dp": 32, "cp": 1, "ep": 1, "vpp": 1, "zero": 1,
                        "sequence_parallel": True, "tp_comm_overlap": False, "searched": False},
        "breakdown_s": breakdown, "checkpoint_size_gb": 112.4, "job_mtbf_hours": JOB_MTBF_H,
        "checkpoint_interval_minutes": INTERVAL_S / 60, "checkpoint_write_s": CKPT_WRITE_S,
        "checkpoint_load_s": CKPT_LOAD_S, "expected_goodput": train_days / expected_wall_days,
        "expected_wall_days": expected_wall_days, "expected_interruptions": exp_interruptions,
        "clustersim_version": "0.1.0", "schema_version": "1.0",
    }


def _timeline(total_run_s: float, failure_at_s: float) -> list[dict[str, Any]]:
    """Replica 0: run, checkpoint every INTERVAL_S, one node failure at ``failure_at_s`` (of compute)."""
    segs: list[dict[str, Any]] = []
    t = 0.0  # wall clock
    done = 0.0  # productive compute
    since_ckpt = 0.0
    failed = False
    while done < total_run_s:
        step = min(INTERVAL_S - since_ckpt, total_run_s - done)
        if not failed and done + step > failure_at_s:
            ran = failure_at_s - done
            segs.append({"start_s": t, "end_s": t + ran, "state": "running"})
            t += ran
            for state, dur in (("detecting", DETECT_S), ("restarting", RESTART_S), ("loading", CKPT_LOAD_S)):
                segs.append({"start_s": t, "end_s": t + dur, "state": state})
                t += dur
            done = failure_at_s - since_ckpt - ran  # back to the last checkpoint
            since_ckpt = 0.0
            failed = True
            continue
        segs.append({"start_s": t, "end_s": t + step, "state": "running"})
        t += step
        done += step
        since_ckpt += step
        if done < total_run_s:
            segs.append({"start_s": t, "end_s": t + CKPT_WRITE_S, "state": "checkpointing"})
            t += CKPT_WRITE_S
            since_ckpt = 0.0
    return segs


def simulate_example(name: str = "quickstart - llama3-8b on 64 H100", replicas: int = 200) -> dict[str, Any]:
    """A ``simulate --json``-shaped result: Poisson interruptions per replica (seeded), costs from days."""
    out = estimate_example(name)
    rng = stream(0, 0, "report-test-example")
    n_int = rng.poisson(TRAIN_DAYS * 24 / JOB_MTBF_H, size=replicas)
    lost = np.array([rng.uniform(0, INTERVAL_S, size=k).sum() for k in n_int])
    ckpt_days = np.full(replicas, TRAIN_DAYS * DAY_S / INTERVAL_S * CKPT_WRITE_S / DAY_S)
    parts = {
        "productive": np.full(replicas, TRAIN_DAYS), "lost_work": lost / DAY_S, "checkpointing": ckpt_days,
        "detecting": n_int * DETECT_S / DAY_S, "restarting": n_int * RESTART_S / DAY_S,
        "loading": n_int * CKPT_LOAD_S / DAY_S, "waiting_for_spares": np.zeros(replicas),
        "preempted": np.zeros(replicas), "maintenance": np.zeros(replicas), "degraded": np.zeros(replicas),
    }
    wall = sum(parts.values())
    assert isinstance(wall, np.ndarray)
    cost = wall * 24 * GPUS * PRICE
    goodput = TRAIN_DAYS / wall
    out.update({
        "wall_days": _stats(wall), "wall_cost_usd": _stats(cost), "goodput": _stats(goodput),
        "interruptions": _stats(n_int.astype(float)), "interruptions_by_cause": {"node": float(n_int.mean())},
        "time_breakdown_days": {k: {q: v for q, v in _stats(a).items() if q != "mean_ci95"} for k, a in parts.items()},
        "samples": {"wall_days": wall.tolist(), "wall_cost_usd": cost.tolist(), "goodput": goodput.tolist()},
        "timeline": _timeline(TRAIN_DAYS * DAY_S, failure_at_s=1.4 * DAY_S),
        "replicas": replicas, "seed": 0,
        "sensitivity": [
            {"parameter": "failure rate (MTBF)", "low_label": "MTBF x0.5 (node MTBF 1,846 h)",
             "high_label": "MTBF x2 (node MTBF 7,384 h)", "low_value_usd": 12390.0, "high_value_usd": 12220.0},
            {"parameter": "checkpoint write bandwidth", "low_label": "x0.5 (10 GB/s)", "high_label": "x2 (40 GB/s)",
             "low_value_usd": 12290.0, "high_value_usd": 12255.0},
            {"parameter": "network bandwidth per NIC", "low_label": "x0.5 (200 Gbit/s)",
             "high_label": "x2 (800 Gbit/s)", "low_value_usd": 12720.0, "high_value_usd": 12150.0},
            {"parameter": "price per GPU-hour", "low_label": "x0.75 ($2.24/GPU-h)", "high_label": "x1.25 ($3.74/GPU-h)",
             "low_value_usd": 0.75 * 12270.0, "high_value_usd": 1.25 * 12270.0},
        ],
    })
    for row in out["sensitivity"]:
        row["base_usd"] = 12270.0
    return out


# Chinchilla's fitted loss (Hoffmann et al. 2022, Sec. 3.3 / Approach 3): L = E + A/N^a + B/D^b.
def _chinchilla_loss(n: float, d: float) -> float:
    return 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28


def costs_example() -> dict[str, Any]:
    """Time and dollars per model size: 6ND FLOPs at 40% MFU, Chinchilla tokens (20 per parameter)."""
    rows = []
    for gpu, peak, price in (("h100-sxm-80gb", 989e12, 2.99), ("b200", 2250e12, 5.50)):
        for params_b in (1.0, 8.0, 70.0, 405.0):
            for gpus in (256, 1024, 4096):
                tokens = 20 * params_b * 1e9
                days = 6 * params_b * 1e9 * tokens / (gpus * peak * 0.40) / DAY_S
                rows.append({"model": f"{params_b:g}B", "params_b": params_b, "tokens": tokens, "gpu": gpu,
                             "gpus": gpus, "days": days, "cost_usd": days * 24 * gpus * price})
    return {"kind": "costs", "name": "cost per model size", "rows": rows}


def plan_example() -> dict[str, Any]:
    """A $1M budget: C = 6ND at 40% MFU on H100 at $2.99; bigger clusters lose 3% MFU per doubling."""
    budget, price, peak = 1e6, 2.99, 989e12 * 0.40
    flop = budget / price * 3600 * peak  # C = 6ND
    rows = []
    for n in np.geomspace(1e9, 60e9, 9):
        d = flop / (6 * n)
        for gpus in (512, 1024, 2048, 4096):
            eff = 1 - 0.03 * math.log2(gpus / 512)
            days = flop / (gpus * peak * eff) / DAY_S
            rows.append({"params_b": float(n / 1e9), "tokens": d, "loss": _chinchilla_loss(n, d), "gpus": gpus,
                         "days": days, "cost_usd": days * 24 * gpus * price})
    best = min(rows, key=lambda r: (r["loss"], r["days"]))
    fast = min((r for r in rows if r["params_b"] == best["params_b"] and r["days"] <= 30.0), key=lambda r: r["gpus"])
    return {"kind": "plan", "budget_usd": budget, "deadline_days": 30.0,
            "optimum": {"params_b": best["params_b"], "tokens": best["tokens"], "loss": best["loss"],
                        "gpus": fast["gpus"], "days": fast["days"], "cost_usd": fast["cost_usd"]},
            "rows": rows}


def sweep_example() -> dict[str, Any]:
    rows = []
    for nodes in (8, 16, 32, 64):
        for bw in (5.0, 20.0, 80.0):
            for spares in (0, 2):  # a third input: two rows share each heatmap cell
                days = 40.0 / nodes * (1 + 2.0 / bw) * (1.02 if spares == 0 else 1.0)
                cost = days * 24 * nodes * 8 * 2.99 + spares * 1000.0
                rows.append({"cluster.nodes": nodes, "checkpoint.write_gbyte_per_s": bw, "failures.spare_nodes": spares,
                             "wall_days": days, "cost_usd": cost,  # with estimate's 80% interval (sweep rows)
                             "prediction_interval_cost_usd_lo": 0.85 * cost, "prediction_interval_cost_usd_hi": 1.2 * cost})
    return {"kind": "sweep", "rows": rows, "x": "cluster.nodes", "y": "checkpoint.write_gbyte_per_s",
            "z": "cost_usd"}


EXAMPLES = {"simulate": simulate_example, "estimate": estimate_example, "costs": costs_example,
            "plan": plan_example, "sweep": sweep_example}
#: Figures per kind: simulate = progress, timeline, time breakdown, 2 CDFs, step time, memory, tornado.
EXPECTED_FIGURES = {"simulate": 8, "estimate": 2, "costs": 3, "plan": 3, "sweep": 3}  # sweep: + the interval band


# ---- the page ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(EXAMPLES))
def test_each_kind_is_one_self_contained_page(kind: str) -> None:
    result = EXAMPLES[kind]()
    page = render_html(result, kind=kind)
    n = figure_count(result, kind=kind)
    assert n == EXPECTED_FIGURES[kind]
    assert page.count("Plotly.newPlot(") == n
    assert page.count("class=\"plotly-graph-div\"") == n
    # plotly.js embedded exactly once, and nothing loaded from anywhere
    assert page.count("window.PlotlyConfig") == 1
    assert len(page) > 1_000_000
    assert re.search(r"<script[^>]+src=", page) is None
    assert re.search(r"<link[^>]+href=", page) is None
    assert "Content-Security-Policy" in page and "connect-src" not in page


def test_estimate_page_says_it_has_no_sensitivity() -> None:
    page = render_html(estimate_example(), kind="estimate")
    assert "carries no sensitivity" in page
    assert "Timeline" not in page  # a failure-free estimate has no simulated timeline


def test_summary_shows_the_simulated_figures() -> None:
    result = simulate_example()
    page = render_html(result, kind="simulate")
    wall = result["wall_days"]
    assert f"{wall['mean']:.3g} days" in page
    assert f"p90 {wall['p90']:.3g}" in page
    assert f"${result['wall_cost_usd']['mean']:,.0f}" in page
    assert f"{100 * result['goodput']['mean']:.1f}%" in page


def test_rendering_is_deterministic_and_from_the_dict_only(tmp_path: Path) -> None:
    result = simulate_example()
    saved = tmp_path / "result.json"
    saved.write_text(json.dumps(result), encoding="utf-8")
    assert report_from_file(saved, tmp_path / "a.html") == "simulate"
    render_report(result, tmp_path / "b.html", kind="simulate")
    assert (tmp_path / "a.html").read_text() == (tmp_path / "b.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "b.html", "result.json"]  # no temp files left


@pytest.mark.parametrize("kind", list(EXAMPLES))
def test_the_kind_is_inferred_from_a_saved_result(kind: str, tmp_path: Path) -> None:
    result = EXAMPLES[kind]()
    result.pop("kind", None)
    assert infer_kind(result) == kind
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(result), encoding="utf-8")
    assert report_from_file(saved, tmp_path / "r.html") == kind


def test_sweep_rows_as_a_list_with_chosen_axes(tmp_path: Path) -> None:
    rows = sweep_example()["rows"]
    saved = tmp_path / "rows.json"
    saved.write_text(json.dumps(rows), encoding="utf-8")
    assert report_from_file(saved, tmp_path / "r.html", x="cluster.nodes", y="failures.spare_nodes",
                            z="wall_days") == "sweep"
    assert "wall_days against cluster.nodes and failures.spare_nodes" in (tmp_path / "r.html").read_text()
    # without axes, the first two dotted inputs that vary
    assert report_from_file(saved, tmp_path / "s.html", kind="sweep") == "sweep"
    assert "cost_usd against cluster.nodes and checkpoint.write_gbyte_per_s" in (tmp_path / "s.html").read_text()


@pytest.mark.parametrize("bad, message", [
    ("{not json", "not valid JSON"),
    ('"a string"', "must be a JSON object"),
    ('{"hello": 1}', "cannot tell what kind"),
    ('{"kind": "nope"}', "unknown result kind"),
])
def test_bad_result_files_are_clear_errors(bad: str, message: str, tmp_path: Path) -> None:
    saved = tmp_path / "r.json"
    saved.write_text(bad, encoding="utf-8")
    with pytest.raises(ClustersimError, match=message):
        report_from_file(saved, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ClustersimError, match="unknown report kind"):
        render_report(simulate_example(), tmp_path / "x.html", kind="pie")
    with pytest.raises(ClustersimError, match="needs x, y"):
        render_html({"rows": [], "z": "cost_usd"}, kind="sweep")
    with pytest.raises(ClustersimError, match="cannot read"):
        report_from_file(tmp_path / "missing.json", tmp_path / "x.html")


# ---- escaping ---------------------------------------------------------------------------------------

def _hostile(kind: str) -> dict[str, Any]:
    result = EXAMPLES[kind]()
    result["name"] = XSS
    if kind == "simulate":
        result["model"] = XSS
        result["interruptions_by_cause"] = {XSS: 0.1}
        result["timeline"].append({"start_s": 0.0, "end_s": 10.0, "state": XSS})
        result["sensitivity"][0]["parameter"] = XSS
        result["breakdown_s"][XSS] = 0.2
    elif kind in ("costs", "plan"):
        for row in result["rows"]:
            row["model"] = XSS
        result["rows"][0][XSS] = XSS
    elif kind == "sweep":
        for row in result["rows"]:
            row[XSS] = row.pop("cluster.nodes")
        result["x"] = XSS
    return result


@pytest.mark.parametrize("kind", ["simulate", "costs", "plan", "sweep"])
def test_text_from_files_is_escaped(kind: str) -> None:
    page = render_html(_hostile(kind), kind=kind)
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "alert(1)</" not in page


def test_curves_given_in_the_result_are_drawn_as_given() -> None:
    result = costs_example()
    result["curves"] = [{"title": f"custom {XSS}", "x_title": "GPUs", "y_title": "days", "log_x": True,
                         "series": [{"name": "a", "x": [1, 2, 4], "y": [4, 2, 1]}]}]
    # the given curves replace the derived ones; the Pareto front stays
    assert figure_count(result, kind="costs") == 2
    assert XSS not in render_html(result, kind="costs")


# ---- figures hold the numbers -------------------------------------------------------------------------

def test_timeline_bars_cover_each_segment() -> None:
    segs = simulate_example()["timeline"]
    fig = timeline_figure(segs)
    bars = {t.name: t for t in fig.data if t.type == "bar"}
    assert set(bars) == {"running", "checkpointing", "failed (detecting)", "restarting", "loading checkpoint"}
    # the run lasts under three days, so the axis is in hours; the bars add up to the segments' time
    # (the "running" row spans the time the job is up: running and checkpointing together)
    for states, label in ((("running", "checkpointing"), "running"), (("detecting",), "failed (detecting)"),
                          (("checkpointing",), "checkpointing")):
        total_h = sum(s["end_s"] - s["start_s"] for s in segs if s["state"] in states) / 3600
        assert float(np.sum(bars[label].x)) == pytest.approx(total_h)
    detect = next(s for s in segs if s["state"] == "detecting")
    assert bars["failed (detecting)"].base[0] == pytest.approx(detect["start_s"] / 3600)
    assert fig.layout.xaxis.title.text.startswith("time since the start (hours)")
    assert fig.layout.xaxis.rangeslider.visible  # zoom and pan along a long run


def test_progress_shows_work_lost_at_a_failure() -> None:
    from clustersim.report.figures import progress_figure

    segs = simulate_example()["timeline"]
    fig = progress_figure(segs)
    line = fig.data[-1]  # drawn last, over the marks
    assert line.name == "work done"
    y = np.asarray(line.y)
    assert y[0] == 0.0 and y[-1] == pytest.approx(1.0)
    assert np.any(np.diff(y) < 0)  # the failure rolls progress back to the last checkpoint
    marked = {t.name for t in fig.data[:-1]}
    assert "failed (detecting)" in marked


def test_cards_compare_points_of_one_model_size() -> None:
    rows = [{"model": m, "params_b": p, "gpus": g, "gpu": "h100", "cost_usd": c, "train_days": d}
            for m, p, g, c, d in (("1B", 1.0, 8, 100.0, 9.0), ("1B", 1.0, 64, 120.0, 2.0),
                                  ("1T", 1000.0, 8, 9e6, 900.0), ("1T", 1000.0, 64, 9.5e6, 200.0))]
    page = render_html({"kind": "costs", "rows": rows}, kind="costs")
    assert "1B: cheapest" in page and "1T: fastest" in page and ">cheapest<" not in page


def test_time_breakdown_lists_zero_parts_in_the_text() -> None:
    parts = simulate_example()["time_breakdown_days"]
    fig, zero = time_breakdown_figure(parts)
    assert zero == ["waiting for spares", "preempted (spot)", "planned maintenance", "degraded (slow nodes)"]
    bar = fig.data[0]
    assert list(bar.y)[0] == "productive compute"
    assert bar.x[0] == pytest.approx(parts["productive"]["mean"])


def test_tornado_puts_the_widest_swing_on_top() -> None:
    rows = simulate_example()["sensitivity"]
    fig = tornado_figure(rows)
    low, high = fig.data
    assert list(low.y)[-1] == "price per GPU-hour"  # plotly draws the last category on top
    assert list(low.y)[0] == "checkpoint write bandwidth"
    i = list(low.y).index("network bandwidth per NIC")
    assert low.base[i] + low.x[i] == pytest.approx(12720.0)
    assert high.base[i] + high.x[i] == pytest.approx(12150.0)


def test_heatmap_cells_hold_the_lowest_value_of_their_rows() -> None:
    result = sweep_example()
    fig, merged = heatmap_figure(result["rows"], result["x"], result["y"], result["z"])
    assert merged
    hm = fig.data[0]
    assert list(hm.x) == ["8", "16", "32", "64"] and list(hm.y) == ["5.0", "20.0", "80.0"]
    expected = min(r["cost_usd"] for r in result["rows"]
                   if r["cluster.nodes"] == 32 and r["checkpoint.write_gbyte_per_s"] == 20.0)
    assert hm.z[1][2] == pytest.approx(expected)


# ---- Pareto front -------------------------------------------------------------------------------------

def test_pareto_front_by_hand() -> None:
    pts = [(10, 100), (5, 300), (20, 50), (10, 120), (30, 60), (5, 300), (None, 1), (40, 50)]
    assert pareto_front(pts) == [1, 0, 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), max_size=40))
def test_pareto_front_matches_brute_force(pts: list[tuple[int, int]]) -> None:
    front = pareto_front(pts)
    dominated = {i for i, (x, y) in enumerate(pts)
                 for (a, b) in pts if a <= x and b <= y and (a, b) != (x, y)}
    first_of_each = {pts.index(p) for p in pts}
    assert set(front) == {i for i in first_of_each if i not in dominated}
    assert [pts[i][0] for i in front] == sorted(pts[i][0] for i in front)


# ---- sensitivity (with a fake estimator; the real one is the kernel + theory) -------------------------

class FakeEstimate:
    """Days grow with 1/MTBF, 1/checkpoint bandwidth and 1/NIC bandwidth, like the real model's sign."""

    calls: list[Any] = []

    def __init__(self, source: Any, set: list[str]) -> None:  # noqa: A002 - estimate's keyword
        from clustersim.scenario import load_scenario

        FakeEstimate.calls.append((source, list(set)))
        s = load_scenario(source, set)
        f = s.failures
        assert f is not None
        if f.preset is not None:
            from clustersim.scenario import catalog

            mtbf = min(src["mtbf_hours"] for src in catalog.reliability_preset(f.preset)["sources"])
        else:
            mtbf = f.node_mtbf_hours or min(src.mtbf_hours for src in (f.sources or []))
        nic = s.cluster.network.nic_gbit_per_s or 400.0
        days = 2.0 * (1 + 100.0 / mtbf) * (1 + 1.0 / s.checkpoint.write_gbyte_per_s) * (1 + 20.0 / nic)
        self.d = {"expected_wall_days": days, "train_days": 2.0, "gpus": s.gpus,
                  "usd_per_gpu_hour": s.usd_per_gpu_hour()}

    def to_dict(self) -> dict[str, Any]:
        return self.d


def test_sensitivity_moves_each_input_through_estimate(write) -> None:
    from tests.conftest import VALID

    path = write(VALID)
    FakeEstimate.calls = []
    base = FakeEstimate(path, []).to_dict()
    rows = sensitivity(path, base, estimator=FakeEstimate)
    assert [r["parameter"] for r in rows] == ["failure rate (MTBF)", "checkpoint write bandwidth",
                                              "network bandwidth per NIC", "price per GPU-hour"]
    by = {r["parameter"]: r for r in rows}
    base_usd = cost_of_estimate(base, paid_gpus=24)
    # paid GPUs: 16 in the job and one spare node of 8, as simulate's cost counts them
    assert base_usd == pytest.approx(base["expected_wall_days"] * 24 * 24 * 2.5)
    for r in rows:
        assert r["base_usd"] == base_usd
        assert r["low_value_usd"] > base_usd > r["high_value_usd"] or r["parameter"] == "price per GPU-hour"
    assert by["price per GPU-hour"]["low_value_usd"] == pytest.approx(0.75 * base_usd)
    assert by["price per GPU-hour"]["high_value_usd"] == pytest.approx(1.25 * base_usd)
    assert by["failure rate (MTBF)"]["low_label"] == "MTBF x0.5 (node MTBF 2,500 h)"
    sets = [c[1] for c in FakeEstimate.calls[1:]]
    assert ["failures.node_mtbf_hours=2500.0"] in sets and ["failures.node_mtbf_hours=10000.0"] in sets
    assert ["cluster.network.nic_gbit_per_s=200.0"] in sets  # the GPU catalog's 400 Gbit/s, halved
    assert len(FakeEstimate.calls) == 1 + 6  # price needs no re-evaluation


def test_sensitivity_scales_every_source_of_a_preset(write) -> None:
    from tests.conftest import VALID

    path = write(VALID.replace("node_mtbf_hours: 5000", "preset: llama3-405b"))
    base = FakeEstimate(path, []).to_dict()
    FakeEstimate.calls = []
    rows = sensitivity(path, base, estimator=FakeEstimate)
    assert rows[0]["low_label"] == "MTBF x0.5 (every source's MTBF)"
    moved = FakeEstimate.calls[0][0]
    from clustersim.scenario import catalog

    preset = catalog.reliability_preset("llama3-405b")["sources"]
    assert [s["mtbf_hours"] for s in moved["failures"]["sources"]] == pytest.approx(
        [0.5 * s["mtbf_hours"] for s in preset])
    assert "preset" not in moved["failures"]


# ---- a sweep database (clustersim.sweep) --------------------------------------------------------------

def fake_simulate(s: Any) -> dict[str, Any]:
    """A stand-in for clustersim.simulate in a sweep: days fall with GPUs and rise with the failure rate."""
    days = 1000.0 / s.gpus * (1 + 100.0 / s.failures.node_mtbf_hours)
    price = s.usd_per_gpu_hour()
    wall = np.array([days, days * 1.1])
    return {"name": s.name, "gpus": s.gpus, "train_days": 1000.0 / s.gpus, "cost_usd": 1000.0 * 24 * price,
            "wall_days": _stats(wall), "wall_cost_usd": _stats(wall * 24 * s.gpus * price),
            "goodput": _stats(1000.0 / s.gpus / wall), "replicas": 2, "seed": 0}


SWEEP_YAML = """\
name: report sweep
base: base.yaml
mode: simulate
set:
  training.parallelism.dp: null
grid:
  cluster.nodes: [2, 4, 8]
  failures.node_mtbf_hours: [1000, 5000]
"""


def test_report_of_a_sweep_database(tmp_path: Path) -> None:
    from clustersim.sweep import run_sweep
    from tests.conftest import VALID

    (tmp_path / "base.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "sweep.yaml").write_text(SWEEP_YAML, encoding="utf-8")
    run_sweep(tmp_path / "sweep.yaml", tmp_path / "results.db", progress=False, simulate_fn=fake_simulate)
    assert report_from_file(tmp_path / "results.db", tmp_path / "r.html") == "sweep"
    page = (tmp_path / "r.html").read_text()
    assert "wall_cost_usd_mean against cluster.nodes and failures.node_mtbf_hours" in page
    assert page.count("Plotly.newPlot(") == 2
    # the cheapest point: 2 nodes is as cheap as 8 in GPU-hours; 5000 h MTBF loses less
    cheapest = min(fake_simulate_cost(n, m) for n in (2, 4, 8) for m in (1000, 5000))
    assert fmt_usd(cheapest) in page


def fake_simulate_cost(nodes: int, mtbf_h: float) -> float:
    gpus = nodes * 8
    days = 1000.0 / gpus * (1 + 100.0 / mtbf_h)
    return float(np.mean([days, days * 1.1])) * 24 * gpus * 2.5


def test_sensitivity_of_the_quickstart_with_the_real_estimate() -> None:
    from clustersim.estimate import estimate

    path = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"
    base = estimate(path).to_dict()
    rows = {r["parameter"]: r for r in sensitivity(path, base)}
    paid = base["gpus"] + 2 * 8  # the quickstart's two spare nodes are paid for, as in simulate's cost
    base_usd = base["expected_wall_days"] * 24 * paid * base["usd_per_gpu_hour"]
    assert all(r["base_usd"] == pytest.approx(base_usd) for r in rows.values())
    mtbf, ckpt = rows["failure rate (MTBF)"], rows["checkpoint write bandwidth"]
    # more failures cost more; a faster checkpoint store costs less (theory's expected wall time)
    assert mtbf["low_value_usd"] > base_usd > mtbf["high_value_usd"]
    assert ckpt["low_value_usd"] > base_usd > ckpt["high_value_usd"]
    assert rows["network bandwidth per NIC"]["low_value_usd"] >= rows["network bandwidth per NIC"]["high_value_usd"]
    assert rows["price per GPU-hour"]["high_value_usd"] == pytest.approx(1.25 * base_usd)
    page = render_html({**base, "sensitivity": list(rows.values())}, kind="estimate")
    assert page.count("Plotly.newPlot(") == 3


def test_plan_cards_and_pareto_use_the_optimum_and_its_cluster_sizes() -> None:
    result = plan_example()
    result["optimum"].update({"configs": 50892, "note": None, "arch": {"layers": 67}, "price_date": "2026-03"})
    by_gpus = [{"gpus": g, "expected_wall_days": 100.0 / g, "expected_cost_usd": 1e6 * (1 + g / 1e4)}
               for g in (256, 512, 1024, 2048)] + [{"gpus": 8, "fits": False, "expected_wall_days": None}]
    result["by_gpus"] = by_gpus
    page = render_html(result, kind="plan")
    cards = re.findall(r"<div class='label'>([^<]*)</div>", page)
    assert cards == ["budget", "deadline", "model size", "tokens", "predicted loss", "GPUs", "days", "cost (USD)"]
    # every cluster size of the optimum is on the front (more GPUs: faster and dearer); the one that fits nothing is left out
    assert "4 of 4 points on the Pareto front" in page


def test_a_long_run_keeps_every_checkpoint_as_a_tick_not_a_bar() -> None:
    # 100 days with a 20 s checkpoint every 10 minutes: 14,400 checkpoints, each 1/432,000 of the run
    segs: list[dict[str, Any]] = []
    t = 0.0
    while t < 100 * DAY_S:
        segs.append({"start_s": t, "end_s": t + 580.0, "state": "running"})
        segs.append({"start_s": t + 580.0, "end_s": t + 600.0, "state": "checkpointing"})
        t += 600.0
    fig = timeline_figure(segs)
    bars = {tr.name: tr for tr in fig.data if tr.type == "bar"}
    assert set(bars) == {"running"} and len(bars["running"].x) == 1  # one span: the job was up throughout
    ticks = [tr for tr in fig.data if tr.type == "scatter" and tr.name == "checkpointing"]
    assert len(ticks) == 1 and len(ticks[0].x) == len(segs) // 2


def test_sensitivity_base_is_the_headline_figure() -> None:
    """The tornado's base is the simulated mean the headline shows; each move keeps theory's ratio."""
    from clustersim.report import figures as rf
    from clustersim.report.sections import headline_rows

    result = simulate_example()
    headline = result["wall_cost_usd"]["mean"]
    rows = headline_rows(result["sensitivity"], headline)
    for old, moved in zip(result["sensitivity"], rows, strict=True):
        assert moved["base_usd"] == headline
        for key in ("low_value_usd", "high_value_usd"):
            assert moved[key] / headline == pytest.approx(old[key] / old["base_usd"], rel=1e-12)
    page = render_html(result, kind="simulate")
    assert f"base {fmt_usd(headline)}" in page and f"simulated mean cost, {fmt_usd(headline)}" in page
    fig = rf.tornado_figure(rows)
    assert fig.layout.annotations[0].text == f"base {fmt_usd(headline)}"


def test_log_axes_write_every_tick_in_full() -> None:
    """Plotly's own log ticks label 0.5 and 50 alike as a bare "5"; ours are 1-2-5 in full."""
    from clustersim.report.planfigs import curve_figure

    fig = curve_figure("t", "x", "y", [("s", [0.15, 13.6], [0.2, 900.0])], log_x=True, log_y=True)
    assert list(fig.layout.xaxis.ticktext) == ["0.1", "0.2", "0.5", "1", "2", "5", "10", "20"]
    assert list(fig.layout.yaxis.ticktext) == ["1", "10", "100", "1,000"]  # over 8 ticks: powers of ten
    wide = curve_figure("t", "x", "y", [("s", [1.0, 1e6], [1.0, 2.0])], log_x=True)
    assert list(wide.layout.xaxis.ticktext) == ["1", "10", "100", "1,000", "10k", "100k", "1M"]


def test_long_titles_wrap_clear_of_the_toolbar() -> None:
    from clustersim.report.figures import _TITLE_CHARS, base_layout

    long = "cost_usd against cluster.nodes and checkpoint.write_gbyte_per_s (lowest over the other inputs)"
    fig = base_layout(go.Figure(), long + "<br><sub>note</sub>")
    lines = fig.layout.title.text.split("<br>")
    assert lines[-1] == "<sub>note</sub>" and all(len(x) <= _TITLE_CHARS for x in lines[:-1]) and len(lines) == 4
    assert " ".join(lines[:-1]) == long and fig.layout.margin.t == 60 + 2 * 22


def test_one_card_when_the_cheapest_point_is_also_the_fastest() -> None:
    rows = [{"model": "7B", "params_b": 7.0, "gpus": 1024, "gpu": "h100", "cost_usd": 1e4, "train_days": 0.15},
            {"model": "70B", "params_b": 70.0, "gpus": 1024, "gpu": "h100", "cost_usd": 1e6, "train_days": 13.6}]
    page = render_html({"kind": "costs", "rows": rows}, kind="costs")
    assert page.count("cheapest and fastest") == 2 and "7B: fastest" not in page


def test_a_long_run_timeline_opens_on_a_window_of_single_checkpoints() -> None:
    from clustersim.report.figures import _WINDOW_INTERVALS, timeline_window

    interval, write = 300.0, 5.0
    segs = []
    t = 0.0
    for k in range(2000):  # a week of 5-minute checkpoints, one failure at checkpoint 1200
        segs.append((t, t + interval - write, "running"))
        segs.append((t + interval - write, t + interval, "checkpointing"))
        t += interval
        if k == 1200:
            segs += [(t, t + 600, "detecting"), (t + 600, t + 900, "restarting")]
            failure, t = t, t + 900
    lo, hi = timeline_window(segs)  # type: ignore[misc]
    assert hi - lo == pytest.approx(_WINDOW_INTERVALS * (2000 * interval + 900) / 1999, rel=1e-3)
    assert lo < failure < hi and failure - lo == pytest.approx((hi - lo) / 3)
    assert timeline_window(segs[:100]) is None  # 50 checkpoints: the whole run is readable
    fig = timeline_figure([{"start_s": a, "end_s": b, "state": st} for a, b, st in segs])
    assert fig.layout.xaxis.range[1] - fig.layout.xaxis.range[0] < 0.1 * fig.layout.xaxis.rangeslider.range[1]


def test_docs_state_the_report_size() -> None:
    """The tutorial says a report is about 5 MB, 4.8 MB of it plotly.js embedded once: still true."""
    from plotly.offline import get_plotlyjs

    tutorial = (Path(__file__).resolve().parents[1] / "docs" / "tutorial.md").read_text(encoding="utf-8")
    assert "about 5 MB" in tutorial and "4.8 MB" in tutorial
    assert 4.75e6 <= len(get_plotlyjs().encode()) <= 4.85e6
    page = render_html(simulate_example(), kind="simulate").encode()
    assert 4.75e6 <= len(page) <= 5.5e6
