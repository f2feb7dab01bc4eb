"""The plain job's loop (clustersim.sim.fastpath) gives the general loop's result to the last bit: the
same ReplicaResult (time buckets, counts, SimPy events processed) for the same seed, on jobs that stay
plain to the end and on jobs that hand over to the general loop (spares run out, horizon, event budget,
a failure in the last cycle)."""

from __future__ import annotations

import pytest

from clustersim.sim import FailureSource, SimJob, replica
from clustersim.sim.fastpath import plain_job

H = 3600.0
SOURCES = (FailureSource(component="gpu", per="gpu", units=64, mtbf_s=200 * H),
           FailureSource(component="node", per="node", units=8, mtbf_s=300 * H),
           FailureSource(component="sw", per="job", units=1, mtbf_s=30 * H, effect="job"))


def _job(**kw: object) -> SimJob:
    base: dict[str, object] = dict(
        work_s=10 * 86400.0, nodes=8, gpus_per_node=8, nodes_per_leaf=4, checkpoint_interval_s=1800.0,
        checkpoint_write_s=30.0, checkpoint_load_s=40.0, detect_s=300.0, restart_s=200.0, repair_s=6 * H,
        repair_distribution="lognormal", repair_cv=1.0, spare_nodes=8, sources=SOURCES)
    base.update(kw)
    return SimJob(**base)  # type: ignore[arg-type]


JOBS = {
    "spares enough": _job(),
    "spares run out": _job(spare_nodes=1, repair_s=24 * H),
    "no final checkpoint, exponential repairs": _job(final_checkpoint=False, repair_distribution="exponential"),
    "fixed repairs, odd interval": _job(repair_distribution="fixed", checkpoint_interval_s=977.3,
                                        checkpoint_write_s=13.7),
    "horizon": _job(horizon_s=4 * 86400.0),
    "event budget": _job(max_events=25),
    "no recovery time, no write": _job(detect_s=0.0, restart_s=0.0, checkpoint_load_s=0.0, checkpoint_write_s=0.0),
    "weibull": _job(sources=(FailureSource(component="gpu", per="gpu", units=64, mtbf_s=100 * H,
                                           distribution="weibull", shape=0.7),) + SOURCES[2:]),
    "work within one interval": _job(work_s=1000.0),
}


@pytest.mark.parametrize("name", list(JOBS))
def test_plain_loop_equals_the_general_loop(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    job = JOBS[name]
    assert plain_job(replica.Replica(job, seed=2, replica=0))
    fast = [replica.run_replica(job, seed=2, replica=i) for i in range(12)]
    monkeypatch.setattr(replica, "plain_job", lambda _rep: False)
    general = [replica.run_replica(job, seed=2, replica=i) for i in range(12)]
    assert fast == general  # every field, sim_events included
    assert [r.breakdown for r in fast] == [r.breakdown for r in general]
    assert sum(r.interruptions for r in fast) > 0


def test_the_grid_covers_the_hand_overs() -> None:
    """The jobs above do reach the general loop's cases: waiting for spares, the horizon, the budget."""
    runs = {name: [replica.run_replica(job, seed=2, replica=i) for i in range(12)] for name, job in JOBS.items()}
    assert any(r.breakdown["waiting_for_spares"] > 0 for r in runs["spares run out"])
    assert any(not r.finished and not r.budget_hit for r in runs["horizon"])
    assert all(r.budget_hit for r in runs["event budget"])
    assert all(r.finished for r in runs["spares enough"])


def test_a_job_the_plain_loop_does_not_model_takes_the_general_loop() -> None:
    for kw in ({"checkpoint_async": True, "checkpoint_block_s": 5.0}, {"elastic": True},
               {"maintenance_period_s": 86400.0, "maintenance_duration_s": 600.0}, {"max_concurrent_repairs": 1}):
        assert not plain_job(replica.Replica(_job(**kw), seed=2, replica=0))
    assert not plain_job(replica.Replica(_job(), seed=2, replica=0, log=True))
