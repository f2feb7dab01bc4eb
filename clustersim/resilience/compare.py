"""Named strategies of one resilience file, simulated on the same failures and priced side by side.

Each strategy's replicas use the same (seed, replica) streams, so with equal failure rates every
strategy sees the same failure times (common random numbers) and the differences between them are
sharper than independent runs would give (Law, *Simulation Modeling and Analysis*, Sec. 11.2).
Intervals: the mean's normal 95% interval; the P90's distribution-free interval from the order
statistics (Conover, *Practical Nonparametric Statistics*, Sec. 3.2), as in ``clustersim simulate``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clustersim import units
from clustersim.results import jsonable
from clustersim.sim.stats import describe
from clustersim.sim.strategy import simulate_strategy
from clustersim.sim.strategy_job import StrategyJob

from .spec import ResilienceFile, load_resilience, strategy_spec

__all__ = ["build_strategy_job", "StrategyResult", "Comparison", "compare", "run_file_strategy", "load_file"]


def _h(hours: float | None) -> float | None:
    return None if hours is None else hours * units.HOUR_S


def storage_write_s(spec: ResilienceFile) -> float:
    """Blocking storage write: size over the achieved bandwidth (nominal x efficiency)."""
    ck = spec.checkpoint
    return ck.storage_gbyte / (ck.storage_gbyte_per_s * ck.storage_efficiency)


def build_strategy_job(spec: ResilienceFile) -> StrategyJob:
    """The engine's input for one (strategy-applied) resilience file."""
    f, ck, ft, sp = spec.failures, spec.checkpoint, spec.fault_tolerance, spec.spares
    nodes = math.ceil(spec.job.gpus / spec.job.gpus_per_node)
    w_storage = storage_write_s(spec)
    return StrategyJob(
        work_s=spec.job.days * units.DAY_S,
        nodes=nodes,
        interval_s=ck.interval_minutes * units.MINUTE_S,
        write_s=ck.write_seconds,
        storage_every=ck.storage_every if ck.tier != "none" else 1,
        storage_write_s=w_storage,
        tier_survives=ck.tier,
        tier_load_s=ck.tier_load_seconds,
        storage_load_s=ck.storage_load_seconds if ck.storage_load_seconds is not None else w_storage,
        retention=ck.retention,
        node_mtbf_s=_h(f.node_mtbf_hours),
        soft_mtbf_s=_h(f.software_mtbf_hours),
        lemon_nodes=f.lemon_nodes,
        lemon_mtbf_s=_h(f.lemon_mtbf_hours),
        retire_after=f.retire_after,
        escalate_after=f.escalate_after,
        misdiagnosis=f.misdiagnosis,
        sdc_mtbf_s=_h(f.sdc_mtbf_hours),
        sdc_detect_s=f.sdc_detect_hours * units.HOUR_S,
        detect_s=f.detect_minutes * units.MINUTE_S,
        restart_s=f.restart_minutes * units.MINUTE_S,
        hot_spares=sp.hot,
        cold_provision_s=None if sp.cold_provision_minutes is None else sp.cold_provision_minutes * units.MINUTE_S,
        repair_s=f.repair_hours * units.HOUR_S,
        repair_fixed=f.repair_fixed,
        mode=spec.mode,
        replicas=spec.job.replicas,
        ft_stall_s=ft.stall_seconds,
        ft_rejoin_s=ft.rejoin_minutes * units.MINUTE_S,
        ft_speed=ft.speed,
    )


def cost_usd(spec: ResilienceFile, wall_s: np.ndarray, cold_node_s: np.ndarray) -> np.ndarray:
    """Dollars of each replica: the job's GPUs and its hot spares for the wall time, cold nodes while
    provisioned, the fast tier's memory and the storage service for the wall time."""
    p = spec.pricing
    nodes = math.ceil(spec.job.gpus / spec.job.gpus_per_node)
    hours = wall_s / units.HOUR_S
    gpus = spec.job.gpus + spec.spares.hot * spec.job.gpus_per_node
    usd = hours * gpus * p.usd_per_gpu_hour
    usd = usd + cold_node_s / units.HOUR_S * spec.job.gpus_per_node * p.usd_per_gpu_hour
    usd = usd + hours * nodes * spec.checkpoint.tier_gib_per_node * p.usd_per_gib_hour
    return usd + hours * p.storage_usd_per_hour


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's replicas, summarised."""

    name: str
    engine_mode: str
    raw: dict[str, np.ndarray]
    cost: np.ndarray

    def summary(self) -> dict[str, Any]:
        days = self.raw["wall_s"] / units.DAY_S
        out = {"strategy": self.name, "mode": self.engine_mode,
               "wall_days": describe(days).to_dict(), "cost_usd": describe(self.cost).to_dict(),
               "goodput": describe(self.raw["goodput"]).to_dict(),
               "failures": float(self.raw["failures"].mean()),
               "finished_fraction": float(self.raw["finished"].mean())}
        for key in ("fast_restores", "storage_restores", "unrecoverable", "retired", "lemon_failures"):
            out[key] = float(self.raw[key].mean())
        return out

    @property
    def p90_days(self) -> float:
        return float(np.percentile(self.raw["wall_s"], 90) / units.DAY_S)


