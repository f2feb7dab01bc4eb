"""The figures of the many-run results (``costs``, ``plan``, ``sweep``): curves, Pareto front, heatmap.

The shapes these functions read (documented in :mod:`clustersim.report`):

- ``rows``: a list of flat dicts, one per point, with days (``wall_days``, ``expected_wall_days``,
  ``days`` or ``train_days``) and dollars (``wall_cost_usd``, ``expected_cost_usd`` or ``cost_usd``),
  and for costs ``params_b``, ``gpu``, ``gpus`` (and optionally ``model``), for plan ``params_b``,
  ``loss``, ``gpus``.
- ``curves`` (optional, drawn as given): ``[{title, x_title, y_title, log_x, log_y,
  series: [{name, x: [...], y: [...]}]}]``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from clustersim.report.data import cost_of, days_of, esc, fmt_usd, is_usd, number, pareto_front
from clustersim.report.figures import base_layout, log_ticks, usd_axis

__all__ = ["curve_figure", "given_curves", "cost_vs_size_figure", "days_vs_gpus_figure", "loss_vs_size_figure",
           "pareto_figure", "heatmap_figure", "row_label"]

#: More series than this in one chart is unreadable; beyond it the series are merged (documented per chart).
MAX_SERIES = 10


def row_label(row: Mapping[str, Any], keys: Sequence[str] = ("model", "params_b", "gpu", "gpus")) -> str:
    """A short, escaped description of one point for hover text (``llama3-70b, h100, 1024 GPUs``)."""
    parts = []
    for key in keys:
        if key not in row or row[key] is None:
            continue
        value = row[key]
        if key == "params_b" and number(value) is not None:
            parts.append(f"{number(value):.3g}B params")
        elif key == "gpus":
            parts.append(f"{value} GPUs")
        else:
            parts.append(f"{key}={value}" if key not in ("model", "gpu") else str(value))
    return esc(", ".join(parts))


def curve_figure(title: str, x_title: str, y_title: str, series: Sequence[tuple[str, Sequence[Any], Sequence[Any]]],
                 *, log_x: bool = False, log_y: bool = False) -> go.Figure:
    """Lines with markers, one per series; text arguments are escaped here."""
    fig = go.Figure()
    for name, xs, ys in series:
        pairs = [(number(x), number(y)) for x, y in zip(xs, ys, strict=False)]
        pts = sorted((x, y) for x, y in pairs if x is not None and y is not None)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=esc(name)))
    base_layout(fig, esc(title))
    fig.update_xaxes(title_text=esc(x_title), type="log" if log_x else "linear")
    fig.update_yaxes(title_text=esc(y_title), type="log" if log_y else "linear")
    for on, axis, i in ((log_x, "x", 1), (log_y, "y", 2)):
        if on:
            log_ticks([v for v in (number(v) for s in series for v in s[i]) if v is not None], axis, fig)
    return fig


def given_curves(curves: Sequence[Mapping[str, Any]]) -> list[go.Figure]:
    """The ``curves`` a result carries, drawn as they are given."""
    out = []
    for c in curves:
        series = [(str(s.get("name", "")), list(s.get("x") or []), list(s.get("y") or []))
                  for s in c.get("series") or [] if isinstance(s, Mapping)]
        out.append(curve_figure(str(c.get("title", "")), str(c.get("x_title", "")), str(c.get("y_title", "")),
                                series, log_x=bool(c.get("log_x")), log_y=bool(c.get("log_y"))))
    return out


def _series_part(key: str, value: Any) -> str:
    if key == "gpus":
        return f"{value} GPUs"
    if key == "params_b" and number(value) is not None:
        return f"{number(value):.3g}B params"
    return str(value)


def _grouped(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], x_of: Any, y_of: Any,
             ) -> list[tuple[str, list[float], list[float]]]:
    """Series grouped by ``keys``; when there are too many groups, fewer keys; the lowest y per x."""
    for n in range(len(keys), -1, -1):
        groups: dict[tuple[Any, ...], dict[float, float]] = defaultdict(dict)
        for r in rows:
            x, y = x_of(r), y_of(r)
            if x is None or y is None:
                continue
            pts = groups[tuple(r.get(k) for k in keys[:n])]
            pts[x] = min(y, pts.get(x, y))
        if len(groups) <= MAX_SERIES or n == 0:
            break
    series = []
    for key, pts in sorted(groups.items(), key=lambda kv: str(kv[0])):
        name = ", ".join(_series_part(k, v) for k, v in zip(keys, key, strict=False) if v is not None) or "all"
        xs = sorted(pts)
        series.append((name, xs, [pts[x] for x in xs]))
    return series


def cost_vs_size_figure(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Dollars against model size, one line per GPU type and count (the cheapest point per size)."""
    series = _grouped(rows, ("gpu", "gpus"), lambda r: number(r.get("params_b")), cost_of)
    fig = curve_figure("Cost against model size", "parameters (billions)", "total cost (USD)", series,
                       log_x=_wide(series, 1) == "log", log_y=_wide(series, 2) == "log")
    usd_axis(fig, max((y for _, _, ys in series for y in ys), default=0.0), axis="y")
    if _wide(series, 2) == "log":
        log_ticks([y for _, _, ys in series for y in ys], "y", fig, prefix="$")
    return fig


