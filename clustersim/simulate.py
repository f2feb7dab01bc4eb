"""``clustersim.simulate``: the whole run with failures, as a Monte Carlo over SimPy replicas.

The kernel gives the failure-free step time, the checkpoint size and how the step time moves when
data-parallel replicas drop out (elastic) or spine switches fail (degraded fabric); :mod:`clustersim.sim`
turns that into wall time, goodput and interruptions per replica; this module assembles the result.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from clustersim import units
from clustersim.cost.inputs import KernelInputs
from clustersim.cost.kernel import evaluate, evaluate_one
from clustersim.errors import ErrorItem, ScenarioError
from clustersim.estimate import Estimate, estimate, require_fit
from clustersim.planning import fabric_for
from clustersim.reliability import checkpoint_costs, checkpoint_interval_s, read_trace
from clustersim.resilience.scenario import build_strategy_job, scenario_cost_usd, strategy_mechanisms
from clustersim.resolve import ResolvedRun
from clustersim.results import jsonable
from clustersim.scenario import Scenario
from clustersim.sim import FailureSource, MonteCarloResult, SimJob, TraceEvent
from clustersim.sim import simulate as run_monte_carlo
from clustersim.sim.strategy import simulate_strategy, strategy_event_log
from clustersim.sim.strategy_job import StrategyJob
from clustersim.sim.strategy_result import strategy_monte_carlo

__all__ = ["SimulationResult", "simulate", "build_job", "strategy_job_of", "strategy_cost"]

#: Spine-failure states evaluated through the fabric's closed form; rates in between are interpolated linearly.
_DEGRADED_SAMPLES = 9
#: Replicas-missing states computed exactly for an elastic job (one kernel row each); beyond them the rate
#: is the surviving share (R - k) / R (SimJob.elastic_rate), so memory stays bounded at 10^6 nodes.
_ELASTIC_EXACT = 4096
#: Failures per replica a scenario's simulation may process (SimJob.max_events; the SimJob default of
#: 1,000,000 is for direct API use). About 20 us per failure and replica in the vectorized engine, so 5
#: replicas at the budget cost ~2 s of CPU; a scenario expected to need more is refused before any replica
#: runs, one that reaches it (a job that waits for years of repairs) is reported unfinished (budget_hit).
#: Real runs are far below it: Llama 3 405B's 54 days saw 419 interruptions.
EVENT_BUDGET = 20_000
#: Spine switches a simulation models one by one (a fabric-failure source): the rate table has one entry
#: per spine, so more are refused (a cluster of 10^6 nodes in 62,500 leaf groups of 16 has 128 at 1:1).
MAX_SIM_SPINES = 1 << 20
#: Progress rate used for "no progress possible" (the simulation needs rates in (0, 1]).
_STALLED = 1e-9


def _rate(inputs: KernelInputs) -> float:
    """Tokens per second of one configuration."""
    return float(evaluate_one(inputs)["tokens_per_s"])


def _elastic_speed(run: ResolvedRun) -> tuple[float, ...]:
    """Relative progress rate with k data-parallel replicas gone, k = 0 .. dp-1.

    The surviving replicas each keep their per-replica batch (the global batch shrinks with them), so the
    rate is the kernel's tokens/s at dp - k over its tokens/s at dp; DP communication and the bubble
    move with dp as the kernel computes them.
    """
    s = run.scenario
    if not (s.failures and s.failures.elastic):
        return (1.0,)
    dp = run.parallelism.dp or 1
    per_replica = s.training.batch_seqs // dp
    # k = 0 .. min(dp, _ELASTIC_EXACT) - 1 replicas missing: one vectorized kernel call
    survivors = np.arange(dp, max(dp - _ELASTIC_EXACT, 0), -1)
    inputs = run.inputs.replace(dp=survivors, global_batch_seqs=per_replica * survivors)
    rates = np.asarray(evaluate(inputs)["tokens_per_s"]) / _rate(run.inputs)
    return tuple(float(x) for x in np.clip(rates, _STALLED, 1.0))


def _degraded_speed(run: ResolvedRun, spines: int) -> tuple[float, ...]:
    """Relative progress rate with k spine switches down, k = 0 .. spines (the graph, then interpolation)."""
    if spines <= 0:
        return (1.0,)
    if spines > MAX_SIM_SPINES:
        raise ScenarioError(ErrorItem(
            f"the fabric has {spines:,} spine switches; a simulation with spine failures models at most "
            f"{MAX_SIM_SPINES:,} (one rate per spine down)", path="failures.sources",
            hint="fewer nodes per leaf group (cluster.network.nodes_per_leaf) or a set spine_switches, "
                 "or drop the per-switch spine source"))
    base = _rate(run.inputs)
    ks = sorted({round(x) for x in np.linspace(0, spines - 1, min(_DEGRADED_SAMPLES, spines))})
    rates = [_rate(run.inputs.replace(**fabric_for(run.network, failed_spines=k))) / base for k in ks]
    all_k = np.arange(spines + 1)
    speed = np.interp(all_k, ks, rates)
    # With every spine down, traffic between leaves stops: the job makes (almost) no progress.
    s = run.scenario
    speed[-1] = _STALLED if s.cluster.nodes > s.cluster.network.nodes_per_leaf else speed[-1]
    return tuple(float(min(1.0, max(_STALLED, x))) for x in speed)


def build_job(s: Scenario, est: Estimate) -> SimJob:
    """The simulation's input for a scenario whose failure-free estimate is ``est`` (``s`` is
    ``est.scenario``; kept as an argument for callers that pass both)."""
    run = est.run
    s = run.scenario
    f = s.failures
    k = est.kernel
    ck = checkpoint_costs(s, k["checkpoint_bytes"], run.gpus)
    mtbf = run.job_mtbf_s
    # an interval longer than the run is one segment that ends with the run (as theory_columns takes it)
    interval = min(checkpoint_interval_s(s, ck["block_s"], mtbf), max(k["train_s"], 1.0))
    par = est.parallelism
    nodes_per_replica = max(1, math.ceil(par.tp * par.pp * par.cp / run.gpus_per_node))
    sources = tuple(FailureSource(component=src["component"], per=src["per"], units=int(src["units"]),
                                  mtbf_s=src["mtbf_s"], distribution=src["distribution"], shape=src["shape"],
                                  effect=src["effect"]) for src in run.sources)
    spines = run.spines() if any(src.effect == "fabric" for src in sources) else 0
    trace = None
    if f is not None and f.trace is not None:
        events = read_trace(f.trace)
        bad = [e for e in events if e["node"] >= s.cluster.nodes]
        if bad:
            raise ScenarioError(f"failure trace {f.trace}: node {bad[0]['node']} does not exist "
                                f"(the cluster has nodes 0..{s.cluster.nodes - 1})")
        trace = tuple(TraceEvent(time_s=e["time_s"], component=e["component"], node=e["node"]) for e in events)
    work_s = k["train_s"]
    stragglers = f.stragglers if f is not None else None
    maintenance = f.maintenance if f is not None else None
    return SimJob(
        work_s=work_s,
        nodes=s.cluster.nodes,
        gpus_per_node=run.gpus_per_node,
        nodes_per_leaf=s.cluster.network.nodes_per_leaf,
        spine_switches=spines,
        sources=sources,
        trace=trace,
        detect_s=f.detect_s if f else 0.0,
        restart_s=f.restart_s if f else 0.0,
        repair_s=f.repair_s if f else 0.0,
        repair_distribution=f.repair_distribution if f else "exponential",
        max_concurrent_repairs=f.max_concurrent_repairs if f else None,
        spare_nodes=f.spare_nodes if f else 0,
        elastic=bool(f and f.elastic),
        nodes_per_replica=nodes_per_replica,
        min_replicas=1,
        elastic_speed=_elastic_speed(run),
        degraded_speed=_degraded_speed(run, spines),
        preempt_return_s=(s.pricing.spot.return_hours * units.HOUR_S
                          if s.pricing.spot is not None and s.pricing.spot.return_hours is not None else None),
        checkpoint_interval_s=interval,
        checkpoint_write_s=ck["write_s"],
        checkpoint_async=s.checkpoint.async_,
        checkpoint_block_s=ck["block_s"] if s.checkpoint.async_ else ck["write_s"],
        checkpoint_load_s=ck["load_s"],
        straggler_fraction=stragglers.fraction if stragglers else 0.0,
        straggler_slowdown=stragglers.slowdown if stragglers else 1.0,
        maintenance_period_s=maintenance.period_hours * units.HOUR_S if maintenance else None,
        maintenance_duration_s=maintenance.duration_minutes * units.MINUTE_S if maintenance else 0.0,
        max_events=EVENT_BUDGET,
        horizon_s=s.simulation.horizon_factor * max(work_s, 1.0) + (
            s.simulation.horizon_factor * (f.repair_s if f else 0.0)),
    )


def _stats(values: np.ndarray, upper: float = math.inf) -> dict[str, Any]:
    """Mean, percentiles, spread and the normal 95% interval of the mean, the interval kept inside the
    quantity's physical range [0, upper] (days, dollars and counts are not negative; goodput is at most 1)."""
    values = np.asarray(values, dtype=float)
    values = np.where(np.abs(values) < 1e-9, 0.0, values)  # float noise of sums that are zero
    n = len(values)
    mean = float(values.mean())
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    lo, hi = max(0.0, mean - 1.959964 * se), min(upper, mean + 1.959964 * se)
    return {"mean": mean, "p10": float(np.percentile(values, 10)), "p50": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)),
            "p99": float(np.percentile(values, 99)), "std": float(values.std(ddof=1)) if n > 1 else 0.0,
            "mean_ci95": [lo, hi]}