def load_file(path: str | os.PathLike[str], overrides: tuple[str, ...] | list[str] = (),
              extra: dict[str, dict[str, Any]] | None = None) -> tuple[ResilienceFile, dict[str, Any]]:
    """:func:`~.spec.load_resilience`, then every strategy built for the engine: one it cannot run is a
    ScenarioError naming the strategy, before anything runs."""
    from clustersim.errors import ErrorItem, ScenarioError, SimulationError

    spec, data = load_resilience(path, overrides, extra)
    for name in ["base", *spec.strategies]:
        try:
            build_strategy_job(strategy_spec(spec, data, name, str(path)))
        except SimulationError as exc:
            raise ScenarioError(ErrorItem(f"strategy {name!r}: {exc}", path="strategies" if name != "base" else ""),
                                str(path)) from None
    return spec, data


def run_file_strategy(spec: ResilienceFile, name: str, replicas: int, seed: int) -> StrategyResult:
    raw = simulate_strategy(build_strategy_job(spec), replicas=replicas, seed=seed)
    return StrategyResult(name=name, engine_mode=spec.mode, raw=raw, cost=cost_usd(spec, raw["wall_s"],
                                                                                   raw["cold_node_s"]))


@dataclass(frozen=True)
class Comparison:
    """Every strategy of one file and the pick for its deadline."""

    name: str
    results: list[StrategyResult]
    deadline_days: float | None
    replicas: int
    seed: int

    @property
    def pick(self) -> str | None:
        """The cheapest (mean dollars) strategy whose P90 wall time meets the deadline (None: none does,
        or no deadline was given)."""
        if self.deadline_days is None:
            return None
        ok = [r for r in self.results if r.p90_days <= self.deadline_days and r.raw["finished"].all()]
        return min(ok, key=lambda r: float(r.cost.mean())).name if ok else None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"kind": "resilience", "name": self.name, "replicas": self.replicas, "seed": self.seed,
                         "deadline_days": self.deadline_days, "pick": self.pick,
                         "strategies": [r.summary() for r in self.results]})


def _varied(vary: tuple[str, ...] | list[str]) -> list[tuple[str, dict[str, Any]]]:
    """``KEY=V1,V2`` options as (strategy name ``KEY=V``, {KEY: V}) pairs, each value a YAML scalar; a
    malformed one is a ScenarioError."""
    from clustersim.errors import ErrorItem, ScenarioError
    from clustersim.scenario.loader import parse_override

    out = []
    for text in vary:
        key, _, values = text.partition("=")
        parts = [v.strip() for v in values.split(",") if v.strip()]
        if not key.strip() or not parts:
            raise ScenarioError(ErrorItem(f"--vary expects KEY=V1,V2,..., got {text!r}", path="--vary"))
        for v in parts:
            path, value = parse_override(f"{key.strip()}={v}")
            out.append((f"{key.strip()}={v}", {".".join(path): value}))
    return out


def _is_training_scenario(path: str | os.PathLike[str]) -> bool:
    """Whether the file is a training scenario (it has ``model`` or ``training``), not a resilience file."""
    from clustersim.scenario.loader import read_scenario_mapping

    data = read_scenario_mapping(path)
    return isinstance(data, dict) and ("model" in data or "training" in data)


