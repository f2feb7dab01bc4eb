"""``finetune``: on each catalog GPU and in each mode, the fewest GPUs that can fine-tune a model, and the bill.

Modes (the kernel's memory model): ``full-finetune`` (every weight trained, with its gradients and
mixed-precision Adam states, ZeRO 0-3), ``lora`` (frozen 16-bit base, trainable adapters; Hu et al.
2021) and ``qlora`` (frozen 4-bit NF4 base; Dettmers et al. 2023). GPU counts tried: powers of two
within one node (1, 2, 4, 8), then whole nodes doubling (2 x 8, 4 x 8, ...), up to ``max_gpus``; the
smallest count where some configuration of the parallelism search fits in memory wins, with its
fastest configuration. The ladders are climbed together: each rung's points (every GPU and mode not
yet placed) go through the kernel in one call.

A configuration fits when it leaves ``headroom`` (default 10%) of the GPU's memory free: the kernel
counts weights, gradients, optimizer states, activations and fixed buffers, but a real job also loses
memory to the allocator's fragmentation and to the CUDA context and communication buffers
(Rajbhandari et al. 2020, "ZeRO", Sec. 3.2, report out-of-memory errors with over 30% of memory still
free from fragmentation alone), so a layout at 79.9 of 80 GiB is not one to rent GPUs for.

The recipe (sequence length, batch, precision, LoRA rank) comes from ``base`` and ``set`` (the CLI's
``--seq-len``, ``--batch-seqs``, ``--lora-rank``, ``--base`` and ``--set``), never from the pre-training
default of 4M-token batches. The default recipe is Llama 2's supervised fine-tuning: sequences of 4096 tokens, 64 per step
(Touvron et al. 2023, arXiv:2307.09288, Sec. 3.1), bf16 (fp16 on a GPU without bf16), with failures
from the ``kokolis-rsc1`` preset for the expected days. Prices: the newest on-demand catalog price of
each GPU; a GPU with none gets no dollars, and its row says so.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clustersim.errors import ClustersimError
from clustersim.money import batch, scaling
from clustersim.money.costs import DEFAULT_RELIABILITY, base_mapping, point_row, price_for, resolve_model
from clustersim.money.prices import PriceQuote
from clustersim.money.tabular import csv_text, write_csv
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario, catalog

__all__ = ["FinetuneResult", "finetune", "gpu_ladder", "FINETUNE_MODES", "DEFAULT_MAX_GPUS", "DEFAULT_HEADROOM",
           "JSON_KEYS"]

FINETUNE_MODES = ("full-finetune", "lora", "qlora")
#: The largest cluster tried (128 nodes of 8): beyond it a fine-tune is a pre-training-sized job.
DEFAULT_MAX_GPUS = 1024
#: Fraction of each GPU's memory a fine-tuning layout must leave free (see the module docstring).
DEFAULT_HEADROOM = 0.10
#: The keys of ``finetune --json``'s list.
JSON_KEYS = ("gpu", "mode", "min_gpus", "memory_per_gpu_gib", "days", "cost_usd")
COLUMNS = ("model", "params_b", "tokens", "gpu", "mode", "min_gpus", "memory_per_gpu_gib", "gpu_memory_gib", "days",
           "cost_usd", "usd_per_gpu_hour", "price", "price_date", "tp", "pp", "dp", "cp", "zero", "micro_batch_seqs",
           "recompute", "mfu", "note")


def _default_recipe() -> dict[str, Any]:
    # Llama 2 SFT: 4096-token sequences, batch 64 (Touvron et al. 2023, Sec. 3.1)
    return {"name": "finetune", "training": {"seq_len": 4096, "global_batch_seqs": 64, "precision": "bf16",
                                             "recompute": "selective", "lora_rank": 16}}


def gpu_ladder(gpus_per_node: int, max_gpus: int = DEFAULT_MAX_GPUS) -> list[int]:
    """1, 2, 4, ... up to one node, then whole nodes doubling, up to ``max_gpus``."""
    out = []
    n = 1
    while n < gpus_per_node and n <= max_gpus:
        out.append(n)
        n *= 2
    n = gpus_per_node
    while n <= max_gpus:
        out.append(n)
        n *= 2
    return out


@dataclass(frozen=True)
class FinetuneResult:
    """One row per (GPU, mode): the smallest GPU count that fits, its memory, days and dollars."""

    model: str
    params_b: float
    tokens: float
    rows: list[dict[str, Any]]
    configs_evaluated: int
    notes: list[str] = field(default_factory=list)
    recipe: str = ""
    headroom: float = 0.0

    def to_list(self) -> list[dict[str, Any]]:
        """The ``finetune --json`` list: {gpu, mode, min_gpus, memory_per_gpu_gib, days, cost_usd}."""
        return jsonable([{k: r.get(k) for k in JSON_KEYS} for r in self.rows])

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"kind": "finetune", "model": self.model, "params_b": self.params_b, "tokens": self.tokens,
                         "recipe": self.recipe, "memory_headroom": self.headroom,
                         "configs_evaluated": self.configs_evaluated, "notes": self.notes, "rows": self.rows,
                         **provenance()})

    def best(self, mode: str | None = None) -> dict[str, Any] | None:
        """The cheapest row that fits (optionally of one mode); rows without a price come last."""
        ok = [r for r in self.rows if r.get("min_gpus") is not None and (mode is None or r["mode"] == mode)]
        return min(ok, key=lambda r: (r.get("cost_usd") is None, r.get("cost_usd") or 0.0, r["min_gpus"]),
                   default=None)

    def csv(self) -> str:
        return csv_text(self.rows, COLUMNS)

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        write_csv(path, self.rows, COLUMNS)


def finetune(model: str | float, tokens: float | str, *, gpus: Iterable[str] | None = None,
             modes: Sequence[str] = FINETUNE_MODES, max_gpus: int = DEFAULT_MAX_GPUS,
             base: Scenario | str | os.PathLike[str] | Mapping[str, Any] | None = None,
             price: str | float | None = None, reliability: str | None = DEFAULT_RELIABILITY,
             set: Iterable[str] = (), headroom: float = DEFAULT_HEADROOM,
             chunk_rows: int = batch.DEFAULT_CHUNK_ROWS) -> FinetuneResult:
    """The fewest GPUs of each catalog type that can fine-tune ``model`` in each mode, with days and dollars.

    ``model``: a catalog name (``llama3-70b``, ``bloom-176b``, ``llama3-405b``) or a size (``70B``);
    ``tokens``: the fine-tuning tokens (``1e9``, ``"500M"``); ``gpus``: catalog GPU names (default all);
    ``price``: one price for every GPU (default: the base scenario's for its GPU, else each GPU's newest
    on-demand catalog price). ``base``/``set``: the recipe (default Llama 2 SFT: 4096 x 64 sequences,
    LoRA rank 16) and ``KEY.PATH=VALUE`` overrides of it. ``headroom``: the fraction of GPU memory a
    layout must leave free.
    """
    tok = scaling.parse_size(tokens)
    bad = [m for m in modes if m not in FINETUNE_MODES]
    if bad or not modes:
        raise ClustersimError(f"unknown fine-tuning mode(s) {bad}; expected some of {', '.join(FINETUNE_MODES)}")
    if max_gpus < 1:
        raise ClustersimError("max_gpus must be >= 1")
    label, arch = resolve_model(model)
    gpu_names = list(gpus) if gpus is not None else list(catalog.gpus())
    for g in gpu_names:
        catalog.gpu(g)
    base_m = base_mapping(base if base is not None else _default_recipe(), reliability, set)
    params = catalog.params_from_architecture(catalog.model(arch) if isinstance(arch, str) else arch)
    quotes: dict[str, PriceQuote | None] = {}
    ladders: dict[str, list[int]] = {}
    notes: list[str] = []
    for g in gpu_names:
        quotes[g] = price_for(g, price, base_m)
        if quotes[g] is None:
            notes.append(f"{g}: no on-demand price in the catalog, so no dollars (give a price)")
        ladders[g] = gpu_ladder(int(catalog.gpu(g).get("gpus_per_node") or 8), max_gpus)
    rows: list[dict[str, Any]] = []
    done: builtins.set[tuple[str, str]] = builtins.set()
    configs = 0
    # Rung by rung up the GPU ladders: every (GPU, mode) not yet placed tries its next count; all of a
    # rung's points go through the kernel together, and a pair leaves the ladder once something fits.
    for rung in range(max(len(v) for v in ladders.values())):
        points: list[tuple[str, str, int, Scenario]] = []
        for g in gpu_names:
            if rung >= len(ladders[g]):
                continue
            n = ladders[g][rung]
            q = quotes[g]
            for mode in modes:
                if (g, mode) in done:
                    continue
                s = batch.point_scenario(base_m, model=arch, gpu=g, gpus=n, tokens=tok, mode=mode,
                                         usd_per_gpu_hour=q.usd_per_gpu_hour if q else None,
                                         name=f"{label} {mode} on {n} x {g}")
                points.append((g, mode, n, s))
        if not points:
            break
        bests = batch.best_configs([p[3] for p in points], chunk_rows=chunk_rows, headroom=headroom)
        configs += sum(b.configs for b in bests)
        for (g, mode, n, s), b in zip(points, bests, strict=True):
            if b.fits:
                done.add((g, mode))
                rows.append(_row(label, mode, n, s, b, quotes[g]))
    for g in gpu_names:
        for mode in modes:
            if (g, mode) not in done:
                gib = catalog.gpu(g)["memory_gib"]
                rows.append({"model": label, "params_b": params / 1e9, "tokens": tok, "gpu": g, "mode": mode,
                             "min_gpus": None, "memory_per_gpu_gib": None, "gpu_memory_gib": gib, "days": None,
                             "cost_usd": None, "note": f"does not fit on up to {max_gpus} GPUs of {gib} GiB"})
    order = {(g, m): i for i, (g, m) in enumerate((g, m) for g in gpu_names for m in modes)}
    rows.sort(key=lambda r: order[(r["gpu"], r["mode"])])
    tr = batch.point_scenario(base_m, model=arch, gpu=gpu_names[0], gpus=1, tokens=tok).training
    recipe = (f"{tr.seq_len:,}-token sequences x {tr.batch_seqs:,} per step = {tr.seq_len * tr.batch_seqs:,} tokens, "
              f"{int(tok // (tr.seq_len * tr.batch_seqs)):,} steps, LoRA rank {tr.lora_rank}, "
              f"{100 * headroom:.0f}% memory headroom")
    if tok < 10 * tr.seq_len * tr.batch_seqs:
        notes.append(f"only {tok / (tr.seq_len * tr.batch_seqs):.1f} steps: the tokens barely fill the batch; "
                     "give a smaller --batch-seqs")
    return FinetuneResult(model=label, params_b=params / 1e9, tokens=tok, rows=rows,
                          configs_evaluated=configs, notes=notes, recipe=recipe, headroom=headroom)


def _row(label: str, mode: str, n: int, s: Scenario, b: batch.Best, q: PriceQuote | None) -> dict[str, Any]:
    r = point_row(label, b, q)
    days = r.get("expected_wall_days") if r.get("expected_wall_days") is not None else r.get("train_days")
    cost = r.get("expected_cost_usd") if r.get("expected_cost_usd") is not None else r.get("cost_usd")
    out = {"model": label, "params_b": r["params_b"], "tokens": r["tokens"], "gpu": r["gpu"], "mode": mode,
           "min_gpus": n, "memory_per_gpu_gib": r.get("memory_per_gpu_gib"),
           "gpu_memory_gib": s.gpu()["memory_gib"], "days": days, "cost_usd": cost,
           "usd_per_gpu_hour": r.get("usd_per_gpu_hour"), "price": r.get("price"), "price_date": r.get("price_date"),
           "note": None if q is not None else "no catalog price for this GPU: cost unknown"}
    for k in ("tp", "pp", "dp", "cp", "zero", "micro_batch_seqs", "recompute", "mfu", "train_days",
              "expected_goodput"):
        out[k] = r.get(k)
    return out
