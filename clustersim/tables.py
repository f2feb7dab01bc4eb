"""Readable terminal tables (rich) for the CLI. Pure rendering: no modelling here.

Text that comes from the user (a scenario's name, a failure source's component, a GPU or model name)
goes through :func:`user_text` before it reaches a table: rich reads ``[...]`` as markup (``"run [v2]"``
would print as ``run `` and ``"oops [/] x"`` would raise), and a terminal obeys escape sequences.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from clustersim.cli_text import estimate_layout
from clustersim.cli_text import fmt_num as _num
from clustersim.cli_text import fmt_pct as _pct
from clustersim.errors import visible

__all__ = ["user_text", "catalog_table", "estimate_tables", "search_table", "simulate_tables"]


def user_text(value: Any) -> str:
    """Any value as table text that prints as itself: control characters shown, rich markup escaped."""
    return escape(visible(str(value)))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:,.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_CATALOG_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "gpus": [("peak_tflops", "dense TFLOP/s"), ("memory_gib", "HBM GiB"), ("hbm_gbyte_per_s", "HBM GB/s"),
             ("scaleup_gbyte_per_s", "scale-up GB/s/dir"), ("scaleup_domain_gpus", "domain"),
             ("nic_gbit_per_s", "NIC Gb/s"), ("tdp_w", "W")],
    "models": [("params_b", "params B"), ("layers", "layers"), ("hidden_size", "hidden"),
               ("ffn_hidden_size", "FFN"), ("attention_heads", "heads"), ("kv_heads", "kv"),
               ("vocab_size", "vocab"), ("gated_mlp", "gated"), ("experts", "experts"),
               ("experts_per_token", "top-k")],
    "prices": [("gpu", "GPU"), ("usd_per_gpu_hour", "$/GPU-h"), ("kind", "kind"), ("date", "date"),
               ("source", "source")],
    "reliability": [("derivation", "derivation"), ("source", "source")],
}


def catalog_table(kind: str, data: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=f"clustersim catalog: {kind}", show_lines=kind in ("prices", "reliability"))
    table.add_column("name", style="bold")
    columns = _CATALOG_COLUMNS[kind]
    for _, header in columns:
        table.add_column(header, overflow="fold")
    for name, entry in data.items():
        table.add_row(user_text(name), *(user_text(_fmt(entry.get(key, ""))) for key, _ in columns))
    return table


def estimate_tables(d: dict[str, Any]) -> list[Table]:
    """The estimate as three small tables: headline, step-time breakdown, memory per GPU (their rows:
    :func:`clustersim.cli_text.estimate_layout`, shared with the plain-text output)."""
    out = []
    for layout in estimate_layout(d, user_text):
        table = Table(title=layout.title, show_header=layout.show_header)
        for header, justify, style in layout.columns:
            if style is None:
                table.add_column(header, justify=justify)  # type: ignore[arg-type]
            else:
                table.add_column(header, justify=justify, style=style)  # type: ignore[arg-type]
        for row in layout.rows:
            table.add_row(*row)
        out.append(table)
    return out


def search_table(d: dict[str, Any]) -> Table:
    table = Table(title=f"{user_text(d['name'])}: best of {d['feasible']:,} feasible / {d['configs_evaluated']:,} configurations "
                        f"({d['elapsed_s']:.2f} s)")
    for col in ("#", "tp", "pp", "dp", "cp", "ep", "vpp", "mb", "ZeRO", "recompute", "SP", "step s", "MFU",
                "GiB/GPU", "days", "$"):
        table.add_column(col, justify="right")
    recompute = ("none", "selective", "full")
    for i, r in enumerate(d["top"], 1):
        table.add_row(str(i), *(str(int(r[k])) for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch_seqs", "zero")),
                      recompute[int(r["recompute"])], "yes" if r["sequence_parallel"] else "no",
                      f"{r['step_time_s']:.3f}", _pct(r["mfu"]), f"{r['memory_bytes'] / 2**30:.1f}",
                      f"{r['train_s'] / 86400:.2f}", f"{r['cost_usd']:,.0f}")
    return table


def uncertainty_text(pu: dict[str, Any]) -> str:
    """In words: what each replica drew (simulate's and dollars' parameter uncertainty)."""
    if not pu.get("enabled"):
        return "off (--failures-only): step time and failure rates fixed at their point values"
    step = pu.get("step_factor") or {}
    text = (f"step-time factor {step['lo_factor']:.2f}x-{step['hi_factor']:.2f}x (80%) from {step['source']}"
            if step.get("method") != "fixed" else "step-time factor fixed (no interval could be formed)")
    bases: dict[str, int] = {}
    for r in pu.get("failure_rates") or []:
        bases[r["basis"]] = bases.get(r["basis"], 0) + 1
    words = {"profile-posterior": "from the profile's failure log", "preset-count": "from the preset's study counts",
             "fixed": "fixed (no stated uncertainty)"}
    if bases:
        text += "; failure rates: " + ", ".join(f"{n} {words[b]}" for b, n in bases.items())
    return text


def simulate_tables(d: dict[str, Any]) -> list[Table]:
    """Distributions, the time breakdown and the interruptions by cause."""
    head = Table(title=f"{user_text(d['name'])}: {d['replicas']} replicas (seed {d['seed']}), {d['gpus']:,} x "
                       f"{user_text(d['gpu'])}")
    for col in ("", "mean", "95% CI of mean", "p50", "p90", "p99"):
        head.add_column(col, justify="right" if col else "left")

    def row(label: str, st: dict[str, Any] | None, fmt: str) -> None:
        if st is None:
            head.add_row(label, "no price given", "", "", "", "")
            return
        lo, hi = st.get("mean_ci95") or (None, None)
        head.add_row(label, _num(st.get("mean"), fmt), f"{_num(lo, fmt)} - {_num(hi, fmt)}",
                     *(_num(st.get(q), fmt) for q in ("p50", "p90", "p99")))

    pu = d.get("parameter_uncertainty") or {}
    fo: dict[str, Any] = d.get("failure_only") or {}
    both = bool(pu.get("enabled")) and bool(fo)
    row("wall days" + (" (with parameter uncertainty)" if both else ""), d["wall_days"], ",.2f")
    if both:
        row("wall days (failures only)", fo["wall_days"], ",.2f")
    row("cost $" + (" (with parameter uncertainty)" if both else ""), d["wall_cost_usd"], ",.0f")
    if both and d["wall_cost_usd"] is not None:
        row("cost $ (failures only)", fo["wall_cost_usd"], ",.0f")
    row("goodput", d["goodput"], ".3f")
    row("interruptions", d["interruptions"], ",.1f")
    info = Table(show_header=False, title="failure-free and checkpoint figures")
    info.add_column("what", style="bold")
    info.add_column("value")
    info.add_row("parameter uncertainty", uncertainty_text(pu))
    info.add_row("failure-free", f"{d['train_days']:.2f} days, step {d['step_time_s']:.3f} s, MFU {_pct(d['mfu'])}"
                 + (f", ${d['cost_usd']:,.0f}" if d.get("cost_usd") is not None else ""))
    info.add_row("job MTBF", f"{d['job_mtbf_hours']:.2f} h" if d.get("job_mtbf_hours") else "no failures")
    info.add_row("checkpoint", f"{d['checkpoint_size_gb']:,.0f} GB: write {d['checkpoint_write_s']:.1f} s, "
                 f"load {d['checkpoint_load_s']:.1f} s, every {d['checkpoint_interval_minutes']:.1f} min of compute")
    if d.get("expected_wall_days") is not None:
        info.add_row("theory (Daly)", f"{d['expected_wall_days']:.2f} days, goodput {_pct(d['expected_goodput'])}")
    info.add_row("finished", f"{_pct(d['finished_fraction'])} of replicas within the horizon")
    if d.get("engine") == "strategy":  # the whole-job engines' choice is in the JSON (engine, engine_note)
        info.add_row("engine", user_text(f"{d['engine']}: {d.get('engine_note') or ''}".rstrip(": ")))
    parts = Table(title="where the wall time goes (days)")
    for col in ("part", "mean", "p50", "p90", "share"):
        parts.add_column(col, justify="right" if col != "part" else "left")
    total = d["wall_days"]["mean"] or 1.0
    for part, st in d["time_breakdown_days"].items():
        parts.add_row(user_text(part.replace("_", " ")), f"{st['mean']:.3f}", f"{st['p50']:.3f}", f"{st['p90']:.3f}",
                      _pct(st["mean"] / total))
    causes = Table(title="interruptions by cause (mean per run)")
    causes.add_column("cause")
    causes.add_column("mean", justify="right")
    for cause, mean in sorted(d["interruptions_by_cause"].items(), key=lambda kv: -kv[1]):
        causes.add_row(user_text(cause), f"{mean:.2f}")
    return [head, info, parts, causes]