#: How each event of the log changes what the job is doing (events not listed leave it as it is).
_STATE_AFTER = {
    "start": "running", "resumed": "running", "checkpoint_done": "running", "checkpoint_copied": "running",
    "checkpoint_start": "checkpointing", "failure": "detecting", "detected": "restarting",
    "wait_for_spares": "waiting", "restarted": "loading", "maintenance_start": "maintenance",
    "maintenance_end": "restarting", "finish": "done", "horizon": "done",
}


def timeline(events: list[tuple[float, str, str, int, str]]) -> list[dict[str, Any]]:
    """Replica 0's event log as segments ``{start_s, end_s, state}`` (for the report's Gantt chart).

    States: running, checkpointing, detecting, restarting, waiting, loading, maintenance; a spare swap
    while waiting means the restart begins. A failure while waiting for a node keeps the job waiting.
    """
    segments: list[dict[str, Any]] = []
    state, since = "", 0.0
    for t, event, *_ in events:
        new = _STATE_AFTER.get(event)
        if event == "spare_swap" and state == "waiting":
            new = "restarting"
        if event == "failure" and state == "waiting":
            new = None
        if new is None or new == state:
            continue
        if state and state != "done" and t > since:
            segments.append({"start_s": since, "end_s": t, "state": state})
        state, since = new, t
    return segments


