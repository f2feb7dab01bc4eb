"""How long a preempted spot node takes to come back: the catalog's measured default and its source.

The default of ``pricing.spot.return_hours`` (1 h) is the mean length of the periods in which AWS
p3.16xlarge (8x V100) spot capacity was unavailable in us-west-2a and us-west-2b, from the public
availability traces of Wu et al., "Can't Be Late: Optimizing Spot Instance Savings under Deadlines"
(NSDI 2024; github.com/skypilot-org/spot-traces, probes every 10 minutes from 2022-10-26). The entry,
with the figures and caveats, is ``clustersim/scenario/catalog/spot.yaml``;
:func:`unavailable_periods_h` is the derivation, so the figure can be recomputed from the trace files.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

__all__ = ["DEFAULT_ENTRY", "return_delay_entry", "default_return_hours", "default_return_source",
           "unavailable_periods_h"]

#: The catalog entry whose ``return_hours`` is the scenario key's default.
DEFAULT_ENTRY = "aws-p3.16xlarge-us-west-2-2022"


@cache
def _entries() -> dict[str, dict[str, Any]]:
    text = resources.files("clustersim.scenario.catalog").joinpath("spot.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {str(k): dict(v) for k, v in data.items()}


def return_delay_entry(name: str = DEFAULT_ENTRY) -> dict[str, Any]:
    """One entry of ``spot.yaml`` (a fresh copy)."""
    return dict(_entries()[name])


def default_return_hours() -> float:
    """The catalog's default return delay in hours (the mean spot-unavailable period, see the module)."""
    return float(_entries()[DEFAULT_ENTRY]["return_hours"])


def default_return_source() -> str:
    """A one-line citation of the default, for command output."""
    e = _entries()[DEFAULT_ENTRY]
    m = e["measured"]
    return (f"default: mean spot-unavailable period {m['mean_hours_both']:g} h over {m['periods']} periods of "
            f"AWS p3.16xlarge in us-west-2, {e['date']} (Wu et al. NSDI 2024 spot traces; catalog spot.yaml "
            f"{DEFAULT_ENTRY}); set pricing.spot.return_hours for your provider")


def unavailable_periods_h(data: Iterable[int], gap_s: float, unavailable: int = 1) -> np.ndarray:
    """Lengths in hours of the runs of probes equal to ``unavailable`` that a later probe closes.

    ``data`` is one availability trace (one value per probe, ``gap_s`` seconds apart); a run already
    open at the first probe or still open at the last is dropped, since its length is unknown. The mean of the result is the mean time
    from losing spot capacity to getting it back, at the probes' resolution.
    """
    x = np.asarray(list(data)) == unavailable
    if x.size == 0:
        return np.zeros(0)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], x, [False])).astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    closed = (starts > 0) & (ends < x.size)  # seen to begin, and closed by a probe that found capacity
    return (ends[closed] - starts[closed]) * gap_s / 3600.0
