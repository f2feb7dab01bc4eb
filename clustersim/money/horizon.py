"""Whether a simulated run finished: a run whose replicas hit the horizon has no wall time, only a floor.

A replica stops at the simulation's horizon, ``simulation.horizon_factor`` x (failure-free work +
one node repair time) (``clustersim.simulate.build_job``), so that a run that cannot progress never
hangs. A replica stopped there did not finish: its "wall days" are the horizon, its goodput is the
work done by then, and the dollars of it are the bill of a run that is still going. Averaging such
replicas with finished ones gives a number that looks like an answer and is not one; this module
marks the result so that every command says so in its headline and its JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clustersim import units

__all__ = ["mark_finished", "unfinished_message", "HORIZON_RULE"]

#: How the horizon is set (``clustersim.simulate.build_job``).
HORIZON_RULE = "simulation.horizon_factor x (failure-free work + one node repair time)"


def unfinished_message(finished_fraction: float, horizon_days: float | None, at_budget: int = 0,
                       budget: int | None = None) -> str:
    """The headline of a run some of whose replicas did not finish (``at_budget`` of them stopped at the
    event budget of ``budget`` failures per replica, clustersim.simulate.EVENT_BUDGET, before the horizon)."""
    within = f"within the horizon of {horizon_days:,.1f} days" if horizon_days is not None else "within the horizon"
    if finished_fraction <= 0.0:
        head = f"DOES NOT FINISH: no replica finished {within}"
    else:
        head = f"DOES NOT ALWAYS FINISH: only {100 * finished_fraction:.1f}% of replicas finished {within}"
    head += f" ({HORIZON_RULE})"
    if at_budget:
        head += (f"; {at_budget:,} replica(s) stopped earlier, at the event budget of "
                 f"{f'{budget:,} ' if budget else ''}failures per replica")
    return (f"{head}; the wall days, dollars and goodput below are of runs cut off there, not of finished "
            "runs. Add spare nodes, shorten the repair time, or raise the node MTBF.")


def mark_finished(data: dict[str, Any], horizon_s: float | None) -> bool:
    """Add ``finished`` (all replicas finished), ``horizon_days`` and, when not, ``verdict`` to a
    simulation's ``to_dict()``; return True when some replica did not finish."""
    fraction = float(data.get("finished_fraction", 1.0))
    horizon_days = horizon_s / units.DAY_S if horizon_s is not None else None
    data["finished"] = fraction >= 1.0
    data["horizon_days"] = horizon_days
    data["horizon_rule"] = HORIZON_RULE
    if fraction < 1.0:
        data["verdict"] = unfinished_message(fraction, horizon_days, int(data.get("replicas_at_event_budget") or 0),
                                             data.get("event_budget"))
        return True
    data["verdict"] = None
    return False


def simulation_unfinished(sim: Mapping[str, Any] | None) -> str | None:
    """The unfinished headline of a simulation's dict, or None when every replica finished."""
    if sim is None:
        return None
    fraction = float(sim.get("finished_fraction", 1.0))
    if fraction >= 1.0:
        return None
    return unfinished_message(fraction, sim.get("horizon_days"), int(sim.get("replicas_at_event_budget") or 0),
                              sim.get("event_budget"))
