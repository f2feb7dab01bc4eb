"""The fleet report: utilization over time, the queue-wait CDF and GPU-hours by state, from ``fleet --json``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from clustersim.errors import ClustersimError
from clustersim.io import atomic_write_text
from clustersim.report.data import esc, fmt_num, fmt_usd
from clustersim.report.figures import base_layout
from clustersim.report.html import Card, Page, Section, render_page, table_html

__all__ = ["fleet_page", "render_fleet_report"]


def _mean(summary: Mapping[str, Any], key: str) -> Any:
    value = summary.get(key)
    return value.get("mean") if isinstance(value, Mapping) else None


def _utilization_figure(timeline: Mapping[str, Any]) -> go.Figure:
    fig = go.Figure()
    for name, values in timeline.get("utilization", {}).items():
        fig.add_trace(go.Scatter(x=timeline.get("days", []), y=values, mode="lines", name=esc(name)))
    base_layout(fig, "Nodes allocated to jobs / all nodes (replica 0)")
    fig.update_xaxes(title="day")
    fig.update_yaxes(title="utilization", range=[0, 1.02])
    return fig


def _wait_cdf_figure(cdf: Mapping[str, Any]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=cdf.get("hours", []), y=[p / 100 for p in cdf.get("percent", [])], mode="lines",
                               name="all jobs, all replicas"))
    base_layout(fig, "Queue wait: cumulative distribution")
    fig.update_xaxes(title="hours from submission to first start")
    fig.update_yaxes(title="fraction of jobs", range=[0, 1.02])
    return fig


def _states_figure(states: Mapping[str, Any]) -> go.Figure:
    labels = [esc(k.replace("_", " ")) for k in states]
    fig = go.Figure(go.Bar(x=labels, y=[v or 0 for v in states.values()]))
    base_layout(fig, "GPU-hours by state (mean over replicas)")
    fig.update_yaxes(title="GPU-hours")
    return fig


def fleet_page(r: Mapping[str, Any]) -> Page:
    """The page of one ``clustersim fleet --json`` result."""
    missing = [k for k in ("summary", "gpu_hours_by_state", "wait_cdf", "timeline", "jobs") if k not in r]
    if missing:
        raise ClustersimError(f"a fleet report needs {', '.join(missing)} in the result")
    s = r["summary"]
    cards = [
        Card("queue wait, P90", f"{fmt_num(_mean(s, 'p90_wait_hours'))} h", f"mean {fmt_num(_mean(s, 'mean_wait_hours'))} h"),
        Card("utilization", fmt_num(_mean(s, "utilization")), f"kept work {fmt_num(_mean(s, 'goodput_fraction'))}"),
        Card("jobs finished", fmt_num(_mean(s, "finished_fraction")), f"{fmt_num(_mean(s, 'jobs'))} jobs per replica"),
        Card("cost", fmt_usd(r.get("cost_usd")), "all GPU-hours of the horizon"),
    ]
    pools = table_html([(p["name"], p["gpu"], p["nodes"], p["gpus"], p["spare_nodes"]) for p in r.get("pools", [])],
                       ["pool", "GPU", "nodes", "GPUs", "spares"], caption="pools")
    jobs = table_html([(j["name"], j.get("gpus") or "-", j["pool"], fmt_num(j["wait_hours"]["mean"]),
                        fmt_num(j["completion_hours"]["mean"]), fmt_num(j["ettr"]["mean"]),
                        fmt_num(j["interruptions"]["mean"]), fmt_num(j["effective_training_hours"]["mean"]))
                       for j in r["jobs"]],
                      ["job", "GPUs", "pool", "wait (h)", "completion (h)", "ETTR", "interruptions",
                       "effective training (h)"],
                      caption="jobs (mean over replicas)")
    page = Page(title=f"Fleet: {r.get('name', '')}",
                subtitle=[f"{r.get('replicas')} replicas, {fmt_num(r.get('horizon_days'))} days, policy "
                          f"{r.get('policy')}, seed {r.get('seed')}"],
                cards=cards, details_html=pools + jobs)
    page.sections = [
        Section("Utilization over time", "Replica 0, sampled at regular times.", _utilization_figure(r["timeline"])),
        Section("Queue-wait CDF", "Jobs submitted after the warm-up; a job never started counts its wait up "
                "to the horizon.", _wait_cdf_figure(r["wait_cdf"]), half=True),
        Section("GPU-hours by state", "They add up to GPUs x horizon.", _states_figure(r["gpu_hours_by_state"]),
                half=True),
    ]
    version = r.get("clustersim_version")
    page.footer = ("Drawn by clustersim" + (f" {version}" if version else "") +
                   " from the fleet result's JSON only; works offline (plotly.js embedded).")
    return page


def render_fleet_report(result: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the fleet report (atomically)."""
    atomic_write_text(path, render_page(fleet_page(result)))
