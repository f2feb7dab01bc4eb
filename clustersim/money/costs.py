"""``costs``: time and dollars per model size, on one or several GPU types, for a GPU count or a range.

Each point (model size x GPU type x GPU count) gets its fastest parallelism that fits, all points
through the vectorized kernel together (:func:`clustersim.money.batch.best_configs`), and theory's
expected goodput from a reliability preset (default ``kokolis-rsc1``: 6.5 failures per 1000
node-days, Kokolis et al. 2024) with Daly's checkpoint interval (Daly 2006, Eq. 37) and the
checkpoint size from the kernel written at the scenario's storage bandwidth (default 273 GB/s,
Narayanan et al. 2021 Sec. 5.10). Sizes are catalog models or parameter counts shaped by
:func:`clustersim.money.scaling.arch_for_params`; tokens are fixed or ``chinchilla`` (20 per parameter,
Hoffmann et al. 2022 Table 3).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clustersim import units
from clustersim.errors import ClustersimError
from clustersim.money import batch, scaling
from clustersim.money.prices import PriceQuote, newest_price, quote
from clustersim.money.tabular import csv_text, write_csv
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario, catalog

__all__ = ["CostsResult", "costs", "base_mapping", "resolve_model", "parse_gpu_counts", "DEFAULT_SIZES",
           "DEFAULT_GPU_COUNTS", "DEFAULT_RELIABILITY", "COLUMNS"]

#: The default table: 1B to 1T parameters (shaped by the scaling rule).
DEFAULT_SIZES = ("1B", "8B", "70B", "175B", "405B", "1T")
#: The default cluster sizes (whole 8-GPU nodes).
DEFAULT_GPU_COUNTS = (1024, 4096, 16384)
#: Failures for the expected goodput: Meta RSC-1's 6.5 failures per 1000 node-days (Kokolis et al. 2024).
DEFAULT_RELIABILITY = "kokolis-rsc1"

#: The table's columns, in order.
#: The failure-free figures each row carries an 80% prediction interval of (estimate's published
#: residuals for the winner's architecture, GPU generation and parallelism style), as the sweep rows name them.
INTERVAL_FIGURES = ("train_days", "gpu_hours", "cost_usd")
INTERVAL_COLUMNS = tuple(f"prediction_interval_{f}_{end}" for f in INTERVAL_FIGURES for end in ("lo", "hi"))

COLUMNS = ("model", "params_b", "tokens", "gpu", "gpus", "fits", "tp", "pp", "dp", "cp", "ep", "vpp", "zero",
           "micro_batch_seqs", "recompute", "mfu", "memory_per_gpu_gib", "train_days", "gpu_hours",
           "usd_per_gpu_hour", "price", "cost_usd", "job_mtbf_hours", "checkpoint_size_gb",
           "checkpoint_interval_minutes", "expected_goodput", "expected_wall_days", "expected_cost_usd",
           "usd_per_billion_tokens", *INTERVAL_COLUMNS, "note")


def base_mapping(base: Scenario | str | os.PathLike[str] | Mapping[str, Any] | None = None,
                 reliability: str | None = DEFAULT_RELIABILITY, set: Iterable[str] = ()) -> dict[str, Any]:
    """The recipe every point shares: a scenario's (as a mapping) or a default pre-training recipe.

    The default: sequence 4096, the scenario format's default batch (2**22 tokens, Llama 3 405B's
    initial batch), bf16, selective recompute. With ``reliability`` (a catalog preset) the failures
    section becomes that preset with its suggested detection and restart times, unless the base has
    its own failures. ``set``: ``KEY.PATH=VALUE`` overrides applied to the recipe (as ``--set``), last.
    """
    if base is None:
        m: dict[str, Any] = {"name": "costs", "training": {"seq_len": 4096, "precision": "bf16",
                                                          "recompute": "selective"}}
    elif isinstance(base, Scenario):
        m = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    elif isinstance(base, Mapping):
        m = dict(base)
    else:
        from clustersim.scenario import load_scenario

        m = load_scenario(base).model_dump(mode="json", by_alias=True, exclude_none=True)
    if reliability is not None and not m.get("failures"):
        preset = catalog.reliability_preset(reliability)
        m["failures"] = {"preset": reliability, "detect_minutes": preset.get("detect_minutes", 5.0),
                         "restart_minutes": preset.get("restart_minutes", 10.0)}
    overrides = list(set)
    if overrides:
        from clustersim.scenario.loader import apply_overrides

        m = apply_overrides(m, overrides)
    return m


def resolve_model(model: str | float) -> tuple[str, Any]:
    """(label, model) for a catalog name (kept by name) or a size such as ``70B`` (the scaling rule)."""
    if isinstance(model, str):
        try:
            catalog.model(model)
            return model, model
        except ClustersimError:
            if not model.strip()[:1].isdigit():
                raise
    arch = scaling.arch_for_params(scaling.parse_size(model))
    label = str(arch.pop("name"))
    arch.pop("params")
    return label, arch


def parse_gpu_counts(spec: int | str | Sequence[int]) -> list[int]:
    """GPU counts from a number, a list, ``"512,1024"`` or a doubling range ``"512:16384"``."""
    if isinstance(spec, int):
        counts = [spec]
    elif isinstance(spec, str):
        text = spec.replace(" ", "")
        try:
            if ":" in text:
                lo_s, hi_s = text.split(":", 1)
                lo, hi = int(lo_s), int(hi_s)
                if lo < 1 or hi < lo:
                    raise ValueError
                counts = []
                n = lo
                while n <= hi:
                    counts.append(n)
                    n *= 2
            else:
                counts = [int(x) for x in text.split(",") if x]
        except ValueError:
            raise ClustersimError(f"cannot read GPU counts {spec!r}; write 1024, 512,1024,4096 or 512:16384 "
                                  "(doubling)") from None
    else:
        counts = [int(x) for x in spec]
    if not counts or any(c < 1 for c in counts):
        raise ClustersimError(f"GPU counts must be positive, got {spec!r}")
    return counts


@dataclass(frozen=True)
class CostsResult:
    """The table of points, and the curves for the report (cost vs size, days vs GPUs)."""

    rows: list[dict[str, Any]]
    tokens: str | float
    reliability: str | None
    configs_evaluated: int
    name: str = "costs"
    notes: list[str] = field(default_factory=list)

    def curves(self) -> list[dict[str, Any]]:
        """Plot data: expected cost against parameters per (GPU, count); expected days against GPUs per model."""
        by_gpu: dict[str, list[tuple[float, float]]] = {}
        by_model: dict[str, list[tuple[float, float]]] = {}
        for r in self.rows:
            cost = r.get("expected_cost_usd") if r.get("expected_cost_usd") is not None else r.get("cost_usd")
            days = r.get("expected_wall_days") if r.get("expected_wall_days") is not None else r.get("train_days")
            if cost is not None:
                by_gpu.setdefault(f"{r['gpu']}, {r['gpus']} GPUs", []).append((r["params_b"], cost))
            if days is not None:
                by_model.setdefault(f"{r['model']}, {r['gpu']}", []).append((r["gpus"], days))

        def series(groups: dict[str, list[tuple[float, float]]]) -> list[dict[str, Any]]:
            out = []
            for name, pts in groups.items():
                pts = sorted(pts)
                out.append({"name": name, "x": [p[0] for p in pts], "y": [p[1] for p in pts]})
            return out

        return [
            {"title": "Cost against model size", "x_title": "parameters (billions)",
             "y_title": "expected cost (USD)", "log_x": True, "log_y": True, "series": series(by_gpu)},
            {"title": "Days against GPUs", "x_title": "GPUs", "y_title": "expected days", "log_x": True,
             "log_y": True, "series": series(by_model)},
        ]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"kind": "costs", "name": self.name, "tokens": self.tokens, "reliability": self.reliability,
                         "configs_evaluated": self.configs_evaluated, "notes": self.notes, "rows": self.rows,
                         "curves": self.curves(), **provenance()})

    def csv(self) -> str:
        return csv_text(self.rows, COLUMNS)

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        write_csv(path, self.rows, COLUMNS)


def price_for(gpu: str, price: str | float | None, base: Mapping[str, Any] | None = None) -> PriceQuote | None:
    """The price of a GPU type: the one given; else the base scenario's when it is for this GPU (a preset
    for it, or an inline figure with the base's own GPU); else the newest on-demand catalog price."""
    if price is not None:
        return quote(price)
    pricing = dict((base or {}).get("pricing") or {})
    base_gpu = ((base or {}).get("cluster") or {}).get("gpu")
    if pricing.get("preset"):
        q = quote(str(pricing["preset"]))
        if q.gpu == gpu:
            return q
    elif pricing.get("usd_per_gpu_hour") is not None and base_gpu == gpu:
        return PriceQuote(usd_per_gpu_hour=float(pricing["usd_per_gpu_hour"]), gpu=gpu)
    return newest_price(gpu, "on-demand")


