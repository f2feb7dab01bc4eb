"""Answers from a sweep's rows: the best points by an objective, and the Pareto front of days vs dollars.

A point is on the Pareto front when no other point is at least as good on both axes and better on
one (minimising both; Deb 2001, "Multi-Objective Optimization using Evolutionary Algorithms", Def. 2.4
of dominance). Computed by one sort and one pass (Kung, Luccio & Preparata 1975, the two-dimensional
maxima algorithm), O(n log n).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from clustersim.errors import ClustersimError

__all__ = ["SweepSummary", "Objective", "parse_objective", "best_rows", "pareto_front", "default_axes",
           "default_objective", "known_outputs", "render_summary"]

_ESTIMATE_OUTPUTS = (
    "train_days", "cost_usd", "gpu_hours", "step_time_s", "tokens_per_s", "mfu", "hfu", "model_tflops_per_gpu",
    "hardware_tflops_per_gpu", "memory_per_gpu_gib", "memory_excess_gib", "checkpoint_size_gb", "params_b",
    "expected_goodput", "expected_wall_days", "expected_wall_cost_usd", "expected_interruptions", "job_mtbf_hours",
    "checkpoint_interval_minutes", "checkpoint_write_s", "checkpoint_load_s", "gpus", "usd_per_gpu_hour",
)
_STATS = ("mean", "p50", "p90", "p99")
_SIMULATE_OUTPUTS = _ESTIMATE_OUTPUTS + tuple(
    f"{k}_{s}" for k in ("wall_days", "wall_cost_usd", "goodput", "interruptions") for s in _STATS)
#: Outputs where more is better; every other objective is minimised.
_MAXIMISED = ("goodput", "mfu", "hfu", "tokens_per_s", "tflops_per_gpu")


def known_outputs(mode: str) -> tuple[str, ...]:
    return _SIMULATE_OUTPUTS if mode == "simulate" else _ESTIMATE_OUTPUTS


def default_objective(mode: str) -> str:
    return "wall_days_mean" if mode == "simulate" else "train_days"


def default_axes(mode: str, rows: Iterable[Mapping[str, Any]] = ()) -> tuple[str, str]:
    """(days, dollars) columns of the Pareto front: the simulation's means for simulate; for estimate,
    theory's expected wall time and cost when the rows have failures, else the failure-free ones."""
    if mode == "simulate":
        return "wall_days_mean", "wall_cost_usd_mean"
    if any(r.get("expected_wall_cost_usd") is not None for r in rows):
        return "expected_wall_days", "expected_wall_cost_usd"
    return "train_days", "cost_usd"


@dataclass(frozen=True)
class Objective:
    column: str
    maximise: bool

    def __str__(self) -> str:
        return f"{'max' if self.maximise else 'min'} {self.column}"


