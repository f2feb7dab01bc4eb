"""Per-replica draws of what we do not know, for simulate and dollars: the step-time factor and failure rates.

Each replica draws, on its own keyed stream (:func:`clustersim.rng.stream`, so the draws do not depend on
the number of replicas or workers and leave every other stream unchanged):

* a step-time factor: with a calibration profile, log factor = g'd + e, d ~ N(0, C) the posterior of the
  fitted parameters and e ~ N(0, model_log_sd^2) (the same distribution as the interval,
  :func:`clustersim.calibrate.predictor.step_time_interval`); without, from the published residuals'
  Student-t predictive distribution (:meth:`clustersim.calibrate.intervals.Interval.draw_factors`);
* with a profile holding failure rates, each component's per-unit MTBF from its Gamma posterior.

The failure-only mode of a simulation is these draws switched off (factor 1, the point MTBFs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from clustersim import rng as rngmod
from clustersim.calibrate.intervals import Interval
from clustersim.calibrate.profile import Profile

__all__ = ["ReplicaDraw", "replica_draws"]

_STEP_STREAM = "calibration/step-factor"
_FAILURE_STREAM = "calibration/failure-rates"


@dataclass(frozen=True)
class ReplicaDraw:
    """One replica's draw: multiply the step time by ``step_factor``; use ``mtbf_hours`` per component."""

    replica: int
    step_factor: float
    mtbf_hours: dict[str, float]


def _factor(interval: Interval, seed: int, replica: int) -> float:
    return float(interval.draw_factors(rngmod.stream(seed, replica, _STEP_STREAM), 1)[0])


def replica_draws(scenario: Any, seed: int, replicas: int, profile: Profile | None = None,
                  interval: Interval | None = None) -> list[ReplicaDraw]:
    """The draws of replicas 0..replicas-1 (``interval`` defaults to the scenario's step-time interval)."""
    if replicas < 0:
        raise ValueError("replicas must be >= 0")
    if interval is None:
        from clustersim.calibrate.predictor import step_time_interval

        interval = step_time_interval(scenario, profile)
    out = []
    for r in range(replicas):
        mtbf: dict[str, float] = {}
        if profile is not None and profile.failures is not None:
            g: np.random.Generator = rngmod.stream(seed, r, _FAILURE_STREAM)
            mtbf = profile.draw_failure_mtbf_hours(g, 1)[0]
        out.append(ReplicaDraw(r, _factor(interval, seed, r), mtbf))
    return out
