"""Exact traces: scripted failure times give an exact event log and an exact time breakdown.

The job in every case: 1000 s of work on 4 nodes, a checkpoint every 100 s of compute taking 10 s,
detection 5 s, restart 20 s, load 15 s, repairs of exactly 500 s. Times are integers, so every
figure below is exact in floating point.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustersim.sim import BUCKETS, FailureSource, SimJob, TraceEvent, run_replica

BASE = dict(work_s=1000.0, nodes=4, gpus_per_node=1, nodes_per_leaf=2, checkpoint_interval_s=100.0,
            checkpoint_write_s=10.0, detect_s=5.0, restart_s=20.0, checkpoint_load_s=15.0, repair_s=500.0,
            repair_distribution="fixed", spare_nodes=1)
QUIET = {"checkpoint_start", "checkpoint_done", "start", "finish"}


def run(*failures: tuple[float, str, int], quiet: bool = True, **kw):
    trace = tuple(TraceEvent(time_s=t, component=c, node=n) for t, c, n in failures)
    job = SimJob(**{**BASE, **kw, "trace": trace})
    r = run_replica(job, log=True)
    assert r.events is not None
    assert sum(r.breakdown.values()) == pytest.approx(r.wall_s, rel=1e-12, abs=1e-9)
    events = [e for e in r.events if not (quiet and e[1] in QUIET)]
    return r, events


def parts(**nonzero: float) -> dict[str, float]:
    return {b: nonzero.get(b, 0.0) for b in BUCKETS}


def test_no_failure():
    r, ev = run(quiet=False)
    assert r.finished and r.wall_s == 1100.0 and r.checkpoints == 10
    assert r.breakdown == parts(productive=1000.0, checkpointing=100.0)
    assert ev[0] == (0.0, "start", "", -1, "work_s=1000.0 nodes=4 spares=1")
    assert ev[1:3] == [(100.0, "checkpoint_start", "", -1, "work_s=100.0"),
                       (110.0, "checkpoint_done", "", -1, "work_s=100.0")]
    assert ev[-2:] == [(1100.0, "checkpoint_done", "", -1, "work_s=1000.0"), (1100.0, "finish", "", -1, "")]


def test_failure_during_a_checkpoint_write():
    """The write at 320..330 is cut at 325: the work since the checkpoint of 300 s of work is lost."""
    r, ev = run((325.0, "gpu", 2), quiet=False)
    assert ev[:9] == [
        (0.0, "start", "", -1, "work_s=1000.0 nodes=4 spares=1"),
        (100.0, "checkpoint_start", "", -1, "work_s=100.0"),
        (110.0, "checkpoint_done", "", -1, "work_s=100.0"),
        (210.0, "checkpoint_start", "", -1, "work_s=200.0"),
        (220.0, "checkpoint_done", "", -1, "work_s=200.0"),
        (320.0, "checkpoint_start", "", -1, "work_s=300.0"),
        (325.0, "failure", "gpu", 2, "during checkpoint write"),
        (325.0, "repair_start", "gpu", 2, "until=825.0"),
        (330.0, "detected", "", -1, ""),
    ]
    assert ev[9:13] == [
        (330.0, "spare_swap", "", 2, "spares_left=0"),
        (350.0, "restarted", "", -1, ""),
        (365.0, "resumed", "", -1, "work_s=200.0 rate=1.0"),
        (465.0, "checkpoint_start", "", -1, "work_s=300.0"),
    ]
    # lost: 100 s of compute (220..320) + 5 s of the cut write
    assert r.breakdown == parts(productive=1000.0, lost_work=105.0, checkpointing=100.0, detecting=5.0,
                                restarting=20.0, loading=15.0)
    assert r.wall_s == 1245.0 and r.interruptions_by == {"gpu": 1} and r.checkpoints == 10


def test_failures_during_detection_restart_and_load_start_the_recovery_again():
    r, ev = run((150.0, "gpu", 0), (152.0, "gpu", 1), (170.0, "gpu", 3), (195.0, "software", -1), spare_nodes=3)
    assert ev == [
        (150.0, "failure", "gpu", 0, "during compute"),
        (150.0, "repair_start", "gpu", 0, "until=650.0"),
        (152.0, "failure", "gpu", 1, "during detection"),
        (152.0, "repair_start", "gpu", 1, "until=652.0"),
        (157.0, "detected", "", -1, ""),
        (157.0, "spare_swap", "", 0, "spares_left=2"),
        (157.0, "spare_swap", "", 1, "spares_left=1"),
        (170.0, "failure", "gpu", 3, "during restart"),
        (170.0, "repair_start", "gpu", 3, "until=670.0"),
        (175.0, "detected", "", -1, ""),
        (175.0, "spare_swap", "", 3, "spares_left=0"),
        (195.0, "restarted", "", -1, ""),
        (195.0, "failure", "software", -1, "during checkpoint load"),
        (200.0, "detected", "", -1, ""),
        (220.0, "restarted", "", -1, ""),
        (235.0, "resumed", "", -1, "work_s=100.0 rate=1.0"),
        (650.0, "repair_done", "gpu", 0, "nodes=1 spares=1"),
        (652.0, "repair_done", "gpu", 1, "nodes=1 spares=2"),
        (670.0, "repair_done", "gpu", 3, "nodes=1 spares=3"),
    ]
    assert r.breakdown == parts(productive=1000.0, lost_work=40.0, checkpointing=100.0, detecting=17.0,
                                restarting=53.0, loading=15.0)
    assert r.wall_s == 1225.0 and r.interruptions_by == {"gpu": 3, "software": 1}


def test_two_failures_during_one_repair_and_no_spare_left():
    """Node 0 fails (the only spare replaces it); node 1 fails while node 0 is still in repair: no spare
    is left, the job waits until node 0 comes back at 650. The failure at 300 s ties with the end of a
    checkpoint write: the checkpoint counts (a boundary at the failure time is applied first)."""
    r, ev = run((150.0, "gpu", 0), (300.0, "gpu", 1))
    assert ev == [
        (150.0, "failure", "gpu", 0, "during compute"),
        (150.0, "repair_start", "gpu", 0, "until=650.0"),
        (155.0, "detected", "", -1, ""),
        (155.0, "spare_swap", "", 0, "spares_left=0"),
        (175.0, "restarted", "", -1, ""),
        (190.0, "resumed", "", -1, "work_s=100.0 rate=1.0"),
        (300.0, "failure", "gpu", 1, "during compute"),
        (300.0, "repair_start", "gpu", 1, "until=800.0"),
        (305.0, "detected", "", -1, ""),
        (305.0, "wait_for_spares", "", -1, "vacant=1"),
        (650.0, "repair_done", "gpu", 0, "nodes=1 spares=1"),
        (650.0, "spare_swap", "", 1, "spares_left=0"),
        (670.0, "restarted", "", -1, ""),
        (685.0, "resumed", "", -1, "work_s=200.0 rate=1.0"),
        (800.0, "repair_done", "gpu", 1, "nodes=1 spares=1"),
    ]
    assert r.breakdown == parts(productive=1000.0, lost_work=40.0, checkpointing=100.0, detecting=10.0,
                                restarting=40.0, loading=30.0, waiting_for_spares=345.0)
    assert r.wall_s == 1565.0


def test_failure_on_a_node_already_in_repair_is_ignored():
    r, ev = run((150.0, "gpu", 0), (151.0, "gpu", 0), spare_nodes=0)
    assert (151.0, "failure_ignored", "gpu", 0, "node slot vacant") in ev
    assert r.interruptions_by == {"gpu": 1} and r.ignored_failures == 1


def test_elastic_shrink_then_grow_back():
    """No spare: the job goes on with 1 of 2 DP replicas at half speed; when node 0 is back (650) it
    finishes the cycle (compute to 730, a full checkpoint to 740) and restarts on both replicas."""
    r, ev = run((150.0, "gpu", 0), spare_nodes=0, elastic=True, nodes_per_replica=2, elastic_speed=(1.0, 0.5))
    assert ev == [
        (150.0, "failure", "gpu", 0, "during compute"),
        (150.0, "repair_start", "gpu", 0, "until=650.0"),
        (155.0, "detected", "", -1, ""),
        (155.0, "shrink", "", -1, "replicas=1/2"),
        (175.0, "restarted", "", -1, ""),
        (190.0, "resumed", "", -1, "work_s=100.0 rate=0.5"),
        (650.0, "repair_done", "gpu", 0, "nodes=1 spares=1"),
        (740.0, "spare_swap", "", 0, "spares_left=0"),
        (740.0, "expand", "", -1, "replicas=2/2"),
        (760.0, "restarted", "", -1, ""),
        (775.0, "resumed", "", -1, "work_s=350.0 rate=1.0"),
    ]
    # 500 s of compute at half speed (190..730 less 4 writes) did 250 s of work: 250 s degraded
    assert r.breakdown == parts(productive=1000.0, lost_work=40.0, checkpointing=130.0, detecting=5.0,
                                restarting=40.0, loading=30.0, degraded=250.0)
    assert r.wall_s == 1495.0


def test_elastic_below_min_replicas_waits():
    r, ev = run((150.0, "gpu", 0), spare_nodes=0, elastic=True, nodes_per_replica=2, min_replicas=2)
    assert (155.0, "wait_for_spares", "", -1, "vacant=1") in ev
    assert r.breakdown["waiting_for_spares"] == 650.0 - 155.0


def test_async_checkpoint_lost_before_its_write_ends():
    """Async: only the 2 s copy blocks; the checkpoint of 300 s of work (copied 355..357) would be on
    storage at 365, but the failure at 360 loses it: the job restarts from the one of 200 s."""
    r, ev = run((360.0, "gpu", 1), quiet=False, checkpoint_async=True, checkpoint_block_s=2.0)
    assert ev[1:8] == [
        (100.0, "checkpoint_start", "", -1, "work_s=100.0"),
        (102.0, "checkpoint_copied", "", -1, "persisted_at=110.0"),
        (110.0, "checkpoint_done", "", -1, "work_s=100.0"),
        (202.0, "checkpoint_start", "", -1, "work_s=200.0"),
        (204.0, "checkpoint_copied", "", -1, "persisted_at=212.0"),
        (212.0, "checkpoint_done", "", -1, "work_s=200.0"),
        (304.0, "checkpoint_start", "", -1, "work_s=300.0"),
    ]
    assert ev[8:16] == [
        (306.0, "checkpoint_copied", "", -1, "persisted_at=314.0"),
        (314.0, "checkpoint_done", "", -1, "work_s=300.0"),
        (360.0, "failure", "gpu", 1, "during compute"),
        (360.0, "repair_start", "gpu", 1, "until=860.0"),
        (365.0, "detected", "", -1, ""),
        (365.0, "spare_swap", "", 1, "spares_left=0"),
        (385.0, "restarted", "", -1, ""),
        (400.0, "resumed", "", -1, "work_s=300.0 rate=1.0"),
    ]
    # the 300 s checkpoint completed at 314 (before the failure): only 54 s of compute are lost
    assert r.breakdown == parts(productive=1000.0, lost_work=54.0, checkpointing=9 * 2.0 + 10.0, detecting=5.0,
                                restarting=20.0, loading=15.0)
    r2, ev2 = run((310.0, "gpu", 1), quiet=False, checkpoint_async=True, checkpoint_block_s=2.0)
    assert (310.0, "checkpoint_lost", "", -1, "work_s=300.0") in ev2
    # lost: compute since the 200 s checkpoint was copied (204..304, 306..310), 104 s
    assert r2.breakdown["lost_work"] == 104.0
    assert (350.0, "resumed", "", -1, "work_s=200.0 rate=1.0") in ev2


def test_leaf_switch_takes_down_the_nodes_below_it():
    r, ev = run((150.0, "leaf-switch", 3), spare_nodes=2)
    assert ev[:5] == [
        (150.0, "failure", "leaf-switch", 1, "during compute; nodes 2-3 down"),
        (150.0, "repair_start", "leaf-switch", 1, "until=650.0"),
        (155.0, "detected", "", -1, ""),
        (155.0, "spare_swap", "", 2, "spares_left=1"),
        (155.0, "spare_swap", "", 3, "spares_left=0"),
    ]
    assert (650.0, "repair_done", "leaf-switch", 1, "nodes=2 spares=2") in ev
    assert r.wall_s == 1180.0


def test_spine_switch_degrades_without_stopping():
    """One of two spines down from 150 to 650: the job runs at half speed meanwhile, never stops."""
    r, ev = run((150.0, "spine-switch", 0), spine_switches=2, degraded_speed=(1.0, 0.5, 0.25))
    assert ev == [(150.0, "fabric_degraded", "spine-switch", 0, "spines_down=1"),
                  (150.0, "repair_start", "spine-switch", 0, "until=650.0"),
                  (650.0, "fabric_restored", "spine-switch", 0, "spines_down=0")]
    assert r.interruptions == 0 and r.degradations == 1
    # compute wall time 1000 + degraded; the checkpoints count with compute wall time (tau)
    assert r.breakdown["lost_work"] == 0.0
    assert r.breakdown["productive"] == pytest.approx(1000.0)
    compute_wall = r.wall_s - r.breakdown["checkpointing"]
    assert r.breakdown["degraded"] == pytest.approx(compute_wall - 1000.0)
    # 500 s of wall at half speed, less the checkpoints written meanwhile (at 1.0 and 0.5 alike)
    assert r.breakdown["degraded"] > 200.0


def test_maintenance_is_taken_at_the_next_checkpoint():
    r, ev = run(maintenance_period_s=400.0, maintenance_duration_s=30.0)
    assert ev == [(440.0, "maintenance_start", "", -1, ""), (470.0, "maintenance_end", "", -1, ""),
                  (490.0, "restarted", "", -1, ""), (505.0, "resumed", "", -1, "work_s=400.0 rate=1.0"),
                  (835.0, "maintenance_start", "", -1, ""), (865.0, "maintenance_end", "", -1, ""),
                  (885.0, "restarted", "", -1, ""), (900.0, "resumed", "", -1, "work_s=700.0 rate=1.0")]
    assert r.breakdown == parts(productive=1000.0, checkpointing=100.0, restarting=40.0, loading=30.0,
                                maintenance=60.0)
    assert r.planned_interruptions == 2 and r.interruptions == 0


def test_preemption_counts_as_preempted_until_capacity_returns():
    r, ev = run((150.0, "spot", 1), spare_nodes=0, preempt_return_s=100.0)
    assert ev[:5] == [(150.0, "preempted", "spot", 1, "during compute"),
                      (150.0, "reacquire_start", "spot", 1, "until=250.0"),
                      (155.0, "detected", "", -1, ""),
                      (155.0, "wait_for_spares", "", -1, "vacant=1"),
                      (250.0, "capacity_returned", "spot", 1, "nodes=1 spares=1")]
    assert r.breakdown["preempted"] == 95.0 and r.breakdown["waiting_for_spares"] == 0.0


def test_limited_repair_crew_queues_repairs():
    r, ev = run((150.0, "gpu", 0), (160.0, "gpu", 1), spare_nodes=0, max_concurrent_repairs=1)
    assert (160.0, "failure", "gpu", 1, "during waiting for a node") in ev
    assert (650.0, "repair_start", "gpu", 1, "until=1150.0") in ev  # waits for the crew
    assert (1150.0, "spare_swap", "", 1, "spares_left=0") in ev
    assert r.breakdown["waiting_for_spares"] == 1150.0 - 155.0


def test_stragglers_slow_the_job_until_swapped_at_a_restart():
    r0, _ = run(straggler_fraction=1.0, straggler_slowdown=2.0)
    # tau counts compute wall time: at half speed each checkpoint holds 50 s of work (20 checkpoints)
    assert r0.wall_s == 2200.0 and r0.breakdown["degraded"] == 1000.0 and r0.checkpoints == 20
    r, ev = run((150.0, "gpu", 0), straggler_fraction=1.0, straggler_slowdown=2.0, spare_nodes=4)
    swaps = [e for e in ev if e[1] == "straggler_swap"]
    assert [e[3] for e in swaps] == [1, 2, 3]  # node 0's slot was refilled by a healthy spare
    assert {e[3] for e in ev if e[1] == "repair_start" and e[2] == "straggler"} == {1, 2, 3}
    assert (190.0, "resumed", "", -1, "work_s=50.0 rate=1.0") in ev
    assert r.breakdown["degraded"] == 50.0  # 100 s of compute at half speed before the checkpoint


def test_horizon_stops_an_unfinished_replica():
    r, ev = run(quiet=False, horizon_s=500.0)
    assert not r.finished and r.wall_s == 500.0
    assert ev[-1] == (500.0, "horizon", "", -1, "work_s=460.0 of 1000.0")
    assert r.breakdown == parts(productive=460.0, checkpointing=40.0)


# ---------------------------------------------------------------------------------------------------
# Property: whatever the trace and the options, the parts add up, the work is done exactly once, the log
# is in time order, and the same inputs give the same run.

_COMPONENTS = ("gpu", "leaf-switch", "spine-switch", "spot", "software")


@st.composite
def _jobs(draw):
    n = draw(st.integers(0, 12))
    trace = tuple(
        TraceEvent(time_s=float(draw(st.integers(0, 3000))), component=draw(st.sampled_from(_COMPONENTS)),
                   node=draw(st.integers(0, 3)))
        for _ in range(n))
    block = draw(st.sampled_from([0.0, 2.0, 10.0]))
    kw = dict(
        trace=trace, spine_switches=4, degraded_speed=(1.0, 0.5, 0.25),
        checkpoint_interval_s=float(draw(st.sampled_from([5, 50, 100, 400]))),
        checkpoint_write_s=float(draw(st.sampled_from([0, 10, 60]))),
        detect_s=float(draw(st.sampled_from([0, 5]))),
        restart_s=float(draw(st.sampled_from([0, 20]))),
        repair_s=float(draw(st.sampled_from([0, 100, 500]))),
        spare_nodes=draw(st.integers(0, 3)),
        max_concurrent_repairs=draw(st.sampled_from([None, 1])),
        elastic=draw(st.booleans()), nodes_per_replica=draw(st.sampled_from([1, 2])),
        elastic_speed=(1.0, 0.6, 0.4),
        straggler_fraction=draw(st.sampled_from([0.0, 0.5])), straggler_slowdown=1.5,
        maintenance_period_s=draw(st.sampled_from([None, 300.0])), maintenance_duration_s=20.0,
        final_checkpoint=draw(st.booleans()),
    )
    if draw(st.booleans()):
        kw.update(checkpoint_async=True, checkpoint_block_s=min(block, kw["checkpoint_write_s"]))
    pool = (
        FailureSource(component="gpu", per="gpu", units=4, mtbf_s=8000.0),
        FailureSource(component="host", per="node", units=4, mtbf_s=12000.0, distribution="weibull", shape=0.7),
        FailureSource(component="leaf-switch", per="switch", units=2, mtbf_s=20000.0, effect="leaf"),
        FailureSource(component="spine-switch", per="switch", units=4, mtbf_s=4000.0, effect="fabric"),
        FailureSource(component="software", per="job", units=1, mtbf_s=6000.0, effect="job"),
        FailureSource(component="spot", per="node", units=4, mtbf_s=16000.0, effect="preempt"),
    )
    chosen = draw(st.lists(st.sampled_from(pool), max_size=3, unique=True))
    kw.update(sources=tuple(chosen), repair_distribution=draw(st.sampled_from(["fixed", "exponential"])))
    return SimJob(**{**BASE, **kw})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_jobs(), st.integers(0, 3))
def test_invariants_hold_for_any_trace(job, seed):
    r = run_replica(job, seed=seed, replica=0, log=True)
    if not r.finished:  # unlucky random sources: stopped at the horizon, the parts still add up
        assert job.sources and r.wall_s == job.horizon
        assert sum(r.breakdown.values()) == pytest.approx(r.wall_s, rel=1e-9)
        return
    assert sum(r.breakdown.values()) == pytest.approx(r.wall_s, rel=1e-9, abs=1e-6)
    assert r.breakdown["productive"] == pytest.approx(job.work_s, rel=1e-9)
    for part, value in r.breakdown.items():
        assert value >= -1e-6, part
    assert r.events is not None
    times = [e[0] for e in r.events]
    assert times == sorted(times) and r.events[-1][1] == "finish" and times[-1] == r.wall_s
    again = run_replica(job, seed=seed, replica=0, log=True)
    assert again.events == r.events and again.breakdown == r.breakdown
    # the same run without the log (bulk cycles) gives the same figures
    quiet = run_replica(job, seed=seed, replica=0)
    assert quiet.wall_s == pytest.approx(r.wall_s, rel=1e-12)
    for part in BUCKETS:
        assert quiet.breakdown[part] == pytest.approx(r.breakdown[part], rel=1e-9, abs=1e-6)
