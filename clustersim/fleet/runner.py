"""``clustersim.fleet``: simulate a fleet file's replicas (optionally on worker processes) into a FleetResult.

Each replica's random streams are keyed by (seed, replica, stream name) (:mod:`clustersim.rng`), so the
result is the same whatever the number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from pydantic import ValidationError

from clustersim import units
from clustersim.errors import ErrorItem, ScenarioError
from clustersim.fleet.engine import run_replica
from clustersim.fleet.loader import FleetFile, load_fleet
from clustersim.fleet.results import FleetResult, replica_metrics, spread
from clustersim.fleet.spec import FleetSpec
from clustersim.fleet.workload import FleetPlan, plan_fleet
from clustersim.scenario.loader import errors_from_validation

__all__ = ["fleet", "simulate_plan", "with_changes"]


def with_changes(ff: FleetFile, nodes: Mapping[str, int] | None = None, policy: str | None = None,
                 replicas: int | None = None, seed: int | None = None) -> FleetFile:
    """The same fleet with some pools resized, another policy, replicas or seed (re-validated)."""
    data = ff.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    names = [p["name"] for p in data["pools"]]
    for name, n in (nodes or {}).items():
        if name not in names:
            raise ScenarioError(ErrorItem("no pool of that name", path="pools", given=name,
                                          expected="one of " + ", ".join(names)))
        data["pools"][names.index(name)]["nodes"] = int(n)
    if policy is not None:
        data.setdefault("scheduler", {})["policy"] = policy
        if policy == "fifo":
            data["scheduler"]["preemption"] = False
    sim = data.setdefault("simulation", {})
    if replicas is not None:
        sim["replicas"] = replicas
    if seed is not None:
        sim["seed"] = seed
    try:
        spec = FleetSpec.model_validate(data)
    except ValidationError as exc:  # e.g. a pool resized below its spares: name the field and the value
        raise ScenarioError(errors_from_validation(exc, data, None), str(ff.path or "")) from None
    return FleetFile(spec=spec, path=ff.path, root=ff.root)


def _run_chunk(plan: FleetPlan, seed: int, replicas: list[int]) -> list[dict[str, Any]]:
    return [run_replica(plan, seed, r) for r in replicas]


def _per_template(plan: FleetPlan, reps: list[dict[str, Any]], warmup_s: float, horizon_s: float
                  ) -> list[dict[str, Any]]:
    out = []
    for t, tpl in enumerate(plan.templates):
        rows: dict[str, list[float]] = {"wait_hours": [], "completion_hours": [], "ettr": [], "interruptions": [],
                                        "requeues": [], "preemptions": [], "effective_training_hours": [],
                                        "finished_fraction": []}
        for rep in reps:
            sel = (rep["template"] == t) & (rep["submit_s"] >= warmup_s) & (rep["submit_s"] < horizon_s)
            if not sel.any():
                continue
            start, end, submit = rep["first_start_s"][sel], rep["end_s"][sel], rep["submit_s"][sel]
            done = np.isfinite(end)
            rows["wait_hours"].append(float(np.mean(np.where(np.isfinite(start), start, horizon_s) - submit))
                                      / units.HOUR_S)
            rows["completion_hours"].append(float(np.mean(end[done] - submit[done])) / units.HOUR_S
                                            if done.any() else np.nan)
            rows["ettr"].append(float(np.mean(rep["work_s"][sel][done] / (end[done] - start[done])))
                                if done.any() else np.nan)
            rows["interruptions"].append(float(rep["interruptions"][sel].mean()))
            rows["requeues"].append(float(rep["requeues"][sel].mean()))
            rows["preemptions"].append(float(rep["preemptions"][sel].mean()))
            rows["effective_training_hours"].append(float(rep["useful_s"][sel].mean()) / units.HOUR_S)
            rows["finished_fraction"].append(float(done.mean()))
        out.append({**tpl, **{k: spread(np.array(v)) for k, v in rows.items()}})
    return out


def simulate_plan(plan: FleetPlan, replicas: int, seed: int, workers: int = 1) -> FleetResult:
    """Run ``replicas`` replicas of a planned fleet and gather them (workers > 1: a process pool)."""
    sim = plan.fleet.spec.simulation
    horizon_s = sim.horizon_days * units.DAY_S
    warmup_s = sim.warmup_days * units.DAY_S
    ids = list(range(replicas))
    if workers > 1 and replicas > 1:
        chunks = [ids[i::workers] for i in range(min(workers, replicas))]
        with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
            parts = list(pool.map(_run_chunk, [plan] * len(chunks), [seed] * len(chunks), chunks))
        reps = sorted((r for part in parts for r in part), key=lambda r: r["replica"])
    else:
        reps = _run_chunk(plan, seed, ids)
    metrics = tuple(replica_metrics(r, warmup_s, horizon_s) for r in reps)
    waits = [np.where(np.isfinite(r["first_start_s"]), r["first_start_s"], horizon_s) - r["submit_s"]
             for r in reps]
    sel = [(r["submit_s"] >= warmup_s) & (r["submit_s"] < horizon_s) for r in reps]
    pools = tuple({"name": p.name, "gpu": p.gpu, "nodes": p.nodes, "gpus": p.nodes * p.gpus_per_node,
                   "spare_nodes": p.spare_nodes, "usd_per_gpu_hour": p.usd_per_gpu_hour,
                   "node_mtbf_hours": (1.0 / p.node_rate_per_s / units.HOUR_S) if p.node_rate_per_s else None,
                   "repair_hours": p.repair_mean_s / units.HOUR_S} for p in plan.pools)
    return FleetResult(
        name=plan.fleet.name, seed=seed, replicas=replicas, horizon_s=horizon_s, warmup_s=warmup_s,
        policy=plan.fleet.spec.scheduler.policy, pools=pools, templates=plan.templates, metrics=metrics,
        replica0={"sample_t": np.linspace(0.0, horizon_s, sim.timeline_points), "alloc_nodes": reps[0]["alloc_nodes"],
                  "queued_jobs": reps[0]["queued_jobs"]},
        waits_s=np.concatenate([w[s] for w, s in zip(waits, sel, strict=True)]) if reps else np.zeros(0),
        per_template=tuple(_per_template(plan, reps, warmup_s, horizon_s)))


def fleet(source: str | os.PathLike[str] | Mapping[str, Any] | FleetSpec | FleetFile, *,
          replicas: int | None = None, seed: int | None = None, workers: int = 1,
          nodes: Mapping[str, int] | None = None, policy: str | None = None) -> FleetResult:
    """Simulate a fleet: many jobs, one scheduler per pool, shared spares and repairs.

    ``source`` is a fleet file path, a mapping or a spec; ``nodes`` resizes pools and ``policy`` swaps
    the scheduler policy (a what-if without editing the file). Raises ScenarioError for a bad fleet.
    """
    ff = load_fleet(source)
    if nodes or policy:
        ff = with_changes(ff, nodes=nodes, policy=policy)
    sim = ff.spec.simulation
    plan = plan_fleet(ff)
    return simulate_plan(plan, replicas or sim.replicas, sim.seed if seed is None else seed, workers)
