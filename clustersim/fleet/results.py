"""FleetResult: per-job and per-fleet figures of a fleet simulation, with their spread over replicas.

Per job (only jobs submitted after the warm-up and before the horizon): queue wait (first start less
submission; a job never started counts its wait up to the horizon), completion time (end less
submission; unfinished jobs have none), effective training time ratio ETTR (failure-free work over the
wall time from first start to end, Kokolis et al. 2024's ETTR), interruptions, requeues, preemptions.

Per fleet: GPU-hours by state over the whole horizon: running (compute that was kept), checkpointing,
lost to failure (work lost and recoveries after failures), lost to preemption, lost to secondary
preemption (a job preempted by a job requeued after a failure: Kokolis's requeue cascade), idle, spare
and in repair; they add up to GPUs x horizon. ``kokolis_secondary_share`` is the share of hardware loss
from secondary preemptions as Kokolis et al. 2024 (arXiv:2410.21680, Sec. IV) count it: every job stopped
by a hardware failure or preempted by a job requeued after one loses min(run time, 30 min) x GPUs
(:data:`clustersim.fleet.engine.KOKOLIS_LOSS_CAP_S`), whatever its checkpoints. Utilization = allocated GPU-hours / all GPU-hours.
Every scalar is reported as its mean over replicas, the standard error of that mean, and the 10th,
50th and 90th percentiles over replicas.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from clustersim import units
from clustersim.fleet.state import STATES
from clustersim.results import jsonable, provenance

__all__ = ["FleetResult", "GPU_STATES", "replica_metrics", "spread"]

#: The GPU-hour states of the fleet, in order (they add up to GPUs x horizon).
GPU_STATES = (*STATES, "idle", "spare", "repair")
#: Points of the pooled wait-time CDF in the result.
CDF_POINTS = 101


def spread(values: np.ndarray) -> dict[str, float | None]:
    """Mean, its standard error, and the 10th/50th/90th percentiles over replicas (NaN-free values only)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "se": None, "p10": None, "p50": None, "p90": None, "n": 0}
    se = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    p10, p50, p90 = (float(x) for x in np.percentile(v, [10, 50, 90]))
    return {"mean": float(v.mean()), "se": se, "p10": p10, "p50": p50, "p90": p90, "n": int(v.size)}


def _p(x: np.ndarray, q: float) -> float:
    """A percentile where unfinished jobs are +inf (so the P90 of a workload with >10% unfinished is inf)."""
    if not x.size:
        return math.nan
    if np.isinf(x).any():  # no interpolation next to an unfinished job (inf - inf)
        return float(np.percentile(x, q, method="inverted_cdf"))
    return float(np.percentile(x, q))


def _share(kokolis_gpu_s: np.ndarray) -> float:
    """Secondary-preemption loss over all hardware loss (failed plus secondary), Kokolis's accounting."""
    failed, secondary = (float(x) for x in kokolis_gpu_s)
    return secondary / (failed + secondary) if failed + secondary > 0 else math.nan


def replica_metrics(rep: dict[str, Any], warmup_s: float, horizon_s: float) -> dict[str, Any]:
    """The scalar figures of one replica (hours unless the name says otherwise)."""
    sel = (rep["submit_s"] >= warmup_s) & (rep["submit_s"] < horizon_s)
    submit = rep["submit_s"][sel]
    start = rep["first_start_s"][sel]
    end = rep["end_s"][sel]
    started = np.isfinite(start)
    done = np.isfinite(end)
    wait = np.where(started, start, horizon_s) - submit
    completion = np.where(done, end - submit, np.inf)
    ettr = rep["work_s"][sel][done] / np.maximum(end[done] - start[done], 1e-300)
    gpu_h = rep["gpu_s"].sum(axis=0) / units.HOUR_S
    total = gpu_h.sum()
    allocated = gpu_h[:len(STATES)].sum()
    lost_hw = gpu_h[2] + gpu_h[4]
    return {
        "jobs": int(sel.sum()),
        "finished_fraction": float(done.mean()) if done.size else math.nan,
        "mean_wait_hours": float(wait.mean() / units.HOUR_S) if wait.size else math.nan,
        "p50_wait_hours": _p(wait, 50) / units.HOUR_S,
        "p90_wait_hours": _p(wait, 90) / units.HOUR_S,
        "mean_completion_hours": float(completion[done].mean() / units.HOUR_S) if done.any() else math.nan,
        "p90_completion_hours": _p(completion, 90) / units.HOUR_S,
        "mean_ettr": float(ettr.mean()) if ettr.size else math.nan,
        "interruptions": int(rep["interruptions"][sel].sum()),
        "requeues": int(rep["requeues"][sel].sum()),
        "preemptions": int(rep["preemptions"][sel].sum()),
        "utilization": float(allocated / total) if total else math.nan,
        "goodput_fraction": float(gpu_h[0] / total) if total else math.nan,
        "secondary_loss_share": float(gpu_h[4] / lost_hw) if lost_hw > 0 else math.nan,
        "kokolis_secondary_share": _share(rep["kokolis_gpu_s"]),
        **{f"gpu_hours_{name}": float(h) for name, h in zip(GPU_STATES, gpu_h, strict=True)},
        "events": int(rep["events"]),
        "pool_gpu_s": rep["gpu_s"].tolist(),
    }


