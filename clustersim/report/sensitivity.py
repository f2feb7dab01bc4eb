"""The rows of the report's tornado chart: dollars when one input moves and the others stay.

Each move re-evaluates the scenario with :func:`clustersim.estimate.estimate` (the analytic kernel plus
theory's expected wall time with failures, Daly 2006), and prices it as

    cost_usd = expected_wall_days x 24 h x paid GPUs x usd_per_gpu_hour

(GPU-hours x price; the paid GPUs include the spare nodes' GPUs, as ``simulate``'s cost does; the
failure-free ``train_days`` when the scenario has no failures). The base is therefore theory's
expected cost of the same bill the simulation's headline cost samples. The moves and their amounts are fixed and written on the chart:

- failures: every MTBF x0.5 and x2 (the node MTBF, or each source's, or each source of the preset);
- checkpoint write bandwidth (``checkpoint.write_gbyte_per_s``) x0.5 and x2;
- network bandwidth per NIC (``cluster.network.nic_gbit_per_s``) x0.5 and x2;
- price per GPU-hour x0.75 and x1.25. Dollars are linear in the price and the time does not depend on
  it, so this row is priced from the base without a re-evaluation.

A moved value is kept inside its field's documented range (an MTBF of 1e8 h is not doubled past the
range; the label shows the value used), so the chart of any valid scenario can be drawn.

A scenario with ``parallelism: auto`` is searched once and every move keeps that parallelism, so the
chart shows what each input does to this plan, not to a re-planned run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from clustersim import units
from clustersim.errors import ClustersimError
from clustersim.scenario import Scenario, load_scenario
from clustersim.scenario.spec import GbitPerS, GBytePerS, MtbfHours

__all__ = ["sensitivity", "MOVES", "cost_of_estimate"]

#: (parameter label, low factor, high factor) of each move.
MOVES: tuple[tuple[str, float, float], ...] = (
    ("failure rate (MTBF)", 0.5, 2.0),
    ("checkpoint write bandwidth", 0.5, 2.0),
    ("network bandwidth per NIC", 0.5, 2.0),
    ("price per GPU-hour", 0.75, 1.25),
)

Estimator = Callable[..., Any]


def _as_dict(result: Any) -> dict[str, Any]:
    return dict(result.to_dict() if hasattr(result, "to_dict") else result)


def cost_of_estimate(est: Mapping[str, Any], usd_per_gpu_hour: float | None = None,
                     paid_gpus: int | None = None) -> float:
    """Expected wall days x 24 x paid GPUs x price (failure-free days when the scenario has no failures).

    ``paid_gpus`` defaults to the result's ``paid_gpus`` (a simulate result), else its ``gpus``."""
    days = est.get("expected_wall_days")
    if days is None:
        days = est.get("train_days")
    price = usd_per_gpu_hour if usd_per_gpu_hour is not None else est.get("usd_per_gpu_hour")
    if days is None or price is None or est.get("gpus") is None:
        raise ClustersimError("the sensitivity needs days, GPUs and a price per GPU-hour "
                              "(give pricing.usd_per_gpu_hour or a pricing preset)")
    gpus = paid_gpus if paid_gpus is not None else (est.get("paid_gpus") or est["gpus"])
    return float(days) * units.DAY_S / units.HOUR_S * float(gpus) * float(price)


def _within(value: float, annotated: Any) -> float:
    """``value`` clipped to the ``ge``/``le`` bounds of a constrained scenario type (spec.MtbfHours...)."""
    for bound in annotated.__metadata__[0].metadata:
        value = max(value, getattr(bound, "ge", value))
        value = min(value, getattr(bound, "le", value))
    return value


def _fmt(x: float) -> str:
    return f"{x:,.4g}"


def _mtbf_move(s: Scenario, factor: float) -> tuple[Scenario | dict[str, Any], list[str], str] | None:
    """The scenario with every failure MTBF times ``factor`` (None when it cannot be scaled)."""
    f = s.failures
    if f is None or f.trace is not None:
        return None
    if f.node_mtbf_hours is not None:
        value = _within(f.node_mtbf_hours * factor, MtbfHours)
        return s, [f"failures.node_mtbf_hours={value!r}"], f"node MTBF {_fmt(value)} h"
    if f.sources is not None:
        sources = [src.model_dump(mode="json") for src in f.sources]
    elif f.preset is not None:
        from clustersim.scenario import catalog

        keys = ("component", "per", "mtbf_hours", "distribution", "shape")
        sources = [{k: src[k] for k in keys if k in src} for src in catalog.reliability_preset(f.preset)["sources"]]
    else:
        return None
    data = s.model_dump(mode="json", by_alias=True, exclude_none=True)
    failures = dict(data["failures"])
    failures.pop("preset", None)
    failures["sources"] = [{**src, "mtbf_hours": _within(float(src["mtbf_hours"]) * factor, MtbfHours)}
                           for src in sources]
    data["failures"] = failures
    return data, [], "every source's MTBF"


