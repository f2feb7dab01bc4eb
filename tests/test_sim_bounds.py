"""Work is bounded by what the answer needs: the event budget, the capped event log, no loop on run length."""

from __future__ import annotations

import numpy as np
import pytest

from clustersim.errors import SimulationError
from clustersim.sim import BUCKETS, FailureSource, SimJob, check_feasible, run_replica, simulate

H = 3600.0
GPU = FailureSource(component="gpu", per="gpu", units=64, mtbf_s=64 * 50 * H)


def test_a_run_of_astronomical_length_without_failures_returns_with_a_capped_log():
    vec = simulate(SimJob(work_s=1e300, nodes=8, checkpoint_interval_s=250.0, checkpoint_write_s=3.0),
                   replicas=3, engine="vector", events=False)
    assert vec.all_finished and np.allclose(vec.wall_s, 1e300 * (1 + 3 / 250), rtol=1e-9)  # closed form
    job = SimJob(work_s=1e300, nodes=8, checkpoint_interval_s=250.0, checkpoint_write_s=3.0, max_log_rows=500)
    r = run_replica(job, log=True)
    # more checkpoint cycles than floats count exactly: 2**50 of them, then it stops at the budget
    assert not r.finished and r.budget_hit and r.wall_s == pytest.approx(2**50 * 253.0)
    assert r.log_truncated and r.events is not None and len(r.events) == 500
    assert sum(r.breakdown.values()) == pytest.approx(r.wall_s, rel=1e-9)
    # the log is the run's beginning, in time order
    assert r.events[0][1] == "start" and [e[0] for e in r.events] == sorted(e[0] for e in r.events)


def test_the_log_of_many_checkpoint_cycles_is_capped_and_the_figures_are_the_quiet_ones():
    job = SimJob(work_s=1e7, nodes=8, checkpoint_interval_s=10.0, checkpoint_write_s=1.0, sources=(GPU,),
                 spare_nodes=2, repair_s=H, detect_s=60.0, restart_s=60.0, max_log_rows=1000)
    logged = run_replica(job, seed=1, log=True)
    quiet = run_replica(job, seed=1)
    assert logged.log_truncated and len(logged.events or []) == 1000
    assert not quiet.log_truncated and quiet.events is None
    assert logged.wall_s == pytest.approx(quiet.wall_s, rel=1e-9)
    assert logged.checkpoints == quiet.checkpoints > 900_000


@pytest.mark.parametrize("engine", ["simpy", "vector"])
def test_the_event_budget_stops_replicas_and_says_so(engine):
    job = SimJob(work_s=1e9, nodes=8, checkpoint_interval_s=250.0, checkpoint_write_s=3.0, sources=(GPU,),
                 max_events=50)
    with pytest.raises(SimulationError, match="event budget of 50 failures"):
        check_feasible(job)
    res = simulate(job, replicas=20, seed=0, check=False, engine=engine)
    assert res.engine == engine and res.any_budget_hit and res.budget_hit.all() and not res.finished.any()
    assert (res.interruptions + res.counts["ignored_failures"] == 50).all()
    assert np.allclose(sum(res.breakdown[p] for p in BUCKETS), res.wall_s, rtol=1e-9)
    assert (res.wall_s < job.horizon).all()
    if engine == "simpy":
        assert res.events is not None and res.events[-1][1] in ("event_budget", "repair_done")
        assert any(e[1] == "event_budget" for e in res.events)


def test_a_job_that_makes_no_progress_stops_at_the_horizon():
    """A straggler slowdown of 1e300 with no spare to swap it: the rate is ~0, the remainder inf."""
    job = SimJob(work_s=1e6, nodes=8, checkpoint_interval_s=250.0, checkpoint_write_s=3.0,
                 straggler_fraction=1.0, straggler_slowdown=1e300, horizon_s=1e7)
    r = run_replica(job, log=True)
    assert not r.finished and r.wall_s == 1e7 and not r.budget_hit
    assert sum(r.breakdown.values()) == pytest.approx(1e7, rel=1e-9)


def test_budget_and_log_fields_are_checked():
    with pytest.raises(SimulationError, match="max_events"):
        SimJob(work_s=1.0, nodes=1, checkpoint_interval_s=1.0, max_events=0)
    with pytest.raises(SimulationError, match="max_log_rows"):
        SimJob(work_s=1.0, nodes=1, checkpoint_interval_s=1.0, max_log_rows=0)