@dataclass(frozen=True)
class SimulationResult:
    """The Monte Carlo answer for one scenario (``clustersim simulate --json`` prints :meth:`to_dict`).

    ``monte_carlo`` is the headline: with parameter uncertainty (the default) each replica also drew its
    step-time factor and failure rates (``uncertainty`` says from what); ``failure_only`` is the same
    replicas and seed with the parameters fixed at their point values (None when parameter uncertainty
    was off, or nothing was uncertain: then ``monte_carlo`` is the failure-only run)."""

    estimate: Estimate
    job: SimJob
    monte_carlo: MonteCarloResult
    replicas: int
    seed: int
    failure_only: MonteCarloResult | None = None
    uncertainty: Any = None  # clustersim.calibrate.uncertainty.ParameterUncertainty, or None (off)
    #: the strategy engine's input when it ran (engine ``strategy``), and each replica's dollars with the
    #: strategy's own cost (cold nodes, the memory tier, retained storage); None for the whole-job engines
    strategy_job: StrategyJob | None = None
    strategy_cost_usd: np.ndarray | None = None
    #: each replica's node-seconds of provisioned cold nodes (engine ``strategy``; None otherwise): what
    #: ``clustersim dollars`` prices as the cold spares
    strategy_cold_node_s: np.ndarray | None = None

    def write_events(self, path: str) -> None:
        """Replica 0's event log as CSV, written atomically."""
        self.monte_carlo.write_events_csv(path)

    def to_dict(self) -> dict[str, Any]:
        s = self.estimate.scenario
        mc = self.monte_carlo
        out = self.estimate.to_dict()
        price = self.estimate.run.usd_per_gpu_hour
        wall_s = np.asarray(mc.wall_s, dtype=float)
        run = self.estimate.run
        paid_gpus = run.gpus + (s.failures.spare_nodes * run.gpus_per_node if s.failures else 0)
        wall_days = wall_s / units.DAY_S
        cost = wall_s / units.HOUR_S * paid_gpus * price if price is not None else None
        if self.strategy_cost_usd is not None:
            cost = np.asarray(self.strategy_cost_usd, dtype=float)
        out.update({
            "replicas": self.replicas,
            "seed": self.seed,
            "engine": mc.engine,
            "engine_note": mc.engine_note,
            "replicas_at_event_budget": int(mc.budget_hit.sum()) if mc.budget_hit is not None else 0,
            "event_budget": self.job.max_events,
            "wall_days": _stats(wall_days),
            "wall_cost_usd": _stats(cost) if cost is not None else None,
            "paid_gpus": paid_gpus,
            "goodput": _stats(np.asarray(mc.goodput), upper=1.0),
            "interruptions": _stats(np.asarray(mc.interruptions, dtype=float)),
            "interruptions_by_cause": {c: float(np.mean(v)) for c, v in mc.interruptions_by.items()},
            "checkpoint_interval_minutes": self.job.checkpoint_interval_s / units.MINUTE_S,
            "checkpoint_size_gb": self.estimate.checkpoint_size_gb,
            "checkpoint_write_s": self.job.checkpoint_write_s,
            "checkpoint_load_s": self.job.checkpoint_load_s,
            "job_mtbf_hours": (self.estimate.run.job_mtbf_s or math.inf) / units.HOUR_S,
            "time_breakdown_days": {part: _stats(np.asarray(v) / units.DAY_S) for part, v in mc.breakdown.items()},
            "finished_fraction": float(np.mean(mc.finished)),
            "samples": {"wall_days": wall_days.tolist(), "goodput": list(map(float, mc.goodput)),
                        "wall_cost_usd": cost.tolist() if cost is not None else None,
                        "wall_days_failures_only": (np.asarray(self.failure_only.wall_s, dtype=float) / units.DAY_S
                                                    ).tolist() if self.failure_only is not None else None,
                        "cold_node_hours": (np.asarray(self.strategy_cold_node_s, dtype=float) / units.HOUR_S).tolist()
                        if self.strategy_cold_node_s is not None else None},
            "timeline": timeline(mc.events or []),
        })
        out["failure_only"] = self._failure_only(paid_gpus, price, out)
        out["parameter_uncertainty"] = {"enabled": self.uncertainty is not None,
                                        **(self.uncertainty.to_dict() if self.uncertainty is not None else {})}
        return jsonable(out)

    def _failure_only(self, paid_gpus: int, price: float | None, out: dict[str, Any]) -> dict[str, Any]:
        """Days, dollars and goodput of the failure-only run (the headline's when it is the same run)."""
        if self.failure_only is None:
            return {k: out[k] for k in ("wall_days", "wall_cost_usd", "goodput")}
        wall_s = np.asarray(self.failure_only.wall_s, dtype=float)
        cost = wall_s / units.HOUR_S * paid_gpus * price if price is not None else None
        return {"wall_days": _stats(wall_s / units.DAY_S), "wall_cost_usd": _stats(cost) if cost is not None else None,
                "goodput": _stats(np.asarray(self.failure_only.goodput), upper=1.0)}


