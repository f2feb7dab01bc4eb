"""Spot against on-demand: the preemption rate at which spot stops being cheaper, by simulation.

Spot capacity costs ``(1 - discount)`` of the on-demand price but can be taken away: each preemption
(``pricing.spot.preemptions_per_node_day``, one more per-node failure source) costs the work since the
last checkpoint, a restart, and the wait until capacity returns. The break-even rate r* is where the
expected cost on spot equals the expected cost on demand:

    E[wall_spot(r*)] x (1 - discount) = E[wall_on_demand]

Both sides come from :func:`clustersim.simulate.simulate` (Monte Carlo replicas of the whole run,
failures included), not from a formula. r* is found by bisection on log r, every simulation with the
same seed, so that the replicas share their random streams (common random numbers: the keyed streams
of :mod:`clustersim.rng` give every failure source the same draws whatever the rate of the spot
source), which makes the cost difference smooth in r and the bisection stable with a modest replica
count. A rate at which some replica cannot finish within the simulation's horizon counts as not
cheaper. Cost = wall time x GPUs paid for (spares included) x price, as ``clustersim simulate``
computes it, with the spot price for the spot runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clustersim.errors import ClustersimError, SimulationError
from clustersim.money.prices import PriceQuote, presets_for_gpu, quote, scenario_price
from clustersim.money.spot_return import default_return_hours, default_return_source
from clustersim.money.tabular import csv_text, write_csv
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario

__all__ = ["SpotResult", "spot_breakeven", "catalog_discount", "DEFAULT_SPOT_REPLICAS", "COLUMNS"]

#: Replicas per simulation of the bisection (common random numbers keep the comparison stable).
DEFAULT_SPOT_REPLICAS = 40
COLUMNS = ("preemptions_per_node_day", "job_preemption_mtbf_hours", "wall_days_mean", "finished_fraction",
           "spot_cost_usd_mean", "spot_cost_usd_p90", "on_demand_cost_usd_mean", "spot_cheaper")


@dataclass(frozen=True)
class SpotResult:
    """The break-even preemption rate, the costs on both sides, and every simulated rate."""

    name: str
    nodes: int
    discount: float
    discount_source: str
    on_demand: PriceQuote
    on_demand_cost_usd: dict[str, float]
    on_demand_wall_days: dict[str, float]
    breakeven_preemptions_per_node_day: float | None
    bracket: tuple[float, float] | None
    rows: list[dict[str, Any]]
    replicas: int
    seed: int
    current_rate: float | None = None
    current: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    breakeven_ci: tuple[float, float] | None = None
    return_hours: float | None = None
    return_hours_source: str | None = None
    tolerance: float | None = None

    @property
    def breakeven_job_mtbf_hours(self) -> float | None:
        """The break-even as the job's mean time between preemptions (all its nodes together)."""
        r = self.breakeven_preemptions_per_node_day
        return 24.0 / (self.nodes * r) if r else None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "kind": "spot", "name": self.name, "nodes": self.nodes, "discount": self.discount,
            "discount_source": self.discount_source, "on_demand_price": self.on_demand.to_dict(),
            "spot_usd_per_gpu_hour": self.on_demand.usd_per_gpu_hour * (1.0 - self.discount),
            "on_demand_cost_usd": self.on_demand_cost_usd, "on_demand_wall_days": self.on_demand_wall_days,
            "breakeven_preemptions_per_node_day": self.breakeven_preemptions_per_node_day,
            "breakeven_job_mtbf_hours": self.breakeven_job_mtbf_hours,
            "bracket": list(self.bracket) if self.bracket else None,
            "breakeven_ci95": list(self.breakeven_ci) if self.breakeven_ci else None,
            "tolerance": self.tolerance,
            "return_hours": self.return_hours, "return_hours_source": self.return_hours_source,
            "current_preemptions_per_node_day": self.current_rate, "current": self.current,
            "replicas": self.replicas, "seed": self.seed, "rows": self.rows, "notes": self.notes, **provenance(),
        })

    def csv(self) -> str:
        return csv_text(self.rows, COLUMNS)

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        write_csv(path, self.rows, COLUMNS)


