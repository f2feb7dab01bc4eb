"""Reading result dicts for the report: statistics, days and dollars under their several names, Pareto fronts.

Nothing here re-runs a model: every figure of the report comes from the JSON dicts the commands print
(``estimate --json``, ``simulate --json``, costs, plan and sweep results), so a report can be drawn
from a saved ``result.json``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from clustersim.errors import ClustersimError
from clustersim.results import format_usd

__all__ = ["KINDS", "DAYS_KEYS", "COST_KEYS", "esc", "number", "stat", "days_of", "cost_of", "pareto_front", "infer_kind",
           "fmt_usd", "fmt_num", "fmt_days", "fmt_big", "is_usd"]

#: The result kinds the report draws.
KINDS = ("simulate", "estimate", "costs", "plan", "sweep", "fleet")

#: Keys that hold a run's days, best first: the simulated mean (a statistic, or a sweep row's flattened
#: ``_mean`` column), theory's expectation, failure-free.
DAYS_KEYS = ("wall_days", "wall_days_mean", "expected_wall_days", "days", "train_days")
#: Keys that hold a run's dollars, best first (simulated, expected, failure-free).
COST_KEYS = ("wall_cost_usd", "wall_cost_usd_mean", "expected_wall_cost_usd", "expected_cost_usd", "cost_usd")


def is_usd(key: str) -> bool:
    """Whether a column holds dollars: ``cost_usd``, ``wall_cost_usd_mean``, ``wall_cost_usd_p90``, ..."""
    return key.endswith("_usd") or "_usd_" in key


def esc(value: Any) -> str:
    """Text from a scenario or result file, HTML-escaped (quotes too), for the page and for plotly labels.

    plotly reads label text as a small HTML subset and decodes entities, so an escaped label is shown
    as the user wrote it while a ``<script>`` in a scenario name stays text.
    """
    return html.escape(str(value), quote=True)


def number(value: Any) -> float | None:
    """A finite float from a number, a ``{mean, ...}`` statistic, or None (bools and text give None)."""
    if isinstance(value, Mapping):
        value = value.get("mean")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def stat(value: Any, key: str = "mean") -> float | None:
    """One field of a ``{mean, p50, p90, p99}`` statistic; a plain number serves as every field."""
    if isinstance(value, Mapping):
        return number(value.get(key))
    return number(value)


def _first(row: Mapping[str, Any], keys: Sequence[str]) -> float | None:
    for key in keys:
        if key in row:
            value = number(row[key])
            if value is not None:
                return value
    return None


def days_of(row: Mapping[str, Any]) -> float | None:
    """A run's days: simulated mean, else theory's expected wall time, else the failure-free days."""
    return _first(row, DAYS_KEYS)


def cost_of(row: Mapping[str, Any]) -> float | None:
    """A run's dollars: simulated mean, else expected, else the failure-free cost."""
    return _first(row, COST_KEYS)


def pareto_front(points: Sequence[tuple[float | None, float | None]]) -> list[int]:
    """Indices of the points no other point beats on both axes (both minimised), by increasing x.

    A point is on the front when no other point has x <= its x and y <= its y with one of them
    strictly smaller. Points with a None or non-finite coordinate are ignored; of exact duplicates
    the first is kept. O(n log n): sort by (x, y), keep each point whose y is below every y before it.
    """
    valid: list[tuple[float, float, int]] = []
    for i, (x, y) in enumerate(points):
        fx, fy = number(x), number(y)
        if fx is not None and fy is not None:
            valid.append((fx, fy, i))
    valid.sort(key=lambda p: (p[0], p[1], p[2]))
    front: list[int] = []
    best_y = math.inf
    for _x, y, i in valid:
        if y < best_y:
            front.append(i)
            best_y = y
    return front


def infer_kind(result: Mapping[str, Any]) -> str:
    """The kind of a result dict: its ``kind`` key, else guessed from the keys it carries."""
    kind = result.get("kind")
    if isinstance(kind, str):
        if kind not in KINDS:
            raise ClustersimError(f"unknown result kind {kind!r}; expected one of {', '.join(KINDS)}")
        return kind
    if {"rows", "x", "y", "z"} <= result.keys():
        return "sweep"
    if "samples" in result or "time_breakdown_days" in result or isinstance(result.get("wall_days"), Mapping):
        return "simulate"
    if "step_time_s" in result:
        return "estimate"
    if "budget_usd" in result:
        return "plan"
    if "rows" in result:
        return "costs"
    raise ClustersimError("cannot tell what kind of result this is (no kind, samples, step_time_s or rows "
                          f"key); give the kind: one of {', '.join(KINDS)}")


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number with a thousands separator and ``digits`` significant figures; an em dash for None."""
    x = number(value)
    if x is None:
        return "\u2014"
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:,.{digits}g}"


def fmt_usd(value: Any) -> str:
    """Dollars: ``$9,120``, ``$1.27M``, ``$742M``; an em dash for None (:func:`clustersim.results.format_usd`)."""
    x = number(value)
    return format_usd(x) if x is None or abs(x) >= 100 else f"${x:,.0f}"


def fmt_days(value: Any) -> str:
    """Days with three significant figures, and hours when under two days."""
    x = number(value)
    if x is None:
        return "\u2014"
    text = f"{fmt_num(x)} days"
    hours = x * 24
    if hours < 1:
        text += f" ({hours * 60:.3g} min)"
    elif x < 2:
        text += f" ({hours:.3g} h)"
    return text


def fmt_big(value: Any) -> str:
    """A large count with a suffix: ``100B``, ``15.6T``, ``436k``; an em dash for None."""
    x = number(value)
    if x is None:
        return "\u2014"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"
