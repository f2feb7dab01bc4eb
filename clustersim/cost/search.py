"""Parallelism search: every valid layout for a cluster, evaluated by the vectorized kernel, ranked.

:func:`enumerate_configs` builds the space with numpy (a meshgrid of the divisors of the GPU count for
tp x cp x pp, then broadcast products with the expert-parallel, micro-batch and interleaving candidates,
masked by the divisibility rules, then every ZeRO stage, recompute policy and sequence-parallel
setting); no Python loop runs over configurations. :func:`search` masks the space by the rule set, evaluates
it in chunks, drops layouts that do not fit in memory, ranks the rest by step time or by cost, and explains
the winner against the runner-up part by part. The rules and the kernel run on (layouts x settings) grids
whose axes numpy broadcasts, so what depends on the layout alone (most of the kernel's operations: FLOPs,
GEMM and attention times, fabric tiers) is computed once per layout, not once per configuration.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clustersim import units
from clustersim.cost import pipeline, rules
from clustersim.cost.backend import NP
from clustersim.cost.inputs import KernelInputs
from clustersim.cost.kernel import BOOL_OUTPUTS, BREAKDOWN, evaluate
from clustersim.errors import ClustersimError

__all__ = ["CONFIG_KEYS", "SearchResult", "enumerate_configs", "search", "explain"]

#: The layout fields of a configuration, in the order the search reports them.
CONFIG_KEYS = ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch_seqs", "zero", "recompute", "sequence_parallel")
_OBJECTIVES = ("time", "cost")


@dataclass(frozen=True)
class SearchResult:
    """The best configurations (``rows``, best first: the layout plus every kernel output), how many
    configurations were evaluated and how many fit, the wall time, and why the best one wins."""

    rows: list[dict[str, Any]]
    configs_evaluated: int
    feasible: int
    elapsed_s: float
    why_best: str
    objective: str = "time"
    extra: dict[str, Any] = field(default_factory=dict)
    #: Layouts the enumeration produced that a framework cannot run, by rule (clustersim.cost.rules).
    excluded: dict[str, int] = field(default_factory=dict)

    def excluded_text(self) -> str:
        """'; excluded: ...' naming what the rules removed (empty when nothing was)."""
        if not self.excluded:
            return ""
        parts = ", ".join(f"{n:,} by {name}" for name, n in sorted(self.excluded.items(), key=lambda kv: -kv[1]))
        return f" (layouts excluded as unrunnable: {parts})"


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of an integer array (sorted, each value once) without its masked-array check, which
    imports numpy.ma (a few ms of every search's start-up)."""
    out = np.sort(values)
    if out.size > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def _divisors(n: int) -> np.ndarray:
    """The divisors of n, ascending (numpy: one pass over 1..sqrt(n))."""
    if n < 1:
        raise ClustersimError(f"expected a positive integer, got {n}")
    small = np.arange(1, math.isqrt(n) + 1, dtype=np.int64)
    small = small[n % small == 0]
    return _sorted_unique(np.concatenate([small, n // small]))


def _cross(table: dict[str, np.ndarray], name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    """Every row of ``table`` with every value of ``values`` (rows outer, values inner)."""
    n, k = len(next(iter(table.values()))), len(values)
    out = {key: np.repeat(col, k) for key, col in table.items()}
    out[name] = np.tile(values, n)
    return out


def _keep(table: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {key: col[mask] for key, col in table.items()}


def enumerate_configs(*, gpus: int, gpus_per_node: int, layers: int, attention_heads: int, kv_heads: int,
                      experts: int, seq_len: int, global_batch_seqs: int, max_tp: int | None = None,
                      ffn_hidden_size: int | None = None, max_micro_batch: int | None = None,
                      zero_stages: tuple[int, ...] = (0, 1, 2, 3), recompute: tuple[int, ...] = (0, 1, 2),
                      etp: int = 0, split_embedding: bool = False, split_loss: bool = False) -> dict[str, np.ndarray]:
    """Every valid (tp, pp, dp, cp, ep, vpp, micro_batch_seqs, zero, recompute, sequence_parallel) for
    ``gpus`` GPUs, as flat int arrays (``sequence_parallel`` bool), with tp x pp x dp x cp = gpus.

    Rules (as :func:`clustersim.cost.kernel.evaluate` checks them): tp divides the heads, the KV heads
    (and the FFN width when given), at most ``max_tp`` (no limit by default); cp = 1 or 2 cp divides the
    sequence; pp at most the layers; dp divides the global batch; ep divides the experts (1 for a
    dense model) and ep x etp divides tp x cp x dp (MoE parallel folding; ``etp`` 0 = tp); the
    micro-batch divides the batch per replica (at most ``max_micro_batch``); vpp divides
    the ceil(units / pp) units of a stage (units: the layers, plus one each for the embedding and the loss
    where ``split_embedding`` / ``split_loss`` count them, software.pipeline_split), and vpp > 1 needs pp > 1 and micro-batches a
    multiple of pp (Narayanan 2021 Sec. 2.2.2); sequence parallelism on or off when tp > 1 (off when
    tp = 1, where it changes nothing). ``gpus_per_node`` is accepted for callers' symmetry; tensor
    parallelism beyond a node is enumerated too (its all-reduces then cross the NICs, which the kernel
    charges) unless ``max_tp`` caps it, e.g. ``max_tp=gpus_per_node``.

    The kernel itself accepts any vpp up to a stage's units; the search keeps the divisors, the
    layouts whose model chunks are equal.
    """
    return _space(gpus=gpus, layers=layers, attention_heads=attention_heads, kv_heads=kv_heads, experts=experts,
                  seq_len=seq_len, global_batch_seqs=global_batch_seqs, max_tp=max_tp, ffn_hidden_size=ffn_hidden_size,
                  max_micro_batch=max_micro_batch, zero_stages=zero_stages, recompute=recompute, etp=etp,
                  gpus_per_node=gpus_per_node, split_embedding=split_embedding, split_loss=split_loss).columns()


class _Space:
    """The enumeration as index arrays: the distinct (tp, cp, pp, dp, ep, micro_batch_seqs, vpp) layouts
    (int columns of a few thousand rows), the (zero, recompute, sequence_parallel) settings a layout is
    crossed with (``settings``: one short int column each, the C-order cells of a (ZeRO stages x recompute
    policies x SP settings) ``grid``), and per configuration its layout's row, its setting's index and its
    cell of the (layouts x settings) grid in C order (``cells`` = rows x settings + slots). (A plain class:
    a dataclass costs a millisecond of every search's start-up to create.)"""

    __slots__ = ("layouts", "settings", "rows", "slots", "grid", "cells")

    def __init__(self, layouts: dict[str, np.ndarray], settings: dict[str, np.ndarray], rows: np.ndarray,
                 slots: np.ndarray, grid: tuple[int, int, int], cells: np.ndarray) -> None:
        self.layouts, self.settings, self.rows, self.slots = layouts, settings, rows, slots
        self.grid, self.cells = grid, cells

    def columns(self) -> dict[str, np.ndarray]:
        """Every configuration's fields, in :data:`CONFIG_KEYS` order: int arrays (``sequence_parallel`` bool)."""
        out = {key: col[self.rows] for key, col in self.layouts.items()}
        out.update({key: col[self.slots] for key, col in self.settings.items()})
        out["sequence_parallel"] = out["sequence_parallel"].astype(bool)
        return {key: out[key] for key in CONFIG_KEYS}


class _Table(dict[str, Any]):
    """Kernel inputs for some configurations of a :class:`_Space` (``select``: their indices, None: all):
    the scalars of ``x`` and each configuration field as float64, built when first read (for the rules when
    their shared quantities cannot be computed per layout, and for tests)."""

    def __init__(self, x: dict[str, float], space: _Space, small: dict[str, np.ndarray],
                 select: np.ndarray | None) -> None:
        super().__init__((k, v) for k, v in x.items() if k not in CONFIG_KEYS)  # (base holds placeholders)
        self._space, self._small, self._select = space, small, select
        self._index: dict[str, np.ndarray] = {}

    def _of(self, name: str) -> np.ndarray:
        """The selected configurations' ``rows`` or ``slots`` (computed once)."""
        if name not in self._index:
            full = getattr(self._space, name)
            self._index[name] = full if self._select is None else full[self._select]
        return self._index[name]

    def __missing__(self, key: str) -> np.ndarray:
        if key in self._space.layouts:
            col = self._small[key][self._of("rows")]
        elif key in self._space.settings:
            col = self._space.settings[key].astype(np.float64)[self._of("slots")]
        else:
            raise KeyError(key)
        self[key] = col
        return col


def _space(*, gpus: int, gpus_per_node: int, layers: int, attention_heads: int, kv_heads: int, experts: int,
           seq_len: int, global_batch_seqs: int, max_tp: int | None, ffn_hidden_size: int | None,
           max_micro_batch: int | None, zero_stages: tuple[int, ...], recompute: tuple[int, ...], etp: int,
           split_embedding: bool = False, split_loss: bool = False) -> _Space:
    """:func:`enumerate_configs`'s space as a :class:`_Space` (its rules are documented there)."""
    for name, value in (("gpus", gpus), ("gpus_per_node", gpus_per_node), ("layers", layers),
                        ("attention_heads", attention_heads), ("kv_heads", kv_heads), ("experts", experts),
                        ("seq_len", seq_len), ("global_batch_seqs", global_batch_seqs)):
        if int(value) != value or value < 1:
            raise ClustersimError(f"{name} must be a positive integer, got {value}")
    divs = _divisors(int(gpus))
    tp, cp, pp = (a.ravel() for a in np.meshgrid(divs, divs, divs, indexing="ij"))
    prod = tp * cp * pp
    ok = (gpus % prod == 0) & (attention_heads % tp == 0) & (kv_heads % tp == 0) & (pp <= layers)
    if ffn_hidden_size is not None:
        ok &= ffn_hidden_size % tp == 0
    if max_tp is not None:
        ok &= tp <= max_tp
    ok &= (cp == 1) | (seq_len % (2 * cp) == 0)
    dp = gpus // np.where(ok, prod, 1)
    ok &= global_batch_seqs % np.maximum(dp, 1) == 0
    table = {"tp": tp[ok], "cp": cp[ok], "pp": pp[ok], "dp": dp[ok]}

    table = _cross(table, "ep", _divisors(int(experts)))
    etp_of = table["tp"] if etp < 1 else etp
    table = _keep(table, (table["tp"] * table["cp"] * table["dp"]) % (table["ep"] * etp_of) == 0)
    micro = _divisors(int(global_batch_seqs))
    if max_micro_batch is not None:
        micro = micro[micro <= max_micro_batch]
    table = _cross(table, "micro_batch_seqs", micro)
    table = _keep(table, (global_batch_seqs // table["dp"]) % table["micro_batch_seqs"] == 0)
    def stage_units(pp: np.ndarray) -> np.ndarray:  # ceil(units / pp), as the rules count a stage
        units = pipeline.split_units(np, layers, pp, float(split_embedding), float(split_loss)).astype(np.int64)
        return -(-units // pp)

    stage = stage_units(table["pp"])
    if not len(stage):  # no (tp, cp, pp, dp) splits the GPUs and the batch: an empty space
        chunks = np.zeros(0, dtype=np.int64)
    else:
        chunks = _sorted_unique(np.concatenate([_divisors(int(n)) for n in _sorted_unique(np.asarray(stage))]))
    table = _cross(table, "vpp", chunks)
    stage_layers = stage_units(table["pp"])
    m = global_batch_seqs // (table["dp"] * table["micro_batch_seqs"])
    v, p = table["vpp"], table["pp"]
    table = _keep(table, (stage_layers % v == 0) & ((v == 1) | ((p > 1) & (m % p == 0))))
    return _final_cross(table, zero_stages, recompute, seq_len)


def _final_cross(table: dict[str, np.ndarray], zero_stages: tuple[int, ...], recompute: tuple[int, ...],
                 seq_len: int) -> _Space:
    """Every layout of ``table`` with every ZeRO stage, recompute policy and sequence-parallel setting
    (layouts outer, then ZeRO, recompute, SP inner; SP on only where tp > 1 and tp divides the sequence
    per CP rank). The same configurations, in the same order, as crossing the whole table three times and
    masking it twice: a (layouts x settings) grid masked once, as index arrays, without a full-width copy
    of every column per step."""
    n_z, n_r = len(zero_stages), len(recompute)
    settings = {"zero": np.repeat(np.asarray(zero_stages, dtype=np.int64), 2 * n_r),
                "recompute": np.tile(np.repeat(np.asarray(recompute, dtype=np.int64), 2), n_z),
                "sequence_parallel": np.tile(np.array([0, 1], dtype=np.int64), n_z * n_r)}
    tp, cp = table["tp"], table["cp"]
    sp_ok = (tp > 1) & ((seq_len // cp) % tp == 0)  # layouts that admit SP on
    grid = sp_ok[:, None] | (settings["sequence_parallel"] == 0)[None, :]
    cells = np.flatnonzero(grid)
    rows, slots = np.divmod(cells, len(settings["zero"]))
    return _Space(table, settings, rows, slots, (n_z, n_r, 2), cells)


#: The kernel outputs the search ranks a chunk on, by objective (:func:`_objective`, the memory filter); the
#: best rows get all
_RANKING_OUTPUTS = {"time": ("fits_in_memory", "step_time_s"),
                    "cost": ("fits_in_memory", "step_time_s", "tokens_per_s", "cost_usd", "gpu_hours")}


def _objective(out: dict[str, np.ndarray], objective: str, n_gpus: np.ndarray) -> np.ndarray:
    if objective == "time":
        return out["step_time_s"]
    # dollars (or GPU-hours when there is no price) per trained token
    tokens_per_step = out["tokens_per_s"] * out["step_time_s"]
    price = out["cost_usd"] / np.where(out["gpu_hours"] > 0, out["gpu_hours"], 1.0)
    gpu_hours = out["step_time_s"] * n_gpus / units.HOUR_S
    return gpu_hours * np.where(price > 0, price, 1.0) / tokens_per_step


def _layout(row: dict[str, Any]) -> str:
    text = f"tp {row['tp']} x pp {row['pp']} x dp {row['dp']}"
    if row["cp"] > 1:
        text += f" x cp {row['cp']}"
    if row["ep"] > 1:
        text += f", ep {row['ep']}"
    if row["vpp"] > 1:
        text += f", vpp {row['vpp']}"
    recompute = ("no", "selective", "full")[row["recompute"]]
    return (text + f", micro-batch {row['micro_batch_seqs']}, ZeRO-{row['zero']}, {recompute} recompute, "
            f"SP {'on' if row['sequence_parallel'] else 'off'}")


def explain(rows: list[dict[str, Any]], objective: str = "time", feasible: int | None = None) -> str:
    """Why the first of ``rows`` (best first) wins: against the first row that is not tied with it, the
    step-time parts that differ most; layouts that tie are named. ``feasible``: how many configurations
    fit in all (None: only ``rows``), so a search kept to its best row does not call that row the only
    one that fits."""
    if not rows:
        return "No configuration fits in memory."
    best = rows[0]
    text = (f"Best: {_layout(best)}: {best['step_time_s']:.4g} s per step, MFU {100 * best['mfu']:.1f}%, "
            f"{best['memory_bytes'] / units.GIB:.1f} GiB per GPU.")
    if len(rows) == 1:
        if feasible is None or feasible <= 1:
            return text + " It is the only configuration that fits in memory."
        return text + f" It is the fastest of the {feasible:,} configurations that fit in memory."
    scale = max(best["step_time_s"], 1e-300)
    tied = [r for r in rows[1:] if abs(r["step_time_s"] - best["step_time_s"]) <= 1e-9 * scale]
    if tied:
        text += (f" {len(tied)} other layout(s) in the top {len(rows)} take the same step time (e.g. "
                 f"{_layout(tied[0])}); this one is listed first as it needs no more memory.")
    runner_up = next((r for r in rows[1:] if r not in tied), None)
    if runner_up is None:
        return text
    gap = runner_up["step_time_s"] - best["step_time_s"]
    text += f" Next: {_layout(runner_up)}, {runner_up['step_time_s']:.4g} s ({100 * gap / scale:.2f}% slower)."
    diffs = sorted(((runner_up[k] - best[k], k) for k in BREAKDOWN), key=lambda d: -abs(d[0]))
    notable = [(d, k) for d, k in diffs if abs(d) > 1e-3 * scale][:3]
    if notable:
        parts = ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {'+' if d > 0 else '-'}{abs(d):.3g} s"
                          for d, k in notable)
        text += f" Its step differs by: {parts}"
        d, k = notable[0]
        text += f"; mostly {k.removesuffix('_s').replace('_', ' ')}." if d > 0 else "."
    if runner_up["memory_bytes"] < best["memory_bytes"]:
        text += (f" It would need {(best['memory_bytes'] - runner_up['memory_bytes']) / units.GIB:.1f} GiB less "
                 "per GPU.")
    if objective == "cost":
        text += " Ranked by cost per trained token (with every GPU in use, the same order as step time)."
    return text


#: The fields the enumeration sets per configuration, below its layout table (:class:`_Space`).
_PER_CONFIG = ("zero", "recompute", "sequence_parallel")


class _PerConfigField(Exception):
    """A rule read a per-configuration field, so it cannot be checked on the layout table alone."""


class _LayoutOnly(dict[str, Any]):
    """A rule's inputs on the layout table: reading a per-configuration field raises :class:`_PerConfigField`."""

    def __missing__(self, key: str) -> Any:
        raise _PerConfigField(key)


def _valid_rows(space: _Space, x: dict[str, float], small: dict[str, np.ndarray],
                excluded: dict[str, int] | None = None) -> np.ndarray:
    """:func:`clustersim.cost.rules.valid` over every configuration of ``space`` (``x``: the other inputs;
    ``small``: the layout table as float64). A rule that reads no per-configuration field is checked once
    per layout (a few thousand rows: the rules are elementwise, so a configuration's value is its
    layout's), the rest on the (layouts x settings) grid, each field at its own shape. The same booleans
    (tests/test_cost_search.py); on the Llama 3 405B space about 2 ms (8 ms on every configuration).

    ``excluded``, when given, receives how many configurations each rule rejects, in rule order, as
    :func:`clustersim.cost.rules.excluded` counts them on the rejected configurations (one rejected by
    several rules counts for each; a rule rejects only configurations that are rejected): a layout rule's
    count is the configurations of the layouts it rejects."""
    n = len(space.rows)
    table = _Table(x, space, small, None)
    per_layout_x = _LayoutOnly({k: v for k, v in x.items() if k not in _PER_CONFIG})  # (base holds placeholders)
    per_layout_x.update(small)
    try:
        d_small = rules.derived(NP, per_layout_x)
    except _PerConfigField:  # (the shared quantities read only layout fields; if not, check everything)
        if excluded is not None:
            excluded.update(rules.excluded(NP, table))
        return np.broadcast_to(np.asarray(rules.valid(NP, table)), (n,))
    n_layouts = len(space.layouts["tp"])
    per_layout: Any = True
    per_config: Any = True
    # the per-configuration rules run on the (layouts x settings) grid, each field at its own shape (layouts
    # (n, 1), settings (1, k)): a term of the layout alone is computed once per layout, as in the kernel
    grid_x: dict[str, Any] | None = None
    d_grid: dict[str, Any] = {}
    weight = None  # configurations per layout (for the counts)
    for rule in rules.RULES:
        try:
            ok = rule.check(NP, per_layout_x, d_small)
            per_layout = per_layout & ok
            if excluded is not None and not (np.ndim(ok) == 0 and bool(ok)):
                if np.ndim(ok) == 0:
                    bad = n
                else:
                    weight = np.bincount(space.rows, minlength=n_layouts) if weight is None else weight
                    bad = int(weight[np.logical_not(ok)].sum())
                if bad:
                    excluded[rule.name] = bad
        except _PerConfigField:
            if grid_x is None:  # the shared quantities are per layout: a layout axis, not recomputed
                grid_x = {**x, **{k: v[:, None] for k, v in small.items()},
                          **{k: v.astype(np.float64)[None, :] for k, v in space.settings.items()}}
                d_grid = {k: (v[:, None] if np.ndim(v) else v) for k, v in d_small.items()}
            ok = rule.check(NP, grid_x, d_grid)
            if np.all(ok):  # (it holds on the whole grid, so on every configuration: nothing to combine)
                continue
            per_config = per_config & ok
            if excluded is not None:
                bad = int(n - np.count_nonzero(_at_configs(space, ok)))
                if bad:
                    excluded[rule.name] = bad
    per_layout = np.broadcast_to(np.asarray(per_layout), (n_layouts,))
    if isinstance(per_config, bool):  # (every per-configuration rule holds everywhere)
        return per_layout[space.rows]
    return _at_configs(space, per_layout[:, None] & per_config)


def _at_configs(space: _Space, grid_value: Any) -> np.ndarray:
    """A value on the (layouts x settings) grid (any shape that broadcasts to it) at each configuration of
    ``space``, in order."""
    n_grid = (len(space.layouts["tp"]), len(space.settings["zero"]))
    return np.broadcast_to(np.asarray(grid_value), n_grid).reshape(-1)[space.cells]


#: Configurations per kernel call of the search at most (a layout group is split along its layouts beyond
#: this), so that its largest temporaries stay in the CPU's cache
_GROUP_CONFIGS = 16384


def _setting_axes(space: _Space, settings: dict[str, np.ndarray],
                  chosen: np.ndarray) -> tuple[int, dict[str, np.ndarray]]:
    """The settings ``chosen`` (sorted indices into ``space.settings``) as kernel inputs that broadcast
    against the layouts: when they are a product of ZeRO stages x recompute policies x SP settings (the
    rules the search applies remove whole stages or SP, so they are), one axis each after the layout
    axis, (1, z, 1, 1), (1, 1, r, 1), (1, 1, 1, s), so that a term that depends on the layout and SP
    alone is computed on layouts x SP; otherwise one axis of all of them, (1, k). Returns the number of
    dimensions and the inputs; in either case the grid's C order is the order of ``chosen``."""
    n_z, n_r, n_p = space.grid
    iz, ir, ip = (_sorted_unique(a) for a in np.unravel_index(chosen, space.grid))
    if len(iz) * len(ir) * len(ip) == len(chosen):
        return 4, {"zero": settings["zero"][iz * (n_r * n_p)].reshape(1, -1, 1, 1),
                   "recompute": settings["recompute"][ir * n_p].reshape(1, 1, -1, 1),
                   "sequence_parallel": settings["sequence_parallel"][ip].reshape(1, 1, 1, -1)}
    return 2, {key: col[chosen].reshape(1, -1) for key, col in settings.items()}


def _evaluate_configs(base: KernelInputs, space: _Space, small: dict[str, np.ndarray],
                      settings: dict[str, np.ndarray], rows: np.ndarray, slots: np.ndarray,
                      skip: frozenset[str], outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The kernel's ``outputs`` for the configurations (``rows``, ``slots``) of ``space``, a run of them in
    enumeration order (layout-major), as flat arrays in that order.

    Every configuration of a layout shares the layout's terms (its FLOPs, GEMM times, fabric tiers, ...):
    the layouts are grouped by the settings they are crossed with here, and each group is one grid
    (layouts x settings, :func:`_setting_axes`) the kernel evaluates with ``keep_shapes``, so a layout-only
    term is computed once per layout and broadcast to its settings. The same values to the bit as the
    kernel on the flat table (tests/test_cost_search.py)."""
    n = len(rows)
    out = {key: np.empty(n, dtype=bool if key in BOOL_OUTPUTS else np.float64) for key in outputs}
    if not n:
        return out
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(rows[1:], rows[:-1], out=first[1:])
    starts = np.flatnonzero(first)  # each layout's first configuration (its settings follow, in order)
    layouts = rows[starts]
    n_set = len(space.settings["zero"])
    if n_set > 62:  # (not the search's 24: a set of settings per layout no longer fits one int64)
        part = {**{k: v[rows] for k, v in small.items()}, **{k: v[slots] for k, v in settings.items()}}
        return evaluate(base.replace(**part), skip_rules=skip, outputs=outputs)
    codes = np.add.reduceat(np.left_shift(np.int64(1), slots.astype(np.int64)), starts)  # the settings, as bits
    order = np.argsort(codes, kind="stable")
    cuts = np.flatnonzero(codes[order][1:] != codes[order][:-1]) + 1
    for members in np.split(order, cuts):
        code = int(codes[members[0]])
        chosen = np.flatnonzero([(code >> i) & 1 for i in range(n_set)])
        ndim, axes = _setting_axes(space, settings, chosen)
        k = len(chosen)
        step = max(1, _GROUP_CONFIGS // k)
        for lo in range(0, len(members), step):
            part_ids = members[lo:lo + step]
            lay = layouts[part_ids]
            fields = {key: col[lay].reshape((-1,) + (1,) * (ndim - 1)) for key, col in small.items()}
            res = evaluate(base.replace(**fields, **axes), skip_rules=skip, outputs=outputs, keep_shapes=True)
            at = (starts[part_ids][:, None] + np.arange(k)).reshape(-1)
            for key in outputs:
                out[key][at] = res[key].reshape(-1)
    return out


def search(base: KernelInputs, *, gpus: int, objective: str = "time", top: int = 10, chunk: int = 1_000_000,
           max_tp: int | None = None) -> SearchResult:
    """Rank every valid layout for ``gpus`` GPUs by step time (or cost per token) among those that fit.

    ``base`` holds everything but the layout (its layout fields are replaced by the enumeration's
    arrays). The enumeration is then masked by the one rule set (:mod:`clustersim.cost.rules`), so a
    layout the kernel would call invalid is never evaluated, and the kernel skips re-checking it;
    ``excluded`` counts what the rules removed beyond the enumeration's own divisibility. Evaluates in
    chunks of ``chunk`` configurations to bound memory. With every GPU in use, the cost per token orders
    configurations like the step time (cost = step x GPUs x price / tokens); the rows still carry dollars.
    """
    start = time.perf_counter()
    if objective not in _OBJECTIVES:
        raise ClustersimError(f"objective must be one of {', '.join(_OBJECTIVES)}, got {objective!r}")
    if top < 1 or chunk < 1:
        raise ClustersimError("top and chunk must be positive")
    x = base.scalars()
    space = _space(
        gpus=int(gpus), gpus_per_node=int(x["gpus_per_node"]), layers=int(x["layers"]),
        attention_heads=int(x["attention_heads"]), kv_heads=int(x["kv_heads"]),
        experts=int(x["experts"]), seq_len=int(x["seq_len"]), global_batch_seqs=int(x["global_batch_seqs"]),
        max_tp=max_tp, ffn_hidden_size=int(x["ffn_hidden_size"]), etp=int(x["etp"]), max_micro_batch=None,
        zero_stages=(0, 1, 2, 3), recompute=(0, 1, 2), split_embedding=bool(x["pp_split_embedding"]),
        split_loss=bool(x["pp_split_loss"]))
    n = len(space.rows)
    # the layout fields and the settings as the kernel computes on them (float64)
    small = {k: v.astype(np.float64) for k, v in space.layouts.items()}
    settings = {k: v.astype(np.float64) for k, v in space.settings.items()}
    excluded: dict[str, int] = {}
    kept = np.flatnonzero(_valid_rows(space, x, small, excluded))
    skip = frozenset(r.name for r in rules.RULES)
    gpus_of_layout = small["tp"] * small["pp"] * small["dp"] * small["cp"]
    feasible = 0
    best: list[tuple[float, float, dict[str, Any]]] = []
    for lo in range(0, len(kept), chunk):
        layout_of, setting_of = space.rows[kept[lo:lo + chunk]], space.slots[kept[lo:lo + chunk]]
        out = _evaluate_configs(base, space, small, settings, layout_of, setting_of, skip, _RANKING_OUTPUTS[objective])
        ok = out["fits_in_memory"]
        feasible += int(ok.sum())
        idx = np.flatnonzero(ok)
        if not len(idx):
            continue
        score = _objective({k: v[idx] for k, v in out.items()}, objective, gpus_of_layout[layout_of[idx]])
        if len(idx) > top:
            keep = np.argpartition(score, top - 1)[:top]
            idx, score = idx[keep], score[keep]
        # every output of the chunk's best rows (the same formulas, row by row, on just those rows)
        picked = {**{k: small[k][layout_of[idx]] for k in space.layouts}, **{k: settings[k][setting_of[idx]] for k in settings}}
        full = evaluate(base.replace(**picked), skip_rules=skip)
        for j, sc in enumerate(score.tolist()):
            row: dict[str, Any] = {k: (bool(picked[k][j]) if k == "sequence_parallel" else int(picked[k][j]))
                                   for k in CONFIG_KEYS}
            row.update({k: (bool(v[j]) if v.dtype == bool else float(v[j])) for k, v in full.items()})
            best.append((sc, row["memory_bytes"], row))
    best.sort(key=lambda item: (item[0], item[1]))
    rows = [row for _, _, row in best[:top]]
    why = explain(rows, objective, feasible) if rows else f"None of the {n:,} configurations fits in memory."
    return SearchResult(rows=rows, configs_evaluated=n, feasible=feasible, elapsed_s=time.perf_counter() - start,
                        why_best=why, objective=objective, excluded=excluded)
