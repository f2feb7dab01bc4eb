"""A job requeued after a failure: its requeue delay and Kokolis et al. 2024's loss accounting, by hand.

Scripted trace (no random failures): 4 nodes of 8 GPUs. At 0 h a high-priority 3-node job H and a
low-priority 1-node job L start; at 1 h a low-priority 2-node job Q queues. At 3 h one of H's nodes fails
(repaired in 100 h); H detects for 5 min and is requeued at 3 h 05 (no spares, no idle node).

* requeue_delay 0: H is back at the head at once and preempts L (run 3 h 05 >= 2 h) for its third node.
  Kokolis's loss: H 24 GPUs x min(3 h, 30 min), L 8 GPUs x 30 min: secondary share 8 / 32 = 0.25.
* requeue_delay 30 min: Q takes H's two released nodes at 3 h 05; at 3 h 35 H needs L and Q, and Q can
  be preempted only at 5 h 05 (2 h run): both go then. Secondary share (16 + 8) / (24 + 24) = 0.5; H
  waits 2 h.
"""

from __future__ import annotations

import pytest

from clustersim.fleet import load_fleet
from clustersim.fleet.engine import KOKOLIS_LOSS_CAP_S, FleetEngine
from clustersim.fleet.results import replica_metrics
from clustersim.fleet.workload import plan_fleet

HOUR = 3600.0
CK = {"interval_minutes": 60, "write_minutes": 0, "load_minutes": 0, "detect_minutes": 5, "restart_minutes": 10}


def _fleet(delay_min: float, **sched) -> dict:
    data = {"pools": [{"name": "p", "gpu": "a100-sxm-80gb", "nodes": 4}],
            "workload": {"jobs": [
                {"name": "H", "gpus": 24, "duration_hours": 100, "priority": 9, "checkpoint": CK},
                {"name": "L", "gpus": 8, "duration_hours": 100, "priority": 0, "checkpoint": CK},
                {"name": "Q", "gpus": 16, "duration_hours": 50, "priority": 0, "submit_hours": 1, "checkpoint": CK}]},
            "scheduler": {"policy": "backfill", "preemption": True, "preempt_after_hours": 2,
                          "replace_from_idle": False, "requeue_delay_minutes": delay_min},
            "simulation": {"horizon_days": 1, "replicas": 1}}
    data["scheduler"].update(sched)
    return data


def _run(delay_min: float, jobs: list | None = None, **sched) -> tuple[FleetEngine, dict]:
    data = _fleet(delay_min, **sched)
    if jobs is not None:
        data["workload"]["jobs"] = jobs
    plan = plan_fleet(load_fleet(data))
    eng = FleetEngine(plan, plan.jobs(0, 0), 0, 0)
    h = eng.jobs[0]
    eng.env.timeout(3 * HOUR).callbacks.append(lambda ev: eng.interrupt(h, node_lost=True, repair_s=100 * HOUR))
    names = [j["name"] for j in data["workload"]["jobs"]]
    starts: dict[str, list[float]] = {name: [] for name in names}
    original = eng.start

    def start(job, nodes):
        starts[names[job.i]].append(eng.env.now)
        original(job, nodes)

    eng.start = start  # type: ignore[method-assign]
    eng.run()
    return eng, starts


def test_an_immediate_requeue_preempts_one_node_and_books_kokolis_loss_exactly():
    eng, starts = _run(0.0)
    h, low, q = eng.jobs
    assert starts["H"] == [0.0, pytest.approx(3 * HOUR + 300)]
    assert low.preemptions == 1 and q.preemptions == 0 and h.requeues == 1
    failed, secondary = eng.kokolis_gpu_s
    assert failed == 24 * KOKOLIS_LOSS_CAP_S
    assert secondary == 8 * KOKOLIS_LOSS_CAP_S
    rep = {"kokolis_gpu_s": eng.kokolis_gpu_s}
    assert secondary / (failed + secondary) == 0.25 == pytest.approx(_share(rep))


