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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from clustersim import units
from clustersim.estimate import BREAKDOWN_KEYS, MEMORY_KEYS
from clustersim.reliability import THEORY_KEYS, theory_columns
from clustersim.resolve import ResolvedRun

__all__ = ["estimate_rows", "estimate_cells", "Cells", "slow_row", "RowPoint", "stack_inputs"]

#: One point of an analytic sweep: its resolved run.
RowPoint = ResolvedRun

#: Row column -> (kernel output, divisor or None): Estimate.to_dict's conversions.
_KERNEL_COLUMNS: dict[str, tuple[str, float | None]] = {
    "params_b": ("params", 1e9),
    "active_params_b": ("active_params", 1e9),
    "step_time_s": ("step_time_s", None),
    "tokens_per_s": ("tokens_per_s", None),
    "mfu": ("mfu", None),
    "mfu_bf16_peak": ("mfu_bf16_peak", None),
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

def _values(arr: np.ndarray) -> list[Any]:
    """Array to Python values, NaN and inf as None (as :func:`clustersim.results.jsonable` does)."""
    out: list[Any] = arr.tolist()
    if arr.dtype.kind == "f":
        for i in np.flatnonzero(~np.isfinite(arr)):
            out[i] = None
    return out


def _theory(runs: Sequence[ResolvedRun], kernel: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    """Theory's columns for every point: :func:`clustersim.reliability.theory_columns` on arrays, the numpy
    twin of the plain-Python point that :func:`clustersim.reliability.theory_summary` runs (the same
    formulas and cannot-finish rule; tests/test_theory_point.py holds them equal to a few ulps)."""
    n = len(runs)
    ck = [r.scenario.checkpoint for r in runs]
    fails = [r.scenario.failures for r in runs]
    has = np.array([r.job_mtbf_s is not None and f is not None for r, f in zip(runs, fails, strict=True)])
    col = theory_columns(
        checkpoint_bytes=kernel["checkpoint_bytes"], train_s=kernel["train_s"],
        gpus=np.array([r.gpus for r in runs], dtype=float),
        write_bytes_per_s=np.array([c.write_bytes_per_s for c in ck]),
        read_bytes_per_s=np.array([c.read_bytes_per_s for c in ck]),
        is_async=np.array([c.async_ for c in ck], dtype=bool),
        host_copy_bytes_per_s=np.array([c.host_copy_gbyte_per_s * units.GB for c in ck]),
        fixed_interval_s=np.array([math.nan if c.interval_minutes == "auto" else c.interval_minutes * units.MINUTE_S
                                   for c in ck]),
        mtbf_s=np.array([r.job_mtbf_s if h else math.nan for r, h in zip(runs, has, strict=True)], dtype=float),
        recovery_s=np.array([f.detect_s + f.restart_s if f is not None else 0.0 for f in fails]))
    cannot = col["cannot_finish"]
    out: dict[str, list[Any]] = {
        "checkpoint_write_s": _values(col["checkpoint_write_s"]),
        "checkpoint_load_s": _values(col["checkpoint_load_s"]),
        "checkpoint_interval_minutes": _values(col["checkpoint_interval_s"] / units.MINUTE_S),
        "job_mtbf_hours": _values(np.where(has, col["job_mtbf_s"] / units.HOUR_S, np.nan)),
        "expected_goodput": _values(np.where(has, col["expected_goodput"], np.nan)),
        "expected_wall_days": _values(np.where(has & ~cannot, col["expected_wall_s"] / units.DAY_S, np.nan)),
        "expected_interruptions": _values(np.where(has & ~cannot, col["expected_interruptions"], np.nan)),
    }
    out["cannot_finish"] = [None] * n
    for i in np.flatnonzero(has & cannot).tolist():
        out["cannot_finish"][i] = (
            f"the job MTBF ({col['job_mtbf_s'][i] / units.HOUR_S:.3g} h) is shorter than a checkpoint "
            f"({col['checkpoint_block_s'][i]:.3g} s) plus a recovery ({col['recovery_s'][i]:.3g} s)")
    missing = set(THEORY_KEYS) - set(out)
    if missing:  # pragma: no cover - a guard: theory_summary and these columns must agree
        raise KeyError(f"theory columns missing {sorted(missing)}")
    return out


def estimate_rows(runs: Sequence[ResolvedRun], kernel: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One flattened ``Estimate.to_dict()`` per point, from one kernel call's arrays (point i = index i)."""
    return [dict(zip(names, values, strict=True)) for names, values in estimate_cells(runs, kernel)]


#: A row's first columns and those after the layout's (estimate_cells).
_HEAD = ("model_name", "gpu_name", "gpus", "tokens", "gpu_memory_gib", "usd_per_gpu_hour", "price_source")
_TAIL = ("parallelism_micro_batch_seqs", "parallelism_recompute", "parallelism_recompute_layers",
         "parallelism_recompute_modules", "parallelism_searched")

#: A row's columns and cells (estimate_cells): the rows of one shape share one tuple of columns.
Cells = tuple[tuple[str, ...], tuple[Any, ...]]


def estimate_cells(runs: Sequence[ResolvedRun], kernel: dict[str, np.ndarray]) -> list[Cells]:
    """:func:`estimate_rows`' rows as (columns, values), without a mapping per row: the names, in the order
    the row's mapping has them, are one tuple per shape of row (layout fields, interval columns), the values
    one tuple per row. A shape that would name a column twice is made as that mapping is (the first place,
    the last value)."""
    cols: dict[str, list[Any]] = {}
    for col, (name, divisor) in _KERNEL_COLUMNS.items():
        arr = kernel[name]
        cols[col] = _values(arr / divisor if divisor is not None else arr)
    cost = _values(kernel["cost_usd"])
    cols["cost_usd"] = [c if r.usd_per_gpu_hour is not None else None for c, r in zip(cost, runs, strict=True)]
    cols["fits_in_memory"] = [bool(x) for x in kernel["fits_in_memory"].tolist()]
    cols.update(_theory(runs, kernel))
    intervals = _interval_cells(runs, kernel)
    names = tuple(cols)
    out: list[Cells] = []
    layouts: dict[int, tuple[Any, tuple[str, ...], tuple[Any, ...]]] = {}  # id -> (a parallelism, names, values)
    shapes: dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...] | None]] = {}
    for i, values in enumerate(zip(*cols.values(), strict=True)):  # (the columns transposed at once)
        run = runs[i]
        training = run.scenario.training
        par = run.parallelism
        layout = layouts.get(id(par))
        if layout is None or layout[0] is not par:  # (a frozen model: the same object, the same dump)
            dumped = par.model_dump()
            layout = layouts[id(par)] = (par, tuple(f"parallelism_{k}" for k in dumped), tuple(dumped.values()))
        interval_names, interval_values = intervals[i]
        shape = shapes.get((id(layout[1]), id(interval_names)))
        if shape is None or shape[0] is not layout[1] or shape[1] is not interval_names:
            every = (*_HEAD, *layout[1], *_TAIL, *names, *interval_names)
            shape = shapes[(id(layout[1]), id(interval_names))] = (
                layout[1], interval_names, every if len(set(every)) == len(every) else None)
        cells = (run.model_name, run.gpu_name, run.gpus, float(run.tokens), run.gpu.get("memory_gib"),
                 run.usd_per_gpu_hour, run.price_source, *layout[2], training.micro_batch_seqs, training.recompute,
                 training.recompute_layers,
                 None if training.recompute_modules is None else ", ".join(training.recompute_modules),
                 run.searched, *values, *interval_values)
        if shape[2] is not None:
            out.append((shape[2], cells))
        else:
            row = dict(zip((*_HEAD, *layout[1], *_TAIL, *names, *interval_names), cells, strict=True))
            out.append((tuple(row), tuple(row.values())))
    return out