def simulate(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], *, replicas: int | None = None,
             seed: int | None = None, workers: int = 1, progress: bool = False, set: Iterable[str] = (),
             engine: str = "auto", parameter_uncertainty: bool = True, **overrides: Any) -> SimulationResult:
    """Run ``replicas`` seeded replicas of the scenario's training run with failures.

    The same seed gives the same result whatever ``workers`` is. Raises SimulationError when the job
    cannot finish (its MTBF is shorter than a checkpoint plus a restart). ``engine``: ``auto`` (the
    strategy engine when the scenario uses a mechanism only it simulates, see
    :func:`clustersim.resilience.scenario.strategy_mechanisms`; else the vectorized engine where it
    represents the job exactly, else SimPy), ``vector``, ``simpy`` or ``strategy``; the result says which ran.

    ``parameter_uncertainty`` (default True): each replica also draws its step-time factor (the
    distribution behind estimate's interval) and its failure rates (a profile's posterior, or a
    preset's study count; see :mod:`clustersim.calibrate.uncertainty`), and the failure-only run (the
    same replicas, parameters fixed) is reported beside it. False: the failure-only run alone. The
    strategy engine runs failure-only (its result says so).
    """
    est = estimate(scenario, set=set, **overrides)
    require_fit(est)
    s = est.scenario
    job = build_job(s, est)
    n = replicas or s.simulation.replicas
    sd = s.simulation.seed if seed is None else seed
    uses = strategy_mechanisms(s)
    if engine == "strategy" or (uses and engine == "auto"):
        return _simulate_strategy(est, job, uses, n, sd, workers, progress)
    if uses and engine in ("vector", "simpy"):
        from clustersim.errors import SimulationError

        raise SimulationError(f"engine {engine} cannot represent this run: it has " + ", ".join(uses)
                              + "; use engine strategy (or auto)")
    if not parameter_uncertainty:
        mc = run_monte_carlo(job, replicas=n, seed=sd, workers=workers, progress=progress, engine=engine)
        return SimulationResult(estimate=est, job=job, monte_carlo=mc, replicas=n, seed=sd)
    from clustersim.calibrate.uncertainty import parameter_uncertainty as uncertainty_of

    pu = uncertainty_of(est.run, job)
    if not pu.anything:
        mc = run_monte_carlo(job, replicas=n, seed=sd, workers=workers, progress=progress, engine=engine)
        return SimulationResult(estimate=est, job=job, monte_carlo=mc, replicas=n, seed=sd, uncertainty=pu)
    scales = pu.draws(sd, n)
    # one horizon for every replica (both engines): the job's, widened by the slowest drawn step factor
    job = dataclasses.replace(job, horizon_s=job.horizon * max(1.0, float(scales.step_factor.max())))
    fixed = run_monte_carlo(job, replicas=n, seed=sd, workers=workers, progress=progress, engine=engine)
    mc = run_monte_carlo(job, replicas=n, seed=sd, workers=workers, progress=progress, engine=engine,
                         scales=scales)
    return SimulationResult(estimate=est, job=job, monte_carlo=mc, replicas=n, seed=sd, failure_only=fixed,
                            uncertainty=pu)