def catalog_discount(gpu: str) -> tuple[float, str] | None:
    """A spot discount from the catalog: spot vs on-demand offers of one provider for this GPU.

    Pairs a spot preset with the on-demand preset of the same provider (the name's first word) and the
    same date; of several pairs, the smallest discount (the conservative one). None without a pair.
    """
    spots = presets_for_gpu(gpu, "spot")
    ons = presets_for_gpu(gpu, "on-demand")
    pairs = []
    for sp in spots:
        provider = (sp.preset or "").split("-")[0]
        for on in ons:
            if (on.preset or "").split("-")[0] == provider and on.date == sp.date and on.usd_per_gpu_hour > 0:
                pairs.append((1.0 - sp.usd_per_gpu_hour / on.usd_per_gpu_hour, f"{sp.preset} vs {on.preset}"))
    return min(pairs) if pairs else None


def _without_spot(s: Scenario) -> dict[str, Any]:
    m = s.model_dump(mode="json", by_alias=True, exclude_none=True)
    m.get("pricing", {}).pop("spot", None)
    return m


def _provider(preset: str | None) -> str | None:
    return preset.split("-")[0] if preset else None


def _simulate(base: dict[str, Any], sets: list[str], *, replicas: int, seed: int, workers: int,
              return_s: float | None) -> dict[str, Any]:
    """One Monte Carlo of the scenario, with the preempted node's return delay set when given."""
    import dataclasses

    from clustersim.estimate import estimate, require_fit
    from clustersim.simulate import SimulationResult, build_job
    from clustersim.simulate import run_monte_carlo as run_mc

    est = estimate(base, set=sets)
    require_fit(est)
    from clustersim.resilience.scenario import strategy_mechanisms

    if strategy_mechanisms(est.scenario):  # spot preemptions are a whole-job mechanism: not both at once
        from clustersim.errors import SimulationError

        raise SimulationError("spot break-even runs the whole-job engines; the scenario uses "
                              + ", ".join(strategy_mechanisms(est.scenario)) + ", which they do not model")
    job = build_job(est.scenario, est)
    if return_s is not None:  # only the spot source's preemptions use it
        job = dataclasses.replace(job, preempt_return_s=return_s)
    mc = run_mc(job, replicas=replicas, seed=seed, workers=workers, progress=False)
    return SimulationResult(estimate=est, job=job, monte_carlo=mc, replicas=replicas, seed=seed).to_dict()