#: The kernel outputs the prediction interval scales (clustersim.estimate.interval_figures).
_INTERVAL_INPUTS = ("step_time_s", "train_s", "gpu_hours", "cost_usd")


def _interval_columns(run: ResolvedRun, kernel_row: dict[str, Any]) -> dict[str, Any]:
    """The prediction interval's columns, as flatten(Estimate.to_dict()) has them."""
    from clustersim.estimate import prediction_interval
    from clustersim.sweep.flat import flatten

    return flatten({"prediction_interval": prediction_interval(run, kernel_row)})


def _interval_cells(runs: Sequence[ResolvedRun], kernel: dict[str, np.ndarray]) -> list[Cells]:
    """Each point's prediction-interval columns and values. Without a calibration profile the interval is
    that of the point's architecture, GPU generation and parallelism style
    (:func:`clustersim.estimate.prediction_interval`): its factors are found once per group and applied to the group's figures as arrays (the same products,
    value x factor, as :meth:`clustersim.calibrate.intervals.Interval.apply`); a point with a profile goes
    the per-point way. A figure that is not finite (or a cost without a price) is one column of None, as
    ``flatten`` writes a None interval; the points of a group share one tuple of names per such pattern."""
    from clustersim.calibrate.intervals import SCALED
    from clustersim.estimate import _residual_interval, interval_figures
    from clustersim.groups import architecture, gpu_generation, parallelism_style

    out: list[Cells | None] = [None] * len(runs)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, run in enumerate(runs):
        if run.scenario.calibration is not None:
            row = _interval_columns(run, {k: float(kernel[k][i]) for k in _INTERVAL_INPUTS})
            out[i] = (tuple(row), tuple(row.values()))
            continue
        par = run.parallelism
        key = (gpu_generation(run.gpu_name), parallelism_style(par.tp, par.pp, par.zero),
               architecture(run.arch.get("experts", 1)))
        groups.setdefault(key, []).append(i)
    for (generation, style, arch), members in groups.items():
        try:
            iv = _residual_interval(generation, style, arch)
        except ValueError:  # too few comparable rows: no interval (prediction_interval's None)
            for i in members:
                out[i] = _NO_INTERVAL
            continue
        at = np.asarray(members)
        head = (iv.level, iv.method, iv.source)
        priced_run = next((runs[i] for i in members if runs[i].usd_per_gpu_hour is not None), runs[members[0]])
        figures = interval_figures(priced_run, {k: kernel[k][at] for k in _INTERVAL_INPUTS})
        columns: list[str] = []
        bounds: list[list[Any]] = []  # lo, hi of each column in turn
        shown: list[list[bool]] = []  # per column: the bounds are shown (finite, and priced for the cost)
        for name, figure in figures.items():
            if name not in SCALED:
                continue
            # (cost_usd is None when no point of the group has a price: None for each)
            values = np.full(len(members), np.nan) if figure is None else np.asarray(figure)
            finite = np.isfinite(values).tolist()
            if name == "cost_usd":
                finite = [f and runs[i].usd_per_gpu_hour is not None for f, i in zip(finite, members, strict=True)]
            columns.append(f"prediction_interval_{name}")
            bounds += [(values * iv.lo_factor).tolist(), (values * iv.hi_factor).tolist()]
            shown.append(finite)
        patterns: dict[tuple[bool, ...], tuple[str, ...]] = {}
        for i, pattern, pairs in zip(members, zip(*shown, strict=True), zip(*bounds, strict=True), strict=True):
            names = patterns.get(pattern)
            if names is None:
                names = patterns[pattern] = (*_INTERVAL_HEAD, *(n for col, ok in zip(columns, pattern, strict=True)
                                                                for n in ((col + "_lo", col + "_hi") if ok else (col,))))
            if all(pattern):
                out[i] = (names, (*head, *pairs))
            else:
                cells = [*head]
                for j, ok in enumerate(pattern):
                    cells += (pairs[2 * j], pairs[2 * j + 1]) if ok else (None,)
                out[i] = (names, tuple(cells))
    return out  # type: ignore[return-value]


