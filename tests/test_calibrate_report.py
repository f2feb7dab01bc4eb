"""The interval in reports: bands against a swept input, the failure-only CDF, the estimate's interval."""

from pathlib import Path

import pytest

from clustersim.report import render_html
from clustersim.report.bands import band_figure, interval_keys
from tests.test_report import sweep_example

QS = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"


def test_band_follows_each_points_interval():
    result = sweep_example()
    rows = result["rows"]
    assert interval_keys(rows, "cost_usd")[:2] == ("prediction_interval_cost_usd_lo", "prediction_interval_cost_usd_hi")
    fig = band_figure(rows, "cluster.nodes", "cost_usd", by="checkpoint.write_gbyte_per_s")
    assert fig is not None
    fills = [t for t in fig.data if t.fill == "tonexty"]
    assert len(fills) == 3  # one band per write bandwidth
    # each band's edges are the interval of the row drawn at that x (the lowest cost there)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    for band, line in zip(fills, lines, strict=True):
        upper = fig.data[list(fig.data).index(band) - 1]
        for lo, hi, z in zip(band.y, upper.y, line.y, strict=True):
            assert lo == pytest.approx(0.85 * z) and hi == pytest.approx(1.2 * z)
    assert band_figure([{k: v for k, v in r.items() if "interval" not in k} for r in rows], "cluster.nodes",
                       "cost_usd") is None


def test_simulated_statistics_band_from_their_percentiles():
    rows = [{"n": n, "wall_days_p90": 2.0 * n, "wall_days_p10": 1.0 * n} for n in (1, 2, 4)]
    lo, hi, words = interval_keys(rows, "wall_days_p90")
    assert (lo, hi) == ("wall_days_p10", "wall_days_p90") and "10th-90th" in words


def test_sweep_report_has_the_band_and_the_interval_columns():
    page = render_html(sweep_example(), kind="sweep")
    assert "with its interval" in page and "prediction_interval_cost_usd_lo" in page


def test_estimate_and_simulate_reports_show_the_interval_and_both_modes():
    from clustersim.estimate import estimate
    from clustersim.simulate import simulate

    est = estimate(QS).to_dict()
    page = render_html(est, kind="estimate")
    assert "80% interval" in page and "published rows" in page
    sim = simulate(QS, replicas=30).to_dict()
    page = render_html(sim, kind="simulate")
    assert "failures only" in page and "with parameter uncertainty" in page
    assert sim["wall_days"]["p10"] <= sim["wall_days"]["p50"] <= sim["wall_days"]["p90"]


def test_a_sweeps_csv_export_and_report_carry_the_interval(tmp_path):
    from clustersim.report import report_from_file
    from clustersim.sweep.runner import run_sweep
    from clustersim.sweep.store import export_results

    grid = Path(__file__).resolve().parents[1] / "scenarios" / "sweeps" / "quickstart-grid.yaml"
    db = tmp_path / "grid.db"
    run_sweep(grid, db, progress=False)
    n = export_results(db, tmp_path / "grid.csv")
    header = (tmp_path / "grid.csv").read_text().splitlines()[0].split(",")
    assert n == 12 and {"prediction_interval_cost_usd_lo", "prediction_interval_cost_usd_hi",
                        "prediction_interval_train_days_lo"} <= set(header)
    out = tmp_path / "grid.html"
    report_from_file(db, out, kind="sweep", x="cluster.nodes", y="training.parallelism.tp", z="cost_usd")
    assert "cost_usd against cluster.nodes, with its interval" in out.read_text()
