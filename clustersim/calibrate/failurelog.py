"""What a failure log says about a cluster: per-component rates with credible intervals, Weibull shape,
recovery times.

The log is the trace format ``failures.trace`` already replays (``time_hours,component,node``; see
:func:`clustersim.reliability.read_trace`), optionally with a fourth column ``recovery_minutes`` (failure
to training resumed). The observation window (hours) and the cluster's size come with it: a count only
means a rate against the unit-hours it was observed over.

* Rates (Gamma-Poisson): k failures over an exposure of E unit-hours; with Jeffreys' prior
  Gamma(1/2, 0) the posterior of the per-unit rate is Gamma(k + 1/2, rate E) (Gelman et al., "Bayesian
  Data Analysis" 3rd ed., Sec. 2.6, the Poisson model with a Gamma prior). The equal-tailed credible
  interval from its quantiles is the Jeffreys interval for a Poisson mean, whose frequentist coverage is
  close to nominal (Brown, Cai & DasGupta 2003; Garwood 1936 for the exact interval it approximates).
* Weibull shape (renewal per unit, as :class:`clustersim.sim.distributions.WeibullUnits` simulates): each
  node's lifetimes are the gaps between its failures, the last one right-censored at the window's end,
  a node without failures contributing one censored lifetime. The censored maximum-likelihood equation
  for the shape k (Cohen 1965, Technometrics 7(4), Eq. 11):
  sum_i x_i^k ln x_i / sum_i x_i^k - 1/k - (1/r) sum_failed ln x_i = 0, r the failures; its left side
  increases with k, so bisection finds the root. GPU-level parts fail per GPU but the log names nodes:
  the minimum of n i.i.d. Weibull(k) lifetimes is Weibull with the same shape k, so per-node lifetimes
  estimate a per-GPU shape too. Standard error ~ k sqrt(6/pi^2 / r) (the Fisher information of the
  shape, Cohen 1965). Only from :data:`MIN_FAILURES_FOR_SHAPE` failures on.
* Recovery times: lognormal by the mean and standard deviation of log minutes (maximum likelihood).
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clustersim import units
from clustersim.calibrate.special import gamma_ppf, normal_ppf
from clustersim.errors import ErrorItem, ScenarioError

__all__ = ["MIN_FAILURES_FOR_SHAPE", "DEFAULT_PER", "FailureEvent", "RateEstimate", "ShapeEstimate",
           "RecoveryEstimate", "FailureStats", "read_failure_log", "rate_interval", "estimate_rate",
           "weibull_shape", "recovery_stats", "failure_stats"]

#: Fewer failures than this give no shape estimate: with r failures the shape's standard error is about
#: 0.78 k / sqrt(r), 17% at 20, too wide below to tell a shape of 0.8 from 1.
MIN_FAILURES_FOR_SHAPE = 20

#: The unit a component fails against, when the measurements file does not say (scenario ``per`` values).
DEFAULT_PER: dict[str, str] = {
    "gpu": "gpu", "hbm": "gpu", "nvlink": "gpu", "gpu-memory": "gpu", "pcie": "gpu", "xid": "gpu",
    "host": "node", "node": "node", "nic": "node", "network": "node", "psu": "node", "cpu": "node",
    "memory": "node", "dram": "node", "storage": "node", "disk": "node", "os": "node",
    "switch": "switch", "leaf-switch": "switch",
    "software": "job", "job": "job", "nccl": "job", "framework": "job", "dataloader": "job",
}


@dataclass(frozen=True)
class FailureEvent:
    time_s: float
    component: str
    node: int
    recovery_s: float | None = None


@dataclass(frozen=True)
class RateEstimate:
    """One component's rate per unit: the count, the exposure, the estimate and its credible interval."""

    component: str
    per: str
    units: int
    count: int
    exposure_unit_hours: float
    level: float
    rate_per_unit_hour: float  # k / E (maximum likelihood); (1/2) / E when k = 0 (the posterior mean)
    rate_interval: tuple[float, float]
    posterior_shape: float  # Gamma(k + 1/2, rate E): what a simulation draws the rate from
    posterior_rate_unit_hours: float
    note: str = ""

    @property
    def mtbf_hours(self) -> float:
        return 1.0 / self.rate_per_unit_hour

    @property
    def mtbf_interval_hours(self) -> tuple[float, float]:
        lo, hi = self.rate_interval
        return (1.0 / hi, math.inf if lo <= 0 else 1.0 / lo)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rate_interval"] = list(self.rate_interval)
        out["mtbf_hours"] = self.mtbf_hours
        out["mtbf_interval_hours"] = list(self.mtbf_interval_hours)
        return out


