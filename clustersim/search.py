"""``clustersim.search``: every valid parallelism for a scenario's cluster, ranked by time or cost."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from clustersim.cost import search as _cost_search
from clustersim.cost.kernel import MODES, PRECISIONS, RECOMPUTE
from clustersim.errors import InfeasibleError
from clustersim.planning import fabric_of
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario
from clustersim.scenario.spec import ParallelismSpec

__all__ = ["search", "apply_best", "row_parallelism", "search_to_dict"]

_PAR_KEYS = ("tp", "pp", "dp", "cp", "ep", "vpp", "zero", "sequence_parallel")


def _run(s: Scenario, objective: str, top: int) -> Any:
    return _cost_search.search(
        s.model_arch(), s.gpu(), fabric_of(s),
        gpus=s.gpus,
        seq_len=s.training.seq_len,
        global_batch_seqs=s.training.batch_seqs,
        precision=PRECISIONS.index(s.training.precision),
        mode=MODES.index(s.training.mode),
        lora_rank=s.training.lora_rank,
        tokens=s.tokens(),
        usd_per_gpu_hour=s.usd_per_gpu_hour() or 0.0,
        objective=objective,
        top=top,
    )


def row_parallelism(row: Mapping[str, Any]) -> ParallelismSpec:
    """A search result row as the scenario's parallelism (micro-batch and recompute are training fields)."""
    return ParallelismSpec(**{k: (bool(row[k]) if k == "sequence_parallel" else int(row[k])) for k in _PAR_KEYS})


def search(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], *,
           objective: Literal["time", "cost"] = "time", top: int = 10, set: Iterable[str] = (),
           **overrides: Any) -> Any:
    """Rank every valid (tp, pp, dp, cp, ep, vpp, micro-batch, ZeRO, recompute, SP) that fits in memory.

    Returns the kernel's SearchResult: ``rows`` (best first), ``configs_evaluated``, ``feasible``,
    ``elapsed_s`` and ``why_best``.
    """
    from clustersim.estimate import resolve

    s = resolve(scenario, set, overrides)
    result = _run(s, objective, top)
    if not result.rows:
        raise InfeasibleError(
            f"{s.name}: none of the {result.configs_evaluated:,} configurations fits in "
            f"{s.gpu()['memory_gib']} GiB per GPU on {s.gpus:,} GPUs; add GPUs, use a GPU with more memory, "
            "or shorten the sequence")
    return result


def apply_best(s: Scenario) -> Scenario:
    """The scenario with the fastest configuration that fits (for ``parallelism: auto``).

    The search also picks the micro-batch and the recompute policy; both are written into the returned
    scenario's ``training`` so that what is reported is what was evaluated.
    """
    row = search(s, top=1).rows[0]
    training = s.training.model_copy(update={
        "parallelism": row_parallelism(row),
        "micro_batch_seqs": int(row["micro_batch_seqs"]),
        "recompute": RECOMPUTE[int(row["recompute"])],
    })
    return s.model_copy(update={"training": training})


def search_to_dict(s: Scenario, result: Any) -> dict[str, Any]:
    return jsonable({
        "name": s.name,
        "gpus": s.gpus,
        "objective": getattr(result, "objective", None),
        "configs_evaluated": result.configs_evaluated,
        "feasible": result.feasible,
        "elapsed_s": result.elapsed_s,
        "why_best": result.why_best,
        "top": list(result.rows),
        **provenance(),
    })
