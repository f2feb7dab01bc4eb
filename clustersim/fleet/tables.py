"""Terminal tables (rich) for ``clustersim fleet``: rendering of result dicts only, no modelling."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["fleet_tables", "capacity_table", "what_if_table"]

_HEADLINE = (("mean_wait_hours", "queue wait, mean (h)"), ("p90_wait_hours", "queue wait, P90 (h)"),
             ("p90_completion_hours", "completion, P90 (h)"), ("finished_fraction", "jobs finished"),
             ("mean_ettr", "ETTR of finished jobs"), ("utilization", "utilization"),
             ("goodput_fraction", "GPU-hours kept / all"), ("interruptions", "interruptions"),
             ("requeues", "requeues"), ("preemptions", "preemptions"),
             ("secondary_loss_share", "loss from secondary preemptions"))


def _f(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.4g}" if abs(x) < 1e6 else f"{x:.3g}"
    return str(x)


def fleet_tables(d: dict[str, Any]) -> list[Table]:
    t = Table(title=f"{d['name']}: {d['replicas']} replicas, {d['horizon_days']:g} days, policy {d['policy']}")
    for col in ("figure", "mean", "± se", "P10", "P50", "P90"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    for key, label in _HEADLINE:
        s = d["summary"][key]
        t.add_row(label, _f(s["mean"]), _f(s["se"]), _f(s["p10"]), _f(s["p50"]), _f(s["p90"]))
    g = Table(title="GPU-hours by state (mean over replicas)")
    g.add_column("state")
    g.add_column("GPU-hours", justify="right")
    g.add_column("share", justify="right")
    total = sum(v for v in d["gpu_hours_by_state"].values() if v) or 1.0
    for state, v in d["gpu_hours_by_state"].items():
        g.add_row(state.replace("_", " "), _f(v), f"{100 * (v or 0) / total:.1f}%")
    for pool in d.get("per_pool", []) if len(d.get("per_pool", [])) > 1 else []:
        g.add_row(f"utilization of pool {pool['name']}", _f(pool["utilization"]["mean"]), "")
    if d.get("cost_usd") is not None:
        g.add_row("cost (all GPU-hours)", f"${d['cost_usd']:,.0f}", "")
    j = Table(title="jobs (explicit ones, and the generated stream as one row)")
    for col in ("job", "GPUs", "pool", "wait (h)", "completion (h)", "ETTR", "interruptions", "finished"):
        j.add_column(col, justify="left" if col in ("job", "pool") else "right")
    for row in d["jobs"]:
        j.add_row(row["name"], _f(row["gpus"]), row["pool"], _f(row["wait_hours"]["mean"]),
                  _f(row["completion_hours"]["mean"]), _f(row["ettr"]["mean"]), _f(row["interruptions"]["mean"]),
                  _f(row["finished_fraction"]["mean"]))
    return [t, g, j]


def capacity_table(d: dict[str, Any]) -> Table:
    verdict = (f"smallest pool: {d['nodes']} nodes ({d['gpus']:,} GPUs)" if d["met"]
               else "no size tried meets the target")
    t = Table(title=f"capacity of pool {d['pool']}: {d['metric']} <= {d['target']:g} h; {verdict}")
    for col in ("nodes", d["metric"], "± se", "utilization", "meets"):
        t.add_column(col, justify="right")
    for p in d["points"]:
        value = p[d["metric"]]
        t.add_row(str(p["nodes"]), _f(value), _f(p["se"]), _f(p["utilization"]),
                  "yes" if value is not None and value <= d["target"] else "no")
    return t


def what_if_table(rows: list[dict[str, Any]]) -> Table:
    t = Table(title="what-if: pool sizes x policies (same seed: common random numbers)")
    cols = ("nodes", "policy", "mean_wait_hours", "p90_wait_hours", "p90_completion_hours", "utilization",
            "finished_fraction", "cost_usd")
    for col in cols:
        t.add_column(col.replace("_", " "), justify="left" if col in ("nodes", "policy") else "right")
    for r in rows:
        t.add_row(", ".join(f"{k} {v}" for k, v in r["nodes"].items()), r["policy"],
                  *(_f(r[c]) for c in cols[2:]))
    return t