def parse_objective(text: str | None, mode: str) -> Objective:
    """``cost_usd``, ``min:cost_usd`` or ``max:goodput_mean``; the column must be one the mode produces."""
    text = (text or default_objective(mode)).strip()
    direction, _, column = text.rpartition(":")
    known = known_outputs(mode)
    if column not in known:
        close = difflib.get_close_matches(column, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ClustersimError(f"unknown objective {column!r} for a {mode} sweep{hint}; one of: {', '.join(known)}")
    if direction not in ("", "min", "max"):
        raise ClustersimError(f"objective direction must be min: or max: (got {direction!r})")
    maximise = direction == "max" or (direction == "" and any(m in column for m in _MAXIMISED))
    return Objective(column, maximise)


def _number(row: Mapping[str, Any], col: str) -> float | None:
    value = row.get(col)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def best_rows(rows: Iterable[Mapping[str, Any]], objective: Objective, top: int = 5) -> list[dict[str, Any]]:
    """The ``top`` ok rows by the objective (ties broken by point index, so the answer is stable)."""
    scored = [(v, int(r.get("point_index") or 0), r) for r in rows
              if r.get("status") == "ok" and (v := _number(r, objective.column)) is not None]
    scored.sort(key=lambda t: ((-t[0] if objective.maximise else t[0]), t[1]))
    return [dict(r) for _, _, r in scored[:top]]


def pareto_front(rows: Iterable[Mapping[str, Any]], x: str, y: str) -> list[dict[str, Any]]:
    """The ok rows not dominated in (x, y), both minimised, sorted by x (duplicates of a front point kept once)."""
    pts = [(vx, vy, int(r.get("point_index") or 0), r) for r in rows
           if r.get("status") == "ok" and (vx := _number(r, x)) is not None and (vy := _number(r, y)) is not None]
    pts.sort(key=lambda t: (t[0], t[1], t[2]))
    front: list[dict[str, Any]] = []
    best_y = float("inf")
    for _vx, vy, _, r in pts:
        if vy < best_y:
            front.append(dict(r))
            best_y = vy
    return front


@dataclass
class SweepSummary:
    """What one ``run_sweep`` call did, and the answers (``to_dict`` is JSON-ready)."""

    name: str
    sweep_path: str
    db_path: str
    mode: str
    executor: str
    workers: int
    input_keys: list[str]
    total_points: int
    valid_points: int
    invalid: list[dict[str, Any]] = field(default_factory=list)  # {point_index, inputs, reason}
    duplicates: int = 0
    skipped: int = 0  # already in the database (resume)
    ran: int = 0
    ok: int = 0
    infeasible: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # {point_index, inputs, error}
    elapsed_s: float = 0.0
    objective: str = ""
    best: list[dict[str, Any]] = field(default_factory=list)
    pareto_axes: tuple[str, str] = ("train_days", "cost_usd")
    pareto: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def points_per_s(self) -> float:
        return self.ran / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        from clustersim.results import jsonable

        out = asdict(self)
        out["points_per_s"] = self.points_per_s
        return dict(jsonable(out))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e3 else f"{value:,.0f}"
    return "" if value is None else str(value)


def _headers(cols: Sequence[str]) -> list[str]:
    """Short column titles: the last part of a dotted input (``cluster.nodes`` -> ``nodes``) unless ambiguous."""
    last = [c.rsplit(".", 1)[-1] for c in cols]
    return [short if last.count(short) == 1 else c for c, short in zip(cols, last, strict=True)]


def _table(title: str, rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for c, head in zip(cols, _headers(cols), strict=True):
        table.add_column("#" if c == "point_index" else head, justify="right", overflow="fold")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in cols))
    return table


def render_summary(summary: SweepSummary, *, top: int = 5, max_listed: int = 10) -> list[Any]:
    """Rich renderables for the end of ``clustersim sweep``: counts, invalid points, best, Pareto front."""
    from rich.text import Text

    out: list[Any] = []
    head = (f"{summary.name}: {summary.total_points:,} points ({summary.valid_points:,} valid, "
            f"{len(summary.invalid):,} invalid"
            + (f", {summary.duplicates:,} duplicates" if summary.duplicates else "")
            + (f"); ran {summary.ran:,} on {summary.executor} ({summary.workers} worker"
               + ("s" if summary.workers != 1 else "") + ")" if summary.ran else "); nothing to run")
            + f" in {summary.elapsed_s:.1f} s"
            + (f", {summary.skipped:,} already done" if summary.skipped else "")
            + f"; {summary.ok:,} ok, {summary.infeasible:,} infeasible, {len(summary.failed):,} failed")
    out.append(Text(head))
    for note in summary.notes:
        out.append(Text(f"note: {note}", style="yellow"))
    for label, items, key in (("invalid", summary.invalid, "reason"), ("failed", summary.failed, "error")):
        for item in items[:max_listed]:
            inputs = ", ".join(f"{k}={v}" for k, v in item["inputs"].items())
            reason = str(item[key]).splitlines()[0] if item[key] else ""
            out.append(Text(f"{label} point {item['point_index']} ({inputs}): {reason}", style="red"))
        if len(items) > max_listed:
            out.append(Text(f"... and {len(items) - max_listed} more {label} points", style="red"))
    x, y = summary.pareto_axes
    cols = ["point_index", *summary.input_keys]
    obj_col = summary.objective.split(" ")[-1]
    extra = [c for c in dict.fromkeys((obj_col, x, y)) if c not in cols]
    if summary.best:
        out.append(_table(f"best {min(top, len(summary.best))} by {summary.objective}", summary.best[:top],
                          cols + extra))
    if summary.pareto:
        out.append(_table(f"Pareto front: {x} vs {y} ({len(summary.pareto)} points)", summary.pareto[:max_listed],
                          cols + [c for c in (x, y) if c not in cols]))
    elif summary.best:
        out.append(Text(f"no Pareto front: {x} or {y} is missing (a scenario without a price has no dollars)"))
    return out
