"""Capacity planning: the smallest pool that meets a queue-wait or completion target, and what-if tables.

The search bisects over the pool's node count. Every size is simulated with the same seed, so the
jobs, their sizes, durations and arrival times are the same draws at every size (common random
numbers, :mod:`clustersim.rng`): the difference between two sizes is the size, not the noise. The
statistic is the mean over replicas of each replica's percentile (e.g. the P90 queue wait of the
jobs of that replica). Bisection assumes the statistic does not grow with more nodes, which holds
for gang scheduling in the mean; the evaluated points are returned so that the assumption can be
checked on the curve.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from clustersim.errors import ClustersimError, ErrorItem, ScenarioError
from clustersim.fleet.loader import FleetFile, load_fleet
from clustersim.fleet.results import spread
from clustersim.fleet.runner import simulate_plan, with_changes
from clustersim.fleet.spec import FleetSpec
from clustersim.fleet.workload import plan_fleet
from clustersim.results import jsonable

__all__ = ["CapacityResult", "capacity_search", "what_if", "METRICS"]

#: Targets a capacity search can hold a pool to (hours; smaller is better for each).
METRICS = ("p90_wait_hours", "p50_wait_hours", "mean_wait_hours", "p90_completion_hours", "mean_completion_hours")
#: Doublings tried above the given size before the search says no size meets the target.
MAX_DOUBLINGS = 6


@dataclasses.dataclass(frozen=True)
class CapacityResult:
    pool: str
    metric: str
    target: float
    nodes: int | None  # the smallest size meeting the target, None if none up to the largest tried
    gpus: int | None
    points: tuple[dict[str, Any], ...]  # every size evaluated, in order of nodes

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"kind": "fleet-capacity", "pool": self.pool, "metric": self.metric, "target": self.target,
                         "nodes": self.nodes, "gpus": self.gpus, "met": self.nodes is not None,
                         "points": list(self.points)})  # a size whose jobs never start has an infinite wait: None


Source = str | os.PathLike[str] | Mapping[str, Any] | FleetSpec | FleetFile


def _evaluate(ff: FleetFile, pool: str, n: int, metric: str, replicas: int, seed: int, workers: int) -> dict[str, Any]:
    sized = with_changes(ff, nodes={pool: n})
    res = simulate_plan(plan_fleet(sized), replicas, seed, workers)
    s = spread(res.values(metric))
    mean = s["mean"] if s["mean"] is not None else math.inf
    return {"nodes": n, metric: mean, "se": s["se"], "utilization": spread(res.values("utilization"))["mean"]}


def capacity_search(source: Source, pool: str, target: float, *, metric: str = "p90_wait_hours",
                    replicas: int | None = None, seed: int | None = None, workers: int = 1,
                    low: int | None = None, high: int | None = None) -> CapacityResult:
    """The fewest nodes of ``pool`` for which ``metric`` (mean over replicas) is at most ``target`` hours."""
    if metric not in METRICS:
        raise ClustersimError(f"unknown capacity metric {metric!r}; expected one of {', '.join(METRICS)}")
    if not (target > 0 and math.isfinite(target)):
        raise ClustersimError(f"the target must be a positive number of hours, got {target}")
    ff = load_fleet(source)
    names = [p.name for p in ff.spec.pools]
    if pool not in names:
        raise ScenarioError(ErrorItem("no pool of that name", path="pools", given=pool, expected=", ".join(names)))
    spec_pool = ff.spec.pools[names.index(pool)]
    reps = replicas or ff.spec.simulation.replicas
    sd = ff.spec.simulation.seed if seed is None else seed
    plan = plan_fleet(ff)
    needed = _largest_job_nodes(plan, names.index(pool)) + spec_pool.spare_nodes
    lo = max(low or needed, needed, spec_pool.spare_nodes + 1)
    hi = high or max(spec_pool.nodes, lo)
    points: dict[int, dict[str, Any]] = {}

    def ok(n: int) -> bool:
        if n not in points:
            points[n] = _evaluate(ff, pool, n, metric, reps, sd, workers)
        return points[n][metric] <= target

    doublings = 0
    while not ok(hi):
        if high is not None or doublings >= MAX_DOUBLINGS:
            return _done(pool, metric, target, None, spec_pool.gpus_per_node, points)
        lo, hi = hi + 1, hi * 2
        doublings += 1
    if ok(lo):
        return _done(pool, metric, target, lo, spec_pool.gpus_per_node, points)
    while hi - lo > 1:  # invariant: lo fails, hi meets the target
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return _done(pool, metric, target, hi, spec_pool.gpus_per_node, points)


def _largest_job_nodes(plan: Any, pool_index: int) -> int:
    import numpy as np

    fixed = plan.fixed
    biggest = int(fixed.nodes[fixed.pool == pool_index].max()) if (fixed.pool == pool_index).any() else 1
    gen = plan.fleet.spec.workload.generated
    if gen is not None and plan.pools[pool_index].name == (gen.pool or plan.pools[0].name):
        sizes = gen.gpus.choices if not isinstance(gen.gpus, int) else [gen.gpus]
        gpn = plan.pools[pool_index].gpus_per_node
        biggest = max(biggest, int(np.max(-(-np.asarray(sizes) // gpn))))
    return biggest


def _done(pool: str, metric: str, target: float, nodes: int | None, gpn: int,
          points: dict[int, dict[str, Any]]) -> CapacityResult:
    return CapacityResult(pool=pool, metric=metric, target=target, nodes=nodes,
                          gpus=nodes * gpn if nodes is not None else None,
                          points=tuple(points[n] for n in sorted(points)))


def what_if(source: Source, nodes: Mapping[str, Sequence[int]] | None = None, policies: Sequence[str] = (),
            *, replicas: int | None = None, seed: int | None = None, workers: int = 1) -> list[dict[str, Any]]:
    """Every combination of pool sizes and scheduler policies, each with the fleet's headline figures.

    All combinations use the same seed (common random numbers), so their differences are not noise.
    """
    ff = load_fleet(source)
    sizes = {k: list(v) for k, v in (nodes or {}).items()}
    pols: list[str | None] = list(policies) or [None]
    reps = replicas or ff.spec.simulation.replicas
    sd = ff.spec.simulation.seed if seed is None else seed
    rows = []
    for combo in itertools.product(*sizes.values()):
        for policy in pols:
            changed = with_changes(ff, nodes=dict(zip(sizes, combo, strict=True)), policy=policy)
            res = simulate_plan(plan_fleet(changed), reps, sd, workers)
            summary = res.summary()
            rows.append({"nodes": {p.name: p.nodes for p in changed.spec.pools},
                         "policy": changed.spec.scheduler.policy,
                         **{k: summary[k]["mean"] for k in ("mean_wait_hours", "p90_wait_hours", "p90_completion_hours",
                                                             "utilization", "goodput_fraction", "finished_fraction")},
                         "cost_usd": res.cost_usd()})
    return [jsonable(r) for r in rows]