def spot_breakeven(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], *, set: Iterable[str] = (),
                   discount: float | None = None, spot_price: str | float | None = None,
                   replicas: int = DEFAULT_SPOT_REPLICAS, seed: int | None = None, workers: int = 1,
                   rel_tol: float = 0.05, start_rate: float = 0.01, max_rate: float = 100.0,
                   max_simulations: int = 40, return_hours: float | None = None,
                   tolerance: float | None = None, max_replicas: int = 320,
                   progress: Callable[[str], None] | None = None) -> SpotResult:
    """The preemptions per node-day at which spot's expected cost equals on-demand's (simulated).

    The discount: ``discount``, or ``1 - spot_price / on-demand price``, or the scenario's
    ``pricing.spot.discount``, or :func:`catalog_discount` for its GPU. The on-demand price is the
    scenario's. Bisection on log rate from ``start_rate`` (doubling up, or halving down, to bracket the
    root) until the bracket is within ``rel_tol``; each step is one simulation of ``replicas``.

    A preempted node comes back after ``return_hours`` (default ``pricing.spot.return_hours``, whose own
    default, 1 h, is the mean spot-unavailable period measured in the public AWS spot availability
    traces of Wu et al., NSDI 2024: :mod:`clustersim.money.spot_return`; the result says which).

    The break-even's 95% confidence interval comes from the paired (common random numbers) cost
    difference at the bracket, divided by the slope of the mean difference in the rate (the delta
    method). With ``tolerance``, the replicas double (up to ``max_replicas``) until the interval's
    half-width is within ``tolerance`` x the break-even.
    """
    from clustersim.estimate import resolve

    s = resolve(scenario, set, None)
    q = scenario_price(s)
    if q is None:
        raise ClustersimError(f"{s.name}: the scenario has no price; set pricing.usd_per_gpu_hour or pricing.preset "
                              "(the catalog has no on-demand price for this GPU)")
    notes: list[str] = []
    if discount is not None:
        d, source = float(discount), "given"
    elif spot_price is not None:
        sq = quote(spot_price)
        d, source = 1.0 - sq.usd_per_gpu_hour / q.usd_per_gpu_hour, f"spot price {sq.label()} vs {q.label()}"
        if sq.preset and _provider(sq.preset) != _provider(q.preset):
            notes.append(f"the spot price ({sq.preset}) and the on-demand price ({q.preset or 'given'}) are from "
                         "different providers: the discount mixes two price lists")
    elif s.pricing.spot is not None:
        d, source = float(s.pricing.spot.discount), "the scenario's pricing.spot.discount"
    else:
        found = catalog_discount(s.gpu()["name"])
        if found is None:
            raise ClustersimError(f"no spot discount: give one (e.g. 0.6), or a spot price; the catalog has no spot "
                                  f"and on-demand pair for {s.gpu()['name']}")
        d, source = found[0], f"catalog: {found[1]}"
        if q.preset and _provider(q.preset) != found[1].split("-")[0]:
            notes.append(f"the discount is {found[1]} (one provider's spot and on-demand prices), applied to "
                         f"the scenario's on-demand price {q.label()}")
    if not 0.0 <= d < 1.0:
        raise ClustersimError(f"the spot discount must be in [0, 1), got {d}")
    if replicas < 2:
        raise ClustersimError("spot break-even needs at least 2 replicas")
    if s.failures is None:
        notes.append("the scenario has no failures section: on demand the run never stops; spot adds preemptions")
    spot_spec = s.pricing.spot
    repair_h = s.failures.repair_s / 3600.0 if s.failures else 0.0
    if return_hours is not None:
        return_source, return_h = "given", float(return_hours)
    elif spot_spec is not None and "return_hours" in spot_spec.model_fields_set:
        if spot_spec.return_hours is None:
            return_source, return_h = "pricing.spot.return_hours: null, so the node repair time", repair_h
        else:
            return_source, return_h = "pricing.spot.return_hours", float(spot_spec.return_hours)
    else:
        return_source, return_h = default_return_source(), default_return_hours()
    notes.append(f"a preempted node comes back after {return_h:g} h on average ({return_source}); the answer "
                 "depends strongly on it")
    current_rate = spot_spec.preemptions_per_node_day if spot_spec is not None else None
    base = _without_spot(s)
    sd = s.simulation.seed if seed is None else seed
    price = q.usd_per_gpu_hour
    n = replicas
    while True:
        found_be = _breakeven(base, s, d, price, n, sd, workers, rel_tol, start_rate, max_rate, max_simulations,
                              return_h * 3600.0, current_rate, progress)
        ci = found_be["ci"]
        be = found_be["breakeven"]
        if (tolerance is None or be in (None, 0.0) or ci is None or n * 2 > max_replicas
                or (ci[1] - ci[0]) / 2.0 <= tolerance * be):
            break
        n *= 2
    if tolerance is not None and ci is not None and be and (ci[1] - ci[0]) / 2.0 > tolerance * be:
        notes.append(f"the 95% interval is wider than {100 * tolerance:g}% of the break-even at the most "
                     f"replicas allowed ({n}); raise --max-replicas for a tighter answer")
    notes.extend(found_be["notes"])
    return SpotResult(name=s.name, nodes=s.cluster.nodes, discount=d, discount_source=source, on_demand=q,
                      on_demand_cost_usd=found_be["od_cost"], on_demand_wall_days=found_be["od_wall"],
                      breakeven_preemptions_per_node_day=be, bracket=found_be["bracket"], rows=found_be["rows"],
                      replicas=n, seed=sd, current_rate=current_rate, current=found_be["current"], notes=notes,
                      breakeven_ci=ci, return_hours=return_h, return_hours_source=return_source,
                      tolerance=tolerance)


