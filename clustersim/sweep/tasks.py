"""The work a sweep sends to its workers: chunks of analytic points, or one simulated point per task.

* :func:`estimate_chunk` evaluates many points with ONE call of the vectorized kernel
  (:func:`clustersim.cost.kernel.evaluate`): each point's :func:`clustersim.planning.kernel_inputs`
  are stacked into arrays (points whose inputs have different keys, e.g. another network topology,
  go in another call). A ``parallelism: auto`` point first gets its parallelism from
  :func:`clustersim.search.apply_best`, one search per such point.
* :func:`simulate_point` runs :func:`clustersim.simulate.simulate` (``workers=1``: the sweep's
  workers are the parallelism) for one point, or a task function given in its place (tests).

Both return rows in the shape of the ``--json`` outputs flattened to one level (:func:`flatten`), so
that each field becomes a column of the results store; analytic rows are built column-wise from the
kernel's arrays by :mod:`clustersim.sweep.rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from clustersim.errors import ClustersimError, InfeasibleError, SimulationError
from clustersim.scenario import Scenario

__all__ = ["estimate_chunk", "simulate_point", "flatten", "PointResult", "UNIT_SUFFIXES", "SimulateFn"]

#: (point key, status, error or None, output columns)
PointResult = tuple[str, str, str | None, dict[str, Any]]
SimulateFn = Callable[[Scenario], Mapping[str, Any]]

#: A nested output whose name ends in a unit (``breakdown_s``) keeps the unit last when flattened:
#: ``breakdown_s.compute`` -> ``breakdown_compute_s`` (the project's rule: units end names).
UNIT_SUFFIXES = ("_s", "_gib", "_gb", "_days", "_hours", "_minutes", "_usd")
#: Keys that are not per-point results: provenance (stored once in the database's meta table),
#: per-replica samples and the timeline (kept by ``clustersim simulate --json``, too long for a row).
_DROP = frozenset({"name", "clustersim_version", "schema_version", "numpy_version", "python_version",
                   "samples", "timeline"})
#: Outputs renamed so they never collide with an input of the same name (``model``, ``cluster.gpu``).
_RENAME = {"model": "model_name", "gpu": "gpu_name"}


#: Statistics of one output: appended after the unit (``wall_days_p90``, not ``wall_p90_days``).
_STAT_KEYS = frozenset({"mean", "std", "min", "max", "p50", "p90", "p95", "p99", "mean_ci95"})


def _join(parent: str, child: str) -> str:
    if child in _STAT_KEYS:
        return f"{parent}_{child}"
    for suffix in UNIT_SUFFIXES:
        if parent.endswith(suffix):
            return f"{parent[: -len(suffix)]}_{child}{suffix}"
    return f"{parent}_{child}"


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A ``--json`` object as one level of columns.

    ``{"wall_days": {"mean": 1, "mean_ci95": [0.9, 1.1]}}`` -> ``wall_days_mean``, ``wall_days_mean_ci95_lo``,
    ``wall_days_mean_ci95_hi``; ``{"breakdown_s": {"compute": 2}}`` -> ``breakdown_compute_s``. Other
    lists (per-replica samples, timelines) are left out.
    """
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not prefix and key in _DROP:
            continue
        name = _join(prefix, str(key)) if prefix else _RENAME.get(str(key), str(key))
        if isinstance(value, Mapping):
            out.update(flatten(value, name))
        elif isinstance(value, (list, tuple)):
            if str(key).endswith("ci95") and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
                out[f"{name}_lo"], out[f"{name}_hi"] = value
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out


# -- estimate: many points, one kernel call ----------------------------------------------------------

def _stack(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    import numpy as np

    return {k: np.asarray([inp[k] for inp in inputs]) for k in inputs[0]}


def estimate_chunk(payload: tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]) -> list[PointResult]:
    """Evaluate a chunk of points with one kernel call per distinct set of kernel-input names.

    ``payload`` is (the base mapping, [(point key, its inputs)]): each scenario is rebuilt here, in the
    worker, from the same mapping the planning validated.
    """
    from clustersim.cost.kernel import evaluate
    from clustersim.planning import kernel_inputs
    from clustersim.sweep.expand import build_scenario
    from clustersim.sweep.rows import RowPoint, estimate_rows

    base, items = payload
    results: list[PointResult] = []
    groups: dict[tuple[str, ...], list[tuple[str, RowPoint]]] = {}
    for key, point_inputs in items:
        try:
            s = build_scenario(base, point_inputs, planned=True)
            par = s.parallelism()
            searched = par is None
            if par is None:
                from clustersim.search import apply_best

                s = _with_best_parallelism(s, apply_best)
                par = s.parallelism()
                if par is None:  # pragma: no cover - apply_best always sets one
                    raise InfeasibleError("the search returned no configuration")
            inputs = kernel_inputs(s, par)
        except ClustersimError as exc:
            results.append((key, _status_of(exc), str(exc), {}))
            continue
        groups.setdefault(tuple(sorted(inputs)), []).append((key, (s, par, searched, inputs)))
    for members in groups.values():
        points = [m[1] for m in members]
        kernel = evaluate(**_stack([p[3] for p in points]))
        rows = estimate_rows(points, kernel)
        _fill_missing(points, kernel, rows)
        valid = kernel["valid"].tolist() if "valid" in kernel else [True] * len(points)
        for (key, (s, _, _, inputs)), row, ok in zip(members, rows, valid, strict=True):
            status, error = "ok", None
            if not ok:
                from clustersim.cost.kernel import invalid_reasons

                status = "infeasible"
                error = "; ".join(invalid_reasons(**inputs)) or "the kernel marks this configuration invalid"
            elif not row["fits_in_memory"]:
                status = "infeasible"
                error = (f"needs {row['memory_per_gpu_gib']:.1f} GiB per GPU; the {row['gpu_name']} has "
                         f"{row['gpu_memory_gib']} GiB")
            results.append((key, status, error, _with_expected_cost(s, row)))
    return results


