"""A scenario as a one-job fleet: the fleet that ``clustersim simulate`` of the same scenario is.

:func:`single_job_fleet` writes the fleet whose only job is the scenario with its own failures
(``failures: scenario``, :mod:`clustersim.fleet.ownfail`) on a pool of exactly its nodes plus its spare
nodes, waiting for a repaired node when no spare is left (``scheduler.no_spare: wait``), with the
scenario's repair crew as the fleet's. With the same seed, replica r of that fleet has the same event
log (event types and times) and the same wall time as replica r of ``clustersim simulate`` with the
SimPy engine (tests/test_fleet_single.py). The vectorized engine, which ``simulate`` picks where it is
exact, draws its replicas on block streams of its own, so its per-replica walls differ from both (its
distribution does not); the event log ``simulate --events`` writes is the SimPy engine's replica 0.
"""

from __future__ import annotations

import math
import os
from typing import Any

from clustersim import units
from clustersim.estimate import estimate

__all__ = ["single_job_fleet"]


def single_job_fleet(scenario: str | os.PathLike[str], *, replicas: int | None = None, seed: int | None = None
                     ) -> dict[str, Any]:
    """The one-job fleet (a fleet mapping, for :func:`clustersim.fleet.fleet`) of a scenario file, with
    the simulation's horizon."""
    from clustersim.simulate import build_job

    est = estimate(scenario)
    s = est.scenario
    job = build_job(s, est)
    path = os.fspath(scenario)
    gpu = s.cluster.gpu if isinstance(s.cluster.gpu, str) else s.cluster.gpu.preset
    return {
        "name": f"{s.name} as a one-job fleet",
        "pools": [{"name": "job", "gpu": gpu, "nodes": job.nodes + job.spare_nodes, "gpus_per_node": job.gpus_per_node,
                   "spare_nodes": job.spare_nodes}],
        "workload": {"jobs": [{"scenario": path, "failures": "scenario"}]},
        "scheduler": {"policy": "fifo", "no_spare": "wait"},
        "repair": {"crew": job.max_concurrent_repairs},
        "simulation": {"horizon_days": math.nextafter(job.horizon / units.DAY_S, math.inf),
                       "replicas": replicas or s.simulation.replicas,
                       "seed": s.simulation.seed if seed is None else seed},
    }
