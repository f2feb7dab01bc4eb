"""The strategy engine's event log: exact rows of scripted traces, the same result with or without it,
and ``clustersim simulate --events`` when the strategy engine runs."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from clustersim.cli import cli
from clustersim.estimate import estimate
from clustersim.sim.records import EVENT_COLUMNS
from clustersim.sim.strategy import run_strategy_replica, strategy_event_log
from clustersim.sim.strategy_job import StrategyJob
from clustersim.sim.strategy_log import EventLog
from clustersim.simulate import simulate, strategy_job_of
from tests.conftest import SCENARIOS
from tests.test_sim_strategy import PINNED, H, job

QUICK = str(SCENARIOS / "quickstart.yaml")


def _rows(j: StrategyJob) -> list[tuple[float, str, str, str]]:
    return [(t, event, component, detail) for t, event, component, _, detail in strategy_event_log(j).sorted_rows()]


def test_restart_log_exact() -> None:
    """3 h of work, hourly 60 s checkpoints, no hot spare, cold nodes in 30 min: a software failure in the
    first write, a second during its detection, a node failure in the second cycle's compute."""
    j = job(work_s=3 * H, hot_spares=0, cold_provision_s=1800.0,
            trace=((3630.0, "soft"), (3700.0, "soft"), (9000.0, "node")))
    assert _rows(j) == [
        (0.0, "start", "", "work_s=10800.0 nodes=4 spares=0"),
        (3600.0, "checkpoint_start", "", "work_s=3600.0"),
        (3630.0, "failure", "software", "during checkpointing; restores checkpoint 0 from storage"),
        # its detection (3930) is cut by the next failure
        (3700.0, "failure", "software", "during recovery; restores checkpoint 0 from storage"),
        (4000.0, "detected", "", ""), (4600.0, "restarted", "", ""), (4660.0, "resumed", "", "work_s=0.0 from=storage"),
        (8260.0, "checkpoint_start", "", "work_s=3600.0"),
        (8320.0, "checkpoint_done", "", "work_s=3600.0 tier=storage"),
        (9000.0, "failure", "node", "during running; restores checkpoint 1 from storage"),
        (9000.0, "repair_start", "node", "until=16200.0"),
        (9300.0, "detected", "", ""), (9300.0, "wait_for_spares", "", "vacant=1 next=cold node"),
        (11100.0, "spare_swap", "", "cold node"), (11700.0, "restarted", "", ""),
        (11760.0, "resumed", "", "work_s=3600.0 from=storage"),
        (15360.0, "checkpoint_start", "", "work_s=7200.0"),
        (15420.0, "checkpoint_done", "", "work_s=7200.0 tier=storage"),
        (19020.0, "checkpoint_start", "", "work_s=10800.0"),
        (19080.0, "checkpoint_done", "", "work_s=10800.0 tier=storage"),
        (19080.0, "finish", "", ""),
    ]
    assert run_strategy_replica(j).wall_s == 19080.0


def test_restart_log_tiers_spares_and_retirement() -> None:
    # a memory tier (every cycle), storage every 2nd; a hot spare takes the node; a lemon retired at once
    j = job(work_s=2 * H, write_s=5.0, tier_survives="node", storage_every=2, tier_load_s=10.0, lemon_nodes=1,
            lemon_mtbf_s=H, retire_after=1, trace=((5000.0, "lemon"),))
    rows = _rows(j)
    assert rows[1:3] == [(3600.0, "checkpoint_start", "", "work_s=3600.0"),
                         (3605.0, "checkpoint_done", "", "work_s=3600.0 tier=memory")]
    assert rows[3:6] == [(5000.0, "failure", "lemon-node", "during running; restores checkpoint 1 from memory"),
                         (5000.0, "repair_start", "lemon-node", "until=12200.0"),
                         (5000.0, "node_retired", "lemon-node", "after 1 failures; a fresh node at 12200.0")]
    assert rows[6:8] == [(5300.0, "detected", "", ""), (5300.0, "spare_swap", "", "spares_left=3")]
    assert rows[-2] == (rows[-1][0], "checkpoint_done", "", "work_s=7200.0 tier=memory+storage")


