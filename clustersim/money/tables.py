"""Readable terminal tables (rich) for the money results. Pure rendering: no modelling here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from clustersim.money.costs import CostsResult
from clustersim.money.dollars import COLUMNS as DOLLAR_COLUMNS
from clustersim.money.dollars import DollarsResult
from clustersim.money.finetune import FinetuneResult
from clustersim.money.plan import PlanResult
from clustersim.money.spot import SpotResult
from clustersim.results import format_usd
from clustersim.tables import user_text

__all__ = ["dollars_table", "costs_table", "plan_tables", "finetune_table", "spot_tables", "usd", "days"]

_DASH = "\u2014"


def usd(value: Any) -> str:
    """``$9,120``, ``$1.27M``, ``$7.42B``; a dash for None (:func:`clustersim.results.format_usd`)."""
    return format_usd(value)


def days(value: Any) -> str:
    """Days, always in days (a column never mixes hours and days): ``0.042``, ``5.16``, ``2,545``."""
    if value is None:
        return _DASH
    x = float(value)
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if x >= 0.01 else f"{x:.2g}"


def _num(value: Any, fmt: str = "{:,.3g}") -> str:
    return _DASH if value is None else fmt.format(value)


def _pct(value: Any) -> str:
    return _DASH if value is None else f"{100 * float(value):.1f}%"


def _layout(r: dict[str, Any]) -> str:
    if r.get("tp") is None:
        return _DASH
    text = f"{r['tp']}x{r['pp']}x{r['dp']}"  # tp x pp x dp
    if r.get("cp", 1) and r.get("cp", 1) > 1:
        text += f"x{r['cp']}cp"
    extra = [f"Z{r['zero']}"]
    if r.get("vpp", 1) and r.get("vpp", 1) > 1:
        extra.append(f"v{r['vpp']}")
    if r.get("micro_batch_seqs") not in (None, 1):
        extra.append(f"mb{r['micro_batch_seqs']}")
    if r.get("recompute"):
        extra.append({"none": "no-rc", "selective": "sel-rc", "full": "full-rc"}.get(r["recompute"], r["recompute"]))
    return text + " " + ",".join(extra)


def dollars_table(r: DollarsResult) -> Table:
    """Line items by column: failure-free, expected (theory), simulated mean / p50 / p90."""
    price = r.price.label() if r.price else "no price"
    t = Table(title=f"{user_text(r.name)}: {r.gpus:,} x {user_text(r.gpu)} ({r.paid_gpus:,} paid), {user_text(price)}")
    t.add_column("item", style="bold")
    shown = [c for c in DOLLAR_COLUMNS if r.wall_days.get(c) is not None]
    for c in shown:
        t.add_column(c.replace("_failures_only", " fixed").replace("_", "-"), justify="right")
    if any(c.endswith("_failures_only") for c in shown):
        t.caption = ("mean-p99: with parameter uncertainty (each replica draws its step-time factor and failure "
                     "rates); 'fixed': failures only, parameters at their point values")
    for row in r.rows:
        item = row["item"]
        cells = []
        for c in shown:
            v = row.get(c)
            if item.endswith("usd") or item == "usd_per_billion_tokens":
                cells.append(usd(v))
            elif item == "wall days":
                cells.append(days(v))
            else:
                cells.append(_num(v, "{:,.0f}"))
        label = item.replace("_", " ")
        if item in ("gpu_hours", "gpu_usd") and r.paid_gpus != r.gpus:
            label += f" ({r.paid_gpus:,} GPUs: spares included)"
        t.add_row(label, *cells)
    return t


def _tokens(value: Any) -> str:
    if value is None:
        return _DASH
    x = float(value)
    if x >= 1e12:
        return f"{x / 1e12:.3g}T"
    return f"{x / 1e9:.3g}B" if x >= 1e9 else f"{x / 1e6:.3g}M"


def costs_table(r: CostsResult) -> Table:
    """One row per point: its layout, MFU, goodput, expected days and dollars (failure-free in the CSV)."""
    t = Table(title=f"clustersim costs: tokens {r.tokens}, failures {r.reliability or 'none'} "
                    f"({r.configs_evaluated:,} configurations)")
    for name, just in (("model", "left"), ("params", "right"), ("tokens", "right"), ("GPU", "left"),
                       ("GPUs", "right"), ("tp x pp x dp", "left"), ("MFU", "right"), ("goodput", "right"),
                       ("days", "right"), ("cost", "right"), ("$/B tok", "right")):
        t.add_column(name, justify=just, no_wrap=name != "tp x pp x dp", overflow="fold")  # type: ignore[arg-type]
    for row in r.rows:
        head = (row["model"], _tokens(row["params_b"] * 1e9), _tokens(row["tokens"]), row["gpu"], f"{row['gpus']:,}")
        if not row.get("fits"):
            t.add_row(*head, "[red]does not fit[/red]", *([_DASH] * 5))
            continue
        wall = row.get("expected_wall_days") if row.get("expected_wall_days") is not None else row.get("train_days")
        cost = row.get("expected_cost_usd") if row.get("expected_cost_usd") is not None else row.get("cost_usd")
        t.add_row(*head, _layout(row), _pct(row.get("mfu")), _pct(row.get("expected_goodput")), days(wall),
                  usd(cost), usd(row.get("usd_per_billion_tokens")))
    return t


def plan_tables(r: PlanResult) -> list[Table]:
    """The optimum, the trade-off curve, and days/dollars per cluster size at the optimum."""
    o = r.optimum
    head = Table(title=f"clustersim plan: {usd(r.budget_usd)} on {r.gpu}"
                       + (f", deadline {r.deadline_days:g} days" if r.deadline_days else "")
                       + f", {r.tokens_per_param:g} tokens per parameter", show_header=False)
    head.add_column("what", style="bold")
    head.add_column("value")
    arch = o.get("arch", {})
    for what, value in (
        (f"largest model at {r.tokens_per_param:g} tokens/param", f"{o['params_b']:.4g}B parameters ({arch.get('layers')} layers x {arch.get('hidden_size')} hidden, "
                  f"FFN {arch.get('ffn_hidden_size')}, {arch.get('attention_heads')} heads / {arch.get('kv_heads')} KV)"),
        ("tokens", f"{_tokens(o['tokens'])} ({o['tokens_per_param']:.1f} per parameter)"),
        ("training compute", f"{o['flop']:.3g} FLOP"),
        ("cluster", f"{o['gpus']:,} x {r.gpu}, {_layout(o)}"),
        ("MFU / expected goodput", f"{_pct(o.get('mfu'))} / {_pct(o.get('expected_goodput'))}"),
        ("expected days", days(o.get("expected_wall_days"))),
        ("expected cost", f"{usd(o.get('expected_cost_usd'))} (left: {usd(o.get('budget_left_usd'))})"),
        ("fewest GPUs meeting the deadline", _num(o.get("min_gpus_meeting_deadline"), "{:,}")),
        ("predicted loss", f"{o['loss']:.4f} (Chinchilla fit)"),
        ("price", r.price.label()),
    ):
        head.add_row(what, value)
    if r.loss_optimal:
        lo = r.loss_optimal
        same = abs(lo["params_b"] - o["params_b"]) <= 0.05 * o["params_b"]
        head.add_row("lowest predicted loss on the trade-off", (
            "the same size" if same else
            f"{lo['params_b']:.4g}B on {_tokens(lo['tokens'])} tokens ({lo['tokens_per_param']:.0f} per parameter)")
            + f", loss {lo['loss']:.4f} (the Eq. 10 fit; the plan keeps your tokens-per-parameter rule)")
    curve = Table(title="Trade-off at this budget (tokens the budget buys at each size)")
    for name in ("params", "tokens", "tokens/param", "loss", "GPUs", "days"):
        curve.add_column(name, justify="right")
    for row in r.rows:
        curve.add_row(f"{row['params_b']:.4g}B", _tokens(row["tokens"]), f"{row['tokens_per_param']:.1f}",
                      f"{row['loss']:.4f}", f"{row['gpus']:,}", days(row["days"]))
    per = Table(title=f"Cluster sizes for the {o['params_b']:.4g}B model")
    for name in ("GPUs", "layout", "MFU", "goodput", "expected days", "expected cost"):
        per.add_column(name, justify="right")
    for row in r.by_gpus:
        if row.get("fits"):
            per.add_row(f"{row['gpus']:,}", _layout(row), _pct(row.get("mfu")), _pct(row.get("expected_goodput")),
                        days(row.get("expected_wall_days")), usd(row.get("expected_cost_usd")))
        else:
            per.add_row(f"{row['gpus']:,}", "[red]does not fit[/red]", _DASH, _DASH, _DASH, _DASH)
    return [head, curve, per]


def finetune_table(r: FinetuneResult, modes: Sequence[str] | None = None) -> Table:
    t = Table(title=f"Fine-tuning {user_text(r.model)} ({r.params_b:.4g}B) on {_tokens(r.tokens)} tokens: fewest GPUs"
                    + (f" ({r.recipe})" if getattr(r, "recipe", None) else ""))
    for name, just in (("GPU", "left"), ("mode", "left"), ("min GPUs", "right"), ("GiB/GPU", "right"),
                       ("layout", "left"), ("days", "right"), ("cost", "right"), ("price", "left")):
        t.add_column(name, justify=just)  # type: ignore[arg-type]
    for row in r.rows:
        if modes and row["mode"] not in modes:
            continue
        if row.get("min_gpus") is None:
            t.add_row(row["gpu"], row["mode"], _DASH, _DASH, f"[red]{row.get('note')}[/red]", _DASH, _DASH, _DASH)
            continue
        gib = f"{row['memory_per_gpu_gib']:.1f} / {row['gpu_memory_gib']:g}"
        price = f"{row['price']} ({row['price_date']})" if row.get("price") else "no catalog price"
        t.add_row(row["gpu"], row["mode"], f"{row['min_gpus']:,}", gib, _layout(row), days(row.get("days")),
                  usd(row.get("cost_usd")), price)
    return t


def spot_tables(r: SpotResult) -> list[Table]:
    head = Table(title=f"Spot vs on-demand: {user_text(r.name)}", show_header=False)
    head.add_column("what", style="bold")
    head.add_column("value")
    be = r.breakeven_preemptions_per_node_day
    head.add_row("discount", f"{100 * r.discount:.0f}% ({r.discount_source})")
    head.add_row("on-demand", f"{r.on_demand.label()}: {usd(r.on_demand_cost_usd['mean'])} mean, "
                              f"p90 {usd(r.on_demand_cost_usd['p90'])}, {days(r.on_demand_wall_days['mean'])} days")
    head.add_row("break-even", _DASH if be is None else
                 f"{be:.3g} preemptions per node-day (one every {r.breakeven_job_mtbf_hours or 0:.3g} h for the "
                 f"{r.nodes:,}-node job): spot is cheaper below it")
    if r.current:
        verdict = "cheaper" if r.current["spot_cheaper"] else "dearer"
        head.add_row("at your rate", f"{r.current['preemptions_per_node_day']:g} per node-day: spot is {verdict} "
                                     f"({usd(r.current['spot_cost_usd_mean'])} vs "
                                     f"{usd(r.current['on_demand_cost_usd_mean'])})")
    if r.breakeven_ci:
        head.add_row("95% interval", f"{r.breakeven_ci[0]:.3g} - {r.breakeven_ci[1]:.3g} preemptions per node-day"
                     + (f" (target: within {100 * r.tolerance:g}%)" if r.tolerance else ""))
    if r.return_hours is not None:
        head.add_row("node return delay", f"{r.return_hours:g} h after a preemption ({r.return_hours_source})")
    head.add_row("simulation", f"{r.replicas} replicas per rate, seed {r.seed} (common random numbers)")
    rows = Table(title="Simulated rates")
    for name in ("preemptions/node-day", "job MTBF h", "days", "finished", "spot cost", "on-demand", "cheaper"):
        rows.add_column(name, justify="right")
    for row in r.rows:
        rows.add_row(f"{row['preemptions_per_node_day']:.4g}", f"{row['job_preemption_mtbf_hours']:.3g}",
                     days(row.get("wall_days_mean")), _pct(row.get("finished_fraction")),
                     usd(row.get("spot_cost_usd_mean")), usd(row["on_demand_cost_usd_mean"]),
                     "yes" if row["spot_cheaper"] else "no")
    return [head, rows]
