"""Many planning points through the kernel at once: each point's fastest configuration that fits.

A *point* is a scenario with ``parallelism: auto`` (a model, a GPU type and count, tokens, a mode).
For every point the parallelism search's enumeration (:func:`clustersim.cost.search.enumerate_configs`)
lists its valid configurations; the lists of all points are concatenated with each point's model,
GPU and fabric inputs repeated alongside, and evaluated by the vectorized kernel in as few calls as
the memory bound allows (one call for up to ``chunk_rows`` rows); then, grouped by point, the
fastest configuration among the feasible ones (valid and fits in memory) wins. At a fixed GPU count
and price the fastest is also the cheapest, so one ranking serves both.

Theory's expected goodput (Daly 2006 via :func:`clustersim.reliability.theory_summary`) is added
per point from the winner's checkpoint size.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from clustersim import units
from clustersim.cost import search as cost_search
from clustersim.cost.inputs import INPUTS, RECOMPUTE, KernelInputs
from clustersim.cost.kernel import evaluate
from clustersim.errors import ClustersimError
from clustersim.resolve import base_kernel_inputs
from clustersim.scenario import Scenario, catalog, load_scenario

__all__ = ["Best", "best_configs", "point_scenario", "split_gpus", "CONFIG_KEYS", "DEFAULT_CHUNK_ROWS"]

#: The configuration fields of a search row (what the best point reports as its parallelism).
CONFIG_KEYS = ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch_seqs", "zero", "recompute", "sequence_parallel")
#: Rows per kernel call: 1e6 rows x ~40 float64 inputs is ~320 MB of inputs at most.
DEFAULT_CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class Best:
    """The winner of one point: its configuration and kernel outputs, or None when nothing fits."""

    scenario: Scenario
    configs: int
    feasible: int
    row: dict[str, Any] | None

    @property
    def fits(self) -> bool:
        return self.row is not None


def split_gpus(gpu: str | Mapping[str, Any], gpus: int) -> tuple[int, int]:
    """(nodes, GPUs per node) for a GPU count: a part of one node below a node's size, else whole nodes."""
    per_node = int((catalog.gpu(gpu) if isinstance(gpu, str) else gpu).get("gpus_per_node") or 8)
    if gpus < 1:
        raise ClustersimError(f"a GPU count must be >= 1, got {gpus}")
    if gpus <= per_node:
        return 1, gpus
    if gpus % per_node:
        raise ClustersimError(f"{gpus} GPUs is not a whole number of {per_node}-GPU nodes")
    return gpus // per_node, per_node


def point_scenario(base: Mapping[str, Any], *, model: str | Mapping[str, Any], gpu: str, gpus: int,
                   tokens: float | str, mode: str | None = None, usd_per_gpu_hour: float | None = None,
                   name: str | None = None) -> Scenario:
    """A scenario mapping (``base``) with the point's model, GPU type and count, tokens and mode set.

    The parallelism is ``auto``; a price given here replaces the base's; without one, a base price for
    another GPU type is dropped (the point then has no price, rather than a wrong one).
    """
    m = copy.deepcopy(dict(base))
    m["model"] = dict(model) if isinstance(model, Mapping) else model
    nodes, per_node = split_gpus(gpu, gpus)
    cluster = dict(m.get("cluster") or {})
    cluster.update({"gpu": gpu, "nodes": nodes, "gpus_per_node": per_node})
    m["cluster"] = cluster
    training = dict(m.get("training") or {})
    training["tokens"] = tokens
    training["parallelism"] = "auto"
    if mode is not None:
        training["mode"] = mode
    peaks = catalog.gpu(gpu).get("peak_tflops") or {}
    if training.get("precision", "bf16") not in peaks:
        training["precision"] = "bf16" if "bf16" in peaks else "fp16"
    m["training"] = training
    pricing = dict(m.get("pricing") or {})
    if usd_per_gpu_hour is not None:
        pricing = {k: v for k, v in pricing.items() if k != "preset"}
        pricing["usd_per_gpu_hour"] = usd_per_gpu_hour
        m["pricing"] = pricing
    elif pricing.get("preset") and catalog.price(str(pricing["preset"])).get("gpu") != gpu:
        # the base's price is for another GPU: this point has none (its dollars are missing, and said so)
        m["pricing"] = {k: v for k, v in pricing.items() if k != "preset"}
    elif pricing.get("usd_per_gpu_hour") is not None and (dict(base).get("cluster") or {}).get("gpu") not in (None, gpu):
        m["pricing"] = {k: v for k, v in pricing.items() if k != "usd_per_gpu_hour"}
    if name is not None:
        m["name"] = name
    return load_scenario(m)


