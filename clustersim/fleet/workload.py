"""From a fleet file to what the simulation reads: pool figures and one row per job (numpy arrays).

A scenario job is run through the public :func:`clustersim.estimate` once per distinct (scenario, pool,
size), never per event: its failure-free work is the kernel's ``train_s`` on the pool's GPU, nodes and
fabric, its checkpoint costs come from :func:`clustersim.reliability.checkpoint_costs`, its detection and
restart times and its job-level (``per: job``) failure sources from its ``failures`` section. Its
per-gpu and per-node sources are replaced by its pool's (a node fails whichever job holds it).

A job's checkpoint interval ``auto`` is Daly's higher-order optimum (Daly 2006, Eq. 37) for the job's
MTBF on its pool: 1 / (nodes x node failure rate + job-level rate) (Kokolis et al. 2024: MTTF =
(N_nodes r_f)^-1); without failures, one checkpoint a day (as :mod:`clustersim.reliability`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from clustersim import rng as rngmod
from clustersim import theory, units
from clustersim.errors import ClustersimError, ErrorItem, ScenarioError
from clustersim.fleet.loader import FleetFile
from clustersim.fleet.ownfail import OwnFailures, own_failures, unsupported
from clustersim.fleet.spec import ChoiceSpec, DurationSpec, GeneratedSpec, JobCheckpointSpec, PoolSpec
from clustersim.scenario import catalog

__all__ = ["PoolPlan", "JobTable", "FleetPlan", "plan_fleet", "pool_node_rate_per_s", "JOB_FIELDS"]

#: The columns of a :class:`JobTable` (one value per job).
JOB_FIELDS = ("submit_s", "pool", "nodes", "work_s", "tau_s", "delta_s", "load_s", "detect_s", "restart_s",
              "soft_rate_per_s", "elastic", "min_nodes", "priority", "template", "own")


@dataclasses.dataclass(frozen=True)
class PoolPlan:
    name: str
    gpu: str
    nodes: int
    gpus_per_node: int
    spare_nodes: int
    node_rate_per_s: float
    repair_mean_s: float
    repair_fixed: bool
    usd_per_gpu_hour: float | None
    lemon_nodes: int = 0
    lemon_rate_per_s: float = 0.0
    lemon_repair_s: float = 0.0


@dataclasses.dataclass
class JobTable:
    """One row per job; ``template`` indexes :attr:`FleetPlan.templates` (its name and where it came from)."""

    submit_s: np.ndarray
    pool: np.ndarray
    nodes: np.ndarray
    work_s: np.ndarray
    tau_s: np.ndarray
    delta_s: np.ndarray
    load_s: np.ndarray
    detect_s: np.ndarray
    restart_s: np.ndarray
    soft_rate_per_s: np.ndarray
    elastic: np.ndarray
    min_nodes: np.ndarray
    priority: np.ndarray
    template: np.ndarray
    own: np.ndarray  # index into FleetPlan.own (the job's own failure sources), -1: the pool's only

    def __len__(self) -> int:
        return int(self.submit_s.shape[0])

    @staticmethod
    def concat(parts: list[JobTable]) -> JobTable:
        return JobTable(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in JOB_FIELDS})


@dataclasses.dataclass(frozen=True)
class FleetPlan:
    """Everything a replica needs; ``jobs(replica)`` gives the job table of one replica."""

    fleet: FleetFile
    pools: tuple[PoolPlan, ...]
    fixed: JobTable
    templates: tuple[dict[str, Any], ...]
    own: tuple[OwnFailures, ...] = ()

    def jobs(self, seed: int, replica: int) -> JobTable:
        gen = self.fleet.spec.workload.generated
        if gen is None:
            return self.fixed
        drawn = _generate(self, gen, seed if gen.seed is None else gen.seed, replica if gen.per_replica else 0)
        return JobTable.concat([self.fixed, drawn])


def pool_node_rate_per_s(pool: PoolSpec) -> float:
    """Failures per node per second: the sum of the pool's exponential sources (a per-gpu source counts
    each GPU of the node; superposed Poisson processes add their rates, Ross Ch. 5)."""
    f = pool.failures
    if f is None:
        return 0.0
    if f.node_mtbf_hours is not None:
        return 1.0 / (f.node_mtbf_hours * units.HOUR_S)
    if f.preset is not None:
        sources = [s for s in catalog.reliability_preset(f.preset)["sources"] if s["per"] in ("gpu", "node")]
    else:
        sources = [s.model_dump() for s in f.sources or []]
    rate = 0.0
    for s in sources:
        count = pool.gpus_per_node if s["per"] == "gpu" else 1
        rate += count / (float(s["mtbf_hours"]) * units.HOUR_S)
    return rate


def _lemons(pool: PoolSpec) -> dict[str, Any]:
    f = pool.failures
    if f is None or not f.lemon_nodes:
        return {}
    repair_h = f.repair_hours if f.lemon_repair_hours is None else f.lemon_repair_hours
    return {"lemon_nodes": f.lemon_nodes, "lemon_rate_per_s": 1.0 / (float(f.lemon_mtbf_hours or 0.0) * units.HOUR_S),
            "lemon_repair_s": repair_h * units.HOUR_S}


def _interval_s(interval: float | str, block_s: float, nodes: int, node_rate: float, soft_rate_per_s: float) -> float:
    if interval != "auto":
        return float(interval) * units.MINUTE_S
    rate = nodes * node_rate + soft_rate_per_s
    if rate <= 0:
        return units.DAY_S
    return float(theory.daly_interval_s(block_s, 1.0 / rate))


def _pool_index(ff: FleetFile, name: str | None, gpu: str | None, where: str) -> int:
    pools = ff.spec.pools
    if name is not None:
        return next(i for i, p in enumerate(pools) if p.name == name)
    if len(pools) == 1:
        return 0
    matching = [i for i, p in enumerate(pools) if p.gpu == gpu]
    if not matching:
        raise ScenarioError(ErrorItem(f"no pool has the scenario's GPU {gpu!r}; name the pool", path=where,
                                      expected="one of " + ", ".join(p.name for p in pools)), str(ff.path or ""))
    return matching[0]


def _scenario_row(ff: FleetFile, path: str, pool_name: str | None, gpus: int | None, where: str,
                  cache: dict[tuple[Any, ...], dict[str, Any]]) -> dict[str, Any]:
    """Failure-free work, checkpoint and restart costs of one scenario on one pool (cached)."""
    from clustersim.estimate import estimate
    from clustersim.reliability import checkpoint_costs, failure_sources
    from clustersim.scenario import load_scenario

    scen_path = ff.scenario_path(path)
    key0 = ("scenario", str(scen_path))
    if key0 not in cache:
        cache[key0] = {"scenario": load_scenario(scen_path)}
    s = cache[key0]["scenario"]
    gpu_name = s.cluster.gpu if isinstance(s.cluster.gpu, str) else s.cluster.gpu.preset
    ip = _pool_index(ff, pool_name, gpu_name, where)
    pool = ff.spec.pools[ip]
    sets = []
    if gpu_name != pool.gpu:
        sets.append(f"cluster.gpu={pool.gpu}")
    if s.gpus_per_node != pool.gpus_per_node:
        sets.append(f"cluster.gpus_per_node={pool.gpus_per_node}")
    nodes = s.cluster.nodes if gpus is None else math.ceil(gpus / pool.gpus_per_node)
    if nodes != s.cluster.nodes:
        sets.append(f"cluster.nodes={nodes}")
    if pool.fabric is not None:
        sets += [f"cluster.network.{k}={v}" for k, v in pool.fabric.model_dump(exclude_unset=True).items()]
    key = (str(scen_path), ip, tuple(sets))
    if key in cache:
        return cache[key]
    try:
        est = estimate(s, set=sets, with_theory=False)
    except ScenarioError as exc:
        raise ScenarioError([dataclasses.replace(i, path=f"{where}: {i.path}" if i.path else where)
                             for i in exc.items], str(ff.path or "")) from None
    except ClustersimError as exc:  # e.g. the scenario does not fit the pool's GPU at this size
        raise ScenarioError(ErrorItem(f"the job's scenario cannot run on pool {pool.name}: {exc}", path=where,
                                      given=str(scen_path)), str(ff.path or "")) from None
    run = est.scenario
    ck = checkpoint_costs(run, est.kernel["checkpoint_bytes"])
    soft = [src for src in failure_sources(run) if src["effect"] == "job"]
    f = run.failures
    row = {
        "pool": ip, "nodes": nodes, "work_s": est.kernel["train_s"], "delta_s": ck["block_s"], "load_s": ck["load_s"],
        "detect_s": f.detect_s if f is not None else 5 * units.MINUTE_S,
        "restart_s": f.restart_s if f is not None else 10 * units.MINUTE_S,
        "soft_rate_per_s": sum(1.0 / src["mtbf_s"] for src in soft), "interval": run.checkpoint.interval_minutes,
        "scenario": run.name, "estimate": est,
    }
    cache[key] = row
    return row


def _checkpoint_row(ck: JobCheckpointSpec) -> dict[str, Any]:
    return {"delta_s": ck.write_minutes * units.MINUTE_S, "load_s": ck.load_minutes * units.MINUTE_S,
            "detect_s": ck.detect_minutes * units.MINUTE_S, "restart_s": ck.restart_minutes * units.MINUTE_S,
            "soft_rate_per_s": 1.0 / (ck.software_mtbf_hours * units.HOUR_S) if ck.software_mtbf_hours else 0.0,
            "interval": ck.interval_minutes}


def _table(rows: list[dict[str, Any]]) -> JobTable:
    def col(name: str, dtype: Any) -> np.ndarray:
        return np.array([r[name] for r in rows], dtype=dtype)

    return JobTable(submit_s=col("submit_s", float), pool=col("pool", np.int64), nodes=col("nodes", np.int64),
                    work_s=col("work_s", float), tau_s=col("tau_s", float), delta_s=col("delta_s", float),
                    load_s=col("load_s", float), detect_s=col("detect_s", float), restart_s=col("restart_s", float),
                    soft_rate_per_s=col("soft_rate_per_s", float), elastic=col("elastic", bool),
                    min_nodes=col("min_nodes", np.int64), priority=col("priority", np.int64),
                    template=col("template", np.int64), own=col("own", np.int64))


def plan_fleet(ff: FleetFile) -> FleetPlan:
    """Resolve pools and explicit jobs once (scenario estimates cached); generated jobs are drawn per replica."""
    pools = tuple(PoolPlan(
        name=p.name, gpu=p.gpu, nodes=p.nodes, gpus_per_node=p.gpus_per_node, spare_nodes=p.spare_nodes,
        node_rate_per_s=pool_node_rate_per_s(p),
        repair_mean_s=(p.failures.repair_hours if p.failures else 0.0) * units.HOUR_S,
        repair_fixed=bool(p.failures and p.failures.repair_distribution == "fixed"),
        usd_per_gpu_hour=p.usd_per_gpu_hour, **_lemons(p)) for p in ff.spec.pools)
    cache: dict[tuple[Any, ...], dict[str, Any]] = {}
    own: list[OwnFailures] = []
    rows: list[dict[str, Any]] = []
    templates: list[dict[str, Any]] = []
    for i, job in enumerate(ff.spec.workload.jobs):
        where = f"workload.jobs.{i}"
        if job.scenario is not None:
            base = dict(_scenario_row(ff, job.scenario, job.pool, job.gpus, where, cache))
        else:
            ip = _pool_index(ff, job.pool, None, where)
            nodes = math.ceil((job.gpus or 1) / pools[ip].gpus_per_node)
            base = {"pool": ip, "nodes": nodes, "work_s": (job.duration_hours or 0.0) * units.HOUR_S,
                    **_checkpoint_row(job.checkpoint or JobCheckpointSpec())}
        pool = pools[base["pool"]]
        base["own"] = -1
        if job.failures == "scenario":
            base = _with_own_failures(ff, base, own, where)
        usable = pool.nodes - pool.spare_nodes
        if base["nodes"] > usable:
            raise ScenarioError(ErrorItem(
                f"the job needs {base['nodes']} nodes; pool {pool.name} schedules at most {usable} "
                f"({pool.nodes} nodes less {pool.spare_nodes} spares)", path=where), str(ff.path or ""))
        min_nodes = math.ceil(job.min_gpus / pool.gpus_per_node) if job.min_gpus else 1
        templates.append({"name": job.name or (base.get("scenario") or f"job{i}"), "source": where,
                          "gpus": base["nodes"] * pool.gpus_per_node, "pool": pool.name})
        for _ in range(job.count):
            rows.append({**base, "submit_s": job.submit_hours * units.HOUR_S, "priority": job.priority,
                         "elastic": job.elastic, "min_nodes": min(min_nodes, base["nodes"]),
                         "template": len(templates) - 1,
                         "tau_s": base["tau_s"] if "tau_s" in base else _interval_s(
                             base["interval"], base["delta_s"], base["nodes"], pool.node_rate_per_s,
                             base["soft_rate_per_s"])})
    gen = ff.spec.workload.generated
    if gen is not None:
        ip = _pool_index(ff, gen.pool, None, "workload.generated")
        templates.append({"name": "generated", "source": "workload.generated", "gpus": None, "pool": pools[ip].name})
        sizes = gen.gpus.choices if isinstance(gen.gpus, ChoiceSpec) else [gen.gpus]
        usable = pools[ip].nodes - pools[ip].spare_nodes
        too_big = [g for g in sizes if math.ceil(g / pools[ip].gpus_per_node) > usable]
        if too_big:
            raise ScenarioError(ErrorItem(f"jobs of {too_big[0]} GPUs do not fit pool {pools[ip].name} "
                                          f"({usable} schedulable nodes)", path="workload.generated.gpus"),
                                str(ff.path or ""))
    return FleetPlan(fleet=ff, pools=pools, fixed=_table(rows) if rows else _empty(), templates=tuple(templates),
                     own=tuple(own))


def _with_own_failures(ff: FleetFile, base: dict[str, Any], own: list[OwnFailures], where: str) -> dict[str, Any]:
    """A scenario job with its own failures: the single-job simulation's input (:func:`clustersim.simulate.
    build_job`) gives its work, checkpoint interval and costs, recovery times, sources and repairs."""
    from clustersim.simulate import build_job

    est = base["estimate"]
    sj = build_job(est.scenario, est)
    missing = unsupported(sj)
    if missing:
        raise ScenarioError(ErrorItem(f"a fleet job with failures: scenario cannot model {', '.join(missing)}",
                                      path=f"{where}.failures", expected="pool, or a scenario without them"),
                            str(ff.path or ""))
    own.append(own_failures(sj))
    return {**base, "own": len(own) - 1, "work_s": sj.work_s, "tau_s": sj.checkpoint_interval_s,
            "delta_s": sj.checkpoint_blocking_s, "load_s": sj.checkpoint_load_s, "detect_s": sj.detect_s,
            "restart_s": sj.restart_s, "soft_rate_per_s": 0.0}


def _empty() -> JobTable:
    return _table([])


def _choose(spec: int | ChoiceSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(spec, int):
        return np.full(n, spec, dtype=np.int64)
    p = None
    if spec.weights is not None:
        w = np.asarray(spec.weights, dtype=float)
        p = w / w.sum()
    return rng.choice(np.asarray(spec.choices, dtype=np.int64), size=n, p=p)


def _priorities(gen: GeneratedSpec, gpus: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Drawn priorities, replaced by ``priority_by_gpus`` where a threshold applies (drawn either way, so the
    other columns keep their common random numbers)."""
    prio = _choose(gen.priority, len(gpus), rng)
    for rule in sorted(gen.priority_by_gpus or [], key=lambda r: r.min_gpus):
        prio = np.where(gpus >= rule.min_gpus, rule.priority, prio)
    return prio


def _durations_s(spec: DurationSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    if spec.distribution == "exponential":
        d = rng.exponential(float(spec.mean or 0.0), n)
    elif spec.distribution == "lognormal":
        d = np.exp(math.log(float(spec.median or 1.0)) + (spec.sigma or 0.0) * rng.standard_normal(n))
    else:
        d = np.full(n, float(spec.mean or 0.0))
    if spec.max_hours is not None:
        d = np.minimum(d, spec.max_hours)
    return d * units.HOUR_S


def _generate(plan: FleetPlan, gen: GeneratedSpec, seed: int, replica: int) -> JobTable:
    """One replica's generated jobs: every quantity from its own keyed stream (common random numbers)."""
    n = gen.count
    ip = _pool_index(plan.fleet, gen.pool, None, "workload.generated")
    pool = plan.pools[ip]

    def r(name: str) -> np.random.Generator:
        return rngmod.stream(seed, replica, f"fleet/generated/{name}")

    submit = gen.start_hours * units.HOUR_S + np.cumsum(r("arrivals").exponential(units.HOUR_S / gen.arrivals_per_hour, n))
    gpus = _choose(gen.gpus, n, r("gpus"))
    nodes = -(-gpus // pool.gpus_per_node)
    work = _durations_s(gen.duration_hours, n, r("durations"))
    elastic = r("elastic").random(n) < gen.elastic_fraction
    ck = _checkpoint_row(gen.checkpoint)
    rate = nodes * pool.node_rate_per_s + ck["soft_rate_per_s"]
    if ck["interval"] == "auto":
        mtbf = np.where(rate > 0, 1.0 / np.maximum(rate, 1e-300), np.inf)
        tau = np.where(rate > 0, theory.daly_interval_s(ck["delta_s"], np.minimum(mtbf, 1e300)), units.DAY_S)
    else:
        tau = np.full(n, float(ck["interval"]) * units.MINUTE_S)
    return JobTable(submit_s=submit, pool=np.full(n, ip, dtype=np.int64), nodes=nodes.astype(np.int64), work_s=work,
                    tau_s=np.asarray(tau, dtype=float), delta_s=np.full(n, ck["delta_s"]),
                    load_s=np.full(n, ck["load_s"]), detect_s=np.full(n, ck["detect_s"]),
                    restart_s=np.full(n, ck["restart_s"]), own=np.full(n, -1, dtype=np.int64),
                    soft_rate_per_s=np.full(n, ck["soft_rate_per_s"]), elastic=elastic,
                    min_nodes=np.ones(n, dtype=np.int64), priority=_priorities(gen, gpus, r("priority")),
                    template=np.full(n, len(plan.templates) - 1, dtype=np.int64))
