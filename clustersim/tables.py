"""Readable terminal tables (rich) for the CLI. Pure rendering: no modelling here.

Text that comes from the user (a scenario's name, a failure source's component, a GPU or model name)
goes through :func:`user_text` before it reaches a table: rich reads ``[...]`` as markup (``"run [v2]"``
would print as ``run `` and ``"oops [/] x"`` would raise), and a terminal obeys escape sequences.
"""

from __future__ import annotations

import math
from typing import Any

from rich.markup import escape
from rich.table import Table

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


def _num(value: float | None, spec: str, missing: str = "n/a") -> str:
    """``value`` formatted, or ``missing`` where the result has none (None, or not finite)."""
    if value is None or not math.isfinite(value):
        return missing
    return format(value, spec)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def estimate_tables(d: dict[str, Any]) -> list[Table]:
    """The estimate as three small tables: headline, step-time breakdown, memory per GPU."""
    par = d["parallelism"]
    head = Table(title=f"{user_text(d['name'])}: {user_text(d['model'])} on {d['gpus']:,} x {user_text(d['gpu'])}",
                 show_header=False)
    head.add_column("what", style="bold")
    head.add_column("value")
    layout = (f"tp {par['tp']} x pp {par['pp']} x dp {par['dp']} x cp {par['cp']}, ep {par['ep']}, vpp {par['vpp']}, "
              f"ZeRO-{par['zero']}, SP {'on' if par['sequence_parallel'] else 'off'}, "
              f"micro-batch {par['micro_batch_seqs']}, recompute {par['recompute']}"
              + (" (searched)" if par.get("searched") else ""))
    rows = [
        ("parallelism", layout),
        ("parameters", f"{d['params_b']:.1f} B ({d['active_params_b']:.1f} B active)"),
        ("tokens", f"{d['tokens']:.3g}"),
        ("step time", f"{d['step_time_s']:.3f} s"),
        ("throughput", f"{d['tokens_per_s']:,.0f} tokens/s"),
        ("MFU / HFU", f"{_pct(d['mfu'])} / {_pct(d['hfu'])}"),
        ("TFLOP/s per GPU", f"{d['model_tflops_per_gpu']:.0f} model, {d['hardware_tflops_per_gpu']:.0f} hardware"),
        ("memory per GPU", f"{d['memory_per_gpu_gib']:.1f} GiB of {d['gpu_memory_gib']} GiB"
         + ("" if d["fits_in_memory"] else f"  [red]DOES NOT FIT: over by {d['memory_excess_gib']:.1f} GiB[/]")),
        ("train time (no failures)", f"{d['train_days']:.2f} days"),
        ("GPU-hours", f"{d['gpu_hours']:,.0f}"),
        ("cost (no failures)", f"${d['cost_usd']:,.0f} at ${d['usd_per_gpu_hour']:.2f}/GPU-h, {user_text(d['price_source'])}"
         if d.get("cost_usd") is not None else "no price given"),
    ]
    iv = d.get("prediction_interval")
    if iv:
        level = f"{100 * iv['level']:.0f}%"
        parts = [f"step {iv['step_time_s'][0]:.3g}-{iv['step_time_s'][1]:.3g} s",
                 f"{iv['train_days'][0]:.3g}-{iv['train_days'][1]:.3g} days",
                 f"{iv['gpu_hours'][0]:,.0f}-{iv['gpu_hours'][1]:,.0f} GPU-h"]
        if iv.get("cost_usd"):
            parts.append(f"${iv['cost_usd'][0]:,.0f}-${iv['cost_usd'][1]:,.0f}")
        rows.append((f"{level} interval", ", ".join(parts) + f" ({user_text(iv['method'])}: {user_text(iv['source'])})"))
    if d.get("cannot_finish"):
        rows.append(("[red]cannot finish[/]", user_text(d["cannot_finish"])))
    elif d.get("job_mtbf_hours") is not None:
        rows += [
            ("job MTBF (all sources)", f"{d['job_mtbf_hours']:.2f} h"),
            ("checkpoint", f"{d['checkpoint_size_gb']:,.0f} GB, write {d['checkpoint_write_s']:.0f} s, "
                           f"load {d['checkpoint_load_s']:.0f} s, every {d['checkpoint_interval_minutes']:.0f} min"),
            ("expected goodput (Daly)", _pct(d["expected_goodput"])),
            ("expected wall time (Daly)",
             f"{_num(d['expected_wall_days'], '.2f', 'no finite expectation')} days, "
             f"~{_num(d.get('expected_interruptions'), '.0f')} interruptions"
             if d.get("expected_wall_days") is not None else "no finite expectation"),
        ]
    for row in rows:
        head.add_row(*row)
    step = Table(title="step time breakdown (exposed)")
    step.add_column("part")
    step.add_column("seconds", justify="right")
    step.add_column("share", justify="right")
    total = d["step_time_s"] or 1.0
    for part, sec in d["breakdown_s"].items():
        step.add_row(user_text(part.replace("_", " ")), f"{sec:.4f}", _pct(sec / total))
    step.add_row("[bold]total[/]", f"[bold]{d['step_time_s']:.4f}[/]", "100%")
    mem = Table(title="memory per GPU (heaviest stage)")
    mem.add_column("part")
    mem.add_column("GiB", justify="right")
    for part, gib in d["memory_breakdown_gib"].items():
        mem.add_row(user_text(part), f"{gib:.2f}")
    mem.add_row("[bold]total[/]", f"[bold]{d['memory_per_gpu_gib']:.2f}[/]")
    return [head, step, mem]


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
