"""The fleet against Kokolis et al. 2024's stated inputs (clustersim/fleet/validation.py; docs/validation.md)."""

from __future__ import annotations

from clustersim.fleet import validation as v


def test_job_mttf_by_size_matches_the_papers_projections():
    rows = v.mttf_checks()
    assert [r["gpus"] for r in rows] == [16_384, 131_072]
    for r in rows:
        assert r["interruptions"] > 2000  # enough for the 5% tolerance (Poisson: 2% standard error or less)
        assert abs(r["error"]) <= v.MTTF_TOLERANCE, r


def test_ettr_by_job_size_matches_kokolis_within_its_first_order_error_and_daly_exactly():
    rows = v.ettr_checks()
    for r in rows:
        assert abs(r["difference"]) <= v.ETTR_TOLERANCE, r
        assert abs(r["z_vs_daly"]) <= 4.0, r
        assert r["se"] < 0.01 * r["simulated_ettr"]
    # ETTR falls with the job's size, as in the paper's figure
    assert [r["simulated_ettr"] for r in rows] == sorted((r["simulated_ettr"] for r in rows), reverse=True)