def _enumerate(base: KernelInputs, gpus: int) -> dict[str, np.ndarray]:
    """The search's enumeration of every valid configuration of a point (flat arrays)."""
    x = base.scalars()
    return dict(cost_search.enumerate_configs(
        gpus=gpus, gpus_per_node=int(x["gpus_per_node"]), layers=int(x["layers"]),
        attention_heads=int(x["attention_heads"]), kv_heads=int(x["kv_heads"]), experts=int(x["experts"]),
        seq_len=int(x["seq_len"]), global_batch_seqs=int(x["global_batch_seqs"]),
        ffn_hidden_size=int(x["ffn_hidden_size"]), etp=int(x["etp"]),
        split_embedding=bool(x["pp_split_embedding"]), split_loss=bool(x["pp_split_loss"])))


def _flush(pending: list[tuple[int, KernelInputs, dict[str, np.ndarray], int]],
           best: dict[int, tuple[float, dict[str, Any]]], feasible: dict[int, int]) -> None:
    """Evaluate the pending points' configurations in one kernel call and keep each point's fastest."""
    if not pending:
        return
    sizes = np.array([n for _, _, _, n in pending])
    pid = np.repeat(np.array([p for p, _, _, _ in pending]), sizes)
    arrays: dict[str, Any] = {}
    for name in INPUTS:  # each point's KernelInputs, its layout fields replaced by its enumeration
        if name in pending[0][2]:
            arrays[name] = np.concatenate([np.asarray(cfg[name], dtype=np.float64) for _, _, cfg, _ in pending])
        else:
            vals = np.array([float(getattr(base, name)) for _, base, _, _ in pending])
            arrays[name] = vals[0] if np.all(vals == vals[0]) else np.repeat(vals, sizes)
    out = evaluate(KernelInputs(**arrays))
    ok = out["valid"] & out["fits_in_memory"]
    score = np.where(ok, out["step_time_s"], np.inf)
    order = np.lexsort((score, pid))
    first = np.unique(pid[order], return_index=True)[1]
    winners = order[first]
    counts = np.bincount(pid, weights=ok.astype(float))
    for w in winners:
        p = int(pid[w])
        feasible[p] = feasible.get(p, 0) + int(counts[p])
        if not np.isfinite(score[w]):
            continue
        if p not in best or score[w] < best[p][0]:
            row = {k: float(v[w]) if v.dtype != bool else bool(v[w]) for k, v in out.items()}
            row.update({k: float(np.asarray(arrays[k]).reshape(-1)[w] if np.ndim(arrays[k]) else arrays[k])
                        for k in CONFIG_KEYS if k in arrays})
            best[p] = (float(score[w]), row)
    pending.clear()


def best_configs(points: Sequence[Scenario], *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 progress: Callable[[str], None] | None = None, headroom: float = 0.0) -> list[Best]:
    """Each point's fastest feasible configuration, all points through the kernel together.

    Points are packed into kernel calls of at most ``chunk_rows`` rows (a point larger than that gets a
    call of its own); the winner per point is the argmin of step time over its valid rows that fit.
    ``progress`` is called with ``"i/n points"`` as points are enumerated and evaluated. ``headroom``:
    the fraction of each GPU's memory a configuration must leave free to count as fitting.
    """
    if not 0.0 <= headroom < 1.0:
        raise ClustersimError(f"the memory headroom must be in [0, 1), got {headroom}")
    best: dict[int, tuple[float, dict[str, Any]]] = {}
    feasible: dict[int, int] = {}
    totals: list[int] = []
    pending: list[tuple[int, KernelInputs, dict[str, np.ndarray], int]] = []
    rows = 0
    for i, s in enumerate(points):
        inputs = base_kernel_inputs(s)
        cfg = _enumerate(inputs, s.gpus)
        n = int(len(next(iter(cfg.values())))) if cfg else 0
        totals.append(n)
        if n == 0:
            continue
        if rows and rows + n > chunk_rows:
            _flush(pending, best, feasible)
            rows = 0
        if progress is not None:
            progress(f"{i + 1:,}/{len(points):,} points ({s.name})")
        if headroom:
            inputs = inputs.replace(hbm_bytes=float(inputs.hbm_bytes) * (1.0 - headroom))
        pending.append((i, inputs, cfg, n))
        rows += n
    _flush(pending, best, feasible)
    return [Best(scenario=s, configs=totals[i], feasible=feasible.get(i, 0),
                 row=best[i][1] if i in best else None) for i, s in enumerate(points)]


def config_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The parallelism fields of a winning row as plain values (recompute by name)."""
    out: dict[str, Any] = {}
    for k in CONFIG_KEYS:
        if k not in row:
            continue
        v = row[k]
        if k == "recompute":
            out[k] = RECOMPUTE[int(v)]
        elif k == "sequence_parallel":
            out[k] = bool(v)
        else:
            out[k] = int(v)
    return out


def theory_for(s: Scenario, row: Mapping[str, Any]) -> dict[str, Any]:
    """Theory's expected goodput and wall time for the winner (needs ``failures`` in the scenario)."""
    from clustersim.reliability import theory_summary

    out = theory_summary(s, dict(row))
    out["checkpoint_size_gb"] = float(row["checkpoint_bytes"]) / units.GB
    return out