def test_per_replica_log_exact() -> None:
    j = job(mode="per_replica", replicas=4, ft_stall_s=60.0, ft_rejoin_s=600.0, storage_write_s=0.0,
            trace=((1000.0, "node"),))
    rows = _rows(j)
    assert rows == [
        (0.0, "start", "", "work_s=36000.0 nodes=4 spares=4 replicas=4"),
        (1000.0, "failure", "node", "during running; its replica rejoins at 1900.0, the others stall until 1060.0"),
        (1000.0, "repair_start", "node", "until=8200.0"),
        (1000.0, "shrink", "", "replicas=3/4"),
        (1060.0, "resumed", "", "work_s=1000.0 replicas=3/4"),
        (1900.0, "expand", "", "replicas=4/4"),
        (rows[-1][0], "finish", "", ""),
    ]
    # 1000 s at full rate, 60 s stalled, 840 s at 3/4 (630 s of work), then the rest at full rate
    assert rows[-1][0] == pytest.approx(1900.0 + 36000 - 1000 - 630)
    assert run_strategy_replica(j).wall_s == rows[-1][0]


@pytest.mark.parametrize("kw", [{}, {"retention": 1}, {"mode": "per_replica", "replicas": 16, "sdc_mtbf_s": None,
                                                         "ft_stall_s": 60.0, "ft_rejoin_s": 600.0}])
def test_the_log_changes_nothing(kw: dict[str, object]) -> None:
    """Drawn failures with every mechanism: the logged replica (its swaps through Nodes.swap) equals the
    unlogged one (the written-out hot path) field by field; the log is sorted and ends where the run does."""
    j = StrategyJob(**{**PINNED, **kw})  # type: ignore[arg-type]
    for replica in range(3):
        log = EventLog()
        assert run_strategy_replica(j, 5, replica, log) == run_strategy_replica(j, 5, replica)
        rows = log.sorted_rows()
        assert rows[0][1] == "start" and rows[-1][1] in ("finish", "horizon", "event_budget")
        assert rows[-1][0] == run_strategy_replica(j, 5, replica).wall_s
        failures = sum(1 for r in rows if r[1] == "failure")
        assert failures == run_strategy_replica(j, 5, replica).failures


def test_a_full_log_is_cut_and_says_so() -> None:
    log = strategy_event_log(job(work_s=100 * H, trace=()), limit=50)
    assert log.truncated and len(log.rows) == 50


def test_simulate_events_with_the_strategy_engine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sets = ["failures.cold_provision_minutes=120", "failures.spare_nodes=0", "checkpoint.memory_tier.interval_minutes=5"]
    out = tmp_path / "events.csv"
    run = CliRunner().invoke(cli, ["simulate", QUICK, *[a for kv in sets for a in ("--set", kv)], "--replicas", "3",
                                   "--seed", "2", "--events", str(out)])
    assert run.exit_code == 0, run.output
    with out.open(newline="") as f:
        got = list(csv.reader(f))
    assert tuple(got[0]) == EVENT_COLUMNS
    est = estimate(QUICK, set=sets)
    want = strategy_event_log(strategy_job_of(est), seed=2).sorted_rows()
    assert len(got) - 1 == len(want) > 100
    assert [(float(r[0]), r[1], r[2], r[4]) for r in got[1:]] == [(t, e, c, d) for t, e, c, _, d in want]
    assert {r[3] for r in got[1:]} == {""}  # no node slots in this engine
    assert list(tmp_path.iterdir()) == [out]  # written atomically: no temporary file left
    # the API: replica 0's log is the one the Monte Carlo reports, and the report's timeline reads it
    res = simulate(QUICK, replicas=3, seed=2, set=sets)
    assert res.monte_carlo.events == want and not res.monte_carlo.events_truncated
    timeline = res.to_dict()["timeline"]
    assert {seg["state"] for seg in timeline} >= {"running", "checkpointing", "detecting", "restarting", "loading"}
    assert res.monte_carlo.wall_s[0] == want[-1][0]  # the logged run is replica 0 of the Monte Carlo
