"""Published training runs through the user's own path: each row becomes a scenario, then ``estimate``.

The rows live in the repository's ``validation/published_runs.csv`` (columns documented in
``validation/README.md``). :func:`row_scenario` writes one row as the scenario mapping a user would
write for that run: every field of the row is a documented scenario key, and a blank field is simply
left out, so the user's default applies. :func:`predict` runs :func:`clustersim.estimate.estimate` on it
and reads the row's metric from the result. Nothing here looks at a row's id, source or model name.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clustersim import units
from clustersim.errors import ClustersimError
from clustersim.groups import GENERATIONS, gpu_generation, parallelism_style
from clustersim.groups import architecture as arch_group

__all__ = ["data_path", "published_rows", "row_scenario", "predict", "validation_table", "summary", "METRICS",
           "memory_table", "memory_summary", "matched_pairs", "precision_pairs", "gpu_pairs",
           "generation", "style", "architecture", "repeatability_pairs"]

#: The metrics a row may publish, and how each is read from an estimate.
METRICS = ("step_time_s", "tokens_per_s_per_gpu", "mfu", "model_tflops_per_gpu", "hardware_tflops_per_gpu",
           "gpu_hours")
#: Metrics that are times (compared as speeds: their inverse).
_TIME_METRICS = ("step_time_s", "gpu_hours")
#: Tokens of a row that publishes throughput only (the figure does not depend on it).
_DEFAULT_TOKENS = 1e9

_TOPOLOGIES = ("fat-tree", "rail-optimized", "nvl72")


def data_path() -> Path:
    """The repository's copy of the published runs (never a path outside the repository)."""
    return Path(__file__).resolve().parents[1] / "validation" / "published_runs.csv"


def published_rows(path: str | Path | None = None) -> list[dict[str, str]]:
    """The published rows as text fields (blank = not stated)."""
    source = Path(path) if path is not None else data_path()
    with open(source, newline="", encoding="utf-8") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _num(row: Mapping[str, str], key: str) -> float | None:
    text = row.get(key, "")
    return float(text) if text else None


def _int(row: Mapping[str, str], key: str) -> int | None:
    value = _num(row, key)
    return int(value) if value is not None else None


def _bool(row: Mapping[str, str], key: str) -> bool | None:
    text = row.get(key, "").lower()
    return None if not text else text == "true"


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def generation(row: Mapping[str, str]) -> str:
    """The GPU generation of a row (for the per-generation report; :func:`clustersim.groups.gpu_generation`)."""
    return gpu_generation(row["gpu"])


def style(row: Mapping[str, str]) -> str:
    """The parallelism style (:func:`clustersim.groups.parallelism_style`), or ``not stated``."""
    if not row.get("tp") and not row.get("pp") and not row.get("zero"):
        return "not stated"
    return parallelism_style(_int(row, "tp") or 1, _int(row, "pp") or 1, _int(row, "zero") or 0)


def architecture(row: Mapping[str, str]) -> str:
    """``moe`` for a mixture-of-experts row (``experts`` above 1), else ``dense``
    (:func:`clustersim.groups.architecture`)."""
    return arch_group(_int(row, "experts"))


def residuals(table: list[dict[str, Any]] | None = None) -> list[Any]:
    """The validation residuals (:class:`clustersim.calibrate.intervals.Residual`): e = log(true step time /
    predicted) = log(1 + speed error) per predicted row, with its group, configuration and source (rows
    the estimate refused are left out; a row's configuration key is its scenario without the name)."""
    import json

    from clustersim.calibrate.intervals import Residual

    rows = {r["id"]: r for r in published_rows()}
    out = []
    for t in table if table is not None else validation_table():
        if t.get("error") is None:
            continue
        row = rows.get(t["id"])
        config = json.dumps({k: v for k, v in row_scenario(row).items() if k != "name"}, sort_keys=True) \
            if row is not None else t["id"]
        out.append(Residual(t["id"], t["generation"], t["style"], math.log1p(t["error"]), config,
                            str(t.get("source") or ""), str(t.get("architecture") or "dense")))
    return out


