"""Interval bands: a figure against a swept input, with the 80% interval of each point drawn as a band.

Where the interval comes from, per point (the columns a sweep row or a flattened result carries):

* an estimate's figure ``z`` (step time, days, GPU-hours, dollars): its 80% prediction interval,
  ``prediction_interval_<z>_lo`` / ``_hi`` (:func:`clustersim.estimate.prediction_interval`);
* a simulated statistic ``<figure>_<stat>`` (e.g. ``wall_days_p90``): the simulated distribution's 10th
  to 90th percentile, ``<figure>_p10`` / ``<figure>_p90`` (with parameter uncertainty, the default of
  ``simulate``, that is the 80% interval of the outcome).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from clustersim.report.data import esc, fmt_usd, is_usd, number
from clustersim.report.figures import base_layout, usd_axis

__all__ = ["interval_keys", "band_figure", "MAX_BANDS"]

#: Most series drawn with a band (more would hide each other).
MAX_BANDS = 6
_STATS = ("mean", "p50", "p90", "p99", "p10")
_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2")


def interval_keys(rows: Sequence[Mapping[str, Any]], z: str) -> tuple[str, str, str] | None:
    """(lo column, hi column, what the band is in words) for ``z``, when the rows carry them."""
    candidates = [(f"prediction_interval_{z}_lo", f"prediction_interval_{z}_hi", "the estimate's 80% prediction "
                   "interval (published residuals of the architecture, GPU generation and parallelism style, or the "
                   "profile)")]
    base, _, stat = z.rpartition("_")
    if base and stat in _STATS:
        candidates.append((f"{base}_p10", f"{base}_p90", "the simulated 10th-90th percentile across replicas "
                           "(with parameter uncertainty: the outcome's 80% interval)"))
    for lo, hi, words in candidates:
        if any(number(r.get(lo)) is not None and number(r.get(hi)) is not None for r in rows):
            return lo, hi, words
    return None


def _series(rows: Sequence[Mapping[str, Any]], x: str, by: str | None, z: str
            ) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Per value of ``by`` (one series when None or too many): the row with the lowest z at each x."""
    keys = sorted({repr(r.get(by)) for r in rows}) if by else []
    if not by or len(keys) > MAX_BANDS:
        by = None
    groups: dict[Any, dict[float, Mapping[str, Any]]] = {}
    for r in rows:
        xv, zv = number(r.get(x)), number(r.get(z))
        if xv is None or zv is None:
            continue
        best = groups.setdefault(r.get(by) if by else None, {})
        if xv not in best or zv < (number(best[xv].get(z)) or 0.0):
            best[xv] = r
    out = []
    for key, pts in sorted(groups.items(), key=lambda kv: str(kv[0])):
        name = f"{by}={key}" if by else "lowest over the other inputs"
        out.append((name, [pts[xv] for xv in sorted(pts)]))
    return out


def band_figure(rows: Sequence[Mapping[str, Any]], x: str, z: str, by: str | None = None) -> go.Figure | None:
    """``z`` against the swept input ``x`` (one line per value of ``by``), each point's interval a shaded
    band; None when the rows carry no interval of ``z`` or ``x`` is not numeric."""
    keys = interval_keys(rows, z)
    if keys is None:
        return None
    lo_key, hi_key, _ = keys
    fig = go.Figure()
    largest = 0.0
    drawn = 0
    for i, (name, pts) in enumerate(_series(rows, x, by, z)):
        band = [p for p in pts if number(p.get(lo_key)) is not None and number(p.get(hi_key)) is not None]
        if not band:
            continue
        color = _COLORS[i % len(_COLORS)]
        xs = [number(p.get(x)) for p in band]
        lo = [number(p.get(lo_key)) for p in band]
        hi = [number(p.get(hi_key)) for p in band]
        largest = max([largest, *(h or 0.0 for h in hi)])
        fig.add_trace(go.Scatter(x=xs, y=hi, mode="lines", line={"width": 0, "color": color}, showlegend=False,
                                 hoverinfo="skip", legendgroup=str(i)))
        fig.add_trace(go.Scatter(x=xs, y=lo, mode="lines", line={"width": 0, "color": color}, fill="tonexty",
                                 fillcolor=_fill(color), name=f"80% interval: {esc(name)}", hoverinfo="skip",
                                 legendgroup=str(i)))
        zs = [number(p.get(z)) for p in band]
        text = [f"{_fmt(z, v)} ({_fmt(z, a)} to {_fmt(z, b)})" for v, a, b in zip(zs, lo, hi, strict=True)]
        fig.add_trace(go.Scatter(x=xs, y=zs, mode="lines+markers", line={"color": color}, name=esc(name), text=text,
                                 hovertemplate=f"{esc(x)}=%{{x}}<br>{esc(z)} %{{text}}<extra></extra>",
                                 legendgroup=str(i)))
        drawn += 1
    if not drawn:
        return None
    base_layout(fig, f"{esc(z)} against {esc(x)}, with its 80% interval")
    fig.update_xaxes(title_text=esc(x))
    fig.update_yaxes(title_text=esc(z))
    if is_usd(z):
        usd_axis(fig, largest, axis="y")
    return fig


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "\u2014"
    return fmt_usd(value) if is_usd(key) else f"{value:.4g}"


def _fill(hex_color: str) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},0.18)"