def _nic_gbit_per_s(s: Scenario) -> float:
    given = s.cluster.network.nic_gbit_per_s or s.gpu().get("nic_gbit_per_s")
    if given:
        return float(given)
    from clustersim.planning import network_params

    return float(network_params(s).nic_gbit_per_s)


def sensitivity(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], base: Mapping[str, Any], *,
                set: Iterable[str] = (), estimator: Estimator | None = None) -> list[dict[str, Any]]:
    """Tornado rows ``{parameter, low_label, high_label, low_value_usd, high_value_usd, base_usd}``.

    ``base`` is the scenario's ``estimate --json`` (or ``simulate --json``) object; ``base_usd`` prices
    its theory days. ``estimator`` (default :func:`clustersim.estimate.estimate`) is called as
    ``estimator(scenario, set=[...])`` and returns an Estimate or its dict; tests inject a fake one.
    The MTBF row is left out when the scenario has no failures or replays a trace.
    """
    if estimator is None:
        from clustersim.estimate import estimate

        estimator = estimate
    run = estimator
    s = load_scenario(scenario, list(set))
    if s.parallelism() is None:
        from clustersim.search import apply_best

        s = apply_best(s)
    paid = s.gpus + (s.failures.spare_nodes * s.gpus_per_node if s.failures else 0)
    base_usd = cost_of_estimate(base, paid_gpus=paid)

    def evaluate(source: Scenario | dict[str, Any], sets: list[str]) -> float:
        return cost_of_estimate(_as_dict(run(source, set=sets)), paid_gpus=paid)

    rows: list[dict[str, Any]] = []
    mtbf_label, lo_f, hi_f = MOVES[0]
    lo, hi = _mtbf_move(s, lo_f), _mtbf_move(s, hi_f)
    if lo is not None and hi is not None:
        rows.append({"parameter": mtbf_label, "low_label": f"MTBF x{lo_f:g} ({lo[2]})",
                     "high_label": f"MTBF x{hi_f:g} ({hi[2]})",
                     "low_value_usd": evaluate(lo[0], lo[1]), "high_value_usd": evaluate(hi[0], hi[1])})
    label, lo_f, hi_f = MOVES[1]
    write = s.checkpoint.write_gbyte_per_s
    w_lo, w_hi = _within(write * lo_f, GBytePerS), _within(write * hi_f, GBytePerS)
    rows.append({"parameter": label,
                 "low_label": f"x{lo_f:g} ({_fmt(w_lo)} GB/s)", "high_label": f"x{hi_f:g} ({_fmt(w_hi)} GB/s)",
                 "low_value_usd": evaluate(s, [f"checkpoint.write_gbyte_per_s={w_lo!r}"]),
                 "high_value_usd": evaluate(s, [f"checkpoint.write_gbyte_per_s={w_hi!r}"])})
    label, lo_f, hi_f = MOVES[2]
    nic = _nic_gbit_per_s(s)
    n_lo, n_hi = _within(nic * lo_f, GbitPerS), _within(nic * hi_f, GbitPerS)
    rows.append({"parameter": label,
                 "low_label": f"x{lo_f:g} ({_fmt(n_lo)} Gbit/s)", "high_label": f"x{hi_f:g} ({_fmt(n_hi)} Gbit/s)",
                 "low_value_usd": evaluate(s, [f"cluster.network.nic_gbit_per_s={n_lo!r}"]),
                 "high_value_usd": evaluate(s, [f"cluster.network.nic_gbit_per_s={n_hi!r}"])})
    label, lo_f, hi_f = MOVES[3]
    price = base.get("usd_per_gpu_hour")
    if price is None:
        raise ClustersimError("the sensitivity needs a price per GPU-hour")
    rows.append({"parameter": label,
                 "low_label": f"x{lo_f:g} (${float(price) * lo_f:.2f}/GPU-h)",
                 "high_label": f"x{hi_f:g} (${float(price) * hi_f:.2f}/GPU-h)",
                 "low_value_usd": cost_of_estimate(base, float(price) * lo_f, paid),
                 "high_value_usd": cost_of_estimate(base, float(price) * hi_f, paid)})
    basis = ("expected" if base.get("expected_wall_days") is not None else "failure-free") + \
        f" wall days x {paid:,} paid GPUs (spares included) x the price"
    for row in rows:
        row["base_usd"] = base_usd
        row["base_basis"] = basis
    return rows