def row_scenario(row: Mapping[str, str]) -> dict[str, Any]:
    """The scenario a user would write for one published run (blank fields left to the defaults)."""
    experts = _int(row, "experts") or 1
    model: dict[str, Any] = {}
    for key in ("layers", "hidden_size", "attention_heads", "kv_heads", "head_dim", "attention_head_dim", "v_head_dim",
                "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "sliding_window", "sliding_window_layers", "vocab_size"):
        _put(model, key, _int(row, key))
    ffn = _int(row, "moe_ffn_hidden_size") if experts > 1 and row.get("moe_ffn_hidden_size") else None
    _put(model, "ffn_hidden_size", ffn or _int(row, "ffn_hidden_size"))
    _put(model, "gated_mlp", _bool(row, "gated_mlp"))
    _put(model, "tied_embeddings", _bool(row, "tied_embeddings"))
    _put(model, "dropout", _bool(row, "dropout"))
    if experts > 1:
        model["experts"] = experts
        _put(model, "experts_per_token", _int(row, "experts_per_token"))
        _put(model, "shared_experts", _int(row, "shared_experts"))
        _put(model, "dense_layers", _int(row, "dense_layers"))
        if _int(row, "dense_layers"):
            _put(model, "dense_ffn_hidden_size", _int(row, "ffn_hidden_size"))  # the dense layers' width
        _put(model, "expert_groups", _int(row, "expert_groups"))
        _put(model, "expert_groups_per_token", _int(row, "expert_groups_per_token"))
    gpus = _int(row, "gpus")
    per_node = _int(row, "gpus_per_node")
    if gpus is None:
        raise ClustersimError(f"row {row.get('id')}: no GPU count")
    cluster: dict[str, Any] = {"gpu": row["gpu"]}
    if per_node is not None:
        cluster["gpus_per_node"] = per_node
    cluster["nodes"] = max(1, math.ceil(gpus / (per_node or 8)))
    network: dict[str, Any] = {}
    _put(network, "nic_gbit_per_s", _num(row, "nic_gbit_per_s"))
    _put(network, "nics_per_node", _int(row, "nics_per_node"))
    _put(network, "oversubscription", _num(row, "oversubscription"))
    _put(network, "nodes_per_leaf", _int(row, "nodes_per_leaf"))
    if row.get("network_topology") in _TOPOLOGIES:  # free-text descriptions leave the default
        network["topology"] = row["network_topology"]
    if network:
        cluster["network"] = network
    training: dict[str, Any] = {}
    _put(training, "seq_len", _int(row, "seq_len"))
    _put(training, "global_batch_seqs", _int(row, "global_batch_seqs"))
    _put(training, "micro_batch_seqs", _int(row, "micro_batch_seqs"))
    if row.get("precision"):
        training["precision"] = row["precision"]
    if row.get("recompute"):
        training["recompute"] = row["recompute"]
    _put(training, "recompute_layers", _int(row, "recompute_layers"))
    if row.get("recompute_modules"):  # Megatron-core names, space-separated; "-" for none
        training["recompute_modules"] = [m for m in row["recompute_modules"].split() if m != "-"]
    _put(training, "activation_offload_layers", _int(row, "activation_offload_layers"))
    _put(training, "grad_reduce_in_fp32", _bool(row, "grad_reduce_in_fp32"))
    for key in ("master_weights_dtype", "optimizer_moments_dtype"):
        if row.get(key):
            training[key] = row[key]
    training["tokens"] = _num(row, "tokens") or _DEFAULT_TOKENS
    if row.get("tp") or row.get("pp") or row.get("dp") or row.get("zero"):
        par: dict[str, Any] = {}
        for key in ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "zero"):
            _put(par, key, _int(row, key))
        _put(par, "sequence_parallel", _bool(row, "sequence_parallel"))
        _put(par, "tp_comm_overlap", _bool(row, "tp_comm_overlap"))
        _put(par, "ep_comm_overlap", _bool(row, "ep_comm_overlap"))
        if row.get("placement"):
            par["placement"] = row["placement"]
        training["parallelism"] = par
    software: dict[str, Any] = {}
    for key in ("framework", "attention", "fp8_recipe", "moe_dispatcher", "pipeline_split"):
        if row.get(key) and not (key == "framework" and row[key] == "other"):
            software[key] = row[key]
    _put(software, "torch_compile", _bool(row, "torch_compile"))
    out: dict[str, Any] = {"name": row.get("id", ""), "model": model, "training": training, "cluster": cluster}
    if software:
        out["software"] = software
    return out


