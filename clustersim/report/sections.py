"""From a result dict to the page's parts: headline cards, detail tables and figure sections, per kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clustersim.errors import ClustersimError
from clustersim.report import bands
from clustersim.report import figures as rf
from clustersim.report import planfigs as pf
from clustersim.report.data import (
    COST_KEYS,
    DAYS_KEYS,
    KINDS,
    cost_of,
    days_of,
    fmt_big,
    fmt_days,
    fmt_num,
    fmt_usd,
    is_usd,
    number,
    stat,
)
from clustersim.report.html import Card, Page, Section, kv_table, table_html

__all__ = ["build_page"]

#: Rows shown in a report's table of points (the CSV/JSON outputs carry all of them).
MAX_TABLE_ROWS = 100
#: Columns shown in a table of points.
MAX_TABLE_COLUMNS = 16
#: A sweep store's bookkeeping columns, left out of the report's tables.
_BOOKKEEPING = ("point_key", "status", "error")


def _pct(value: Any) -> str:
    x = number(value)
    return "\u2014" if x is None else f"{100 * x:.1f}%"


def _spread(value: Any, fmt: Any) -> str:
    """``p50 X · p90 Y`` of a statistic."""
    p50, p90 = stat(value, "p50"), stat(value, "p90")
    if p50 is None and p90 is None:
        return ""
    return f"p50 {fmt(p50)} \u00b7 p90 {fmt(p90)}"


def _subtitle(r: Mapping[str, Any], kind: str) -> list[str]:
    lines = []
    run = []
    if r.get("model"):
        params = number(r.get("params_b"))
        run.append(f"{r['model']}" + (f" ({params:.3g}B parameters)" if params else ""))
    if r.get("gpus"):
        run.append(f"{fmt_num(r['gpus'])} x {r.get('gpu', 'GPU')}")
    if number(r.get("tokens")):
        run.append(f"{fmt_big(r['tokens'])} tokens")
    par = r.get("parallelism")
    if isinstance(par, Mapping):
        always = ("tp", "pp", "dp", "zero")
        keys = [k for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "zero")
                if k in par and par[k] is not None and (k in always or par[k] != 1)]
        text = " ".join(f"{k}={par[k]}" for k in keys)
        run.append(f"parallelism {text}" + (" (searched)" if par.get("searched") else ""))
    if run:
        lines.append(" \u00b7 ".join(run))
    prov = [f"{kind} result"]
    if r.get("replicas"):
        prov.append(f"{r['replicas']} replicas, seed {r.get('seed')}")
    if r.get("clustersim_version"):
        prov.append(f"clustersim {r['clustersim_version']}, schema {r.get('schema_version', '?')}")
    lines.append(" \u00b7 ".join(prov))
    return lines


def _run_details(r: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("step time", f"{fmt_num(r.get('step_time_s'))} s"),
        ("tokens per second", fmt_num(r.get("tokens_per_s"))),
        ("MFU / HFU", f"{_pct(r.get('mfu'))} / {_pct(r.get('hfu'))}"),
        ("memory per GPU", f"{fmt_num(r.get('memory_per_gpu_gib'))} GiB of {fmt_num(r.get('gpu_memory_gib'))} GiB"),
        ("failure-free time", fmt_days(r.get("train_days"))),
        ("failure-free cost", fmt_usd(r.get("cost_usd"))),
        ("GPU-hours (failure-free)", fmt_num(r.get("gpu_hours"))),
        ("price per GPU-hour", fmt_usd(r.get("usd_per_gpu_hour")) if number(r.get("usd_per_gpu_hour")) is None
         else f"${number(r.get('usd_per_gpu_hour')):.2f}"),
    ]
    optional = [
        ("job MTBF", "job_mtbf_hours", lambda v: f"{fmt_num(v)} h"),
        ("checkpoint interval", "checkpoint_interval_minutes", lambda v: f"{fmt_num(v)} min"),
        ("checkpoint size", "checkpoint_size_gb", lambda v: f"{fmt_num(v)} GB"),
        ("checkpoint write / load", "checkpoint_write_s",
         lambda v: f"{fmt_num(v)} s / {fmt_num(r.get('checkpoint_load_s'))} s"),
        ("expected goodput (theory)", "expected_goodput", _pct),
        ("expected wall time (theory)", "expected_wall_days", fmt_days),
        ("expected interruptions (theory)", "expected_interruptions", fmt_num),
    ]
    rows += [(label, fn(r[key])) for label, key, fn in optional if number(r.get(key)) is not None]
    iv = r.get("prediction_interval")
    if isinstance(iv, Mapping):
        for key, label, fmt in (("step_time_s", "step time", lambda v: f"{fmt_num(v)} s"),
                                ("train_days", "failure-free time", fmt_days), ("cost_usd", "failure-free cost", fmt_usd)):
            pair = iv.get(key)
            if isinstance(pair, Sequence) and len(pair) == 2:
                rows.append((f"{label}, {100 * (number(iv.get('level')) or 0.8):.0f}% interval",
                             f"{fmt(pair[0])} to {fmt(pair[1])}"))
        rows.append(("interval from", str(iv.get("source") or iv.get("method") or "")))
    pu = r.get("parameter_uncertainty")
    if isinstance(pu, Mapping):
        from clustersim.tables import uncertainty_text

        rows.append(("parameter uncertainty", uncertainty_text(dict(pu))))
    return rows


def _stats_table(r: Mapping[str, Any]) -> str:
    rows = []
    got = r.get("failure_only") if (r.get("parameter_uncertainty") or {}).get("enabled") else None
    fixed: Mapping[str, Any] = got if isinstance(got, Mapping) else {}
    both = bool(fixed)
    with_pu = " (with parameter uncertainty)" if both else ""
    for key, label, fmt in (("wall_days", "wall time (days)" + with_pu, fmt_num),
                            ("failure_only.wall_days", "wall time (days), failures only", fmt_num),
                            ("wall_cost_usd", "cost" + with_pu, fmt_usd),
                            ("failure_only.wall_cost_usd", "cost, failures only", fmt_usd),
                            ("goodput", "goodput", _pct), ("interruptions", "interruptions", fmt_num)):
        v = fixed.get(key.split(".")[1]) if key.startswith("failure_only.") and both else r.get(key)
        if not isinstance(v, Mapping):
            continue
        ci = v.get("mean_ci95")
        ci_text = f"{fmt(ci[0])} to {fmt(ci[1])}" if isinstance(ci, Sequence) and len(ci) == 2 else "\u2014"
        rows.append((label, *(fmt(v.get(q)) for q in ("mean", "p50", "p90", "p99")), ci_text))
    if not rows:
        return ""
    return table_html(rows, ("across replicas", "mean", "p50", "p90", "p99", "95% CI of the mean"))


def _failure_only_samples(r: Mapping[str, Any], samples: Mapping[str, Any], key: str) -> list[float] | None:
    """The failure-only run's samples of ``wall_days`` or ``wall_cost_usd`` (dollars from its days at the
    same price and paid GPUs as the headline), when the result has both runs."""
    days = samples.get("wall_days_failures_only")
    if not isinstance(days, Sequence) or not days:
        return None
    if key == "wall_days":
        return [float(d) for d in days if number(d) is not None]
    price, paid = number(r.get("usd_per_gpu_hour")), number(r.get("paid_gpus"))
    if price is None or paid is None:
        return None
    return [float(d) * 24.0 * paid * price for d in days if number(d) is not None]


def _run_sections(r: Mapping[str, Any], simulated: bool) -> list[Section]:
    out: list[Section] = []
    if simulated:
        timeline = r.get("timeline")
        if isinstance(timeline, Sequence) and timeline:
            segs = [s for s in timeline if isinstance(s, Mapping)]
            out.append(Section("Progress of one replica", "Replica 0's work done against wall time: flat where "
                               "the job is down, a drop where work since the last checkpoint is lost; each "
                               "interruption is marked. Readable at any run length.", rf.progress_figure(segs)))
            out.append(Section("Timeline of one replica", "Replica 0's every failure, detection, restart, "
                               "checkpoint load and wait for spares, and each checkpoint (tick marks show events "
                               "too short to see as bars). A run of many checkpoints opens on a window around "
                               "its first interruption, where single checkpoints can be told apart; the slider "
                               "under the chart shows the whole run: drag its ends to move or widen the window.",
                               rf.timeline_figure(segs)))
        else:
            out.append(Section("Timeline of one replica", "This result carries no timeline."))
        parts = r.get("time_breakdown_days")
        if isinstance(parts, Mapping) and parts:
            fig, zero = rf.time_breakdown_figure(parts)
            note = "Mean days per replica in each state; hover for p50, p90 and p99."
            if zero:
                note += f" Zero in every replica (not drawn): {', '.join(zero)}."
            out.append(Section("Time breakdown", note, fig))
        raw_samples = r.get("samples")
        samples: Mapping[str, Any] = raw_samples if isinstance(raw_samples, Mapping) else {}
        for key, title, axis, usd in (("wall_days", "Wall time across replicas", "days", False),
                                      ("wall_cost_usd", "Cost across replicas", "total cost (USD)", True)):
            values = samples.get(key)
            if isinstance(values, Sequence) and values:
                fixed_values = _failure_only_samples(r, samples, key)
                note = ("Empirical cumulative distribution over the Monte Carlo replicas; dashed: median, dotted: "
                        "90th percentile.")
                if fixed_values:
                    note += (" Grey: the same replicas with failures only (step time and failure rates at their "
                             "point values); the gap is what not knowing the parameters adds.")
                out.append(Section(title, note, rf.cdf_figure(values, r.get(key), title=title, axis=axis, usd=usd,
                                                              failure_only=fixed_values), half=True))
            else:
                out.append(Section(title, f"This result carries no per-replica samples of {key}.", half=True))
    breakdown = r.get("breakdown_s")
    if isinstance(breakdown, Mapping) and breakdown:
        fig, zero = rf.step_time_figure(breakdown, r.get("step_time_s"))
        note = "The parts of one training step that are not hidden behind compute; they add up to the step time."
        if zero:
            note += f" Zero: {', '.join(str(z) for z in zero)}."
        out.append(Section("Step-time breakdown", note, fig, half=True))
    memory = r.get("memory_breakdown_gib")
    if isinstance(memory, Mapping) and memory:
        out.append(Section("Memory breakdown", "Bytes per GPU by purpose, against the GPU's memory.",
                           rf.memory_figure(memory, r.get("gpu_memory_gib")), half=True))
    sens = r.get("sensitivity")
    if isinstance(sens, Sequence) and sens:
        rows: Sequence[Mapping[str, Any]] = [s for s in sens if isinstance(s, Mapping)]
        moves = "; ".join(f"{s.get('parameter')}: {s.get('low_label')} / {s.get('high_label')}" for s in rows)
        base_usd, basis = rows[0].get("base_usd"), rows[0].get("base_basis") or "theory's expected cost"
        headline = stat(r.get("wall_cost_usd")) if simulated else None
        if headline is not None and number(base_usd):
            rows = headline_rows(rows, headline)
            note = (f"Total dollars when one input moves and every other stays as it is. The base is the "
                    f"headline's simulated mean cost, {fmt_usd(headline)}; each bar moves it by the relative "
                    f"change theory (Daly 2006) gives for that input, from theory's own base of "
                    f"{fmt_usd(base_usd)} ({basis}).")
        else:
            note = ("Total dollars when one input moves and every other stays at the base. The base, "
                    f"{fmt_usd(base_usd)}, is theory's cost (Daly 2006): {basis}.")
            if number(r.get("cost_usd")) is not None:
                note += f" The failure-free cost is {fmt_usd(r.get('cost_usd'))}."
        out.append(Section("Sensitivity of the cost", f"{note} Moves: {moves}.", rf.tornado_figure(rows)))
    else:
        out.append(Section("Sensitivity of the cost", "This result carries no sensitivity analysis (a saved "
                           "--json result does not): `clustersim simulate FILE --report REPORT.html` adds it, "
                           "with one theory evaluation per move."))
    return out


def headline_rows(rows: Sequence[Mapping[str, Any]], headline_usd: float) -> list[dict[str, Any]]:
    """The tornado rows rebased on the headline: each value times ``headline / base`` (theory's relative
    change for each move, applied to the simulated mean), so the chart's base is the headline's figure."""
    out = []
    for row in rows:
        base = number(row.get("base_usd"))
        factor = headline_usd / base if base else 1.0
        moved = dict(row)
        for key in ("low_value_usd", "high_value_usd"):
            value = number(row.get(key))
            moved[key] = value * factor if value is not None else None
        moved["base_usd"] = headline_usd
        out.append(moved)
    return out


def _interval_note(r: Mapping[str, Any], key: str, fmt: Any) -> str:
    """`` · 80%: lo to hi`` of the estimate's prediction interval of ``key`` (empty without one)."""
    iv = r.get("prediction_interval")
    pair = iv.get(key) if isinstance(iv, Mapping) else None
    if not (isinstance(pair, Sequence) and len(pair) == 2):
        return ""
    return f" \u00b7 80%: {fmt(pair[0])} to {fmt(pair[1])}"