def _breakeven(base: dict[str, Any], s: Scenario, d: float, price: float, replicas: int, sd: int, workers: int,
               rel_tol: float, start_rate: float, max_rate: float, max_simulations: int, return_s: float,
               current_rate: float | None, progress: Callable[[str], None] | None) -> dict[str, Any]:
    """One bisection at a fixed replica count: the break-even, its bracket and interval, every rate tried."""
    def run(rate: float | None) -> dict[str, Any]:
        sets = [] if rate is None else [f"pricing.spot.discount={d!r}", f"pricing.spot.preemptions_per_node_day={rate!r}"]
        if progress is not None:
            progress(f"{replicas} replicas at " + ("on demand" if rate is None else f"{rate:.4g} preemptions/node-day"))
        return _simulate(base, sets, replicas=replicas, seed=sd, workers=workers, return_s=return_s)

    od = run(None)
    paid = int(od["paid_gpus"])
    od_cost = np.asarray(od["samples"]["wall_days"], dtype=float) * 24.0 * paid * price
    od_mean = float(od_cost.mean())
    spot_price_h = price * (1.0 - d)
    rows: list[dict[str, Any]] = []
    cache: dict[float, bool] = {}
    diffs: dict[float, np.ndarray] = {}
    notes: list[str] = []

    def cheaper(rate: float) -> bool:
        if rate in cache:
            return cache[rate]
        if len(rows) >= max_simulations:
            raise SimulationError(f"spot break-even: no bracket after {max_simulations} simulations")
        try:
            res = run(rate)
            wall = np.asarray(res["samples"]["wall_days"], dtype=float)
            finished = float(res.get("finished_fraction", 1.0))
        except SimulationError:
            wall, finished = np.full(replicas, np.inf), 0.0
        cost = wall * 24.0 * paid * spot_price_h
        ok = bool(finished >= 1.0 and np.all(np.isfinite(cost)) and cost.mean() < od_mean)
        if finished >= 1.0 and np.all(np.isfinite(cost)):
            diffs[rate] = cost - od_cost
        rows.append({"preemptions_per_node_day": rate, "job_preemption_mtbf_hours": 24.0 / (s.cluster.nodes * rate),
                     "wall_days_mean": float(wall.mean()) if np.all(np.isfinite(wall)) else None,
                     "finished_fraction": finished,
                     "spot_cost_usd_mean": float(cost.mean()) if np.all(np.isfinite(cost)) else None,
                     "spot_cost_usd_p90": float(np.percentile(cost, 90)) if np.all(np.isfinite(cost)) else None,
                     "on_demand_cost_usd_mean": od_mean, "spot_cheaper": ok})
        cache[rate] = ok
        return ok

    breakeven: float | None
    bracket: tuple[float, float] | None
    ci: tuple[float, float] | None = None
    if d == 0.0:
        breakeven, bracket = 0.0, None
        notes.append("no discount: spot is never cheaper than on demand")
    else:
        lo, hi = start_rate, start_rate
        if cheaper(start_rate):
            while cheaper(hi):
                lo, hi = hi, hi * 2.0
                if hi > max_rate:
                    raise SimulationError(f"spot stays cheaper up to {max_rate} preemptions per node-day")
        else:
            while not cheaper(lo):
                hi, lo = lo, lo / 2.0
                if lo < 1e-9:
                    break
        if lo < 1e-9:
            breakeven, bracket = 0.0, (0.0, hi)
            notes.append("spot is not cheaper even at a vanishing preemption rate")
        else:
            while hi / lo > 1.0 + rel_tol:
                mid = math.sqrt(lo * hi)
                if cheaper(mid):
                    lo = mid
                else:
                    hi = mid
            breakeven, bracket = math.sqrt(lo * hi), (lo, hi)
            ci = _interval(breakeven, diffs)
    current = None
    if current_rate is not None and current_rate > 0:
        ok = cheaper(float(current_rate))
        row = next(r for r in rows if r["preemptions_per_node_day"] == float(current_rate))
        current = {"preemptions_per_node_day": current_rate, "spot_cheaper": ok,
                   "spot_cost_usd_mean": row["spot_cost_usd_mean"], "on_demand_cost_usd_mean": od_mean}
    rows.sort(key=lambda r: r["preemptions_per_node_day"])
    stats = {k: float(np.percentile(od_cost, p)) for k, p in (("p50", 50), ("p90", 90))}
    wd = od["wall_days"]
    return {"breakeven": breakeven, "bracket": bracket, "ci": ci, "rows": rows, "current": current, "notes": notes,
            "od_cost": {"mean": od_mean, **stats}, "od_wall": {k: wd[k] for k in ("mean", "p50", "p90")}}


def _interval(breakeven: float, diffs: Mapping[float, np.ndarray]) -> tuple[float, float] | None:
    """95% interval of the break-even by the delta method: the paired difference's standard error at the
    rates nearest the break-even over the slope of the mean difference against the rate between them."""
    rates = sorted(diffs)
    if len(rates) < 2:
        return None
    below = [r for r in rates if r <= breakeven]
    above = [r for r in rates if r > breakeven]
    if not below or not above:
        return None
    r0, r1 = below[-1], above[0]
    if r1 / r0 < 1.5:  # a wider base for the slope than the final bracket: less noise in it
        wider = [r for r in rates if r <= r1 / 2.0]
        r0 = wider[-1] if wider else r0
    m0, m1 = float(diffs[r0].mean()), float(diffs[r1].mean())
    slope = (m1 - m0) / (r1 - r0)
    if not slope > 0:
        return None
    near = r0 if abs(r0 - breakeven) <= abs(r1 - breakeven) else r1
    x = diffs[near]
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.inf
    half = 1.96 * se / slope
    return (max(0.0, breakeven - half), breakeven + half)