def _scenario_strategies(path: str | os.PathLike[str], overrides: tuple[str, ...] | list[str],
                         extra: dict[str, dict[str, Any]], only: tuple[str, ...] | list[str]) -> tuple[Any, list[Any]]:
    """(the base scenario, [(name, estimate, whole-job input, strategy job)]) of a training scenario's
    strategies: each the scenario with its dotted overrides; every one is built (and refused with its
    name if it cannot run) before anything runs."""
    import copy

    from clustersim.errors import ErrorItem, ScenarioError, SimulationError
    from clustersim.estimate import estimate, require_fit
    from clustersim.scenario import load_scenario
    from clustersim.scenario.loader import apply_overrides, read_scenario_mapping, set_dotted
    from clustersim.simulate import build_job, strategy_job_of

    base = load_scenario(path, overrides)  # errors name the file and line
    data = apply_overrides(read_scenario_mapping(path), overrides)
    strategies = {**(base.resilience.strategies if base.resilience else {}), **extra}
    names = list(only) if only else ["base", *strategies]
    out = []
    for name in names:
        mapping = copy.deepcopy(data)
        if name != "base":
            if name not in strategies:
                raise ScenarioError(ErrorItem(f"no strategy {name!r}", path="resilience.strategies",
                                              expected=" | ".join(["base", *strategies])), str(path))
            for key, value in strategies[name].items():
                if not isinstance(key, str) or key.split(".")[0] in ("resilience", "simulation"):
                    raise ScenarioError(ErrorItem(f"strategy {name!r} cannot set {key!r}",
                                                  path=f"resilience.strategies.{name}"), str(path))
                set_dotted(mapping, key, value)
        try:
            est = estimate(mapping)
            require_fit(est)
            job = build_job(est.scenario, est)
            sjob = strategy_job_of(est, job)
        except (ScenarioError, SimulationError) as exc:
            items = exc.items if isinstance(exc, ScenarioError) else [ErrorItem(str(exc))]
            raise ScenarioError([ErrorItem(f"strategy {name!r}: {i.message}", path=i.path, expected=i.expected)
                                 for i in items], str(path)) from None
        if est.run.usd_per_gpu_hour is None:
            raise ScenarioError(ErrorItem("comparing strategies needs a GPU price", path="pricing",
                                          expected="pricing.usd_per_gpu_hour or pricing.preset"), str(path))
        out.append((name, est, job, sjob))
    return base, out


def _compare_scenario(path: str | os.PathLike[str], replicas: int | None, seed: int | None,
                      overrides: tuple[str, ...] | list[str], deadline_days: float | None,
                      only: tuple[str, ...] | list[str], workers: int,
                      vary: tuple[str, ...] | list[str]) -> Comparison:
    from clustersim.simulate import strategy_cost

    base, runs = _scenario_strategies(path, overrides, dict(_varied(vary)), only)
    n = replicas or base.simulation.replicas
    sd = base.simulation.seed if seed is None else seed
    jobs = [sjob for _, _, _, sjob in runs]
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            raws = list(pool.map(simulate_strategy, jobs, [n] * len(jobs), [sd] * len(jobs)))
    else:
        raws = [simulate_strategy(j, replicas=n, seed=sd) for j in jobs]
    results = []
    for (name, est, _, sjob), raw in zip(runs, raws, strict=True):
        cost = strategy_cost(est, sjob, raw["wall_s"], raw["cold_node_s"])
        results.append(StrategyResult(name=name, engine_mode=sjob.mode, raw=raw,
                                      cost=cost if cost is not None else np.zeros_like(raw["wall_s"])))
    deadline = deadline_days if deadline_days is not None else (base.resilience.deadline_days if base.resilience
                                                                 else None)
    return Comparison(name=base.name or Path(path).stem, results=results, deadline_days=deadline, replicas=n, seed=sd)


def compare(path: str | os.PathLike[str], *, replicas: int | None = None, seed: int | None = None,
            set: tuple[str, ...] | list[str] = (), deadline_days: float | None = None,
            only: tuple[str, ...] | list[str] = (), workers: int = 1, vary: tuple[str, ...] | list[str] = ()
            ) -> Comparison:
    """Simulate the base and every named strategy on common random numbers and pick the cheapest that
    meets the deadline at P90. ``path``: a training scenario (strategies under ``resilience.strategies``;
    the step time and checkpoint size from the kernel, as for ``simulate``) or a resilience file (the
    run stated by days of compute, :mod:`.spec`). ``workers`` processes run one strategy each; the result
    does not depend on it (streams keyed by replica). ``vary``: ``KEY=V1,V2,...`` adds one strategy per
    value, the base with KEY set (named ``KEY=V``), e.g. ``failures.spare_nodes=0,8,16,32``."""
    if _is_training_scenario(path):
        return _compare_scenario(path, replicas, seed, set, deadline_days, only, workers, vary)
    spec, data = load_file(path, set, extra=dict(_varied(vary)))
    n = replicas or spec.replicas
    sd = spec.seed if seed is None else seed
    names = list(only) if only else ["base", *spec.strategies]
    specs = [strategy_spec(spec, data, name, str(path)) for name in names]
    if workers > 1 and len(specs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, len(specs))) as pool:
            results = list(pool.map(run_file_strategy, specs, names, [n] * len(specs), [sd] * len(specs)))
    else:
        results = [run_file_strategy(s, name, n, sd) for s, name in zip(specs, names, strict=True)]
    return Comparison(name=spec.name, results=results,
                      deadline_days=deadline_days if deadline_days is not None else spec.deadline_days,
                      replicas=n, seed=sd)