def _run_page(r: Mapping[str, Any], kind: str) -> Page:
    page = Page(f"clustersim report: {r.get('name') or 'run'}", _subtitle(r, kind))
    if kind == "simulate":
        page.cards = [
            Card("wall time (mean)", fmt_days(r.get("wall_days")), _spread(r.get("wall_days"), fmt_num) + " days"),
            Card("cost (mean)", fmt_usd(r.get("wall_cost_usd")), _spread(r.get("wall_cost_usd"), fmt_usd)),
            Card("goodput (mean)", _pct(r.get("goodput")), _spread(r.get("goodput"), _pct)),
            Card("interruptions (mean)", fmt_num(r.get("interruptions")),
                 _spread(r.get("interruptions"), fmt_num)),
        ]
    else:
        page.cards = [Card("training time (failure-free)", fmt_days(r.get("train_days")),
                           (f"with failures (theory): {fmt_days(r['expected_wall_days'])}"
                            if number(r.get("expected_wall_days")) else "") + _interval_note(r, "train_days", fmt_days)),
                      Card("cost (failure-free)", fmt_usd(r.get("cost_usd")),
                           f"{fmt_num(r.get('gpu_hours'))} GPU-hours" + _interval_note(r, "cost_usd", fmt_usd)),
                      Card("MFU", _pct(r.get("mfu")), f"HFU {_pct(r.get('hfu'))}"),
                      Card("memory per GPU", f"{fmt_num(r.get('memory_per_gpu_gib'))} GiB",
                           "fits" if r.get("fits_in_memory") else "does NOT fit")]
    right = [_stats_table(r)]
    causes = r.get("interruptions_by_cause")
    if isinstance(causes, Mapping) and causes:
        ordered = sorted(causes.items(), key=lambda kv: -(number(kv[1]) or 0.0))
        right.append(table_html([(k, fmt_num(v)) for k, v in ordered], ("cause", "interruptions (mean)"),
                                caption="interruptions by cause"))
    page.details_html = (f"<div>{kv_table(_run_details(r), caption='the run')}</div>"
                         f"<div>{''.join(right)}</div>")
    page.sections = _run_sections(r, simulated=kind == "simulate")
    return page


