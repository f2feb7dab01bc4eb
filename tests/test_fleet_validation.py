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


def test_the_papers_cascade_example_gives_its_published_share_under_its_own_accounting():
    from clustersim.fleet import cascade
    # 7,000 GPUs preempted over 35 requeues of a 1,024-GPU job, each loss 30 min: 16.3%
    assert abs(cascade.paper_example_share() - cascade.PUBLISHED) <= cascade.TOLERANCE
    assert cascade.paper_example_share() == 7000 / (7000 + 35 * 1024)


def test_the_rsc1_file_under_slurms_requeue_gives_the_published_share_within_its_tolerance():
    """The documented reading (scenarios/fleet/rsc1-cascade.yaml: the stated inputs, Slurm's requeue hold of
    cred_expire = 120 s, submit time reset, released nodes to pending jobs) lands within the tolerance of 16%,
    measured precisely enough to tell: standard error under a quarter of the tolerance. The row is
    ``clustersim.fleet`` on the file's own mapping (the last test pins the file to it), shared with the page."""
    from clustersim.fleet import cascade
    label, over = cascade.VARIANTS[0]
    central = cascade.share_row(label, **over)
    assert central["replicas"] == cascade.CENTRAL_REPLICAS
    assert central["se"] < cascade.TOLERANCE / 4, central
    assert abs(central["simulated"] - cascade.PUBLISHED) <= cascade.TOLERANCE, central
    assert 0.78 < central["utilization"] < 0.90  # near the stated 83%


def test_the_stated_requeued_shares_rounding_and_the_requeue_semantics_carry_the_share_out_of_tolerance():
    """Why the figure is not counted as reproduced: Fig. 3's one-digit 0.1% / 0.2% allow a requeued share
    of 0.2 to 1.0, and those ends fall outside the tolerance on both sides; and a scheduler that gave a
    requeued job its nodes back (not Slurm's documented behaviour) stays far below (docs/validation.md, Fleet)."""
    from clustersim.fleet import cascade
    central, keep, low, high = (cascade.share_row(label, **over) for label, over in cascade.VARIANTS[:4])
    assert keep["variant"].startswith("not Slurm's") and low["variant"].startswith("requeued share 0.2")
    assert high["variant"].startswith("requeued share 1.0")
    assert keep["simulated"] + 4 * keep["se"] < cascade.PUBLISHED - cascade.TOLERANCE
    assert low["simulated"] < cascade.PUBLISHED - cascade.TOLERANCE
    assert high["simulated"] > cascade.PUBLISHED + cascade.TOLERANCE
    assert low["simulated"] < central["simulated"] < high["simulated"]  # grows with the requeued share
    assert all(0.78 < r["utilization"] < 0.90 for r in (central, keep, low, high))  # near the stated 83%


def test_the_page_quotes_its_sources_and_says_the_figure_is_not_reproduced():
    from clustersim.fleet import cascade, cascade_page
    rows = [{"variant": label, "replicas": 4, "simulated": 0.1 + 0.01 * k, "se": 0.01, "utilization": 0.85,
             "requeues": 300.0, "preemptions": 2e4, "within": True} for k, (label, _) in enumerate(cascade.VARIANTS)]
    text = "\n".join(cascade_page.section_lines(rows))
    assert "not counted as reproduced" in text
    for needle in ("how long a requeued job must wait before starting again", "the submit time is reset",
                   "pending jobs will be started as soon as possible", "after node failure",
                   "configured to requeue on failures", "second-order preemptions"):
        assert needle in text, needle
    assert "`scheduler.requeue_delay_minutes: 2`, `requeue_place: back`" in text


def test_the_rsc1_scenario_file_is_the_central_reading_and_current():
    from clustersim.fleet import cascade, load_fleet
    assert cascade.SCENARIO.read_text(encoding="utf-8") == cascade.scenario_text(), \
        "stale: python -m clustersim.fleet.cascade"
    assert load_fleet(cascade.SCENARIO).spec == load_fleet(cascade.rsc1_fleet(replicas=cascade.CENTRAL_REPLICAS)).spec
