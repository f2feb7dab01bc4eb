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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from clustersim.errors import ClustersimError, InfeasibleError, SimulationError
from clustersim.scenario import Scenario
from clustersim.sweep.flat import UNIT_SUFFIXES, flatten

__all__ = ["estimate_chunk", "estimate_scenarios", "estimate_resolved", "resolved", "simulate_point", "flatten", "PointResult", "UNIT_SUFFIXES", "SimulateFn"]

#: (point key, status, error or None, output columns)
PointResult = tuple[str, str, str | None, dict[str, Any]]
SimulateFn = Callable[[Scenario], Mapping[str, Any]]

# -- estimate: many points, one kernel call ----------------------------------------------------------

def estimate_chunk(payload: tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]) -> list[PointResult]:
    """Evaluate a chunk of points with one vectorized kernel call over their stacked KernelInputs.

    ``payload`` is (the base mapping, [(point key, its inputs)]): each scenario is rebuilt and resolved
    here, in the worker, from the same mapping the planning validated.
    """
    from clustersim.sweep.expand import build_scenario

    base, items = payload
    scenarios: list[tuple[str, Scenario | ClustersimError]] = []
    for key, point_inputs in items:
        try:
            scenarios.append((key, build_scenario(base, point_inputs, planned=True)))
        except ClustersimError as exc:
            scenarios.append((key, exc))
    return estimate_scenarios(scenarios)


def estimate_scenarios(items: Sequence[tuple[str, Scenario | ClustersimError]]) -> list[PointResult]:
    """(key, status, error, outputs) of validated scenarios (or the error that stopped one), in order,
    with one vectorized kernel call for all of them."""
    return estimate_resolved([(key, resolved(s)) for key, s in items])


def resolved(s: Scenario | ClustersimError) -> Any:
    """The point's :class:`~clustersim.resolve.ResolvedRun` (a ``parallelism: auto`` point searched once
    per distinct model, training, cluster and pricing), or the ClustersimError that stops it."""
    from clustersim.resolve import resolve_run

    if isinstance(s, ClustersimError):
        return s
    try:
        searched = s.parallelism() is None
        if searched:
            s = _with_best_parallelism(s)
        run = resolve_run(s)
        return replace(run, searched=True) if searched else run
    except ClustersimError as exc:
        return exc


def estimate_resolved(items: Sequence[tuple[str, Any]]) -> list[PointResult]:
    """(key, status, error, outputs) of resolved runs (or the ClustersimError that stopped one), in order,
    with one vectorized kernel call for all of them."""
    from clustersim.cost.kernel import evaluate
    from clustersim.estimate import infeasible_reasons
    from clustersim.sweep.rows import estimate_rows, stack_inputs

    results: list[PointResult | None] = []
    runs: list[tuple[int, str, Any]] = []
    for key, run in items:
        if isinstance(run, ClustersimError):
            results.append((key, _status_of(run), str(run), {}))
            continue
        runs.append((len(results), key, run))
        results.append(None)
    if runs:
        kernel = evaluate(stack_inputs([r.inputs for _, _, r in runs]))
        rows = estimate_rows([r for _, _, r in runs], kernel)
        for i, ((slot, key, run), row) in enumerate(zip(runs, rows, strict=True)):
            status, error = "ok", None
            if not row["fits_in_memory"] or not kernel["valid"][i]:
                # the refusal of `clustersim estimate` for this point, in its words (less the scenario's name)
                status = "infeasible"
                error = "; ".join(infeasible_reasons(run, {k: kernel[k][i] for k in _REFUSAL_INPUTS}))
            results[slot] = (key, status, error, _with_expected_cost(run, row))
    return [r for r in results if r is not None]


#: The kernel outputs estimate's refusal reads (clustersim.estimate.infeasible_reasons).
_REFUSAL_INPUTS = ("valid", "fits_in_memory", "memory_bytes", "memory_excess_bytes")


def _with_expected_cost(run: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Add ``expected_wall_cost_usd``: theory's expected wall time x the GPUs paid for x the price.

    The same definition as the simulation's ``wall_cost_usd`` (wall hours x (GPUs + spare nodes' GPUs) x
    $/GPU-hour), so an estimate sweep can rank by dollars with failures without a Monte Carlo.
    """
    from clustersim import units

    s = run.scenario
    days, price, gpus = row.get("expected_wall_days"), row.get("usd_per_gpu_hour"), row["gpus"]
    row["expected_wall_cost_usd"] = None
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


def _with_best_parallelism(s: Scenario) -> Scenario:
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
        from clustersim.search import apply_best

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
