"""Analytic rows built column-wise: the kernel's arrays to the ``clustersim estimate --json`` fields.

A sweep row of an analytic point holds exactly what :meth:`clustersim.estimate.Estimate.to_dict`
gives for that point, flattened (a test pins the equality field by field). Building it per point
would cost more Python than the kernel itself, so here the unit conversions and theory's closed forms
run once per chunk on arrays, and the few per-point facts that come from the catalog (names, the GPU's
memory, the price, the job MTBF) are looked up once per distinct scenario section and remembered.

Theory, composed as :func:`clustersim.reliability.theory_summary` does: checkpoint write and load times
(size / aggregate bandwidth), the blocking time (async: each GPU's copy to host memory, MegaScale
Sec. 4.4), Daly's higher-order interval for ``auto`` (Daly 2006, Eq. 37; one day without failures),
and Daly's expected wall time (Daly 2006, :func:`clustersim.theory.daly_expected_wall_s`) with
restart = detect + restart + checkpoint load.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from clustersim import theory, units
from clustersim.estimate import BREAKDOWN_KEYS, MEMORY_KEYS
from clustersim.scenario import Scenario
from clustersim.scenario.spec import ParallelismSpec

__all__ = ["estimate_rows", "slow_row", "RowPoint"]

#: (scenario, its parallelism, whether it was searched, its kernel inputs)
RowPoint = tuple[Scenario, ParallelismSpec, bool, dict[str, Any]]

#: Row column -> (kernel output, divisor or None): Estimate.to_dict's conversions.
_KERNEL_COLUMNS: dict[str, tuple[str, float | None]] = {
    "params_b": ("params", 1e9),
    "active_params_b": ("active_params", 1e9),
    "step_time_s": ("step_time_s", None),
    "tokens_per_s": ("tokens_per_s", None),
    "mfu": ("mfu", None),
    "hfu": ("hfu", None),
    "model_tflops_per_gpu": ("model_tflops_per_gpu", None),
    "hardware_tflops_per_gpu": ("hardware_tflops_per_gpu", None),
    "memory_per_gpu_gib": ("memory_bytes", units.GIB),
    "memory_excess_gib": ("memory_excess_bytes", units.GIB),
    "train_days": ("train_s", units.DAY_S),
    "gpu_hours": ("gpu_hours", None),
    "checkpoint_size_gb": ("checkpoint_bytes", units.GB),
    **{f"memory_breakdown_{k.removesuffix('_bytes')}_gib": (k, units.GIB) for k in MEMORY_KEYS},
    **{f"breakdown_{k.removesuffix('_s')}_s": (k, None) for k in BREAKDOWN_KEYS},
}

_MEMO: dict[tuple[str, Hashable], Any] = {}
#: Remembered lookups per worker process (a few hundred bytes each); cleared when full.
_MEMO_MAX = 16_384


def _key(*sections: Any) -> Hashable:
    """A key for scenario sections (frozen pydantic models hash, unless they hold a dict or a list)."""
    try:
        hash(sections)
        return sections
    except TypeError:
        return json.dumps([sec.model_dump(mode="json") if hasattr(sec, "model_dump") else sec for sec in sections],
                          sort_keys=True, default=str)


def _memo(name: str, key: Hashable, compute: Callable[[], Any]) -> Any:
    k = (name, key)
    if k not in _MEMO:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        _MEMO[k] = compute()
    return _MEMO[k]


def _static(s: Scenario) -> dict[str, Any]:
    """Per-point facts from the catalog, each looked up once per distinct section."""
    from clustersim.reliability import job_mtbf_s

    gpu_name, gpu_memory = _memo("gpu", _key(s.cluster.gpu), lambda: (s.gpu()["name"], s.gpu()["memory_gib"]))
    return {
        "model_name": _memo("model", _key(s.model), lambda: s.model_arch()["name"]),
        "gpu_name": gpu_name,
        "gpu_memory_gib": gpu_memory,
        # the price may be the catalog's default for the GPU, so it is keyed by both sections
        "usd_per_gpu_hour": _memo("price", _key(s.pricing, s.cluster.gpu), s.usd_per_gpu_hour),
        "price_source": _memo("price_source", _key(s.pricing, s.cluster.gpu), s.price_source),
        "mtbf_s": _memo("mtbf", _key(s.failures, s.cluster, s.pricing), lambda: job_mtbf_s(s)),
    }


def _par_columns(par: ParallelismSpec) -> Callable[[], dict[str, Any]]:
    return lambda: {f"parallelism_{k}": v for k, v in par.model_dump().items()}


def _values(arr: np.ndarray) -> list[Any]:
    """Array to Python values, NaN and inf as None (as :func:`clustersim.results.jsonable` does)."""
    out: list[Any] = arr.tolist()
    if arr.dtype.kind == "f":
        for i in np.flatnonzero(~np.isfinite(arr)):
            out[i] = None
    return out


def _theory(points: Sequence[RowPoint], static: list[dict[str, Any]], kernel: dict[str, np.ndarray]
            ) -> dict[str, list[Any]]:
    n = len(points)
    size = kernel["checkpoint_bytes"]
    ck = [p[0].checkpoint for p in points]
    write_bw = np.array([c.write_bytes_per_s for c in ck])
    read_bw = np.array([c.read_bytes_per_s for c in ck])
    write_s = size / write_bw
    load_s = size / read_bw
    block_s = write_s.copy()
    is_async = np.array([c.async_ for c in ck], dtype=bool)
    if is_async.any():
        gpus = np.array([p[3]["gpus_per_node"] * p[0].cluster.nodes for p in points], dtype=float)
        host = np.array([c.host_copy_gbyte_per_s * units.GB for c in ck])
        block_s = np.where(is_async, size / gpus / host, write_s)
    mtbf = np.array([st["mtbf_s"] if st["mtbf_s"] is not None else np.nan for st in static])
    known = ~np.isnan(mtbf)  # a job MTBF exists (failures, or spot preemptions alone)
    has = known & np.array([p[0].failures is not None for p in points], dtype=bool)
    fixed = np.array([c.interval_minutes * units.MINUTE_S if c.interval_minutes != "auto" else np.nan for c in ck])
    auto = np.isnan(fixed)
    interval = np.where(auto, units.DAY_S, fixed)
    daly = auto & known
    if daly.any():
        interval[daly] = theory.daly_interval_s(block_s[daly], mtbf[daly])
    out: dict[str, list[Any]] = {
        "checkpoint_write_s": _values(write_s),
        "checkpoint_load_s": _values(load_s),
        "checkpoint_interval_minutes": _values(interval / units.MINUTE_S),
    }
    for name in ("job_mtbf_hours", "expected_goodput", "expected_wall_days", "expected_interruptions"):
        out[name] = [None] * n
    if has.any():
        idx = np.flatnonzero(has)
        fails = [points[int(i)][0].failures for i in idx]
        restart = np.array([f.detect_s + f.restart_s if f is not None else 0.0 for f in fails]) + load_s[idx]
        work = kernel["train_s"][idx]
        with np.errstate(all="ignore"):
            wall = np.asarray(theory.daly_expected_wall_s(work, interval[idx], block_s[idx], mtbf[idx], restart),
                              dtype=float)
            goodput = np.where(np.isfinite(wall) & (wall > 0), work / wall, 0.0)
        cols = {"job_mtbf_hours": mtbf[idx] / units.HOUR_S, "expected_goodput": goodput,
                "expected_wall_days": wall / units.DAY_S, "expected_interruptions": wall / mtbf[idx]}
        for name, arr in cols.items():
            vals = _values(np.asarray(arr, dtype=float))
            for j, i in enumerate(idx):
                out[name][i] = vals[j]
    return out


def estimate_rows(points: Sequence[RowPoint], kernel: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One flattened ``Estimate.to_dict()`` per point, from one kernel call's arrays (point i = index i)."""
    n = len(points)
    static = [_static(p[0]) for p in points]
    cols: dict[str, list[Any]] = {}
    for col, (name, divisor) in _KERNEL_COLUMNS.items():
        arr = kernel[name]
        cols[col] = _values(arr / divisor if divisor is not None else arr)
    prices = [st["usd_per_gpu_hour"] for st in static]
    cost = _values(kernel["cost_usd"])
    cols["cost_usd"] = [c if p is not None else None for c, p in zip(cost, prices, strict=True)]
    cols["fits_in_memory"] = [bool(x) for x in kernel["fits_in_memory"].tolist()]
    cols.update(_theory(points, static, kernel))
    rows = []
    for i in range(n):
        s, par, searched, inputs = points[i]
        st = static[i]
        row: dict[str, Any] = {
            "model_name": st["model_name"], "gpu_name": st["gpu_name"],
            "gpus": int(inputs["gpus_per_node"]) * s.cluster.nodes, "tokens": float(inputs["tokens"]),
            "gpu_memory_gib": st["gpu_memory_gib"], "usd_per_gpu_hour": st["usd_per_gpu_hour"],
            "price_source": st["price_source"],
            "parallelism_searched": searched,
        }
        row.update(_memo("par", _key(par), _par_columns(par)))
        for col, values in cols.items():
            row[col] = values[i]
        rows.append(row)
    return rows


def slow_row(point: RowPoint, kernel_row: dict[str, Any]) -> dict[str, Any]:
    """The same row the slow way, ``flatten(Estimate(...).to_dict())`` (a guard against drift: fields
    that :meth:`Estimate.to_dict` gains before :func:`estimate_rows` knows them still reach the store)."""
    from clustersim.estimate import Estimate
    from clustersim.reliability import theory_summary
    from clustersim.sweep.tasks import flatten

    s, par, searched, _ = point
    return flatten(Estimate(s, par, searched, kernel_row, theory_summary(s, kernel_row)).to_dict())