@dataclass(frozen=True)
class ShapeEstimate:
    component: str
    failures: int
    shape: float | None
    shape_sd: float | None
    note: str
    rejects_exponential: bool = False  # shape 1 outside the 90% interval: the profile's source is Weibull

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecoveryEstimate:
    count: int
    median_minutes: float
    mean_minutes: float
    p90_minutes: float
    log_mu: float
    log_sigma: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FailureStats:
    source: str
    observed_hours: float
    nodes: int
    gpus_per_node: int
    rates: tuple[RateEstimate, ...]
    shapes: tuple[ShapeEstimate, ...]
    recovery: RecoveryEstimate | None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "observed_hours": self.observed_hours, "nodes": self.nodes,
                "gpus_per_node": self.gpus_per_node, "rates": [r.to_dict() for r in self.rates],
                "shapes": [s.to_dict() for s in self.shapes],
                "recovery": self.recovery.to_dict() if self.recovery else None, "notes": list(self.notes)}


def read_failure_log(path: str | Path) -> list[FailureEvent]:
    """The trace CSV (``time_hours,component,node[,recovery_minutes]``); errors name file:line.

    The first three columns are read by :func:`clustersim.reliability.read_trace` (the same checks as a
    replayed trace); this adds the optional recovery column.
    """
    from clustersim.reliability import read_trace

    p = Path(path)
    trace = read_trace(str(p))
    rows = [r for r in csv.reader(p.read_text(encoding="utf-8").splitlines())]
    header = [c.strip() for c in rows[0]]
    recovery: list[float | None] = []
    problems: list[ErrorItem] = []
    for i, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        text = row[3].strip() if len(header) > 3 and header[3] == "recovery_minutes" and len(row) > 3 else ""
        try:
            rec = float(text) * units.MINUTE_S if text else None
        except ValueError:
            rec = -1.0
        if rec is not None and not (math.isfinite(rec) and rec >= 0):
            problems.append(ErrorItem("expected recovery minutes >= 0 (or blank)", path="recovery_minutes", line=i,
                                      given=text))
        recovery.append(rec)
    if problems:
        raise ScenarioError(problems, str(p))
    times = [float(t) for t in (r[0] for r in rows[1:] if r and "".join(r).strip())]
    order = sorted(range(len(times)), key=lambda k: times[k])  # read_trace's stable sort by time
    return [FailureEvent(e["time_s"], e["component"], e["node"], recovery[k]) for e, k in zip(trace, order,
                                                                                             strict=True)]


def rate_interval(count: int, exposure: float, level: float = 0.9) -> tuple[float, float]:
    """Equal-tailed credible interval of a Poisson rate: quantiles of Gamma(count + 1/2, rate exposure)."""
    if count < 0 or not exposure > 0 or not 0 < level < 1:
        raise ValueError("count >= 0, exposure > 0 and 0 < level < 1 are needed")
    tail = 0.5 * (1.0 - level)
    a = count + 0.5
    return gamma_ppf(tail, a) / exposure, gamma_ppf(1.0 - tail, a) / exposure


def estimate_rate(component: str, per: str, unit_count: int, count: int, observed_hours: float,
                  level: float = 0.9) -> RateEstimate:
    """A component's per-unit rate from its count over ``unit_count`` units observed ``observed_hours``."""
    exposure = unit_count * observed_hours
    lo, hi = rate_interval(count, exposure, level)
    point = (count if count > 0 else 0.5) / exposure
    note = ""
    if count == 0:
        note = (f"no {component} failure in {exposure:,.0f} unit-hours: the MTBF is only bounded below "
                f"({1 / hi:,.0f} h at {level:.0%})")
    elif hi / lo > 2.0:
        note = (f"only {count} {component} failure{'s' if count != 1 else ''}: the {level:.0%} interval of the rate "
                f"is {lo / point:.2f}x-{hi / point:.2f}x the estimate (wide; a longer log narrows it)")
    return RateEstimate(component, per, unit_count, count, exposure, level, point, (lo, hi), count + 0.5,
                        exposure, note)


def _shape_equation(k: float, lifetimes: list[float], failed_logs_mean: float) -> float:
    m = max(lifetimes)
    w = [(x / m) ** k for x in lifetimes]  # scaled by the largest lifetime against overflow
    return sum(wi * math.log(x) for wi, x in zip(w, lifetimes, strict=True)) / sum(w) - 1.0 / k - failed_logs_mean


