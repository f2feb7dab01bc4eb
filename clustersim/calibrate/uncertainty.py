"""Parameter uncertainty for simulate and dollars: each replica draws its step-time factor and failure rates.

What a replica draws (:meth:`ParameterUncertainty.draws`), on its own keyed stream
(:func:`clustersim.rng.stream` (seed, replica, ``calibration/parameters``)), so that replica i's draws
do not depend on the number of replicas, workers or blocks, and leave every failure stream unchanged
(the failure-only and the with-uncertainty runs share their failures: common random numbers):

* **Step-time factor** from the distribution behind estimate's prediction interval
  (:func:`clustersim.estimate.step_interval`): with a calibration profile, log factor ~ N(0, s^2), s the
  profile's predictive model error; without, the published residuals of the scenario's GPU generation and
  parallelism style, log factor = m + scale x T_{n-1} (the Student t predictive distribution of a new row,
  Hahn & Meeker 1991 Sec. 4.5; :meth:`clustersim.calibrate.intervals.Interval.draw_factors`). The factor
  multiplies the failure-free compute; checkpoint, restart and repair times are not scaled.
* **Failure rates**, one multiplier per failure source (rate x multiplier; MTBF / multiplier):

  - ``profile-posterior``: the scenario references a profile whose failure log has the source's component
    (and unit): the rate is drawn from the log's Gamma posterior (shape a, rate b per unit-hour; a
    Gamma-Poisson conjugate update, Gelman et al., "Bayesian Data Analysis", 3rd ed., Sec. 2.6), relative
    to the profile's point rate: multiplier = Gamma(a, 1) / b x MTBF_profile;
  - ``preset-count``: the scenario's reliability preset states how many failures the study counted (c,
    ``count_in_study``): the rate's Jeffreys posterior from that count, Gamma(c + 1/2, T), relative to the
    preset's rate c / T: multiplier = Gamma(c + 1/2, 1) / c;
  - ``fixed``: nothing states the rate's uncertainty (``mtbf_hours`` given by hand, ``node_mtbf_hours``,
    spot preemptions, a preset row without a count): multiplier 1, and the result says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from clustersim import rng as rngmod
from clustersim.calibrate.intervals import Interval
from clustersim.calibrate.profile import Profile
from clustersim.sim.scales import ReplicaScales

__all__ = ["RateBasis", "ParameterUncertainty", "parameter_uncertainty"]

_STREAM = "calibration/parameters"
BASES = ("profile-posterior", "preset-count", "fixed")


@dataclass(frozen=True)
class RateBasis:
    """Where one failure source's rate uncertainty comes from: multiplier = Gamma(shape, 1) x ``scale``."""

    component: str
    per: str
    basis: str  # one of BASES
    failures: int | None = None  # the count behind it (the log's or the study's)
    shape: float | None = None
    scale: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"component": self.component, "per": self.per, "basis": self.basis,
                               "failures": self.failures}
        if self.shape is not None:
            out["multiplier_interval_80"] = list(self.multiplier_interval(self.shape, 0.8))
        return out

    def multiplier_interval(self, shape: float, level: float) -> tuple[float, float]:
        """The rate multiplier's central interval at ``level`` (Gamma quantiles)."""
        from clustersim.calibrate.special import gamma_ppf

        return gamma_ppf((1 - level) / 2, shape) * self.scale, gamma_ppf((1 + level) / 2, shape) * self.scale


@dataclass(frozen=True)
class ParameterUncertainty:
    """What simulate and dollars draw per replica (see the module docstring)."""

    step: Interval | None  # None: the step-time factor is fixed at 1 (no interval could be formed)
    rates: tuple[RateBasis, ...]

    @property
    def anything(self) -> bool:
        """Whether any parameter is drawn at all."""
        return self.step is not None or any(r.shape is not None for r in self.rates)

    def draws(self, seed: int, replicas: int) -> ReplicaScales:
        """The step factors and rate multipliers of replicas 0..replicas-1."""
        if replicas < 0:
            raise ValueError("replicas must be >= 0")
        shapes = np.array([r.shape for r in self.rates if r.shape is not None], dtype=float)
        drawn = np.array([r.shape is not None for r in self.rates], dtype=bool)
        scale = np.array([r.scale for r in self.rates], dtype=float)
        step = np.ones(replicas)
        rate = np.ones((replicas, len(self.rates)))
        for i in range(replicas):
            g = rngmod.stream(seed, i, _STREAM)
            if self.step is not None:
                step[i] = float(self.step.draw_factors(g, 1)[0])
            if shapes.size:
                rate[i, drawn] = g.gamma(shapes) * scale[drawn]
        return ReplicaScales(step, rate)

    def to_dict(self) -> dict[str, Any]:
        if self.step is None:
            step: dict[str, Any] = {"method": "fixed", "source": "no interval could be formed: factor 1"}
        else:
            step = {"method": self.step.method, "source": self.step.source, "level": self.step.level,
                    "lo_factor": self.step.lo_factor, "hi_factor": self.step.hi_factor,
                    "distribution": ("lognormal" if math.isinf(self.step.dof) else
                                     f"log Student t ({self.step.dof:g} dof)")}
        return {"step_factor": step, "failure_rates": [r.to_dict() for r in self.rates]}


def _basis(src: Any, resolved: Any, profile: Profile | None) -> RateBasis:
    component, per = src.component, src.per
    if profile is not None and profile.failures is not None:
        for p in profile.failures.sources:
            if p.component == component and p.per == per:
                return RateBasis(component, per, "profile-posterior", p.count, p.posterior_shape,
                                 p.mtbf_hours / p.posterior_rate_unit_hours)
    count = resolved.get("count_in_study") if resolved is not None else None
    if count:
        return RateBasis(component, per, "preset-count", int(count), float(count) + 0.5, 1.0 / float(count))
    return RateBasis(component, per, "fixed")


def parameter_uncertainty(run: Any, job: Any) -> ParameterUncertainty:
    """The parameter uncertainty of a resolved run (:class:`clustersim.resolve.ResolvedRun`) whose
    simulation job is ``job`` (:func:`clustersim.simulate.build_job`: its sources are the run's, in order)."""
    from clustersim.estimate import run_profile, step_interval

    profile = run_profile(run)
    resolved = list(run.sources)
    rates = []
    for i, s in enumerate(job.sources):
        match = resolved[i] if i < len(resolved) and resolved[i]["component"] == s.component else None
        rates.append(RateBasis(s.component, s.per, "fixed") if s.effect == "preempt" else _basis(s, match, profile))
    return ParameterUncertainty(step_interval(run), tuple(rates))