@dataclasses.dataclass(frozen=True)
class FleetResult:
    """The answer of :func:`clustersim.fleet.fleet` (``clustersim fleet --json`` prints :meth:`to_dict`).

    ``metrics`` holds one dict of figures per replica (see :func:`replica_metrics`); ``per_template`` one
    row per explicit job (and one for the generated stream) with each figure's spread over replicas.
    """

    name: str
    seed: int
    replicas: int
    horizon_s: float
    warmup_s: float
    policy: str
    pools: tuple[dict[str, Any], ...]
    templates: tuple[dict[str, Any], ...]
    metrics: tuple[dict[str, Any], ...]  # one per replica
    replica0: dict[str, Any]  # replica 0's arrays: utilization timeline
    waits_s: np.ndarray  # pooled over replicas (for the CDF)
    per_template: tuple[dict[str, Any], ...]

    def values(self, key: str) -> np.ndarray:
        """One metric per replica, e.g. ``values("p90_wait_hours")``."""
        return np.array([m[key] for m in self.metrics], dtype=float)

    @property
    def events(self) -> int:
        """Model events simulated, all replicas together (arrivals, completions, failures, repairs...)."""
        return int(sum(m["events"] for m in self.metrics))

    def summary(self) -> dict[str, Any]:
        """Every per-replica figure as its spread over replicas (mean, se, p10, p50, p90, n)."""
        keys = [k for k in self.metrics[0] if k not in ("events", "pool_gpu_s")]
        return {k: spread(self.values(k)) for k in keys}

    def per_pool(self) -> list[dict[str, Any]]:
        """Each pool's utilization (spread over replicas) and GPU-hours by state (mean over replicas)."""
        gpu_s = np.stack([np.asarray(m["pool_gpu_s"], dtype=float) for m in self.metrics])  # replica x pool x state
        out = []
        for i, p in enumerate(self.pools):
            per_rep = gpu_s[:, i, :]
            util = per_rep[:, :len(STATES)].sum(axis=1) / per_rep.sum(axis=1)
            out.append({"name": p["name"], "utilization": spread(util),
                        "gpu_hours_by_state": {s: float(h) for s, h in
                                               zip(GPU_STATES, per_rep.mean(axis=0) / units.HOUR_S, strict=True)}})
        return out

    def cost_usd(self) -> float | None:
        """All GPU-hours of the horizon at each pool's price (None when a pool has no price)."""
        prices = [p["usd_per_gpu_hour"] for p in self.pools]
        if any(x is None for x in prices):
            return None
        return float(sum(p["gpus"] * self.horizon_s / units.HOUR_S * x for p, x in zip(self.pools, prices, strict=True)))

    def to_dict(self) -> dict[str, Any]:
        q = np.linspace(0, 100, CDF_POINTS)
        waits_h = self.waits_s / units.HOUR_S
        cost = self.cost_usd()
        useful = spread(self.values("gpu_hours_running"))["mean"]
        out: dict[str, Any] = {
            "kind": "fleet",
            "name": self.name,
            "seed": self.seed,
            "replicas": self.replicas,
            "horizon_days": self.horizon_s / units.DAY_S,
            "warmup_days": self.warmup_s / units.DAY_S,
            "policy": self.policy,
            "pools": list(self.pools),
            "summary": self.summary(),
            "gpu_hours_by_state": {s: spread(self.values(f"gpu_hours_{s}"))["mean"] for s in GPU_STATES},
            "cost_usd": cost,
            "usd_per_useful_gpu_hour": cost / useful if cost is not None and useful else None,
            "per_pool": self.per_pool(),
            "jobs": list(self.per_template),
            "wait_cdf": {"percent": q.tolist(),
                         "hours": np.percentile(waits_h, q).tolist() if waits_h.size else []},
            "timeline": {
                "days": (self.replica0["sample_t"] / units.DAY_S).tolist(),
                "utilization": {p["name"]: (self.replica0["alloc_nodes"][i] / p["nodes"]).tolist()
                                for i, p in enumerate(self.pools)},
                "queued_jobs": {p["name"]: self.replica0["queued_jobs"][i].tolist() for i, p in enumerate(self.pools)},
            },
            "events": self.events,
        }
        out.update(provenance())
        return jsonable(out)