def _rows(r: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rows = r.get("rows", r.get("points"))
    if rows is None:
        return []
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)):
        raise ClustersimError("the result's `rows` must be a list of objects")
    return [row for row in rows if isinstance(row, Mapping)]


#: Columns a table of points shows first (when present): what the point is, then its answers.
_FIRST_COLUMNS = ("model", "params_b", "tokens", "gpu", "gpus", "loss", *DAYS_KEYS, *COST_KEYS, "expected_goodput",
                  "mfu", "fits")


def _points_table(rows: Sequence[Mapping[str, Any]], caption: str, first: Sequence[str] = ()) -> str:
    scalar: list[str] = []
    for row in rows:
        for k, v in row.items():
            if k not in scalar and k not in _BOOKKEEPING and (v is None or isinstance(v, (str, int, float, bool))):
                scalar.append(k)
    columns = [k for k in (*first, *_FIRST_COLUMNS) if k in scalar]
    columns = list(dict.fromkeys(columns + scalar))[:MAX_TABLE_COLUMNS]
    shown = rows[:MAX_TABLE_ROWS]

    def cell(key: str, v: Any) -> Any:
        if is_usd(key) and number(v) is not None:
            return fmt_usd(v)
        if isinstance(v, float):
            return fmt_num(v, 4)
        return "" if v is None else v

    body = [[cell(c, row.get(c)) for c in columns] for row in shown]
    more = f" (the first {len(shown)} of {len(rows)})" if len(rows) > len(shown) else ""
    return f"<div class='scroll'>{table_html(body, columns, caption=caption + more)}</div>"