def days_vs_gpus_figure(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Days against the number of GPUs, one line per model and GPU type (the fastest point per count)."""
    key = "model" if any("model" in r for r in rows) else "params_b"
    series = _grouped(rows, (key, "gpu"), lambda r: number(r.get("gpus")), days_of)
    return curve_figure("Days against GPUs", "GPUs", "days", series, log_x=_wide(series, 1) == "log",
                        log_y=_wide(series, 2) == "log")


def _wide(series: Sequence[tuple[str, list[float], list[float]]], axis: int) -> str:
    """``_log_if_wide`` over every series' x (``axis=1``) or y (``axis=2``) values."""
    values: list[float] = []
    for _, xs, ys in series:
        values.extend(xs if axis == 1 else ys)
    return _log_if_wide(values)


def loss_vs_size_figure(rows: Sequence[Mapping[str, Any]], optimum: Mapping[str, Any] | None) -> go.Figure:
    """The predicted loss along the budget's trade-off curve (model size vs tokens), with the optimum."""
    pts = sorted((number(r.get("params_b")), number(r.get("loss"))) for r in rows
                 if number(r.get("params_b")) is not None and number(r.get("loss")) is not None)
    fig = curve_figure("Predicted loss at this budget against model size", "parameters (billions)",
                       "predicted loss", [("trade-off", [p[0] for p in pts], [p[1] for p in pts])], log_x=True)
    if optimum and number(optimum.get("params_b")) is not None and number(optimum.get("loss")) is not None:
        fig.add_trace(go.Scatter(x=[number(optimum["params_b"])], y=[number(optimum["loss"])], mode="markers",
                                 name="compute-optimal", marker={"size": 14, "symbol": "star", "color": "#d62728"}))
    return fig


def _log_if_wide(values: Sequence[float], ratio: float = 20.0) -> str:
    """A log axis when the values span more than ``ratio`` (a decade and more), linear otherwise."""
    pos = [v for v in values if v > 0]
    return "log" if pos and len(pos) == len(values) and max(pos) / min(pos) > ratio else "linear"


def pareto_figure(rows: Sequence[Mapping[str, Any]], label_keys: Sequence[str],
                  group_key: str | None = None) -> tuple[go.Figure, int]:
    """Every point's dollars against its days, with the Pareto front (no point cheaper AND faster).

    With ``group_key`` (e.g. the model: a smaller model is always cheaper and faster, so fronts across
    models say nothing), one front per group, unless there are more than MAX_SERIES groups.
    Returns the figure and the number of points on the front(s).
    """
    pts = [(days_of(r), cost_of(r)) for r in rows]
    keep = [i for i, (d, c) in enumerate(pts) if d is not None and c is not None]
    groups: dict[Any, list[int]] = defaultdict(list)
    for i in keep:
        groups[rows[i].get(group_key) if group_key else None].append(i)
    if len(groups) > MAX_SERIES:
        groups = {None: keep}
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[pts[i][0] for i in keep], y=[pts[i][1] for i in keep], mode="markers", name="all points",
        marker={"color": "#c6dbef", "size": 8}, text=[row_label(rows[i], label_keys) for i in keep],
        hovertemplate="%{text}<br>%{x:.3g} days, %{y:$,.0f}<extra></extra>"))
    on_front = 0
    for key, members in sorted(groups.items(), key=lambda kv: min(pts[i][0] or 0.0 for i in kv[1])):
        front = [members[j] for j in pareto_front([pts[i] for i in members])]
        on_front += len(front)
        name = "Pareto front" if key is None else f"front: {esc(key)}"
        fig.add_trace(go.Scatter(
            x=[pts[i][0] for i in front], y=[pts[i][1] for i in front], mode="lines+markers", name=name,
            line={"shape": "hv"} | ({"color": "#d62728"} if key is None else {}), marker={"size": 9},
            text=[row_label(rows[i], label_keys) for i in front],
            hovertemplate="%{text}<br>%{x:.3g} days, %{y:$,.0f}<extra></extra>"))
    title = f"Dollars against days: {on_front} of {len(keep)} points on the Pareto front"
    base_layout(fig, title + ("s" if len(groups) > 1 else ""))
    days, dollars = [pts[i][0] or 0.0 for i in keep], [pts[i][1] or 0.0 for i in keep]
    fig.update_xaxes(title_text="days", type=_log_if_wide(days))
    fig.update_yaxes(title_text="total cost (USD)", type=_log_if_wide(dollars))
    usd_axis(fig, max(dollars, default=0.0), axis="y")
    if _log_if_wide(days) == "log":
        log_ticks(days, "x", fig)
    if _log_if_wide(dollars) == "log":
        log_ticks(dollars, "y", fig, prefix="$")
    return fig, on_front