def point_row(label: str, b: batch.Best, quote_: PriceQuote | None) -> dict[str, Any]:
    """One table row from a point's winner (a row with ``fits`` False when nothing fits)."""
    s = b.scenario
    params = catalog.params_from_architecture(s.model_arch())
    row: dict[str, Any] = {c: None for c in COLUMNS}
    row.update({"model": label, "params_b": params / 1e9, "tokens": s.tokens(), "gpu": s.gpu()["name"],
                           "gpus": s.gpus, "fits": b.fits, "configs": b.configs, "feasible_configs": b.feasible,
                           "usd_per_gpu_hour": quote_.usd_per_gpu_hour if quote_ else None,
                           "price": (quote_.preset or "given") if quote_ else None,
                           "price_date": quote_.date if quote_ else None})
    if b.row is None:
        row["note"] = (f"no configuration of the {b.configs:,} fits in {s.gpu()['memory_gib']} GiB per GPU"
                       if b.configs else "no valid configuration for this GPU count and batch")
        return row
    k = b.row
    row.update(batch.config_of(k))
    row.update({"mfu": k["mfu"], "step_time_s": k["step_time_s"], "memory_per_gpu_gib": k["memory_bytes"] / units.GIB,
                "train_days": k["train_s"] / units.DAY_S, "gpu_hours": k["gpu_hours"]})
    price = quote_.usd_per_gpu_hour if quote_ else None
    row["cost_usd"] = k["gpu_hours"] * price if price is not None else None
    th = batch.theory_for(s, k)
    row.update({key: th.get(key) for key in ("job_mtbf_hours", "checkpoint_size_gb", "checkpoint_interval_minutes",
                                              "checkpoint_write_s", "expected_goodput", "expected_wall_days")})
    wall = th.get("expected_wall_days")
    paid = s.gpus + (s.failures.spare_nodes * s.gpus_per_node if s.failures else 0)
    row["expected_cost_usd"] = wall * 24.0 * paid * price if (wall is not None and price is not None) else None
    best_cost = row["expected_cost_usd"] if row["expected_cost_usd"] is not None else row["cost_usd"]
    row["usd_per_billion_tokens"] = best_cost / (s.tokens() / 1e9) if best_cost is not None else None
    from clustersim.estimate import layout_interval

    iv = layout_interval(s.gpu()["name"], int(row["tp"]), int(row["pp"]), int(row["zero"]),
                         int(s.model_arch().get("experts", 1)))
    if iv is not None:
        for fig_name in INTERVAL_FIGURES:
            bounds = iv.apply(row[fig_name])
            if bounds is not None:
                row[f"prediction_interval_{fig_name}_lo"], row[f"prediction_interval_{fig_name}_hi"] = bounds
    return row