def test_a_requeue_delay_lets_others_take_the_nodes_and_the_requeued_job_preempts_them_later():
    eng, starts = _run(30.0)
    h, low, q = eng.jobs
    assert starts["Q"][0] == pytest.approx(3 * HOUR + 300)  # Q took H's released nodes
    assert starts["H"] == [0.0, pytest.approx(5 * HOUR + 300)]  # once Q has run 2 h
    assert low.preemptions == 1 and q.preemptions == 1 and h.requeues == 1
    failed, secondary = eng.kokolis_gpu_s
    assert failed == 24 * KOKOLIS_LOSS_CAP_S
    assert secondary == (16 + 8) * KOKOLIS_LOSS_CAP_S
    assert secondary / (failed + secondary) == 0.5


def test_a_failure_before_30_minutes_books_its_run_time():
    plan = plan_fleet(load_fleet(_fleet(0.0)))
    eng = FleetEngine(plan, plan.jobs(0, 0), 0, 0)
    h = eng.jobs[0]
    eng.env.timeout(0.25 * HOUR).callbacks.append(lambda ev: eng.interrupt(h, node_lost=True, repair_s=HOUR))
    eng.run()
    h, low, q = eng.jobs
    assert eng.kokolis_gpu_s[0] == 24 * 0.25 * HOUR
    # H is requeued at 20 min; Q backfills its two released nodes at 1 h (it ends before H's reservation at
    # L's end); the repaired node is back at 1 h 15; H preempts Q once Q has run 2 h, at 3 h
    assert (q.preemptions, low.preemptions) == (1, 0)
    assert eng.kokolis_gpu_s[1] == 16 * KOKOLIS_LOSS_CAP_S


def _share(rep: dict) -> float:
    import numpy as np
    full = {"submit_s": np.zeros(0), "first_start_s": np.zeros(0), "end_s": np.zeros(0), "work_s": np.zeros(0),
            "interruptions": np.zeros(0), "requeues": np.zeros(0), "preemptions": np.zeros(0),
            "gpu_s": np.zeros((1, 8)), "events": 0, "kokolis_gpu_s": np.array(rep["kokolis_gpu_s"])}
    return replica_metrics(full, 0.0, 1.0)["kokolis_secondary_share"]


def test_a_requeued_job_sent_back_lets_an_earlier_job_of_its_priority_take_its_nodes():
    jobs = [{"name": "H", "gpus": 24, "duration_hours": 100, "priority": 9, "checkpoint": CK},
            {"name": "L", "gpus": 8, "duration_hours": 100, "priority": 0, "checkpoint": CK},
            {"name": "H2", "gpus": 16, "duration_hours": 50, "priority": 9, "submit_hours": 1, "checkpoint": CK}]
    eng, starts = _run(0.0, jobs)  # keep: H is ahead of H2 (older), preempts L, H2 waits
    assert starts["H"] == [0.0, pytest.approx(3 * HOUR + 300)] and starts["H2"] == []
    eng, starts = _run(0.0, jobs, requeue_place="back")  # back: H2 is ahead and fits the released nodes
    assert starts["H2"] == [pytest.approx(3 * HOUR + 300)] and starts["H"] == [0.0]
    assert eng.jobs[1].preemptions == 0 and eng.kokolis_gpu_s[1] == 0.0


def test_a_resubmitted_job_preempts_as_an_ordinary_job():
    eng, starts = _run(0.0, requeue_share=0.0)
    h, low, q = eng.jobs
    assert starts["H"] == [0.0, pytest.approx(3 * HOUR + 300)] and low.preemptions == 1
    assert eng.kokolis_gpu_s == [24 * KOKOLIS_LOSS_CAP_S, 0.0]  # its failure counts; L's preemption is ordinary
    assert not h.failure_requeued


def test_a_requeue_delay_share_of_zero_is_no_delay():
    eng0, starts0 = _run(0.0)
    eng, starts = _run(30.0, requeue_delay_share=0.0)
    assert starts == starts0 and eng.kokolis_gpu_s == eng0.kokolis_gpu_s


def test_priority_by_gpus_overrides_the_drawn_priority_from_a_size_up():
    data = {"pools": [{"name": "p", "gpu": "a100-sxm-80gb", "nodes": 64}],
            "workload": {"generated": {"count": 400, "arrivals_per_hour": 4, "gpus": {"choices": [8, 64, 256, 512]},
                                       "duration_hours": {"distribution": "fixed", "mean": 1},
                                       "priority": {"choices": [0, 1]},
                                       "priority_by_gpus": [{"min_gpus": 512, "priority": 7},
                                                            {"min_gpus": 256, "priority": 5}]}}}
    plan = plan_fleet(load_fleet(data))
    t = plan.jobs(3, 0)
    gpus = t.nodes * 8
    assert set(t.priority[gpus == 512]) == {7} and set(t.priority[gpus == 256]) == {5}
    assert set(t.priority[gpus < 256]) == {0, 1}
    data["workload"]["generated"].pop("priority_by_gpus")
    plain = plan_fleet(load_fleet(data)).jobs(3, 0)
    assert (plain.priority[gpus < 256] == t.priority[gpus < 256]).all()  # the same draws (common random numbers)
    assert (plain.submit_s == t.submit_s).all()