def _axis_values(values: Sequence[Any]) -> list[Any]:
    uniq = list(dict.fromkeys(v for v in values if v is not None))
    if all(number(v) is not None for v in uniq):
        return sorted(uniq, key=lambda v: number(v) or 0.0)
    return sorted(uniq, key=str)


def heatmap_figure(rows: Sequence[Mapping[str, Any]], x: str, y: str, z: str) -> tuple[go.Figure, bool]:
    """``z`` against the inputs ``x`` and ``y``; where several rows share a cell (other inputs vary),
    the cell shows the lowest ``z`` (the best choice of the others). Returns the figure and whether
    any cell merged several rows."""
    xs = _axis_values([r.get(x) for r in rows])
    ys = _axis_values([r.get(y) for r in rows])
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    grid = np.full((len(ys), len(xs)), np.nan)
    counts = np.zeros((len(ys), len(xs)), dtype=int)
    for r in rows:
        if r.get(x) not in xi or r.get(y) not in yi:
            continue
        value = number(r.get(z))
        if value is None:
            continue
        j, i = yi[r[y]], xi[r[x]]
        counts[j, i] += 1
        grid[j, i] = value if np.isnan(grid[j, i]) else min(grid[j, i], value)
    merged = bool((counts > 1).any())
    usd = is_usd(z)
    text = [[("" if np.isnan(v) else (fmt_usd(v) if usd else f"{v:.3g}")) for v in row] for row in grid]
    fig = go.Figure(go.Heatmap(
        x=[esc(v) for v in xs], y=[esc(v) for v in ys], z=[[None if np.isnan(v) else float(v) for v in row]
                                                            for row in grid],
        text=text, texttemplate="%{text}", colorscale="Viridis", colorbar={"title": {"text": esc(z), "side": "right"}, "x": 1.01,
                                                            "xanchor": "left"},
        hovertemplate=f"{esc(x)}=%{{x}}<br>{esc(y)}=%{{y}}<br>{esc(z)}=%{{text}}<extra></extra>"))
    title = f"{esc(z)} against {esc(x)} and {esc(y)}"
    if merged:
        title += " (lowest over the other inputs)"
    base_layout(fig, title, height=max(340, 120 + 36 * len(ys)))
    fig.update_layout(margin={"r": 150})  # the colour bar and its title, then the toolbar's column
    fig.update_xaxes(title_text=esc(x), type="category")
    fig.update_yaxes(title_text=esc(y), type="category")
    return fig, merged
