"""Dollars of a run: GPU time x price, energy, checkpoint storage; totals and dollars per billion tokens.

* **GPU time**: GPU-hours x price per GPU-hour (Narayanan et al. 2021 Eq. 4 gives the hours; the
  price is a catalog preset with its date, or a figure). Every GPU rented is paid for, spares too,
  for the whole wall-clock time, failures included.
* **Energy** (the method of Patterson et al. 2021, "Carbon Emissions and Large Neural Network
  Training", arXiv:2104.10350, Sec. 2 and Table 4: energy = hours x processors x average power per
  processor x PUE), with the average GPU power taken as its TDP (catalog ``tdp_w``) times
  ``gpu_power_fraction``, default 1.0: the TDP is an upper bound of a GPU's draw, and it is the
  figure Luccioni et al. 2022 ("Estimating the Carbon Footprint of BLOOM", arXiv:2211.02001, Sec. 4)
  used for BLOOM's A100s; Patterson's Table 4 measured 330 W per V100 (300 W TDP) for GPT-3 once the
  host's share is included, so TDP plus a node overhead is not a gross overestimate for training.
  Plus ``node_overhead_w`` per node (CPUs, NICs, fans), all times the PUE and the price per kWh.
  The job's GPUs draw power for the whole wall time (a restart keeps them powered); idle spares are
  left out.
* **Checkpoint storage**: price per TB-month (TB = 1e12 bytes, as storage is sold) x checkpoint
  size x retained checkpoints x months of wall time (months = 365.25 / 12 days).

Each figure is given failure-free, as theory's expectation (Daly 2006, when the scenario has
failures), and, from a simulation's samples, as the mean, p50, p90 and p99. A simulation with parameter
uncertainty (simulate's default: each replica draws its step-time factor and failure rates,
:mod:`clustersim.calibrate.uncertainty`) also gives the failure-only p50, p90 and p99 (the same replicas
with the parameters fixed), so the bill shows what "we do not know the MFU to better than x%" adds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clustersim import units
from clustersim.errors import ClustersimError, InfeasibleError
from clustersim.money.horizon import mark_finished, simulation_unfinished
from clustersim.money.prices import PriceQuote, presets_for_gpu, quote, scenario_price
from clustersim.money.tabular import csv_text, write_csv
from clustersim.resilience.scenario import (
    memory_tier_gib_per_node,
    retained_storage_checkpoints,
    strategy_cost_items,
    strategy_mechanisms,
)
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario
from clustersim.sim.strategy_job import StrategyJob

__all__ = ["gpu_cost_usd", "energy_kwh", "energy_cost_usd", "storage_cost_usd", "DollarsResult", "dollars",
           "DEFAULT_RETAINED_CHECKPOINTS", "COLUMNS"]

#: Checkpoints kept at once: the one being written and the last good one (a restart needs one intact
#: checkpoint while the next is written), the least a run can keep safely.
DEFAULT_RETAINED_CHECKPOINTS = 2

#: The columns of a dollars table: which wall time each figure uses (``*_failures_only``: the simulation's
#: failure-only run, parameters fixed at their point values).
COLUMNS = ("failure_free", "expected", "mean", "p50", "p90", "p99", "p50_failures_only", "p90_failures_only",
           "p99_failures_only")
_SAMPLED = ("p50", "p90", "p99")
#: Line items only a scenario billed by the strategy's rule has (``items`` always carries them, None
#: otherwise; ``rows``, the table and the CSV leave them out when they are empty).
STRATEGY_ONLY = ("cold_spares_usd", "memory_tier_usd")


def gpu_cost_usd(gpus: Any, hours: Any, usd_per_gpu_hour: Any) -> Any:
    """GPU-hours x price (reference.md C.3 gives the prices)."""
    return np.asarray(gpus, dtype=float) * np.asarray(hours, dtype=float) * np.asarray(usd_per_gpu_hour, dtype=float)


def energy_kwh(gpus: Any, nodes: Any, hours: Any, tdp_w: Any, *, pue: Any = 1.0, node_overhead_w: Any = 0.0,
               gpu_power_fraction: Any = 1.0) -> Any:
    """Facility energy: (GPUs x TDP x fraction + nodes x overhead) x hours x PUE, in kWh.

    Patterson et al. 2021 (arXiv:2104.10350), Sec. 2: energy = training hours x number of processors x
    average power per processor x PUE; here the average power is TDP x ``gpu_power_fraction``
    (1.0 = the TDP upper bound, as Luccioni et al. 2022 did for BLOOM) plus each node's overhead.
    """
    it_w = (np.asarray(gpus, dtype=float) * np.asarray(tdp_w, dtype=float) * np.asarray(gpu_power_fraction, dtype=float)
            + np.asarray(nodes, dtype=float) * np.asarray(node_overhead_w, dtype=float))
    return it_w * np.asarray(hours, dtype=float) * np.asarray(pue, dtype=float) / 1e3


def energy_cost_usd(kwh: Any, usd_per_kwh: Any) -> Any:
    """Energy x price per kWh."""
    return np.asarray(kwh, dtype=float) * np.asarray(usd_per_kwh, dtype=float)


def storage_cost_usd(checkpoint_bytes: Any, retained: Any, months: Any, usd_per_tb_month: Any) -> Any:
    """Checkpoint storage: size in TB (1e12 bytes) x retained checkpoints x months x USD per TB-month."""
    return (np.asarray(checkpoint_bytes, dtype=float) / units.TB * np.asarray(retained, dtype=float)
            * np.asarray(months, dtype=float) * np.asarray(usd_per_tb_month, dtype=float))


@dataclass(frozen=True)
class DollarsResult:
    """The dollars of one run: line items by column, the prices used, and the cost under each preset."""

    name: str
    gpu: str
    gpus: int
    paid_gpus: int
    nodes: int
    tokens: float
    price: PriceQuote | None
    wall_days: dict[str, float | None]
    items: dict[str, dict[str, float | None]]
    assumptions: dict[str, Any]
    by_preset: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Set when a simulated replica did not finish within the horizon: the simulated columns are then
    #: the bill of runs cut off at the horizon, not of finished runs.
    headline: str | None = None
    finished_fraction: float | None = None

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One row per line item (gpu, energy, storage, total, per billion tokens) with its columns."""
        out = [{"item": "wall days", **{c: self.wall_days.get(c) for c in COLUMNS}}]
        for item, cols in self.items.items():
            if item in STRATEGY_ONLY and all(v is None for v in cols.values()):
                continue  # a scenario without the strategy's own costs: no empty rows
            out.append({"item": item, **{c: cols.get(c) for c in COLUMNS}})
        return out

    def total_usd(self, column: str = "mean") -> float | None:
        for c in (column, "expected", "failure_free"):
            value = self.items["total_usd"].get(c)
            if value is not None:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "kind": "dollars",
            "name": self.name,
            "gpu": self.gpu,
            "gpus": self.gpus,
            "paid_gpus": self.paid_gpus,
            "nodes": self.nodes,
            "tokens": self.tokens,
            "price": self.price.to_dict() if self.price else None,
            "wall_days": self.wall_days,
            "items": self.items,
            "rows": self.rows,
            "by_preset": self.by_preset,
            "assumptions": self.assumptions,
            "finished": self.headline is None,
            "finished_fraction": self.finished_fraction,
            "verdict": self.headline,
            "notes": self.notes,
            **provenance(),
        })

    def csv(self) -> str:
        return csv_text(self.rows, ("item", *COLUMNS))

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        write_csv(path, self.rows, ("item", *COLUMNS))


