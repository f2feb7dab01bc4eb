"""Where the simulation and the cluster graph meet: spine failures degrade, they do not stop the job.

Removing half the spine switches from the networkx graph halves the bandwidth between leaves; a job
whose step is dominated by data-parallel rings whose leaf crossings need the whole spine (one node per
leaf: a node's 8 rings leave its leaf through its own uplinks) slows down, a compute-bound job (whose
DP traffic hides behind the backward pass) barely moves.
"""

from __future__ import annotations

import copy

import pytest

from clustersim import load_scenario, simulate
from clustersim.cost.kernel import evaluate_one
from clustersim.planning import cluster_of, fabric_of
from clustersim.resolve import kernel_inputs

#: A 1.3B model on 512 GPUs with pure data parallelism over 100 Gb/s NICs, one node per leaf: the DP
#: all-reduce's leaf crossings use all of each leaf's uplinks, and dominate the step.
COMM_BOUND = {
    "model": "gpt3-1.3b",
    "training": {"tokens": 1e9, "seq_len": 2048, "global_batch_seqs": 512, "recompute": "none",
                 "parallelism": {"tp": 1, "pp": 1, "dp": 512, "zero": 1}},
    "cluster": {"gpu": "h100-sxm-80gb", "nodes": 64, "network": {"nodes_per_leaf": 1, "nic_gbit_per_s": 100}},
}
#: Llama 3 70B with tp 8 x pp 8 x dp 8 and a large batch: the step is compute, DP traffic overlaps it.
COMPUTE_BOUND = {
    "model": "llama3-70b",
    "training": {"tokens": 1e9, "seq_len": 8192, "global_batch_seqs": 1024, "recompute": "selective",
                 "parallelism": {"tp": 8, "pp": 8, "dp": 8, "zero": 1}},
    "cluster": {"gpu": "h100-sxm-80gb", "nodes": 64, "network": {"nodes_per_leaf": 4, "nic_gbit_per_s": 400}},
}


def _step(data: dict, failed_spines: int) -> tuple[float, float]:
    s = load_scenario(data)
    inputs = kernel_inputs(s)
    inputs.update(fabric_of(s, failed_spines=failed_spines))
    out = evaluate_one(**inputs)
    return out["step_time_s"], inputs["spine_bw_bytes_per_s"]


def _half(data: dict) -> int:
    return len(cluster_of(load_scenario(data)).spines()) // 2


def test_half_the_spines_halves_the_bandwidth_between_leaves():
    _, full = _step(COMM_BOUND, 0)
    _, half = _step(COMM_BOUND, _half(COMM_BOUND))
    assert half == pytest.approx(full / 2, rel=1e-9)


def test_comm_bound_job_slows_compute_bound_job_does_not():
    comm_full, _ = _step(COMM_BOUND, 0)
    comm_half, _ = _step(COMM_BOUND, _half(COMM_BOUND))
    compute_full, _ = _step(COMPUTE_BOUND, 0)
    compute_half, _ = _step(COMPUTE_BOUND, _half(COMPUTE_BOUND))
    assert comm_half > 1.5 * comm_full  # DP all-reduce across leaves at half the bandwidth
    assert compute_half == pytest.approx(compute_full, rel=0.02)  # hidden behind compute (within 2%)


def _with_spine_failures(data: dict, tokens: float) -> dict:
    d = copy.deepcopy(data)
    d["failures"] = {"sources": [{"component": "spine-switch", "per": "switch", "mtbf_hours": 20.0}],
                     "repair_hours": 4.0}
    d["training"]["tokens"] = tokens  # about one day of work each
    d["checkpoint"] = {"interval_minutes": 60}
    d["pricing"] = {"usd_per_gpu_hour": 2.0}
    return d


def test_simulated_spine_failures_cost_degraded_time_only_when_comm_bound():
    comm = simulate(_with_spine_failures(COMM_BOUND, 8e11), replicas=20, seed=3, workers=1)
    compute = simulate(_with_spine_failures(COMPUTE_BOUND, 4e10), replicas=20, seed=3, workers=1)
    speeds = comm.job.degraded_speed
    assert speeds[0] == 1.0 and all(a >= b for a, b in zip(speeds[:-1], speeds[1:], strict=True))
    for result in (comm, compute):
        d = result.to_dict()
        assert d["interruptions"]["mean"] == 0  # spine failures never stop the job
        assert d["time_breakdown_days"]["lost_work"]["mean"] == 0
    comm_degraded = comm.to_dict()["time_breakdown_days"]["degraded"]["mean"]
    compute_degraded = compute.to_dict()["time_breakdown_days"]["degraded"]["mean"]
    comm_work = comm.to_dict()["time_breakdown_days"]["productive"]["mean"]
    compute_work = compute.to_dict()["time_breakdown_days"]["productive"]["mean"]
    assert comm_degraded > 0.05 * comm_work  # ~6 of 32 spines down at any time: a few % to tens of % slower
    assert compute_degraded / compute_work < 0.1 * comm_degraded / comm_work
