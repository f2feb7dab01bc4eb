"""A training scenario's resilience keys, turned into the strategy engine's input.

``clustersim simulate`` runs a scenario on the whole-job engines (vectorized or SimPy) unless it uses a
mechanism they do not represent (:func:`strategy_mechanisms`): an in-memory checkpoint tier, cold spares,
per-replica fault tolerance, lemon nodes, silent corruption. Then the strategy engine
(:mod:`clustersim.sim.strategy`) runs it, from the same figures: the kernel's failure-free training time and
checkpoint size, the scenario's failure sources, recovery times and spares, all already in the whole-job
:class:`~clustersim.sim.job.SimJob` built for it (:func:`build_strategy_job`). What the strategy engine in
turn does not represent is refused with its name (:func:`strategy_unsupported`), never approximated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from clustersim import units
from clustersim.errors import SimulationError
from clustersim.scenario import Scenario
from clustersim.sim.engines import vector_unsupported
from clustersim.sim.job import SimJob
from clustersim.sim.strategy_job import StrategyJob

__all__ = ["strategy_mechanisms", "strategy_unsupported", "build_strategy_job", "scenario_cost_usd",
           "strategy_cost_items", "retained_storage_checkpoints", "STRATEGY_ITEMS", "memory_tier_gib_per_node"]


def strategy_mechanisms(s: Scenario) -> tuple[str, ...]:
    """The scenario keys that only the strategy engine simulates (empty: the whole-job engines run it)."""
    out = []
    if s.checkpoint.memory_tier is not None:
        out.append("an in-memory checkpoint tier (checkpoint.memory_tier)")
    f = s.failures
    if f is not None:
        if f.cold_provision_minutes is not None:
            out.append("cold spares (failures.cold_provision_minutes)")
        if f.fault_tolerance is not None and f.fault_tolerance.mode == "per_replica":
            out.append("per-replica fault tolerance (failures.fault_tolerance)")
        if f.node_health is not None:
            out.append("node health: lemons, retirement, misdiagnosis (failures.node_health)")
        if f.silent_corruption is not None:
            out.append("silent data corruption (failures.silent_corruption)")
    return tuple(out)


def strategy_unsupported(job: SimJob) -> tuple[str, ...]:
    """What the strategy engine cannot represent in this whole-job input (empty: it runs it as stated)."""
    why = list(vector_unsupported(job))  # the vectorized engine's gaps are this engine's too
    if job.checkpoint_async:
        why.append("asynchronous checkpoints (checkpoint.async)")
    if job.repair_distribution == "lognormal":
        why.append("lognormal repair times")
    if any(src.distribution != "exponential" and src.shape != 1.0 for src in job.sources):
        why.append("Weibull failure sources")
    if any(src.effect == "preempt" for src in job.sources):
        why.append("spot preemptions")
    return tuple(why)


def memory_tier_gib_per_node(s: Scenario, checkpoint_bytes: float) -> float:
    """Host memory the in-memory tier holds per node: given, else the checkpoint spread over the nodes,
    twice for a peer-replicated tier (own shard plus a peer's)."""
    mt = s.checkpoint.memory_tier
    if mt is None:
        return 0.0
    if mt.gib_per_node is not None:
        return float(mt.gib_per_node)
    copies = 2 if mt.holder == "peer" else 1
    return checkpoint_bytes * copies / s.cluster.nodes / units.GIB


def _rates(job: SimJob) -> tuple[float | None, float | None]:
    """(MTBF of one healthy node, MTBF of the whole job's software failures) from the sources: node-effect
    sources add per node (units / mtbf over the nodes), job-effect sources add for the job."""
    node_rate = sum(src.units / src.mtbf_s for src in job.sources if src.effect == "node")
    soft_rate = sum(src.units / src.mtbf_s for src in job.sources if src.effect == "job")
    return (job.nodes / node_rate if node_rate > 0 else None), (1.0 / soft_rate if soft_rate > 0 else None)


def build_strategy_job(s: Scenario, whole: SimJob, checkpoint_bytes: float, gpus: int) -> StrategyJob:
    """The strategy engine's input for scenario ``s``, whose whole-job input is ``whole`` (work, checkpoint
    interval and times, sources, recovery, spares, horizon) and checkpoint ``checkpoint_bytes`` over
    ``gpus`` GPUs. Raises :class:`~clustersim.errors.SimulationError` naming what it cannot represent."""
    why = strategy_unsupported(whole)
    if why:
        raise SimulationError("the strategy engine (needed for " + ", ".join(strategy_mechanisms(s) or ("this run",))
                              + ") does not model " + ", ".join(why) + "; remove them to compare strategies")
    f, ck = s.failures, s.checkpoint
    node_mtbf_s, soft_mtbf_s = _rates(whole)
    fields: dict[str, Any] = dict(
        work_s=whole.work_s, nodes=whole.nodes, interval_s=whole.checkpoint_interval_s, write_s=0.0,
        storage_every=1, storage_write_s=whole.checkpoint_write_s, tier_survives="none",
        storage_load_s=whole.checkpoint_load_s, retention=ck.retention or 1_000_000,
        node_mtbf_s=node_mtbf_s, soft_mtbf_s=soft_mtbf_s, detect_s=whole.detect_s, restart_s=whole.restart_s,
        hot_spares=whole.spare_nodes, repair_s=whole.repair_s, repair_fixed=whole.repair_distribution == "fixed",
        horizon_s=whole.horizon_s, max_events=whole.max_events)
    mt = ck.memory_tier
    if mt is not None:
        fast_s = min(mt.interval_minutes * units.MINUTE_S, whole.checkpoint_interval_s)
        write_s = (mt.write_seconds if mt.write_seconds is not None
                   else checkpoint_bytes / gpus / (ck.host_copy_gbyte_per_s * units.GB))
        fields.update(interval_s=fast_s, write_s=write_s,
                      storage_every=max(1, round(whole.checkpoint_interval_s / fast_s)),
                      tier_survives="job" if mt.holder == "host" else "node",
                      tier_load_s=mt.load_seconds if mt.load_seconds is not None else write_s)
    if f is not None:
        if f.cold_provision_minutes is not None:
            fields["cold_provision_s"] = f.cold_provision_minutes * units.MINUTE_S
        nh = f.node_health
        if nh is not None:
            fields.update(lemon_nodes=nh.lemon_nodes, retire_after=nh.retire_after, escalate_after=nh.escalate_after,
                          misdiagnosis=nh.misdiagnosis,
                          lemon_mtbf_s=None if nh.lemon_mtbf_hours is None else nh.lemon_mtbf_hours * units.HOUR_S)
        sc = f.silent_corruption
        if sc is not None:
            fields.update(sdc_mtbf_s=sc.mtbf_hours * units.HOUR_S, sdc_detect_s=sc.detect_hours * units.HOUR_S)
        ft = f.fault_tolerance
        if ft is not None and ft.mode == "per_replica":
            replicas = ft.replicas or max(1, whole.nodes // whole.nodes_per_replica)
            fields.update(mode="per_replica", replicas=replicas, ft_stall_s=ft.stall_seconds,
                          ft_rejoin_s=ft.rejoin_minutes * units.MINUTE_S, ft_speed=1.0 / ft.step_time_factor,
                          work_s=whole.work_s * ft.convergence_factor)
    return StrategyJob(**fields)


#: The strategy's line items (USD) in the order :func:`scenario_cost_usd` adds them: the job's GPUs and its
#: hot spares for the wall time, cold nodes from when they are provisioned, the in-memory tier's host
#: memory, the retained storage checkpoints.
STRATEGY_ITEMS = ("gpu_usd", "cold_spares_usd", "memory_tier_usd", "storage_usd")


def retained_storage_checkpoints(job: StrategyJob) -> int:
    """Storage checkpoints held at once, as priced: ``checkpoint.retention`` (all when omitted: the engine
    can roll back to any), at most as many as the run writes (one every ``storage_every`` cycles, and the
    last)."""
    return min(math.ceil(job.cycles / job.storage_every), job.retention)


def strategy_cost_items(s: Scenario, job: StrategyJob, usd_per_gpu_hour: float, gpus_per_node: int,
                        checkpoint_bytes: float, wall_s: Any, cold_node_s: Any,
                        storage_usd_per_tb_month: float | None = None) -> dict[str, Any]:
    """The strategy's own line items (:data:`STRATEGY_ITEMS`) for wall times ``wall_s`` and cold
    node-seconds ``cold_node_s`` (arrays of replicas, or one figure): GPU-hours x price for the job's GPUs
    and its hot spares over the wall time (reference.md C.3 gives the prices); cold node-hours x GPUs per
    node x price; the in-memory tier's GiB per node (:func:`memory_tier_gib_per_node`) x nodes x hours x
    ``usd_per_gib_hour``; :func:`retained_storage_checkpoints` x checkpoint size in TB (1e12 bytes) x months
    of wall time x ``storage_usd_per_tb_month`` (default the scenario's ``pricing.storage_usd_per_tb_month``).
    An item the scenario does not price (no memory tier, no storage price) is None; ``cold_node_s`` None
    leaves the cold spares None (unknown)."""
    hours = np.asarray(wall_s, dtype=float) / units.HOUR_S
    gpus = (job.nodes + job.hot_spares) * gpus_per_node
    out: dict[str, Any] = dict.fromkeys(STRATEGY_ITEMS)
    out["gpu_usd"] = hours * gpus * usd_per_gpu_hour
    if cold_node_s is not None:
        out["cold_spares_usd"] = np.asarray(cold_node_s, dtype=float) / units.HOUR_S * gpus_per_node * usd_per_gpu_hour
    mt = s.checkpoint.memory_tier
    if mt is not None:
        out["memory_tier_usd"] = hours * job.nodes * memory_tier_gib_per_node(s, checkpoint_bytes) * mt.usd_per_gib_hour
    price_tb_month = (s.pricing.storage_usd_per_tb_month if storage_usd_per_tb_month is None
                      else storage_usd_per_tb_month)
    if price_tb_month:
        out["storage_usd"] = (retained_storage_checkpoints(job) * checkpoint_bytes / units.TB * price_tb_month
                              * np.asarray(wall_s, dtype=float) / units.MONTH_S)
    return out


def scenario_cost_usd(s: Scenario, job: StrategyJob, usd_per_gpu_hour: float, gpus_per_node: int,
                      checkpoint_bytes: float, wall_s: np.ndarray, cold_node_s: np.ndarray) -> np.ndarray:
    """Dollars of each replica, the strategy's own cost included: the sum of :func:`strategy_cost_items`."""
    items = strategy_cost_items(s, job, usd_per_gpu_hour, gpus_per_node, checkpoint_bytes, wall_s, cold_node_s)
    usd = items["gpu_usd"]
    for name in STRATEGY_ITEMS[1:]:
        if items[name] is not None:
            usd = usd + items[name]
    return np.asarray(usd, dtype=float)