def _kernel_row(kernel: Mapping[str, Any], i: int) -> dict[str, Any]:
    return {k: (bool(v[i]) if v.dtype.kind == "b" else float(v[i])) for k, v in kernel.items()}


def _fill_missing(points: list[Any], kernel: Mapping[str, Any], rows: list[dict[str, Any]]) -> None:
    """Check the first row against ``Estimate.to_dict()``; fields it lacks are filled the slow way.

    One slow row per kernel call costs nothing measurable and keeps every field of
    ``clustersim estimate --json`` in the store even when that output grows a field.
    """
    from clustersim.sweep.rows import slow_row

    if not rows:
        return
    missing = slow_row(points[0], _kernel_row(kernel, 0)).keys() - rows[0].keys()
    if not missing:
        return
    for i, (point, row) in enumerate(zip(points, rows, strict=True)):
        slow = slow_row(point, _kernel_row(kernel, i))
        row.update({k: slow[k] for k in missing})


def _with_expected_cost(s: Scenario, row: dict[str, Any]) -> dict[str, Any]:
    """Add ``expected_wall_cost_usd``: theory's expected wall time x the GPUs paid for x the price.

    The same definition as the simulation's ``wall_cost_usd`` (wall hours x (GPUs + spare nodes' GPUs) x
    $/GPU-hour), so an estimate sweep can rank by dollars with failures without a Monte Carlo.
    """
    from clustersim import units

    days, price, gpus = row.get("expected_wall_days"), row.get("usd_per_gpu_hour"), row["gpus"]
    if days is not None and price is not None:
        spares = s.failures.spare_nodes * (gpus // s.cluster.nodes) if s.failures is not None else 0
        row["expected_wall_cost_usd"] = days * units.DAY_S / units.HOUR_S * (gpus + spares) * price
    return row


def _status_of(exc: ClustersimError) -> str:
    """A deterministic error's status: ``infeasible`` (cannot run as asked) or ``invalid`` (bad input)."""
    return "infeasible" if isinstance(exc, (InfeasibleError, SimulationError)) else "invalid"


#: apply_best's answers in this worker, by the part of the scenario the search reads (see below).
_BEST: dict[str, Any] = {}
#: Entries kept: one per distinct (model, training, cluster, pricing) of a sweep; a capacity plan has
#: hundreds, and each entry is one small training section.
_BEST_MAX = 4096


def _with_best_parallelism(s: Scenario, apply_best: Callable[[Scenario], Scenario]) -> Scenario:
    """``apply_best(s)``, searched once per distinct model, training, cluster and pricing.

    :func:`clustersim.search.search` reads only those sections (the architecture, the GPU, the fabric,
    the GPU count, the recipe, the price), so points that differ in failures, checkpoints or the
    simulation settings share one search: a 4 GPUs x 6 sizes x 5 models x 3 failure rates x 4 storage
    bandwidths plan runs 120 searches, not 1,440.
    """
    from clustersim.sweep.expand import canonical_json

    dump = s.model_dump(mode="json", by_alias=True, exclude_none=True, include={"model", "training", "cluster",
                                                                                  "pricing"})
    key = canonical_json(dump)
    training = _BEST.get(key)
    if training is None:
        training = apply_best(s).training
        if len(_BEST) >= _BEST_MAX:
            _BEST.clear()
        _BEST[key] = training
    return s.model_copy(update={"training": training})


# -- simulate: one point per task ---------------------------------------------------------------------

def _default_simulate(s: Scenario) -> Mapping[str, Any]:
    from clustersim.simulate import simulate

    result: Mapping[str, Any] = simulate(s, workers=1).to_dict()
    return result


def simulate_point(payload: tuple[str, dict[str, Any], dict[str, Any], SimulateFn | None]) -> PointResult:
    """One simulated point: ``(key, base mapping, inputs, task function or None for clustersim.simulate)``."""
    from clustersim.sweep.expand import build_scenario

    key, base, point_inputs, fn = payload
    try:
        scenario = build_scenario(base, point_inputs, planned=True)
        result = (fn or _default_simulate)(scenario)
    except ClustersimError as exc:  # deterministic: not run again on resume
        return key, _status_of(exc), str(exc), {}
    return key, "ok", None, flatten(result)