def _pareto_section(rows: Sequence[Mapping[str, Any]], label_keys: Sequence[str], group_key: str | None = None,
                    note: str = "") -> Section:
    if not any(days_of(row) is not None and cost_of(row) is not None for row in rows):
        return Section("Pareto front: dollars against days", "The points carry no days and dollars to compare.")
    fig, _ = pf.pareto_figure(rows, label_keys, group_key)
    return Section("Pareto front: dollars against days", "Each point's total dollars against its days; the "
                   "steps join the points no other point beats on both (cheaper and faster)" +
                   (f", one front per {group_key}" if group_key else "") + ". " + note, fig)


def _model_key(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The key that tells models apart in a list of points (model name, else size), if any varies."""
    for key in ("model", "params_b"):
        if len({repr(row.get(key)) for row in rows if key in row}) > 1:
            return key
    return None


def _optimum_rows(rows: Sequence[Mapping[str, Any]], optimum: Any) -> list[Mapping[str, Any]]:
    """A plan's points for the compute-optimal model size (all points when the optimum is not among them)."""
    size = number(optimum.get("params_b")) if isinstance(optimum, Mapping) else None
    chosen = [row for row in rows if size is not None and number(row.get("params_b")) == size]
    return chosen or list(rows)


def _curve_sections(r: Mapping[str, Any]) -> list[Section]:
    curves = r.get("curves")
    if isinstance(curves, Sequence) and curves:
        given = [c for c in curves if isinstance(c, Mapping)]
        return [Section(str(c.get("title") or "curve"), str(c.get("note") or ""), fig)
                for c, fig in zip(given, pf.given_curves(given), strict=True)]
    return []


#: Labels and formats of the keys a plan's optimum or a summary usually carries.
_CARD_KEYS: dict[str, tuple[str, Any]] = {
    "params_b": ("model size", lambda v: f"{fmt_num(v)}B parameters"),
    "tokens": ("tokens", fmt_big),
    "loss": ("predicted loss", lambda v: f"{number(v):.3f}" if number(v) is not None else str(v)),
    "gpus": ("GPUs", fmt_num),
    "days": ("days", fmt_days),
    "expected_wall_days": ("days (expected, with failures)", fmt_days),
    "train_days": ("days (failure-free)", fmt_days),
    "mfu": ("MFU", _pct),
    "model": ("model", str),
    "flop": ("compute", lambda v: f"{number(v):.3g} FLOP" if number(v) is not None else str(v)),
}


def _card(key: str, value: Any) -> Card:
    if key in _CARD_KEYS:
        label, fmt = _CARD_KEYS[key]
        return Card(label, fmt(value))
    if key.endswith("_usd"):
        return Card(key.removesuffix("_usd").replace("_", " ") + " (USD)", fmt_usd(value))
    if key.endswith("_days"):
        return Card(key.removesuffix("_days").replace("_", " "), fmt_days(value))
    x = number(value)
    text = fmt_big(x) if x is not None and abs(x) >= 1e6 else (fmt_num(x) if x is not None else str(value))
    return Card(key.replace("_", " "), text)


#: The keys of a plan's optimum shown as cards, in this order (the first present of each group).
_OPTIMUM_KEYS = (("model",), ("params_b",), ("tokens",), ("loss",), ("gpus",),
                 ("expected_wall_days", "days", "train_days"), ("expected_cost_usd", "cost_usd"), ("mfu",))
#: At most this many cards from a free-form ``summary``.
MAX_CARDS = 8


def _summary_cards(summary: Any, groups: Sequence[Sequence[str]] | None = None) -> list[Card]:
    """Cards from a mapping: the keys of ``groups`` (first present of each), else its first scalars."""
    if not isinstance(summary, Mapping):
        return []
    if groups is not None:
        keys = [next(k for k in g if summary.get(k) is not None) for g in groups
                if any(summary.get(k) is not None for k in g)]
    else:
        keys = [str(k) for k, v in summary.items() if not isinstance(v, (Mapping, list))][:MAX_CARDS]
    return [_card(k, summary[k]) for k in keys]


def _or_inf(value: float | None) -> float:
    return float("inf") if value is None else value


#: At most this many model sizes get their own cheapest / fastest cards.
MAX_MODEL_CARDS = 4


def _per_model_cards(rows: Sequence[Mapping[str, Any]]) -> list[Card]:
    """Cheapest and fastest point of each model size: comparing a 1B run's dollars with a 1T run's days
    says nothing, so each card names its model and compares like with like."""
    key = _model_key(rows)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(key)) if key else "", []).append(row)
    cards: list[Card] = []
    for name, group in list(groups.items())[:MAX_MODEL_CARDS]:
        cheap = min(group, key=lambda row: _or_inf(cost_of(row)))
        fast = min(group, key=lambda row: _or_inf(days_of(row)))
        prefix = f"{name}: " if key else ""
        if key == "params_b":
            prefix = f"{fmt_num(number(name))}B: "
        if cheap is fast:  # one point is both: one card, not the same figure twice
            cards.append(Card(prefix + "cheapest and fastest", fmt_usd(cost_of(cheap)),
                              f"{fmt_days(days_of(cheap))}; {pf.row_label(cheap)}"))
            continue
        cards.append(Card(prefix + "cheapest", fmt_usd(cost_of(cheap)), pf.row_label(cheap)))
        cards.append(Card(prefix + "fastest", fmt_days(days_of(fast)), pf.row_label(fast)))
    return cards