def costs(models: Iterable[str | float] = DEFAULT_SIZES, *, tokens: float | str = "chinchilla",
          gpu: str | Sequence[str] = "h100-sxm-80gb", gpus: int | str | Sequence[int] = DEFAULT_GPU_COUNTS,
          base: Scenario | str | os.PathLike[str] | Mapping[str, Any] | None = None,
          price: str | float | None = None, reliability: str | None = DEFAULT_RELIABILITY,
          set: Iterable[str] = (), chunk_rows: int = batch.DEFAULT_CHUNK_ROWS,
          progress: Callable[[str], None] | None = None) -> CostsResult:
    """Time and dollars for every (model, GPU type, GPU count), each with its fastest parallelism that fits.

    ``models``: catalog names or sizes (``"70B"``, ``1.5e12``). ``tokens``: a number or ``"chinchilla"``.
    ``gpu``: one catalog GPU or several. ``gpus``: a count, a list, or ``"512:16384"`` (doubling).
    ``price``: a preset or USD per GPU-hour for every GPU type; default the base scenario's price for
    its own GPU, else the newest on-demand catalog price of each GPU type (none in the catalog: dollars
    are None, and the notes say so). ``base``: a
    scenario whose recipe, network, failures and checkpoint storage every point shares; ``set``:
    overrides of that recipe (``KEY.PATH=VALUE``). ``progress``: called with a short text as the
    points go through the kernel.
    """
    model_list = list(models)
    if not model_list:
        raise ClustersimError("give at least one model or size")
    if isinstance(tokens, str) and tokens != "chinchilla":
        tokens = float(scaling.parse_size(tokens))
    gpu_list = [gpu] if isinstance(gpu, str) else list(gpu)
    for g in gpu_list:
        catalog.gpu(g)
    counts = parse_gpu_counts(gpus)
    base_m = base_mapping(base, reliability, set)
    resolved = [resolve_model(m) for m in model_list]
    points: list[tuple[str, Scenario, PriceQuote | None]] = []
    notes: list[str] = []
    for g in gpu_list:
        q = price_for(g, price, base_m)
        if q is None:
            notes.append(f"the catalog has no on-demand price for {g}: its dollars are empty (give --price)")
        for n in counts:
            for label, model in resolved:
                s = batch.point_scenario(base_m, model=model, gpu=g, gpus=n, tokens=tokens,
                                         usd_per_gpu_hour=q.usd_per_gpu_hour if q else None,
                                         name=f"{label} on {n} x {g}")
                points.append((label, s, q))
    bests = batch.best_configs([p[1] for p in points], chunk_rows=chunk_rows, progress=progress)
    rows = [point_row(label, b, q) for (label, _, q), b in zip(points, bests, strict=True)]
    return CostsResult(rows=rows, tokens=tokens, reliability=reliability,
                       configs_evaluated=sum(b.configs for b in bests), notes=notes)
