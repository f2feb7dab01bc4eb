"""The ``clustersim resilience`` table: strategies side by side, the pick marked."""

from __future__ import annotations

from typing import Any

__all__ = ["comparison_table"]


def _interval(value: float, lo: float | None, hi: float | None) -> str:
    """``value [lo, hi]``; too few replicas for the interval: the value alone."""
    return f"{value:.1f}" if lo is None or hi is None else f"{value:.1f} ({lo:.1f}-{hi:.1f})"


def comparison_table(data: dict[str, Any]) -> Any:
    """A rich Table of :meth:`~clustersim.resilience.compare.Comparison.to_dict`."""
    from rich.table import Table

    deadline = data.get("deadline_days")
    title = f"{data['name']}: {data['replicas']} replicas per strategy, seed {data['seed']}, same failures"
    if deadline is not None:
        title += f"\ndeadline {deadline:g} days at P90: pick {data['pick'] or '(none meets it)'} (*)"
    table = Table(title=title, caption="± : 95% interval of the mean; P90 with its 95% interval; "
                                       "restores: from the fast tier / from storage")
    for col in ("strategy", "days", "P90 days", "$M", "goodput", "failures", "restores", "retired"):
        table.add_column(col, justify="left" if col == "strategy" else "right", no_wrap=True)
    for s in data["strategies"]:
        d, c, g = s["wall_days"], s["cost_usd"], s["goodput"]
        mark = " *" if s["strategy"] == data.get("pick") else ""
        unfinished = "" if s["finished_fraction"] == 1 else f" ({1 - s['finished_fraction']:.0%} unfinished)"
        table.add_row(s["strategy"] + mark + unfinished, f"{d['mean']:.2f}±{(d['mean_hi'] - d['mean_lo']) / 2:.2f}",
                      _interval(d["p90"], d["p90_lo"], d["p90_hi"]),
                      f"{c['mean'] / 1e6:.2f}±{(c['mean_hi'] - c['mean_lo']) / 2e6:.2f}", f"{g['mean']:.3f}",
                      f"{s['failures']:.0f}", f"{s['fast_restores']:.0f}/{s['storage_restores']:.0f}",
                      f"{s['retired']:.1f}")
    return table