def _costs_page(r: Mapping[str, Any], kind: str) -> Page:
    rows = _rows(r)
    page = Page(f"clustersim report: {r.get('name') or kind}", [f"{kind} result \u00b7 {len(rows)} points"])
    if kind == "plan":
        page.cards = [Card("budget", fmt_usd(r.get("budget_usd"))),
                      Card("deadline", fmt_days(r.get("deadline_days")) if number(r.get("deadline_days")) else
                           "none")]
        page.cards += _summary_cards(r.get("optimum"), _OPTIMUM_KEYS)
    page.cards += _summary_cards(r.get("summary"))
    if not page.cards and rows:
        page.cards = [Card("points", fmt_num(len(rows)))] + _per_model_cards(rows)
    sections = _curve_sections(r)
    labels = ("model", "params_b", "tokens", "gpu", "gpus")
    if not sections and rows:
        if kind == "costs":
            sections = [Section("Cost against model size", "Total dollars per model size (the cheapest point per "
                                "size on each GPU type and count).", pf.cost_vs_size_figure(rows)),
                        Section("Days against GPUs", "Days per cluster size (the fastest point per count).",
                                pf.days_vs_gpus_figure(rows))]
        else:
            if any(number(row.get("loss")) is not None for row in rows):
                optimum = r.get("optimum") if isinstance(r.get("optimum"), Mapping) else None
                sections.append(Section("Trade-off around the optimum", "Predicted loss of each model size the "
                                        "budget can train (Chinchilla's fitted L(N, D)).",
                                        pf.loss_vs_size_figure(rows, optimum)))
            best = _optimum_rows(rows, r.get("optimum"))
            if any(number(row.get("gpus")) is not None and days_of(row) is not None for row in best):
                sections.append(Section("Days against GPUs", "Days per cluster size for the compute-optimal "
                                        "model.", pf.days_vs_gpus_figure(best)))
    if kind == "plan":
        by_gpus = r.get("by_gpus")
        best = ([row for row in by_gpus if isinstance(row, Mapping)] if isinstance(by_gpus, Sequence)
                and by_gpus else _optimum_rows(rows, r.get("optimum")))
        sections.append(_pareto_section(best, labels, _model_key(best),
                                        "Points of the compute-optimal model size." if len(best) < len(rows) else ""))
    else:
        sections.append(_pareto_section(rows, labels, _model_key(rows)))
    sections += _interval_sections(rows)
    if rows:
        sections.append(Section("Points", "", extra_html=_points_table(rows, "every point")))
    page.sections = sections
    return page


