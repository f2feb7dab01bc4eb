"""Terminal tables (rich) for ``clustersim calibrate``, drawn from :meth:`CalibrationResult.to_dict` only."""

from __future__ import annotations

import math
from typing import Any

from rich.table import Table

__all__ = ["calibration_tables"]


def _pct(x: float | None) -> str:
    return "\u2014" if x is None else f"{100 * x:+.1f}%"


def _s(x: float | None) -> str:
    return "\u2014" if x is None else f"{x:.4g} s"


def _h(x: float) -> str:
    return "\u221e" if not math.isfinite(x) or x >= 1e299 else f"{x:,.0f} h" if x >= 100 else f"{x:.3g} h"


def _rows_table(d: dict[str, Any]) -> Table:
    t = Table(title=f"{d['name']}: measured vs predicted step time")
    for col in ("measurement", "given", "measured", "before", "err", "after", "err", "left out", "err"):
        t.add_column(col, justify="left" if col == "measurement" else "right")
    for r in d["rows"]:
        t.add_row(r["name"], f"{r['metric']} {r['given']:.4g}", _s(r["measured_step_s"]), _s(r["before_s"]),
                  _pct(r["error_before"]), _s(r["after_s"]), _pct(r["error_after"]), _s(r["loo_s"]),
                  _pct(r["error_loo"]))
    rms = d["rms_log_error"]
    labels = {"before": "uncalibrated", "after": "calibrated", "loo": "left out"}
    t.caption = "rms log error: " + ", ".join(f"{labels[k]} {100 * v:.1f}%" for k, v in rms.items() if v is not None)
    return t


def _params_table(fit: dict[str, Any]) -> Table:
    t = Table(title="fitted efficiency parameters (prior: the public calibration)")
    for col in ("parameter", "default", "fitted", "posterior sd", "prior sd", "identified"):
        t.add_column(col, justify="left" if col == "parameter" else "right")
    for p in fit["parameters"]:
        unit = " (log)" if p["coordinate"] == "log" else ""
        t.add_row(p["name"], f"{p['default']:.4g}", f"{p['value']:.4g}" + (" (at bound)" if p["at_bound"] else ""),
                  f"{p['posterior_sd']:.3g}{unit}", f"{p['prior_sd']:.3g}{unit}", "yes" if p["identified"] else "no")
    strong = [x["text"] for x in fit["directions"] if x["singular_value"] > 1.0]
    t.caption = ("the measurements fix: " + "; ".join(strong)) if strong else "the measurements fix no direction"
    return t


def _failures_table(f: dict[str, Any]) -> Table:
    t = Table(title=f"failure rates from {f['source']} ({f['observed_hours']:,.0f} h, {f['nodes']} nodes)")
    for col in ("component", "per", "failures", "MTBF per unit", "interval", "note"):
        t.add_column(col, justify="left" if col in ("component", "note") else "right", overflow="fold")
    for r in f["rates"]:
        lo, hi = r["mtbf_interval_hours"]
        t.add_row(r["component"], r["per"], str(r["count"]), _h(r["mtbf_hours"]),
                  f"{r['level']:.0%}: {_h(lo)} - {_h(hi if hi is not None else math.inf)}", r["note"])
    rec = f.get("recovery")
    shapes = [f"{s['component']}: {s['note']}" for s in f["shapes"] if s["shape"] is not None]
    caption = []
    if rec:
        caption.append(f"recovery: median {rec['median_minutes']:.1f} min, mean {rec['mean_minutes']:.1f}, "
                       f"p90 {rec['p90_minutes']:.1f} ({rec['count']} logged)")
    caption.extend(f"Weibull {s}" for s in shapes)
    t.caption = "; ".join(caption) or None
    return t


def _storage_table(st: dict[str, Any]) -> Table:
    t = Table(title="checkpoint storage from the logged operations")
    for col in ("operation", "logged", "bandwidth", "slowest - fastest", "of nominal"):
        t.add_column(col, justify="left" if col == "operation" else "right")
    for op, e in st.items():
        frac = e["fraction_of_nominal"]
        t.add_row(op, str(e["count"]), f"{e['gbyte_per_s']:.3g} GB/s",
                  f"{e['slowest_bytes_per_s'] / 1e9:.3g} - {e['fastest_bytes_per_s'] / 1e9:.3g} GB/s",
                  "\u2014" if frac is None else f"{frac:.0%}")
    return t


def calibration_tables(d: dict[str, Any]) -> list[Any]:
    """The tables of a calibration result, then its notes as plain lines."""
    out: list[Any] = []
    if d["rows"]:
        out.append(_rows_table(d))
    if d["fit"]:
        out.append(_params_table(d["fit"]))
    if d["failures"]:
        out.append(_failures_table(d["failures"]))
    if d["storage"]:
        out.append(_storage_table(d["storage"]))
    out.extend(f"note: {n}" for n in d["notes"])
    return out
