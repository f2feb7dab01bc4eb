"""``clustersim.search``: every valid parallelism for a scenario's cluster, ranked by time or cost."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from clustersim.resolve import ResolvedRun, resolve_run
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario
from clustersim.scenario.spec import ParallelismSpec

__all__ = ["search", "apply_best", "row_parallelism", "search_to_dict"]

_PAR_KEYS = ("tp", "pp", "dp", "cp", "ep", "vpp", "zero", "sequence_parallel")


def row_parallelism(row: Mapping[str, Any]) -> ParallelismSpec:
    """A search result row as the scenario's parallelism (micro-batch and recompute are training fields)."""
    return ParallelismSpec(**{k: (bool(row[k]) if k == "sequence_parallel" else int(row[k])) for k in _PAR_KEYS})


def search(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], *,
           objective: Literal["time", "cost"] = "time", top: int = 10, set: Iterable[str] = (),
           **overrides: Any) -> Any:
    """Rank every valid (tp, pp, dp, cp, ep, vpp, micro-batch, ZeRO, recompute, SP) that fits in memory.

    Returns the kernel's SearchResult: ``rows`` (best first), ``configs_evaluated``, ``feasible``,
    ``excluded``, ``elapsed_s`` and ``why_best``. Raises InfeasibleError when nothing fits.
    """
    return resolve_run(scenario, set_=set, overrides=overrides, objective=objective, top=top, search=True).search


def apply_best(s: Scenario) -> Scenario:
    """The scenario with the fastest configuration that fits (for ``parallelism: auto``).

    The search also picks the micro-batch and the recompute policy; both are written into the returned
    scenario's ``training`` so that what is reported is what was evaluated.
    """
    return resolve_run(s.model_copy(update={"training": s.training.model_copy(update={"parallelism": "auto"})})
                       ).scenario


def search_to_dict(s: Scenario | ResolvedRun, result: Any) -> dict[str, Any]:
    scenario = s.scenario if isinstance(s, ResolvedRun) else s
    return jsonable({
        "name": scenario.name,
        "gpus": scenario.gpus,
        "objective": getattr(result, "objective", None),
        "configs_evaluated": result.configs_evaluated,
        "feasible": result.feasible,
        "excluded": getattr(result, "excluded", {}),
        "elapsed_s": result.elapsed_s,
        "why_best": result.why_best,
        "top": list(result.rows),
        **provenance(),
    })
