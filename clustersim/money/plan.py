"""``plan``: the largest model a budget trains by a deadline, its cluster, and its predicted loss.

For a model of N parameters trained on D = k N tokens (k = 20 by default: Chinchilla-optimal, Hoffmann
et al. 2022, Table 3, Approach 1; C = 6 N D; a larger k over-trains a smaller model, as today's small
models are: Llama 3 8B saw 15T tokens, about 1,900 per parameter, Llama Team 2024 Sec. 3), the
kernel finds, on each cluster size of a ladder, the fastest parallelism that fits, and theory adds the expected goodput (Daly 2006 with a reliability preset);
the cost of N is the cheapest of the cluster sizes that meet the deadline. Dollars thus become FLOPs
through the kernel's achieved MFU, the goodput and the price, not through an assumed utilisation.
The largest N whose cost fits the budget is found by bisection on log N (cost grows with N, roughly
as N^2, so each new point is placed by log-log interpolation inside the bracket). Its predicted loss is Chinchilla's fitted L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et
al. 2022, Eq. 10, Sec. 3.3: E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28).

The trade-off curve: for model sizes around the optimum, the tokens the same budget buys (cost and
days are linear in tokens at a fixed configuration: Daly's expected wall time is proportional to
the work), and the loss they reach; the curve's minimum is the loss-optimal size at this budget
(Hoffmann et al. 2022, Approach 3), which the plan reports beside the k-tokens-per-parameter one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clustersim.errors import ClustersimError, InfeasibleError
from clustersim.money import batch, scaling
from clustersim.money.costs import DEFAULT_RELIABILITY, base_mapping, parse_gpu_counts, point_row, price_for
from clustersim.money.prices import PriceQuote
from clustersim.money.tabular import csv_text, write_csv
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario, catalog

__all__ = ["PlanResult", "plan", "DEFAULT_PLAN_GPUS", "DEFAULT_MAX_DAYS", "DEFAULT_DEADLINE_DAYS", "CURVE_COLUMNS"]

#: Cluster sizes a plan considers: whole 8-GPU nodes from 8 to 32,768 GPUs, doubling.
DEFAULT_PLAN_GPUS = "8:32768"
#: Without a deadline, a plan still ignores clusters that would take longer than this (a planning
#: horizon: a run that takes years is not a plan); give ``deadline_days`` to set it.
DEFAULT_MAX_DAYS = 365.0
#: The deadline the CLI uses when none is given: 90 days. Frontier pre-training runs take a few months
#: of wall time (Llama 3 405B's report describes a 54-day snapshot of its pre-training, Llama Team
#: 2024 Sec. 3.3.4), and a quarter is the horizon a team plans hardware for.
DEFAULT_DEADLINE_DAYS = 90.0
#: Columns of the trade-off table.
CURVE_COLUMNS = ("params_b", "tokens", "tokens_per_param", "loss", "gpus", "days", "cost_usd", "mfu",
                 "expected_goodput", "tp", "pp", "dp", "cp", "vpp", "zero", "micro_batch_seqs", "recompute")


@dataclass(frozen=True)
class PlanResult:
    """The optimum, the trade-off curve around it (``rows``), and the days per cluster size (``by_gpus``).

    In :meth:`to_dict` the trade-off is ``tradeoff`` and ``rows`` holds ``by_gpus`` (the optimum model on
    every cluster size: the points of the report's Pareto front of dollars against days).
    """

    budget_usd: float
    deadline_days: float | None
    gpu: str
    price: PriceQuote
    optimum: dict[str, Any]
    rows: list[dict[str, Any]]
    by_gpus: list[dict[str, Any]]
    loss_optimal: dict[str, Any] | None
    iterations: int
    configs_evaluated: int
    notes: list[str] = field(default_factory=list)
    tokens_per_param: float = scaling.CHINCHILLA_TOKENS_PER_PARAM

    def curves(self) -> list[dict[str, Any]]:
        pts = sorted((r["params_b"], r["loss"]) for r in self.rows if r.get("loss") is not None)
        days = sorted((r["gpus"], r["expected_wall_days"]) for r in self.by_gpus if r.get("expected_wall_days"))
        cost = sorted((r["gpus"], r["expected_cost_usd"]) for r in self.by_gpus if r.get("expected_cost_usd"))
        tokens = float(self.optimum["tokens"])
        label = (f"{self.optimum['params_b']:.3g}B on "
                 + (f"{tokens / 1e12:.3g}T" if tokens >= 1e12 else f"{tokens / 1e9:.3g}B") + " tokens")
        return [
            {"title": "Predicted loss at this budget against model size", "x_title": "parameters (billions)",
             "y_title": "predicted loss (Chinchilla fit)", "log_x": True, "log_y": False,
             "series": [{"name": "trade-off", "x": [p[0] for p in pts], "y": [p[1] for p in pts]}]},
            {"title": f"Days against GPUs ({label})", "x_title": "GPUs", "y_title": "expected days",
             "log_x": True, "log_y": True,
             "series": [{"name": self.gpu, "x": [p[0] for p in days], "y": [p[1] for p in days]}]},
            {"title": f"Cost against GPUs ({label})", "x_title": "GPUs", "y_title": "expected cost (USD)",
             "log_x": True, "log_y": False,
             "series": [{"name": self.gpu, "x": [p[0] for p in cost], "y": [p[1] for p in cost]}]},
        ]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "kind": "plan", "name": f"plan for ${self.budget_usd:,.0f}", "budget_usd": self.budget_usd,
            "deadline_days": self.deadline_days, "gpu": self.gpu, "price": self.price.to_dict(),
            "optimum": self.optimum, "loss_optimal": self.loss_optimal, "tradeoff": self.rows,
            "by_gpus": self.by_gpus, "rows": self.by_gpus, "curves": self.curves(), "iterations": self.iterations,
            "configs_evaluated": self.configs_evaluated, "notes": self.notes,
            "constants": {"E": scaling.E_LOSS, "A": scaling.A_LOSS, "B": scaling.B_LOSS,
                          "alpha": scaling.ALPHA_LOSS, "beta": scaling.BETA_LOSS,
                          "tokens_per_param": self.tokens_per_param,
                          "source": "Hoffmann et al. 2022 (arXiv:2203.15556) Eq. 10, Sec. 3.3; Table 3"},
            **provenance(),
        })

    def csv(self) -> str:
        return csv_text(self.rows, CURVE_COLUMNS)

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        write_csv(path, self.rows, CURVE_COLUMNS)


@dataclass
class _Eval:
    params: float
    arch: dict[str, Any]
    rows: list[dict[str, Any]]  # one per cluster size, at D = k N


class _Planner:
    def __init__(self, base: dict[str, Any], gpu: str, q: PriceQuote, counts: list[int], limit_days: float,
                 chunk_rows: int, tokens_per_param: float, progress: Callable[[str], None] | None) -> None:
        self.base, self.gpu, self.q, self.counts = base, gpu, q, counts
        self.limit_days, self.chunk_rows = limit_days, chunk_rows
        self.tokens_per_param, self.progress = tokens_per_param, progress
        self.cache: dict[float, _Eval] = {}
        self.configs = 0

    def evaluate(self, params: float) -> _Eval:
        """The best configuration on every cluster size for the rule's model of ~params, at D = k N."""
        arch = scaling.arch_for_params(params)
        key = float(arch["params"])
        if key in self.cache:
            return self.cache[key]
        model = {k: v for k, v in arch.items() if k not in ("params", "name")}
        tokens = self.tokens_per_param * float(arch["params"])
        if self.progress is not None:
            self.progress(f"trying {_size(key)} parameters on {len(self.counts)} cluster sizes "
                          f"({len(self.cache) + 1} sizes so far)")
        pts = [batch.point_scenario(self.base, model=model, gpu=self.gpu, gpus=n, tokens=tokens,
                                    usd_per_gpu_hour=self.q.usd_per_gpu_hour) for n in self.counts]
        bests = batch.best_configs(pts, chunk_rows=self.chunk_rows)
        self.configs += sum(b.configs for b in bests)
        rows = [point_row(str(arch["name"]), b, self.q) for b in bests]
        ev = _Eval(params=key, arch=arch, rows=rows)
        self.cache[key] = ev
        return ev

    @staticmethod
    def days(row: dict[str, Any]) -> float | None:
        return row.get("expected_wall_days") if row.get("expected_wall_days") is not None else row.get("train_days")

    @staticmethod
    def cost(row: dict[str, Any]) -> float | None:
        return row.get("expected_cost_usd") if row.get("expected_cost_usd") is not None else row.get("cost_usd")

    def cheapest(self, ev: _Eval, scale: float = 1.0) -> dict[str, Any] | None:
        """The cheapest cluster size whose days (for ``scale`` x the k N tokens) meet the limit."""
        ok = [r for r in ev.rows if r.get("fits") and self.days(r) is not None and self.cost(r) is not None
              and self.days(r) * scale <= self.limit_days]  # type: ignore[operator]
        return min(ok, key=lambda r: (self.cost(r), self.days(r))) if ok else None


def _size(params: float) -> str:
    return f"{params / 1e12:.3g}T" if params >= 1e12 else f"{params / 1e9:.3g}B"


def _curve_row(params_b: float, tokens: float, row: dict[str, Any], scale: float, budget: float) -> dict[str, Any]:
    out = {"params_b": params_b, "tokens": tokens, "tokens_per_param": tokens / (params_b * 1e9),
           "loss": scaling.chinchilla_loss(params_b * 1e9, tokens), "gpus": row["gpus"],
           "days": _Planner.days(row) * scale, "cost_usd": budget,  # type: ignore[operator]
           "expected_wall_days": _Planner.days(row) * scale,  # type: ignore[operator]
           "expected_cost_usd": budget}
    for k in ("mfu", "expected_goodput", "tp", "pp", "dp", "cp", "vpp", "zero", "micro_batch_seqs", "recompute"):
        out[k] = row.get(k)
    return out


def plan(budget_usd: float, *, deadline_days: float | None = None, gpu: str = "h100-sxm-80gb",
         price: str | float | None = None, gpus: int | str | Sequence[int] = DEFAULT_PLAN_GPUS,
         base: Scenario | str | os.PathLike[str] | Mapping[str, Any] | None = None,
         reliability: str | None = DEFAULT_RELIABILITY, max_days: float = DEFAULT_MAX_DAYS, rel_tol: float = 0.01,
         curve_points: int = 9, chunk_rows: int = batch.DEFAULT_CHUNK_ROWS,
         tokens_per_param: float = scaling.CHINCHILLA_TOKENS_PER_PARAM, set: Iterable[str] = (),
         progress: Callable[[str], None] | None = None) -> PlanResult:
    """The largest model trained on ``tokens_per_param`` tokens per parameter (default 20, Chinchilla)
    that the budget trains, on which cluster, in how long.

    ``price``: a preset or USD per GPU-hour (default: the base scenario's price for this GPU, else the
    GPU's newest on-demand catalog price).
    ``deadline_days``: the run (expected wall time, failures included) must finish in time; without
    it, cluster sizes slower than ``max_days`` are ignored (the CLI always gives one:
    :data:`DEFAULT_DEADLINE_DAYS` unless told). Bisection stops when the bracket on N is within
    ``rel_tol``. ``set``: ``KEY.PATH=VALUE`` overrides of the recipe; ``progress``: called with a short
    text at each model size tried. Raises InfeasibleError when even the smallest model cannot be trained.
    """
    if not (isinstance(budget_usd, (int, float)) and math.isfinite(budget_usd) and budget_usd > 0):
        raise ClustersimError(f"the budget must be a positive number of dollars, got {budget_usd!r}")
    if deadline_days is not None and not deadline_days > 0:
        raise ClustersimError(f"the deadline must be a positive number of days, got {deadline_days!r}")
    if not (math.isfinite(tokens_per_param) and tokens_per_param > 0):
        raise ClustersimError(f"tokens per parameter must be a positive number, got {tokens_per_param!r}")
    catalog.gpu(gpu)
    base_m = base_mapping(base, reliability, set)
    q = price_for(gpu, price, base_m)
    if q is None:
        raise ClustersimError(f"the catalog has no on-demand price for {gpu}; give a price (preset or USD/GPU-h)")
    if q.usd_per_gpu_hour <= 0:
        raise ClustersimError("a plan needs a price above zero")
    planner = _Planner(base_m, gpu, q, parse_gpu_counts(gpus),
                       deadline_days if deadline_days is not None else max_days, chunk_rows, tokens_per_param,
                       progress)

    def affordable(n: float) -> tuple[bool, dict[str, Any] | None, _Eval]:
        ev = planner.evaluate(n)
        best = planner.cheapest(ev)
        return (best is not None and planner.cost(best) <= budget_usd), best, ev  # type: ignore[operator]

    def log_cost(n: float) -> float | None:
        best = affordable(n)[1]
        return math.log(planner.cost(best)) if best is not None else None  # type: ignore[arg-type]

    # A first guess from the budget at 40% MFU (the kernel corrects it): C = budget / price x peak x 0.4.
    peaks = catalog.gpu(gpu)["peak_tflops"]
    peak = float(peaks.get("bf16") or peaks.get("fp16")) * 1e12
    flop_guess = budget_usd / q.usd_per_gpu_hour * 3600.0 * peak * 0.4
    guess = math.sqrt(flop_guess / (scaling.FLOP_PER_PARAM_TOKEN * tokens_per_param))  # C = 6 N (k N)
    lo, hi = max(guess / 2.0, 1e8), guess * 2.0
    iterations = 0
    while not affordable(lo)[0]:
        iterations += 1
        hi, lo = lo, lo / 4.0
        if lo < 1e8:
            raise InfeasibleError(
                f"${budget_usd:,.0f} cannot train even a 100M-parameter model on {gpu} at "
                f"{q.label()} within {planner.limit_days:g} days")
    while affordable(hi)[0]:
        iterations += 1
        lo, hi = hi, hi * 4.0
        if hi > 1e15:
            raise ClustersimError("the budget is beyond any model size this tool can shape")
    target = math.log(budget_usd)
    while hi / lo > 1.0 + rel_tol:
        iterations += 1
        # bisection on log N; the new point is placed by log-log interpolation of the cost (~ N^2)
        # when both ends have one, kept inside the bracket's middle 80% so the bracket always shrinks
        mid = math.sqrt(lo * hi)
        c_lo, c_hi = log_cost(lo), log_cost(hi)
        if c_lo is not None and c_hi is not None and c_hi > c_lo:
            frac = (target - c_lo) / (c_hi - c_lo)
            frac = min(max(frac, 0.1), 0.9)
            mid = lo * (hi / lo) ** frac
        if affordable(mid)[0]:
            lo = mid
        else:
            hi = mid
        if scaling.arch_for_params(lo)["params"] == scaling.arch_for_params(hi)["params"]:
            break  # both ends have the same shape: nothing left to split
    _, best, ev = affordable(lo)
    if best is None:  # pragma: no cover - lo is affordable by construction
        raise InfeasibleError("no affordable model was found")
    n_opt, d_opt = ev.params, float(best["tokens"])
    optimum = {**best, "loss": scaling.chinchilla_loss(n_opt, d_opt), "flop": scaling.training_flop(n_opt, d_opt),
               "arch": {k: v for k, v in ev.arch.items() if k not in ("params",)},
               "tokens_per_param": d_opt / n_opt, "budget_left_usd": budget_usd - planner.cost(best)}  # type: ignore[operator]
    meeting = [r["gpus"] for r in ev.rows if r.get("fits") and planner.days(r) is not None
               and planner.days(r) <= planner.limit_days]  # type: ignore[operator]
    optimum["min_gpus_meeting_deadline"] = min(meeting) if meeting else None
    optimum["usd_per_pflop"] = planner.cost(best) / (optimum["flop"] / 1e15)  # type: ignore[operator]

    # The trade-off curve at a fixed budget: N around the optimum, the tokens the budget buys at each.
    rows: list[dict[str, Any]] = []
    for f in np.geomspace(0.25, 4.0, max(3, curve_points)):
        ev_n = planner.evaluate(lo * float(f))  # lo x 1 is the optimum itself
        # per cluster size: tokens the budget buys (cost linear in tokens), then the deadline on those days
        options = []
        for r in ev_n.rows:
            c, d = planner.cost(r), planner.days(r)
            if not r.get("fits") or c is None or d is None or c <= 0:
                continue
            scale = budget_usd / c
            if d * scale <= planner.limit_days:
                options.append((scale, r))
        if not options:
            continue
        scale, r = max(options, key=lambda o: o[0])
        rows.append(_curve_row(ev_n.params / 1e9, float(r["tokens"]) * scale, r, scale, budget_usd))
    loss_optimal = min(rows, key=lambda r: r["loss"]) if rows else None
    rule = ("20 per parameter (Chinchilla-optimal, Hoffmann et al. 2022 Table 3, Approach 1)"
            if tokens_per_param == scaling.CHINCHILLA_TOKENS_PER_PARAM else f"{tokens_per_param:g} per parameter (given)")
    notes = [
        f"The plan is the largest model trained on {rule} that the budget pays for by the deadline. The "
        "trade-off table spends the same budget on other sizes; its lowest predicted loss (Eq. 10 fit, Approach 3, "
        "which favours more tokens per parameter than Approach 1) can sit at another size: both are shown, the "
        "plan follows the tokens-per-parameter rule you chose (--tokens-per-param to change it).",
        f"Price {q.label()}; failures from the '{reliability}' preset (expected goodput, Daly 2006).",
    ]
    if deadline_days is None:
        notes.append(f"No deadline: cluster sizes slower than {max_days:g} days were not considered.")
    by_gpus = list(ev.rows)
    return PlanResult(budget_usd=float(budget_usd), deadline_days=deadline_days, gpu=gpu, price=q,
                      optimum=optimum, rows=rows, by_gpus=by_gpus, loss_optimal=loss_optimal,
                      iterations=iterations, configs_evaluated=planner.configs, notes=notes,
                      tokens_per_param=tokens_per_param)