def weibull_shape(component: str, events: list[FailureEvent], nodes: int, observed_s: float) -> ShapeEstimate:
    """Censored Weibull MLE of the shape from each node's renewal lifetimes (see the module docstring)."""
    failures = [e for e in events if e.component == component]
    r = len(failures)
    if r < MIN_FAILURES_FOR_SHAPE:
        return ShapeEstimate(component, r, None, None,
                             f"{r} failures: a Weibull shape needs at least {MIN_FAILURES_FOR_SHAPE}; exponential kept")
    by_node: dict[int, list[float]] = {}
    for e in failures:
        by_node.setdefault(e.node, []).append(e.time_s)
    lifetimes: list[float] = []
    failed_logs: list[float] = []
    for node in range(max(nodes, max(by_node) + 1)):
        last = 0.0
        for t in sorted(by_node.get(node, [])):
            gap = max(t - last, 1e-9 * observed_s)
            lifetimes.append(gap)
            failed_logs.append(math.log(gap))
            last = t
        if observed_s > last:
            lifetimes.append(observed_s - last)  # right-censored
    mean_failed = sum(failed_logs) / r
    lo, hi = 0.02, 50.0
    if _shape_equation(lo, lifetimes, mean_failed) > 0 or _shape_equation(hi, lifetimes, mean_failed) < 0:
        return ShapeEstimate(component, r, None, None, "the shape equation has no root in [0.02, 50]")
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if _shape_equation(mid, lifetimes, mean_failed) < 0:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1 + 1e-12:
            break
    k = math.sqrt(lo * hi)
    sd = k * math.sqrt(6.0 / math.pi ** 2 / r)
    z = normal_ppf(0.95)
    consistent = k - z * sd <= 1.0 <= k + z * sd
    note = (f"shape {k:.2f} +/- {sd:.2f}: " + ("consistent with exponential (1 inside the 90% interval)" if consistent
                                                else "the data reject exponential at 90%"))
    return ShapeEstimate(component, r, k, sd, note, not consistent)


def recovery_stats(events: list[FailureEvent]) -> RecoveryEstimate | None:
    """Lognormal fit and empirical quantiles of the logged recovery times (None with fewer than 2)."""
    minutes = sorted(e.recovery_s / units.MINUTE_S for e in events if e.recovery_s is not None and e.recovery_s > 0)
    if len(minutes) < 2:
        return None
    logs = [math.log(m) for m in minutes]
    mu = sum(logs) / len(logs)
    sigma = math.sqrt(sum((v - mu) ** 2 for v in logs) / len(logs))
    rank = 0.9 * (len(minutes) - 1)
    lo_i = int(math.floor(rank))
    p90 = minutes[lo_i] + (rank - lo_i) * (minutes[min(lo_i + 1, len(minutes) - 1)] - minutes[lo_i])
    return RecoveryEstimate(len(minutes), math.exp(mu), sum(minutes) / len(minutes), p90, mu, sigma)


def failure_stats(events: list[FailureEvent], *, observed_hours: float, nodes: int, gpus_per_node: int,
                  nodes_per_leaf: int = 16, per: dict[str, str] | None = None, level: float = 0.9,
                  source: str = "") -> FailureStats:
    """Every component's rate, shape and the recovery times of one failure log."""
    if not observed_hours > 0 or nodes < 1 or gpus_per_node < 1:
        raise ScenarioError(ErrorItem("a failure log needs observed_hours > 0, nodes >= 1 and gpus_per_node >= 1",
                                      path="failures"), source or None)
    late = [e for e in events if e.time_s > observed_hours * units.HOUR_S]
    if late:
        raise ScenarioError(ErrorItem(f"{len(late)} failure(s) after the observation window",
                                      path="failures.observed_hours", given=f"{observed_hours}",
                                      expected=f">= {late[-1].time_s / units.HOUR_S:g} (the last failure)"),
                            source or None)
    bad_nodes = [e for e in events if e.node >= nodes]
    if bad_nodes:
        raise ScenarioError(ErrorItem(f"node {bad_nodes[0].node} is outside the cluster's {nodes} nodes",
                                      path="failures.nodes"), source or None)
    declared = set(per or {})  # a component the file names is reported even with no failure
    per = {**DEFAULT_PER, **(per or {})}
    unit_counts = {"gpu": nodes * gpus_per_node, "node": nodes, "switch": max(1, math.ceil(nodes / nodes_per_leaf)),
                   "job": 1}
    notes: list[str] = []
    components = sorted({e.component for e in events} | declared)
    rates, shapes = [], []
    for comp in components:
        unit = per.get(comp)
        if unit is None:
            unit = "node"
            notes.append(f"component {comp!r}: unit not given, counted per node (set failures.per.{comp})")
        count = sum(1 for e in events if e.component == comp)
        rates.append(estimate_rate(comp, unit, unit_counts[unit], count, observed_hours, level))
        if unit in ("gpu", "node"):
            shapes.append(weibull_shape(comp, events, nodes, observed_hours * units.HOUR_S))
        elif unit == "job":  # one unit: the job's own renewal sequence
            job = [FailureEvent(e.time_s, e.component, 0, e.recovery_s) for e in events]
            shapes.append(weibull_shape(comp, job, 1, observed_hours * units.HOUR_S))
    return FailureStats(source, observed_hours, nodes, gpus_per_node, tuple(rates), tuple(shapes),
                        recovery_stats(events), tuple(notes))