def test_the_loss_booked_per_hardware_stop_is_the_truncated_exponential_mean():
    """One 16-node job, spares at hand, node MTBF 16 h: from each launch to the next failure that stops it is
    exponential at rate L = 16 / 16 h (it holds its 16 nodes while relaunching and running), so Kokolis's loss
    per stop is 128 GPUs x E[min(T, c)] = 128 (1 - e^(-L c)) / L, c = 30 min; over ~3,800 stops."""
    import math

    import numpy as np

    from clustersim.fleet.state import RECOVERING, RUNNING

    data = {"pools": [{"name": "p", "gpu": "a100-sxm-80gb", "nodes": 32, "spare_nodes": 16,
                       "failures": {"node_mtbf_hours": 16, "repair_hours": 1}}],
            "workload": {"jobs": [{"gpus": 128, "duration_hours": 1e6, "checkpoint": CK}]},
            "simulation": {"horizon_days": 200, "replicas": 1, "seed": 11}}
    plan = plan_fleet(load_fleet(data))
    eng = FleetEngine(plan, plan.jobs(11, 0), 11, 0)
    samples: list[float] = []
    original = eng.interrupt

    def interrupt(job, node_lost, repair_s=None, lemon=False):
        if node_lost and job.state in (RUNNING, RECOVERING):
            samples.append(min(eng.env.now - job.launch_s, KOKOLIS_LOSS_CAP_S))
        original(job, node_lost, repair_s, lemon)

    eng.interrupt = interrupt  # type: ignore[method-assign]
    eng.run()
    x = np.array(samples) / HOUR
    assert eng.kokolis_gpu_s[0] == pytest.approx(128 * HOUR * x.sum(), rel=1e-12)
    rate_per_h = 16 / 16
    theory = (1 - math.exp(-rate_per_h * 0.5)) / rate_per_h
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert x.size > 3000 and se < 0.01 * theory
    assert abs(x.mean() - theory) <= 4 * se, (x.mean(), theory, se)


@pytest.mark.parametrize("key", ["requeue_delay_share", "requeue_share"])
def test_the_shares_of_delayed_and_of_same_job_requeues_are_drawn_per_requeue(key):
    """A 2-node job on 3 nodes (no spares, no idle replacement) is requeued after every node failure; the share
    of its requeues that are delayed (or kept as the same job) is p = 0.3, binomially: within 4 standard errors."""
    import math

    data = {"pools": [{"name": "p", "gpu": "a100-sxm-80gb", "nodes": 3,
                       "failures": {"node_mtbf_hours": 4, "repair_hours": 0.5}}],
            "workload": {"jobs": [{"gpus": 16, "duration_hours": 1e6, "checkpoint": CK}]},
            "scheduler": {"replace_from_idle": False, "requeue_delay_minutes": 1, key: 0.3},
            "simulation": {"horizon_days": 200, "replicas": 1}}
    plan = plan_fleet(load_fleet(data))
    eng = FleetEngine(plan, plan.jobs(5, 0), 5, 0)
    hits: list[bool] = []
    original_requeue, original_at = eng.requeue, eng._at

    def at(delay, fn, job):
        if fn == eng._on_eligible:
            hits[-1] = True  # this requeue waits
        original_at(delay, fn, job)

    def requeue(job, failure):
        hits.append(False)
        original_requeue(job, failure)
        if key == "requeue_share":
            hits[-1] = job.failure_requeued

    eng._at = at  # type: ignore[method-assign]
    eng.requeue = requeue  # type: ignore[method-assign]
    eng.run()
    n, k = len(hits), sum(hits)
    se = math.sqrt(0.3 * 0.7 / n)
    assert n > 1000 and abs(k / n - 0.3) <= 4 * se, (k, n)