_INTERVAL_HEAD = ("prediction_interval_level", "prediction_interval_method", "prediction_interval_source")
#: A point without an interval (too few comparable rows): flatten's one None column.
_NO_INTERVAL: Cells = (("prediction_interval",), (None,))


def slow_row(run: ResolvedRun, kernel_row: dict[str, Any]) -> dict[str, Any]:
    """The same row the slow way, ``flatten(Estimate(...).to_dict())`` (tests hold the two equal field by
    field, so a field :meth:`Estimate.to_dict` gains must be added to :func:`estimate_rows` too)."""
    from clustersim.estimate import Estimate, prediction_interval
    from clustersim.reliability import theory_summary
    from clustersim.sweep.flat import flatten

    return flatten(Estimate(run, kernel_row, theory_summary(run, kernel_row),
                            prediction_interval(run, kernel_row)).to_dict())


def stack_inputs(items: list[Any]) -> Any:
    """:func:`clustersim.cost.inputs.stack` (each field an array over the items), with the fields of all
    items read at once per item (one ``attrgetter`` call) and transposed by ``zip``: the same arrays."""
    from operator import attrgetter

    from clustersim.cost.inputs import INPUTS, KernelInputs
    from clustersim.errors import ClustersimError

    if not items:
        raise ClustersimError("stack: no kernel inputs")
    get = attrgetter(*INPUTS)
    columns = zip(*(get(it) for it in items), strict=True)
    return KernelInputs(**{name: np.asarray(col) for name, col in zip(INPUTS, columns, strict=True)})