def strategy_job_of(est: Estimate, job: SimJob | None = None) -> StrategyJob:
    """The strategy engine's input for an estimate's scenario (``job``: its whole-job input, built if None)."""
    whole = job if job is not None else build_job(est.scenario, est)
    return build_strategy_job(est.scenario, whole, est.kernel["checkpoint_bytes"], est.run.gpus)


def strategy_cost(est: Estimate, sjob: StrategyJob, wall_s: np.ndarray, cold_node_s: np.ndarray) -> np.ndarray | None:
    """Each replica's dollars with the strategy's own cost (None without a GPU price)."""
    price = est.run.usd_per_gpu_hour
    if price is None:
        return None
    return scenario_cost_usd(est.scenario, sjob, price, est.run.gpus_per_node, est.kernel["checkpoint_bytes"],
                             wall_s, cold_node_s)


def _simulate_strategy(est: Estimate, job: SimJob, uses: tuple[str, ...], n: int, sd: int, workers: int,
                       progress: bool) -> SimulationResult:
    from clustersim.sim.runner import _Progress

    sjob = strategy_job_of(est, job)
    note = ("the scenario uses " + ", ".join(uses) + ", which only the strategy engine simulates") if uses else "asked for"
    note += "; failure randomness only (the strategy engine draws no parameter uncertainty)"
    with _Progress(n, progress) as advance:
        raw = simulate_strategy(sjob, replicas=n, seed=sd, workers=workers, advance=advance)
    # replica 0 once more, with its event log (the same result: the log changes no draw)
    log = strategy_event_log(sjob, seed=sd, replica=0, limit=job.max_log_rows)
    mc = strategy_monte_carlo(sjob, job, raw, sd, note, log)
    return SimulationResult(estimate=est, job=job, monte_carlo=mc, replicas=n, seed=sd, strategy_job=sjob,
                            strategy_cost_usd=strategy_cost(est, sjob, raw["wall_s"], raw["cold_node_s"]),
                            strategy_cold_node_s=raw["cold_node_s"])