def _interval_sections(rows: Sequence[Mapping[str, Any]]) -> list[Section]:
    """Days against GPUs and dollars against model size with each point's 80% prediction interval as a
    band (the rows' ``prediction_interval_*`` columns), when the rows carry them."""
    out = []
    for x, z, by, title in (("gpus", "train_days", _model_key(rows), "Days against GPUs, with their interval"),
                            ("params_b", "cost_usd", "gpu", "Cost against model size, with its interval")):
        keys = bands.interval_keys(rows, z)
        if keys is None:
            continue
        fig = bands.band_figure(rows, x, z, by=by)
        if fig is not None:
            out.append(Section(title, f"Failure-free {z.replace('_', ' ')} of each point; the band is {keys[2]}.",
                               fig))
    return out


def _sweep_page(r: Mapping[str, Any]) -> Page:
    rows = _rows(r)
    x, y, z = (str(r.get(k)) for k in ("x", "y", "z"))
    page = Page(f"clustersim report: {r.get('name') or 'sweep'}",
                [f"sweep result \u00b7 {len(rows)} points \u00b7 {z} against {x} and {y}"])
    scored = [row for row in rows if number(row.get(z)) is not None]
    scored.sort(key=lambda row: number(row.get(z)) or 0.0)
    page.cards = [Card("points", fmt_num(len(rows)))]
    if scored:
        best = scored[0]
        value = fmt_usd(best[z]) if is_usd(z) else fmt_num(best[z])
        page.cards.append(Card(f"lowest {z}", value, f"{x}={best.get(x)}, {y}={best.get(y)}"))
    fig, merged = pf.heatmap_figure(rows, x, y, z)
    note = f"{z} for each pair of {x} and {y}."
    if merged:
        note += " Several points share a cell (other inputs vary): the cell shows the lowest."
    page.sections = [Section("Heatmap", note, fig)]
    keys = bands.interval_keys(rows, z)
    band = bands.band_figure(rows, x, z, by=y) if keys is not None else None
    if band is not None and keys is not None:
        page.sections.append(Section(f"{z} against {x}, with its interval", f"Each line is {z} against {x} for one "
                                     f"{y} (the lowest over any other input); the shaded band is {keys[2]}.", band))
    page.sections += [_pareto_section(rows, (x, y)),
                      Section(f"Best points by {z}", "", extra_html=_points_table(
                          scored[:20], f"lowest {z}", (x, y, z, *(keys[:2] if keys else ()))))]
    return page


def build_page(result: Mapping[str, Any], kind: str) -> Page:
    """The page for one result dict of the given kind."""
    if not isinstance(result, Mapping):
        raise ClustersimError(f"a report needs a JSON object, got {type(result).__name__}")
    if kind not in KINDS:
        raise ClustersimError(f"unknown report kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "fleet":
        from clustersim.report.fleet import fleet_page

        return fleet_page(result)
    if kind in ("simulate", "estimate"):
        page = _run_page(result, kind)
    elif kind == "sweep":
        missing = [k for k in ("rows", "x", "y", "z") if k not in result]
        if missing:
            raise ClustersimError(f"a sweep report needs {', '.join(missing)} in the result")
        page = _sweep_page(result)
    else:
        page = _costs_page(result, kind)
    version = result.get("clustersim_version")
    page.footer = ("Drawn by clustersim" + (f" {version}" if version else "") +
                   " from the result's JSON only; works offline (plotly.js embedded).")
    return page