def strategy_billing(est: Any, s: Scenario) -> StrategyJob | None:
    """The strategy engine's input when the scenario uses a mechanism only it simulates (then the bill
    follows the strategy's rule), else None. A scenario the engine cannot represent is refused as
    ``simulate`` refuses it (:class:`~clustersim.errors.SimulationError`)."""
    if not strategy_mechanisms(s):
        return None
    from clustersim.simulate import strategy_job_of

    return strategy_job_of(est)


def _as_dict(simulation: Any) -> dict[str, Any] | None:
    if simulation is None:
        return None
    if isinstance(simulation, Mapping):
        return dict(simulation)
    if hasattr(simulation, "to_dict"):
        return dict(simulation.to_dict())
    raise ClustersimError("simulation must be a SimulationResult or its to_dict()")


def dollars(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], *, set: Iterable[str] = (),
            price: str | float | None = None, simulation: Any = None, simulate: bool = False,
            replicas: int | None = None, workers: int = 1, parameter_uncertainty: bool = True,
            usd_per_kwh: float | None = None, pue: float | None = None, node_overhead_w: float | None = None,
            gpu_power_fraction: float = 1.0, storage_usd_per_tb_month: float | None = None,
            retained_checkpoints: int | None = None) -> DollarsResult:
    """GPU time, energy and checkpoint storage of a scenario's run, failure-free, expected and simulated.

    ``price``: a catalog preset or USD per GPU-hour (default: the scenario's; with ``pricing.spot`` the
    spot discount applies). Energy and storage prices default to the scenario's ``pricing.energy`` and
    ``pricing.storage_usd_per_tb_month``; an item without a price is None. ``simulation``: a
    :class:`~clustersim.simulate.SimulationResult` (or its ``to_dict()``) of the same scenario, for the
    mean, p50, p90 and p99; or ``simulate=True`` to run one here (``replicas``, ``workers``,
    ``parameter_uncertainty``: see :func:`clustersim.simulate`; with it the failure-only percentiles too).

    ``retained_checkpoints``: storage checkpoints held at once, for the storage bill (default: the
    scenario's ``checkpoint.retention``, else :data:`DEFAULT_RETAINED_CHECKPOINTS`; a scenario the
    strategy engine simulates follows the strategy's rule below).

    A scenario the strategy engine simulates (a resilience key only it represents:
    :func:`clustersim.resilience.scenario.strategy_mechanisms`) is billed by the strategy's own rule,
    :func:`clustersim.resilience.scenario.strategy_cost_items`, the one ``simulate`` and ``resilience``
    use: its GPUs and hot spares, the cold spares' node-hours (``cold_spares_usd``: from the simulation's
    samples; 0 failure-free; unknown, so None, in the expected column), the in-memory tier's host memory
    (``memory_tier_usd``) and the storage checkpoints it retains (``checkpoint.retention``, all when
    omitted, at most as many as written; ``retained_checkpoints`` given here overrides it).

    Raises :class:`~clustersim.errors.InfeasibleError` (with the reason) when the layout does not fit in
    GPU memory or the run cannot finish: such a run has no bill. When some simulated replica did not
    finish within the horizon, the result's ``headline`` says so (the CLI exits 3).
    """
    from clustersim.estimate import estimate, require_fit, resolve

    s = resolve(scenario, set, None)
    est = estimate(s)
    require_fit(est)
    s = est.scenario
    d = est.to_dict()
    if d.get("cannot_finish"):
        raise InfeasibleError(f"{s.name}: the run cannot finish: {d['cannot_finish']}")
    if simulate and simulation is None:
        from clustersim.simulate import simulate as run_simulate

        result = run_simulate(s, replicas=replicas, workers=workers, parameter_uncertainty=parameter_uncertainty)
        simulation = result.to_dict()
        mark_finished(simulation, result.job.horizon_s)
    sim = _as_dict(simulation)
    if not 0 < gpu_power_fraction <= 1.5:
        raise ClustersimError(f"gpu_power_fraction must be in (0, 1.5], got {gpu_power_fraction}")
    if retained_checkpoints is not None and retained_checkpoints < 1:
        raise ClustersimError("keep at least one checkpoint (retained_checkpoints >= 1)")
    q = quote(price) if price is not None else scenario_price(s)
    from clustersim.scenario.warnings import scenario_warnings

    # (the price warning is replaced by the note below, or void when a price is given here)
    notes: list[str] = [f"warning: {w}" for w in scenario_warnings(s) if not w.startswith("no price")]
    if q is None:
        notes.append(f"no price: the catalog has no on-demand price for {s.gpu().get('name')}, so the GPU "
                     "dollars are missing; give --price (a preset or USD per GPU-hour) or pricing in the scenario")
    discount = s.pricing.spot.discount if s.pricing.spot is not None else 0.0
    usd_h = q.usd_per_gpu_hour * (1.0 - discount) if q is not None else None
    spares = s.failures.spare_nodes * s.gpus_per_node if s.failures else 0
    paid = int(sim["paid_gpus"]) if sim and sim.get("paid_gpus") else s.gpus + spares

    wall: dict[str, Any] = {c: None for c in COLUMNS}
    wall["failure_free"] = d["train_days"]
    wall["expected"] = d.get("expected_wall_days")
    samples = None
    fixed_samples = None
    cold_hours = None  # the cold spares' node-hours of each simulated replica (strategy engine)
    if sim is not None:
        got = sim.get("samples") or {}
        samples = np.asarray(got.get("wall_days") or [], dtype=float)
        if got.get("cold_node_hours") is not None:
            cold_hours = np.asarray(got["cold_node_hours"], dtype=float)
        fixed_samples = np.asarray(got.get("wall_days_failures_only") or [], dtype=float)
        fixed_samples = fixed_samples if fixed_samples.size else None
        if samples.size == 0:
            stat = sim.get("wall_days") or {}
            samples = None
            for c in ("mean", *_SAMPLED):
                wall[c] = stat.get(c) if isinstance(stat, Mapping) else None
            fixed = (sim.get("failure_only") or {}).get("wall_days") if (sim.get("parameter_uncertainty") or {}).get(
                "enabled") else None
            for c in _SAMPLED:
                wall[f"{c}_failures_only"] = fixed.get(c) if isinstance(fixed, Mapping) else None

    energy = s.pricing.energy
    kwh_price = usd_per_kwh if usd_per_kwh is not None else (energy.usd_per_kwh if energy else None)
    pue_v = pue if pue is not None else (energy.pue if energy else 1.0)
    overhead = node_overhead_w if node_overhead_w is not None else (energy.node_overhead_w if energy else 0.0)
    tb_month = storage_usd_per_tb_month if storage_usd_per_tb_month is not None else s.pricing.storage_usd_per_tb_month
    tdp = s.gpu().get("tdp_w")
    ckpt_bytes = est.kernel["checkpoint_bytes"]
    strategy = strategy_billing(est, s)
    if strategy is not None:
        retained = retained_checkpoints or retained_storage_checkpoints(strategy)
        if cold_hours is None and sim is not None and strategy.cold_provision_s is not None:
            notes.append("the simulation gives no cold spares' node-hours (samples.cold_node_hours): the "
                         "simulated columns leave the cold spares out")
        if strategy.cold_provision_s is not None and wall["expected"] is not None:
            notes.append("expected column: the cold spares' node-hours need a simulation (--simulate); "
                         "they are not in its total")
    else:
        retained = retained_checkpoints or s.checkpoint.retention or DEFAULT_RETAINED_CHECKPOINTS

    def items_for(days: Any, cold: Any = None) -> dict[str, Any]:
        days = np.asarray(days, dtype=float)
        hours = days * 24.0
        gpu_usd = gpu_cost_usd(paid, hours, usd_h) if usd_h is not None else None
        kwh = energy_kwh(s.gpus, s.cluster.nodes, hours, tdp, pue=pue_v, node_overhead_w=overhead,
                         gpu_power_fraction=gpu_power_fraction) if tdp is not None else None
        e_usd = energy_cost_usd(kwh, kwh_price) if (kwh is not None and kwh_price is not None) else None
        months = days * units.DAY_S / units.MONTH_S
        st_usd = storage_cost_usd(ckpt_bytes, retained, months, tb_month) if tb_month is not None else None
        extra: dict[str, Any] = {"cold_spares_usd": None, "memory_tier_usd": None}
        if strategy is not None:  # the strategy's own rule, as simulate and resilience bill it
            own = strategy_cost_items(s, strategy, usd_h or 0.0, s.gpus_per_node, ckpt_bytes, days * units.DAY_S,
                                      None if cold is None else np.asarray(cold, dtype=float) * units.HOUR_S,
                                      tb_month)
            if usd_h is not None:
                gpu_usd, extra["cold_spares_usd"] = own["gpu_usd"], own["cold_spares_usd"]
            extra["memory_tier_usd"] = own["memory_tier_usd"]
            if retained_checkpoints is None:  # else the count given here, by storage_cost_usd above
                st_usd = own["storage_usd"] if tb_month is not None else None
        parts = [x for x in (gpu_usd, extra["cold_spares_usd"], extra["memory_tier_usd"], e_usd, st_usd)
                 if x is not None]
        total = sum(parts) if parts else None
        per_b = total / (s.tokens() / 1e9) if total is not None else None
        return {"gpu_hours": paid * hours, "gpu_usd": gpu_usd, **extra, "energy_kwh": kwh, "energy_usd": e_usd,
                "storage_usd": st_usd, "total_usd": total, "usd_per_billion_tokens": per_b}

    keys = ("gpu_hours", "gpu_usd", "cold_spares_usd", "memory_tier_usd", "energy_kwh", "energy_usd", "storage_usd",
            "total_usd", "usd_per_billion_tokens")
    items: dict[str, dict[str, float | None]] = {k: {c: None for c in COLUMNS} for k in keys}

    def put(column: str, values: dict[str, Any], reduce: Any = None) -> None:
        for k in keys:
            v = values[k]
            if v is None:
                continue
            items[k][column] = float(reduce(v) if reduce is not None else v)

    for c in COLUMNS:
        if wall[c] is not None:
            put(c, items_for(wall[c], 0.0 if c == "failure_free" else None))
    for suffix, sampled in (("", samples), ("_failures_only", fixed_samples)):
        if sampled is None:
            continue
        cold = cold_hours if (not suffix and cold_hours is not None and cold_hours.size == sampled.size) else None
        per_sample = items_for(sampled, cold)
        if not suffix:
            put("mean", per_sample, np.mean)
            wall["mean"] = float(sampled.mean())
        for c in _SAMPLED:
            pct = float(c[1:])
            put(c + suffix, per_sample, lambda v, pct=pct: np.percentile(v, pct))
            wall[c + suffix] = float(np.percentile(sampled, pct))

    best_days = next((wall[c] for c in ("mean", "expected", "failure_free") if wall[c] is not None), None)
    by_preset = []
    for p in presets_for_gpu(s.gpu().get("name", "")):
        by_preset.append({**p.to_dict(), "gpu_usd": float(paid * (best_days or 0.0) * 24.0 * p.usd_per_gpu_hour)})
    assumptions = {
        "spot_discount": discount,
        "usd_per_gpu_hour_effective": usd_h,
        "tdp_w": tdp,
        "gpu_power_fraction": gpu_power_fraction,
        "pue": pue_v,
        "node_overhead_w": overhead,
        "usd_per_kwh": kwh_price,
        "storage_usd_per_tb_month": tb_month,
        "checkpoint_size_gb": ckpt_bytes / units.GB,
        "retained_checkpoints": retained,
        "strategy_costs": None if strategy is None else {
            "rule": "clustersim.resilience.scenario.strategy_cost_items (as simulate and resilience bill it)",
            "mechanisms": list(strategy_mechanisms(s)),
            "hot_spares": strategy.hot_spares,
            "cold_provision_hours": (strategy.cold_provision_s / units.HOUR_S
                                     if strategy.cold_provision_s is not None else None),
            "memory_tier_gib_per_node": memory_tier_gib_per_node(s, ckpt_bytes) if s.checkpoint.memory_tier else None,
            "memory_tier_usd_per_gib_hour": s.checkpoint.memory_tier.usd_per_gib_hour if s.checkpoint.memory_tier
            else None,
            "storage_checkpoints_written": math.ceil(strategy.cycles / strategy.storage_every)},
        "energy_method": "Patterson et al. 2021 Sec. 2 (hours x processors x power x PUE), power = TDP x fraction "
                         "(TDP upper bound, as Luccioni et al. 2022 for BLOOM) + node overhead",
        "parameter_uncertainty": (sim.get("parameter_uncertainty") if sim is not None else None),
        "wall_time_for_presets": "mean" if wall["mean"] is not None else (
            "expected" if wall["expected"] is not None else "failure_free"),
    }
    headline = simulation_unfinished(sim)
    return DollarsResult(name=s.name, gpu=s.gpu().get("name", ""), gpus=s.gpus, paid_gpus=paid, nodes=s.cluster.nodes,
                         tokens=s.tokens(), price=q, wall_days=wall, items=items, assumptions=assumptions,
                         by_preset=by_preset, notes=notes, headline=headline,
                         finished_fraction=float(sim["finished_fraction"]) if sim and "finished_fraction" in sim
                         else None)
