"""The figures of one run (``simulate`` and ``estimate`` results): timeline, time breakdown, CDFs,
step-time and memory breakdowns, and the sensitivity (tornado) chart.

Every function takes parts of the result dict and returns a plotly Figure; none re-runs a model.
Text that came from a file goes through :func:`clustersim.report.data.esc`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from clustersim import units
from clustersim.report.data import esc, fmt_usd, number, stat

__all__ = ["STATES", "TIME_PARTS", "base_layout", "usd_axis", "log_ticks", "timeline_figure", "timeline_window",
           "progress_figure", "time_breakdown_figure", "cdf_figure",
           "step_time_figure", "memory_figure", "tornado_figure"]

#: Timeline states (the simulation's names), in the order the chart lists them, with label and colour.
STATES: dict[str, tuple[str, str]] = {
    "running": ("running", "#2ca02c"),
    "checkpointing": ("checkpointing", "#1f77b4"),
    "detecting": ("failed (detecting)", "#d62728"),
    "restarting": ("restarting", "#ff7f0e"),
    "loading": ("loading checkpoint", "#9467bd"),
    "waiting": ("waiting (spares)", "#7f7f7f"),
    "preempted": ("preempted", "#8c564b"),
    "maintenance": ("maintenance", "#17becf"),
}
_OTHER_COLOR = "#bcbd22"

#: Parts of the wall time (``time_breakdown_days``), in the simulation's names, with their labels.
TIME_PARTS: dict[str, str] = {
    "productive": "productive compute",
    "lost_work": "lost work (recomputed)",
    "checkpointing": "checkpointing",
    "detecting": "detecting failures",
    "restarting": "restarting",
    "loading": "loading checkpoints",
    "waiting_for_spares": "waiting for spares",
    "preempted": "preempted (spot)",
    "maintenance": "planned maintenance",
    "degraded": "degraded (slow nodes)",
}

_HEIGHT = 380
#: Above this many segments of one state, its tick marks are drawn 1 px wide (they would merge at 2 px).
_THIN_TICKS = 150
#: Above this many segments of one state, each shorter than 1/2000 of the run, only ticks are drawn.
_MAX_BARS = 2000


#: A title's first line wraps at this many characters (plotly never wraps: a long one would run under
#: the toolbar at the top right, and past the chart on a narrow window).
_TITLE_CHARS = 56


def _wrap_title(title: str, width: int = _TITLE_CHARS) -> tuple[str, int]:
    """The title with its first line broken at spaces into lines of at most ``width`` characters, and
    the number of lines added (the rest, after the first ``<br>``, is left as it is)."""
    head, sep, rest = title.partition("<br>")
    if len(head) <= width:
        return title, 0
    lines = [""]
    for word in head.split(" "):
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return "<br>".join(lines) + sep + rest, len(lines) - 1


def base_layout(fig: go.Figure, title: str, height: int = _HEIGHT) -> go.Figure:
    """The common look: white template, title left, room for labels. ``title`` must be escaped already."""
    title, extra = _wrap_title(title)
    fig.update_layout(template="plotly_white", title={"text": title, "x": 0.01, "xanchor": "left"},
                      height=height + 22 * extra, margin={"l": 60, "r": 30, "t": 60 + 22 * extra, "b": 50},
                      legend={"orientation": "h", "y": -0.18}, hoverlabel={"namelength": -1},
                      modebar={"orientation": "v"})  # down the right edge: never over the title
    return fig


def usd_axis(fig: go.Figure, largest_usd: float, axis: str = "x") -> None:
    """Dollar ticks: ``$12,300`` under a million, ``$742.1M`` above (plotly's SI suffixes)."""
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    update(tickprefix="$", tickformat=".4~s" if abs(largest_usd) >= 1e6 else ",.0f")


def log_ticks(values: Sequence[float], axis: str, fig: go.Figure, prefix: str = "") -> None:
    """Ticks at 1, 2 and 5 x 10^k over the values, written out in full (``200``, ``0.5``, ``$20k``):
    plotly's default log ticks label the minor ones with a bare digit (``5`` for 0.5 or for 50)."""
    pos = [v for v in values if v is not None and v > 0]
    if not pos:
        return
    lo, hi = min(pos), max(pos)
    ticks = [m * 10.0 ** k for k in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
             for m in (1, 2, 5)]
    inside = [t for t in ticks if lo / 1.5 <= t <= hi * 1.5]
    if len(inside) > 8:  # a wide range: powers of ten only
        inside = [t for t in inside if f"{t:.0e}".startswith("1")]
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    update(tickmode="array", tickvals=inside, ticktext=[prefix + _short(t) for t in inside])


def _short(v: float) -> str:
    """``0.5``, ``200``, ``5,000``, ``20k``, ``1M``, ``2B``, ``3T`` (tick text)."""
    for size, unit, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if v >= size:
            return f"{v / unit:g}{suffix}"
    return f"{v:,.4g}"


def _time_unit(span_s: float) -> tuple[float, str]:
    """Hours for a run under three days, days otherwise (a readable axis either way)."""
    return (units.HOUR_S, "hours") if span_s < 3 * units.DAY_S else (units.DAY_S, "days")


#: States during which the job is up (computing or writing a checkpoint): one "running" bar spans them.
_UP_STATES = ("running", "checkpointing")
#: Points drawn on the progress line at most (the line is thinned to this many; every event is kept).
_MAX_LINE_POINTS = 4000


def _segments(segments: Sequence[Mapping[str, Any]]) -> list[tuple[float, float, str]]:
    rows = [(number(s.get("start_s")), number(s.get("end_s")), str(s.get("state", "?"))) for s in segments]
    return sorted((a, b, st) for a, b, st in rows if a is not None and b is not None and b >= a)


def _up_spans(clean: Sequence[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Consecutive running and checkpointing segments merged into one "running" span (the job is up):
    on a long run thousands of checkpoints cut "running" into slivers thinner than a pixel."""
    out: list[tuple[float, float, str]] = []
    for a, b, st in clean:
        if st in _UP_STATES and out and out[-1][2] == "running" and abs(out[-1][1] - a) <= 1e-9 * max(1.0, a):
            out[-1] = (out[-1][0], b, "running")
        elif st in _UP_STATES:
            out.append((a, b, "running"))
    return out


def timeline_figure(segments: Sequence[Mapping[str, Any]]) -> go.Figure:
    """One replica's timeline as a Gantt-like chart: one row per state, one bar per segment.

    The "running" row spans the whole time the job is up (checkpoints included; they have their own
    row too). Short segments (a checkpoint of seconds on a run of days) would be thinner than a pixel,
    so each segment that is not ``running`` also gets a tick mark at its start. A range slider under
    the chart zooms and pans along the run; a run of many checkpoints opens on the window of
    :func:`timeline_window` (the whole run would be solid bands), the slider still spanning all of it.
    """
    clean = _segments(segments)
    clean = [seg for seg in clean if seg[2] != "running"] + _up_spans(clean)
    span = max((b for _, b, _ in clean), default=0.0)
    scale, unit = _time_unit(span)
    order = [st for st in STATES if any(s == st for _, _, s in clean)]
    order += sorted({st for _, _, st in clean} - set(STATES))
    fig = go.Figure()
    labels = []
    for st in order:
        label, color = STATES.get(st, (esc(st), _OTHER_COLOR))
        labels.append(label)
        part = [(a, b) for a, b, s in clean if s == st]
        start = np.array([a for a, _ in part]) / scale
        dur = np.array([b - a for a, b in part]) / scale
        if st != "running" and len(part) > _MAX_BARS and float(dur.max(initial=0.0)) < span / scale / 2000:
            # thousands of segments each under 1/2000 of the run (checkpoints): bars thinner than a pixel
            # that only make the page heavy; the tick marks below show every one of them
            fig.add_trace(go.Scatter(
                y=[label] * len(part), x=start, mode="markers", name=label, hoverinfo="x+name",
                marker={"symbol": "line-ns", "size": 16, "line": {"width": 1, "color": color}}))
            continue
        fig.add_trace(go.Bar(
            y=[label] * len(part), x=dur, base=start, orientation="h", name=label, marker_color=color,
            customdata=np.column_stack([start, start + dur]),
            hovertemplate=f"{label}<br>%{{customdata[0]:.3f}} to %{{customdata[1]:.3f}} {unit}<extra></extra>"))
        if st != "running":
            fig.add_trace(go.Scatter(
                y=[label] * len(part), x=start, mode="markers", showlegend=False, hoverinfo="skip",
                marker={"symbol": "line-ns", "size": 16,
                        "line": {"width": 2 if len(part) <= _THIN_TICKS else 1, "color": color}}))
    window = timeline_window(clean)
    title = "One replica's timeline (replica 0)"
    if window is not None:
        title += (f"<br><sub>{_duration(window[1] - window[0])} around the first interruption (the run: "
                  f"{_duration(span)}); the slider moves the window</sub>")
    base_layout(fig, title, height=max(300, 150 + 40 * len(order)))
    fig.update_layout(barmode="overlay", bargap=0.25, showlegend=False)
    if window is not None:
        fig.update_layout(margin={"t": 80})
    fig.update_xaxes(title_text=f"time since the start ({unit}); drag the slider's ends to zoom", rangemode="tozero",
                     rangeslider={"visible": True, "thickness": 0.08, "range": [0.0, span / scale]},
                     **({"range": [window[0] / scale, window[1] / scale]} if window is not None else {}))
    fig.update_yaxes(categoryorder="array", categoryarray=labels, autorange="reversed")
    return fig


#: A run with more checkpoints than this opens its timeline on a window (the whole run is a solid band).
_WINDOW_CHECKPOINTS = 60
#: Checkpoint intervals the window spans (the first interruption in its first third).
_WINDOW_INTERVALS = 30


def timeline_window(clean: Sequence[tuple[float, float, str]]) -> tuple[float, float] | None:
    """The span, in seconds, a long run's timeline opens on; None for a run short enough to show whole.

    On a run of many checkpoints the bars and ticks merge into solid bands. The window spans
    ``_WINDOW_INTERVALS`` checkpoint intervals (mean spacing of the checkpoint starts), starting a third
    of it before the first interruption (a segment that is neither up nor a checkpoint), so one
    failure, its detection, restart and checkpoint load show next to single checkpoints.
    """
    starts = sorted(a for a, _, st in clean if st == "checkpointing")
    span = max((b for _, b, _ in clean), default=0.0)
    if len(starts) <= _WINDOW_CHECKPOINTS or span <= 0:
        return None
    interval = (starts[-1] - starts[0]) / (len(starts) - 1)
    width = _WINDOW_INTERVALS * interval
    if width >= span:
        return None
    first = min((a for a, _, st in clean if st not in _UP_STATES), default=0.0)
    lo = min(max(0.0, first - width / 3.0), span - width)
    return (lo, lo + width)


def _duration(seconds: float) -> str:
    """``6.2 h``, ``42 min``, ``3.1 days``: the unit that reads best."""
    if seconds >= 3 * units.DAY_S:
        return f"{seconds / units.DAY_S:.3g} days"
    if seconds >= 2 * units.HOUR_S:
        return f"{seconds / units.HOUR_S:.3g} h"
    return f"{seconds / units.MINUTE_S:.3g} min"


#: Above this many interruptions, the progress chart marks each one once (its failure or wait), small.
_FEW_EVENTS = 50


def progress_figure(segments: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Work done against wall time for one replica: the fraction of the run's compute done so far, with
    every interruption marked (failure, restart, wait, preemption) where it happened.

    Readable at any length: a flat stretch is time lost, a drop is work lost (progress returns to the
    last checkpoint); the slope is the rate of progress. Progress is the running time since the last
    checkpoint-consistent point: running segments add, and an interruption rolls the work since the
    last completed checkpoint back.
    """
    clean = _segments(segments)
    span = max((b for _, b, _ in clean), default=0.0)
    scale, unit = _time_unit(span)
    t, done = [0.0], [0.0]
    work = saved = 0.0
    events: dict[str, list[tuple[float, float]]] = {}
    for a, b, st in clean:
        if st == "running":
            work += b - a
        elif st == "checkpointing":
            saved = work
        elif st in STATES or st:
            if st in ("detecting", "preempted") and work > saved:
                work = saved
            events.setdefault(st, []).append((a, work))
        t.append(b)
        done.append(work)
    total = max(done) or 1.0
    x = np.asarray(t) / scale
    y = np.asarray(done) / total
    if len(x) > _MAX_LINE_POINTS:  # thin the line, keep its shape (every k-th point and the last)
        keep = np.unique(np.r_[np.arange(0, len(x), len(x) // _MAX_LINE_POINTS + 1), len(x) - 1])
        x, y = x[keep], y[keep]
    fig = go.Figure()
    many = sum(len(pts) for pts in events.values()) > _FEW_EVENTS
    if many:  # restarts and checkpoint loads follow each failure at the same work: marked once, by the failure
        events = {st: pts for st, pts in events.items() if st not in ("restarting", "loading")}
    for st, pts in events.items():
        label, color = STATES.get(st, (esc(st), _OTHER_COLOR))
        fig.add_trace(go.Scatter(x=[p[0] / scale for p in pts], y=[p[1] / total for p in pts], mode="markers",
                                 name=label + (f" ({len(pts):,})" if many else ""),
                                 marker={"color": color, "size": 4 if many else 6, "symbol": "x",
                                         "opacity": 0.6 if many else 1.0},
                                 hovertemplate=f"{label} at %{{x:.3f}} {unit}<extra></extra>"))
    # the line last, over the marks: on a long run hundreds of them would hide it
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="work done", line={"color": "#2ca02c", "width": 2},
                             hovertemplate=f"%{{x:.3f}} {unit}: %{{y:.1%}} of the work done<extra></extra>"))
    title = "Progress against wall time (replica 0)"
    if many:
        title += f"<br><sub>{sum(len(p) for p in events.values()):,} interruptions marked; drag to zoom</sub>"
    base_layout(fig, title, height=_HEIGHT + (20 if many else 0))
    if many:
        fig.update_layout(margin={"t": 80})
    fig.update_xaxes(title_text=f"wall time since the start ({unit})", rangemode="tozero")
    fig.update_yaxes(title_text="fraction of the work done", tickformat=".0%", range=[0, 1.02])
    return fig


def time_breakdown_figure(parts: Mapping[str, Any]) -> tuple[go.Figure, list[str]]:
    """Where the wall time goes: mean days per part (hover: p50, p90, p99). Returns the figure and the
    labels of the parts that were zero (left out of the chart, listed in the text instead)."""
    keys = [k for k in TIME_PARTS if k in parts] + sorted(set(parts) - set(TIME_PARTS))
    total = sum(stat(parts[k]) or 0.0 for k in keys)
    shown, zero = [], []
    for k in keys:
        mean = stat(parts[k])
        label = TIME_PARTS.get(k, esc(k))
        if mean is None or mean <= 0:
            zero.append(label)
        else:
            shown.append((label, mean, [stat(parts[k], q) for q in ("p50", "p90", "p99")]))
    fig = go.Figure(go.Bar(
        y=[s[0] for s in shown], x=[s[1] for s in shown], orientation="h", marker_color="#4c78a8",
        text=[f"{m:.3g} d ({100 * m / total:.1f}%)" if total else f"{m:.3g} d" for _, m, _ in shown],
        textposition="auto",
        customdata=[[q if q is not None else float("nan") for q in qs] for _, _, qs in shown],
        hovertemplate="%{y}: mean %{x:.4g} days<br>p50 %{customdata[0]:.4g}, p90 %{customdata[1]:.4g}, "
                      "p99 %{customdata[2]:.4g}<extra></extra>"))
    base_layout(fig, "Where the wall time goes (mean days per replica)", height=max(260, 90 + 34 * len(shown)))
    fig.update_xaxes(title_text="days", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    return fig, zero


def cdf_figure(samples: Sequence[Any], summary: Any, *, title: str, axis: str, usd: bool = False,
               failure_only: Sequence[float] | None = None) -> go.Figure:
    """Empirical CDF across replicas, with the p50 and p90 marked (from ``summary`` when it has them);
    ``failure_only``: the same replicas without parameter uncertainty, drawn in grey beneath."""
    x = np.sort(np.array([v for v in (number(s) for s in samples) if v is not None], dtype=float))
    n = len(x)
    y = np.arange(1, n + 1) / n if n else np.array([])
    hover = ("%{x:$,.0f}" if usd else "%{x:.4g}") + ": %{y:.0%} of replicas"
    fig = go.Figure()
    if failure_only:
        fx = np.sort(np.asarray(failure_only, dtype=float))
        fig.add_trace(go.Scatter(x=fx, y=np.arange(1, fx.size + 1) / fx.size, mode="lines", name="failures only",
                                 line={"shape": "hv", "width": 2, "color": "#9e9e9e"},
                                 hovertemplate=hover + " (failures only)<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line={"shape": "hv", "width": 2, "color": "#4c78a8"},
                             name="replicas" if not failure_only else "with parameter uncertainty",
                             hovertemplate=hover + "<extra></extra>"))
    marks = []
    for q, dash, where in (("p50", "dash", "top right"), ("p90", "dot", "bottom right")):
        value = stat(summary, q) if isinstance(summary, Mapping) else None
        if value is None and n:
            value = float(np.percentile(x, int(q[1:])))
        if value is not None:
            marks.append(f"{q} {fmt_usd(value) if usd else f'{value:.3g}'}")
            fig.add_vline(x=value, line_dash=dash, line_color="#d62728", annotation_text=q,
                          annotation_position=where)
    base_layout(fig, f"{title}<br><sub>{', '.join(marks + [f'{n} replicas'])}</sub>", height=360)
    fig.update_layout(margin={"t": 80})
    if usd and n:
        usd_axis(fig, float(np.abs(x).max()))
    fig.update_xaxes(title_text=axis)
    fig.update_yaxes(title_text="fraction of replicas", range=[0, 1.05], tickformat=".0%")
    fig.update_layout(showlegend=bool(failure_only), legend={"x": 0.02, "y": 0.98})
    return fig


def step_time_figure(breakdown_s: Mapping[str, Any], step_time_s: Any) -> tuple[go.Figure, list[str]]:
    """The step time's parts (compute, exposed communication per kind, bubble, optimizer), in ms or s."""
    items = [(esc(k).replace("_", " "), number(v)) for k, v in breakdown_s.items()]
    total = number(step_time_s) or sum(v for _, v in items if v)
    scale, unit = (1e-3, "ms") if total < 1 else (1.0, "s")
    shown = [(k, v) for k, v in items if v]
    zero = [k for k, v in items if not v]
    fig = go.Figure(go.Bar(
        y=[k for k, _ in shown], x=[v / scale for _, v in shown], orientation="h", marker_color="#72b7b2",
        text=[f"{v / scale:.3g} {unit} ({100 * v / total:.1f}%)" if total else "" for _, v in shown],
        textposition="auto", hovertemplate=f"%{{y}}: %{{x:.4g}} {unit}<extra></extra>"))
    base_layout(fig, f"Step time: {total / scale:.4g} {unit} per step (exposed parts)",
                height=max(260, 90 + 34 * len(shown)))
    fig.update_xaxes(title_text=unit, rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    return fig, zero


def memory_figure(breakdown_gib: Mapping[str, Any], capacity_gib: Any) -> go.Figure:
    """Memory per GPU as one stacked bar of its parts, against the GPU's capacity."""
    palette = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#b279a2", "#9d755d")
    fig = go.Figure()
    total = 0.0
    for i, (k, v) in enumerate(breakdown_gib.items()):
        value = number(v) or 0.0
        total += value
        label = esc(k).replace("_", " ")
        fig.add_trace(go.Bar(y=["per GPU"], x=[value], orientation="h", name=f"{label} {value:.1f} GiB",
                             marker_color=palette[i % len(palette)],
                             hovertemplate=f"{label}: %{{x:.2f}} GiB<extra></extra>"))
    cap = number(capacity_gib)
    title = f"Memory per GPU: {total:.1f} GiB"
    if cap:
        fig.add_vline(x=cap, line_color="#d62728", line_dash="dash", annotation_text=f"capacity {cap:g} GiB",
                      annotation_position="top left")
        title += f" of {cap:g} GiB ({100 * total / cap:.0f}%)"
    base_layout(fig, title, height=300)
    fig.update_layout(barmode="stack", legend={"y": -0.45, "traceorder": "normal"}, margin={"b": 110})
    fig.update_xaxes(title_text="GiB", range=[0, 1.08 * max(total, cap or 0.0, 1e-9)])
    return fig


def tornado_figure(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Dollars when one input moves and the others stay: a bar from the base to each move's dollars.

    ``rows``: ``{parameter, low_label, high_label, low_value_usd, high_value_usd, base_usd}``. The widest
    swing is drawn on top. The move each bar stands for is written on it (e.g. ``MTBF x0.5``).
    """
    good = [r for r in rows if number(r.get("base_usd")) is not None]
    good.sort(key=lambda r: abs((number(r.get("high_value_usd")) or 0) - (number(r.get("low_value_usd")) or 0)))
    bases = [number(r["base_usd"]) or 0.0 for r in good]
    fig = go.Figure()
    for side, color in (("low", "#4c78a8"), ("high", "#f58518")):
        ys, xs, texts = [], [], []
        for r, b in zip(good, bases, strict=True):
            value = number(r.get(f"{side}_value_usd"))
            ys.append(esc(r.get("parameter", "?")))
            xs.append((value - b) if value is not None else 0.0)
            texts.append(f"{esc(r.get(f'{side}_label', side))}: {fmt_usd(value)}")
        fig.add_trace(go.Bar(y=ys, x=xs, base=bases, orientation="h", name=f"{side} setting", marker_color=color,
                             text=texts, textposition="auto", insidetextanchor="middle",
                             hovertemplate="%{y}<br>%{text}<extra></extra>"))
    if bases:
        fig.add_vline(x=bases[-1], line_color="#333", annotation_text=f"base {fmt_usd(bases[-1])}",
                      annotation_position="top")
    base_layout(fig, "Sensitivity of the dollars: each input moved alone", height=max(280, 110 + 60 * len(good)))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title_text="total cost (USD)")
    usd_axis(fig, max((number(r.get(k)) or 0.0 for r in good for k in ("low_value_usd", "high_value_usd")),
                      default=0.0))
    return fig