def _metric(est: Any, metric: str) -> float:
    k = est.kernel
    if metric == "tokens_per_s_per_gpu":
        return float(k["tokens_per_s"] / est.scenario.gpus)
    if metric == "mfu":
        return float(k["mfu_bf16_peak"])  # the literature's convention: against the dense BF16 peak
    return float(k[metric])


def predict(row: Mapping[str, str]) -> dict[str, Any]:
    """The estimate's value of the row's metric, through :func:`clustersim.estimate.estimate`; also the
    memory it needs (a published layout ran, so it must fit) and the MFU it implies."""
    from clustersim.estimate import estimate

    est = estimate(row_scenario(row), with_theory=False, feasible_only=False, with_interval=False)
    return {"predicted": _metric(est, row["metric"]), "fits_in_memory": bool(est.kernel["fits_in_memory"]),
            "memory_gib": est.kernel["memory_bytes"] / units.GIB, "mfu": float(est.kernel["mfu_bf16_peak"])}


def validation_table(rows: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Predicted vs published for every row (time-like metrics compared as speeds: the error is the
    relative error of the predicted speed, + = predicted faster than measured)."""
    table = []
    for row in rows if rows is not None else published_rows():
        published = float(row["value"])
        try:
            got = predict(row)
        except ClustersimError as exc:
            table.append({"id": row["id"], "metric": row["metric"], "published": published, "predicted": None,
                          "error": None, "refused": str(exc), "generation": generation(row), "style": style(row),
                          "architecture": architecture(row),
                          "precision": row.get("precision") or "bf16", "source": row.get("source", "")})
            continue
        pred = got["predicted"]
        inverse = row["metric"] in _TIME_METRICS
        error = (published / pred - 1.0) if inverse else (pred / published - 1.0)
        table.append({"id": row["id"], "metric": row["metric"], "published": published, "predicted": pred,
                      "error": error, "refused": None, "generation": generation(row), "style": style(row),
                      "architecture": architecture(row),
                      "precision": row.get("precision") or "bf16", "fits_in_memory": got["fits_in_memory"],
                      "memory_gib": got["memory_gib"], "source": row.get("source", "")})
    return table


def memory_table(rows: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Predicted vs published peak memory per GPU (GiB) for every row that states it (``published_memory_gib``):
    the estimate's ``memory_bytes`` through :func:`predict`; ``error`` = predicted / published - 1 (+ = the
    model asks for more memory than the run reserved)."""
    table = []
    for row in rows if rows is not None else published_rows():
        published = _num(row, "published_memory_gib")
        if published is None:
            continue
        got = predict(row)
        table.append({"id": row["id"], "published_gib": published, "predicted_gib": got["memory_gib"],
                      "error": got["memory_gib"] / published - 1.0, "fits_in_memory": got["fits_in_memory"],
                      "source": row.get("source", "")})
    return table


def memory_summary(table: list[dict[str, Any]]) -> dict[str, float]:
    """Mean absolute error (relative and in GiB), worst relative error, bias and row count of a
    :func:`memory_table`."""
    n = len(table)
    if not n:
        return {"rows": 0, "mean_abs": 0.0, "mean_abs_gib": 0.0, "max_abs": 0.0, "bias": 0.0}
    return {"rows": n, "mean_abs": sum(abs(r["error"]) for r in table) / n,
            "mean_abs_gib": sum(abs(r["predicted_gib"] - r["published_gib"]) for r in table) / n,
            "max_abs": max(abs(r["error"]) for r in table), "bias": sum(r["error"] for r in table) / n}


def summary(table: list[dict[str, Any]], by: str | None = None) -> dict[str, dict[str, float]]:
    """Mean and median absolute error, bias (mean signed error) and row count, overall or per group."""
    groups: dict[str, list[float]] = {}
    for r in table:
        if r["error"] is None:
            continue
        groups.setdefault(str(r[by]) if by else "all", []).append(r["error"])
    out = {}
    for name, errs in sorted(groups.items()):
        absolute = sorted(abs(e) for e in errs)
        out[name] = {"rows": len(errs), "mean_abs": sum(absolute) / len(absolute),
                     "median_abs": absolute[len(absolute) // 2], "bias": sum(errs) / len(errs),
                     "max_abs": absolute[-1]}
    return out


#: What the rows of a matched pair may differ in (and nothing else), per kind of pair: a number format
#: (``training.precision``, ``software.fp8_recipe``), or a GPU (``cluster.gpu`` and the cluster's
#: ``network``: the same job on another GPU's cluster).
PAIR_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "precision": (("training", "precision"), ("software", "fp8_recipe")),
    "gpu": (("cluster", "gpu"), ("cluster", "network")),
}

#: GPU generations oldest first (clustersim.groups.GENERATIONS lists its families in that order).
_GENERATION_ORDER = tuple(dict.fromkeys(GENERATIONS.values()))


def _without(scenario: dict[str, Any], keys: tuple[tuple[str, str], ...]) -> str:
    import json

    rest = {k: dict(v) if isinstance(v, dict) else v for k, v in scenario.items() if k != "name"}
    for section, key in keys:
        if isinstance(rest.get(section), dict):
            rest[section].pop(key, None)
            if not rest[section]:
                del rest[section]
    return json.dumps(rest, sort_keys=True)


def _label(row: Mapping[str, str], kind: str) -> str:
    if kind == "gpu":
        return row["gpu"]
    return f"{row.get('precision') or 'bf16'} {row.get('fp8_recipe', '')}".strip()


def _pair_order(row: Mapping[str, str], kind: str) -> tuple[int, str]:
    if kind == "gpu":
        gen = generation(row)
        return (_GENERATION_ORDER.index(gen) if gen in _GENERATION_ORDER else len(_GENERATION_ORDER), row["gpu"])
    return (0 if (row.get("precision") or "bf16") in ("bf16", "fp16", "fp32") else 1, row.get("fp8_recipe", ""))


def _bf16_peak(gpu: str) -> float:
    from clustersim.scenario.catalog import gpu as catalog_gpu

    peaks = catalog_gpu(gpu)["peak_tflops"]
    return float(peaks.get("bf16") or peaks["fp16"])


def matched_pairs(kind: str, table: list[dict[str, Any]] | None = None,
                  rows: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Matched pairs: two published rows of one source whose scenarios are equal except for what ``kind``
    lets them differ in (:data:`PAIR_KINDS`: ``precision``, the same model, layout, batch and cluster in two
    number formats; ``gpu``, the same job on two GPUs' clusters), with the measured speed-up of the second
    over the first and the estimate's, each the ratio of the two rows' speeds. ``error`` = predicted
    speed-up / measured - 1, which is (1 + e2) / (1 + e1) - 1 of the two rows' speed errors: it tests what
    the one difference does, apart from everything the two runs share (what FP8 or a recipe speeds up and
    what it costs; how the time model scales from one GPU generation to the next). The first of a pair is
    the 16-bit row (or, for two FP8 recipes, the recipe that sorts first), or the older GPU generation.
    Pairs are found from the scenarios alone (never an id); ``rows``: the published rows ``table`` was made
    from (the repository's by default)."""
    keys = PAIR_KINDS[kind]
    rows_list = rows if rows is not None else published_rows()
    table = table if table is not None else validation_table(rows_list)
    by_id = {r["id"]: r for r in rows_list}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for t in table:
        row = by_id.get(t["id"])
        if t["error"] is None or row is None or t["metric"] == "gpu_hours":
            continue
        key = (source_of(row), t["metric"], _without(row_scenario(row), keys))
        groups.setdefault(key, []).append(t)
    out = []
    for (src, metric, _), members in groups.items():
        members.sort(key=lambda t: _pair_order(by_id[t["id"]], kind))
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                ra, rb = by_id[a["id"]], by_id[b["id"]]
                if _label(ra, kind) == _label(rb, kind):
                    continue
                inverse = metric in _TIME_METRICS
                measured = a["published"] / b["published"] if inverse else b["published"] / a["published"]
                predicted = a["predicted"] / b["predicted"] if inverse else b["predicted"] / a["predicted"]
                if metric == "mfu":  # MFU is against each GPU's own dense 16-bit peak: as speeds
                    peaks = _bf16_peak(rb["gpu"]) / _bf16_peak(ra["gpu"])
                    measured, predicted = measured * peaks, predicted * peaks
                out.append({"first": a["id"], "second": b["id"], "source": src, "metric": metric,
                            "first_label": _label(ra, kind), "second_label": _label(rb, kind),
                            "measured": measured, "predicted": predicted, "error": predicted / measured - 1.0})
    return out


def precision_pairs(table: list[dict[str, Any]] | None = None,
                    rows: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """:func:`matched_pairs` of two number formats."""
    return matched_pairs("precision", table, rows)


def gpu_pairs(table: list[dict[str, Any]] | None = None,
              rows: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """:func:`matched_pairs` of two GPUs: the same job on another GPU's cluster."""
    return matched_pairs("gpu", table, rows)


def source_of(row: Mapping[str, str]) -> str:
    """The publication a row comes from (its source up to the first comma or parenthesis)."""
    return row.get("source", "").split(",")[0].split("(")[0].strip()


#: The time model's fitted constants (clustersim.cost.efficiency) and the grid each is chosen on.
FITTED_GRIDS: dict[str, tuple[float, ...]] = {
    "SUSTAINED_FRACTION": (0.8, 0.85, 0.9, 0.95, 1.0),
    "OVERLAP_INTERFERENCE": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    "MOE_EXPERT_PASS_S": (0.0, 5e-5, 1e-4, 1.5e-4, 2e-4, 3e-4),
}
#: The grid of efficiency.OVERLAP_INTERFERENCE (kept for callers of fit_interference).
INTERFERENCE_GRID = FITTED_GRIDS["OVERLAP_INTERFERENCE"]


def _log_loss(errors: list[float]) -> float:
    return sum(math.log1p(e) ** 2 for e in errors) / max(len(errors), 1)


def fit_constant(name: str, rows: list[dict[str, str]] | None = None,
                 grid: tuple[float, ...] | None = None) -> dict[str, Any]:
    """Refit one fitted constant of the time model on the throughput rows, and leave one source out.

    For each grid value of ``efficiency.<name>`` (the other constants held at their values) the whole
    table is predicted once; the fit minimises the mean squared log speed error; leaving a source out
    refits on the other sources and predicts the held-out one. Only rows whose prediction the constant
    moves enter (the MoE constant moves only MoE rows). Returns the best value on those rows, the rows
    it was fitted on, and per source the refit value and the held-out mean absolute error.
    """
    from clustersim.cost import efficiency

    grid = FITTED_GRIDS[name] if grid is None else grid
    rows = [r for r in (rows if rows is not None else published_rows()) if r["metric"] != "gpu_hours"]
    saved = getattr(efficiency, name)
    errors: dict[float, dict[str, float]] = {}
    try:
        for k in grid:
            setattr(efficiency, name, k)
            errors[k] = {r["id"]: r["error"] for r in validation_table(rows) if r["error"] is not None}
    finally:
        setattr(efficiency, name, saved)
    source = {r["id"]: source_of(r) for r in rows}
    ids = [i for i in source if all(i in errors[k] for k in grid)
           and max(errors[k][i] for k in grid) - min(errors[k][i] for k in grid) > 1e-9]

    def best(keep: list[str]) -> float:
        return min(grid, key=lambda k: _log_loss([errors[k][i] for i in keep]))

    per_source = []
    for src in sorted({source[i] for i in ids}):
        held = [i for i in ids if source[i] == src]
        k = best([i for i in ids if source[i] != src])
        per_source.append({"source": src, "rows": len(held), "refit": k,
                           "held_out_mean_abs": sum(abs(errors[k][i]) for i in held) / len(held)})
    return {"name": name, "best": best(ids), "current": saved, "grid": list(grid), "rows": len(ids),
            "per_source": per_source}


def fit_interference(rows: list[dict[str, str]] | None = None,
                     grid: tuple[float, ...] = INTERFERENCE_GRID) -> dict[str, Any]:
    """:func:`fit_constant` for efficiency.OVERLAP_INTERFERENCE."""
    return fit_constant("OVERLAP_INTERFERENCE", rows, grid)


def repeatability_path() -> Path:
    return data_path().with_name("repeatability.csv")


def repeatability_pairs(path: str | Path | None = None) -> list[dict[str, Any]]:
    """One layout measured in two releases of one source (``validation/repeatability.csv``): how far a
    published figure moves when nothing but the software release changes, the floor under any model's
    error on such rows. ``change`` = tokens/s per GPU in ``release_b`` / in ``release_a`` - 1. Needs no
    estimate (the file also holds systems the GPU catalog lacks)."""
    with open(path if path is not None else repeatability_path(), newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out: list[dict[str, Any]] = []
    for row in rows:
        a, b = float(row["tokens_per_s_per_gpu_a"]), float(row["tokens_per_s_per_gpu_b"])
        out.append({**row, "gpus": int(row["gpus"]), "tokens_per_s_per_gpu_a": a, "tokens_per_s_per_gpu_b": b,
                    "change": b / a - 1.0})
    return out


def mfu_ranges_path() -> Path:
    return data_path().with_name("mfu_ranges.csv")


def _mfu_ranges() -> list[dict[str, str]]:
    with open(mfu_ranges_path(), newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def best_published_mfu() -> dict[tuple[str, str], float]:
    """The best published dense-model MFU (against the BF16 peak) per (GPU, precision)."""
    out: dict[tuple[str, str], float] = {}
    for row in _mfu_ranges():
        if row.get("arch", "dense") != "dense":
            continue
        key = (row["gpu"], row["precision"])
        out[key] = max(out.get(key, 0.0), float(row["best_published_mfu"]))
    return out


def published_band(gpu: str, precision: str, params_b: float) -> tuple[float, float] | None:
    """The published dense-model MFU range (min, max, against the BF16 peak) for this GPU, precision and
    model size (``validation/mfu_ranges.csv``: its size bands are [params_b_min, params_b_max)); None when
    no source covers that size. Bands that overlap are merged (the widest range)."""
    lo = hi = None
    for row in _mfu_ranges():
        if (row.get("arch", "dense") != "dense" or row["gpu"] != gpu or row["precision"] != precision
                or not float(row["params_b_min"]) <= params_b < float(row["params_b_max"])):
            continue
        a, b = float(row["mfu_min"]), float(row["mfu_max"])
        lo, hi = (a, b) if lo is None or hi is None else (min(lo, a), max(hi, b))
    return None if lo is None or hi is None else (lo, hi)


#: How far outside its published size band a searched optimum may fall and still count as inside: the
#: issue's 5 points.
BAND_TOLERANCE = 0.05


#: Searched-optimum cases of the plausibility suite: a catalog model on a cluster, a 4M-token batch, 8k context.
PLAUSIBILITY_CASES = (("llama3-8b", 8), ("llama3-70b", 64), ("llama3-405b", 512))


def plausibility_table(cases: tuple[tuple[str, int], ...] = PLAUSIBILITY_CASES) -> list[dict[str, Any]]:
    """The searched optimum's MFU (``parallelism: auto``, through estimate) against the best published
    MFU for its GPU and precision, for every (GPU, precision) the published ranges cover, and against the
    published range for its size (``band``, None where no source covers the size; ``inside_band`` within
    :data:`BAND_TOLERANCE` of it)."""
    from clustersim.estimate import estimate

    table: list[dict[str, Any]] = []
    for (gpu, precision), best in sorted(best_published_mfu().items()):
        for model, nodes in cases:
            scenario = {"name": f"{model} on {gpu}", "model": model,
                        "training": {"seq_len": 8192, "global_batch_tokens": 4194304, "precision": precision,
                                     "tokens": 1e12, "parallelism": "auto"},
                        "cluster": {"gpu": gpu, "nodes": nodes}}
            try:
                est = estimate(scenario, with_theory=False, with_interval=False)
            except ClustersimError as exc:
                table.append({"gpu": gpu, "precision": precision, "model": model, "mfu": None,
                              "best_published": best, "excess": None, "refused": str(exc), "band": None,
                          "inside_band": None})
                continue
            mfu = float(est.kernel["mfu_bf16_peak"])
            band = published_band(gpu, precision, float(est.kernel["params"]) / 1e9)
            inside = None if band is None else band[0] - BAND_TOLERANCE <= mfu <= band[1] + BAND_TOLERANCE
            table.append({"gpu": gpu, "precision": precision, "model": model, "mfu": mfu, "best_published": best,
                          "excess": mfu - best, "refused": None, "band": band, "inside_band": inside})
    return table
