"""The calibration profile: a versioned YAML file that a scenario references (``calibration: PATH``).

What it holds (every section optional except the header):

* ``kernel`` - {parameter: value}: the fitted efficiency parameters, which replace the defaults of
  those kernel inputs.
* ``kernel_uncertainty`` - the posterior: each parameter's coordinate (log or linear), sd and the
  correlation matrix, plus ``model_log_sd``, the model's own error on a layout it was not fitted on
  (the larger of the measurement noise and the leave-one-out error). :meth:`Profile.predictive_log_sd`
  and :meth:`Profile.draw_kernel` use it (estimate's interval, simulate's parameter uncertainty).
* ``failures`` - per-component rates with their Gamma posterior (shape, rate in unit-hours), interval,
  Weibull shape evidence and recovery times; :meth:`Profile.draw_failure_mtbf_hours` draws from them.
* ``checkpoint`` - the storage bandwidth the logged checkpoint writes and reads reached.
* ``provenance`` - which measurements (file, sha256, names), when, with which clustersim, fit quality.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import Field, ValidationError, model_validator

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.io import atomic_write_text
from clustersim.scenario.loader import errors_from_validation
from clustersim.scenario.spec import Strict
from clustersim.scenario.yamlsafe import MAX_FILE_BYTES, read_yaml_bytes

__all__ = ["PROFILE_VERSION", "Profile", "write_profile", "load_profile", "kernel_overrides"]

#: The profile format's version (the ``clustersim_calibration`` key). Bump on a breaking change.
PROFILE_VERSION = 1

PosFloat = Annotated[float, Field(gt=0)]


class KernelUncertainty(Strict):
    coordinate: dict[str, Literal["log", "linear"]]
    sd: dict[str, Annotated[float, Field(ge=0)]]
    correlation: list[list[float]]
    model_log_sd: Annotated[float, Field(ge=0)]
    lower: dict[str, float] = Field(default_factory=dict)
    upper: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _square(self) -> KernelUncertainty:
        n = len(self.sd)
        if set(self.coordinate) != set(self.sd):
            raise ValueError("coordinate and sd must name the same parameters")
        if len(self.correlation) != n or any(len(row) != n for row in self.correlation):
            raise ValueError(f"correlation must be a {n} x {n} matrix (one row and column per parameter in sd)")
        return self


class RateSource(Strict):
    component: str
    per: Literal["gpu", "node", "switch", "job"]
    mtbf_hours: PosFloat
    count: Annotated[int, Field(ge=0)]
    exposure_unit_hours: PosFloat
    level: Annotated[float, Field(gt=0, lt=1)]
    mtbf_interval_hours: list[float]
    posterior_shape: PosFloat
    posterior_rate_unit_hours: PosFloat
    distribution: Literal["exponential", "weibull"] = "exponential"
    shape: PosFloat = 1.0
    note: str = ""


class FailureSection(Strict):
    sources: list[RateSource]
    weibull: list[dict[str, Any]] = Field(default_factory=list)
    recovery: dict[str, float] | None = None
    observed_hours: PosFloat | None = None


class CheckpointSection(Strict):
    write_gbyte_per_s: PosFloat | None = None
    read_gbyte_per_s: PosFloat | None = None
    write_fraction_of_nominal: PosFloat | None = None
    read_fraction_of_nominal: PosFloat | None = None
    operations: Annotated[int, Field(ge=0)] = 0


class Profile(Strict):
    """A calibration profile as read from its file (validated; unknown keys are errors)."""

    clustersim_calibration: Literal[1]
    name: str
    created_utc: str
    clustersim_version: str
    kernel: dict[str, float] = Field(default_factory=dict)
    kernel_uncertainty: KernelUncertainty | None = None
    failures: FailureSection | None = None
    checkpoint: CheckpointSection | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kernel_names(self) -> Profile:
        if self.kernel_uncertainty is not None and set(self.kernel_uncertainty.sd) - set(self.kernel):
            raise ValueError("kernel_uncertainty names a parameter that kernel does not set")
        return self

    # -- what estimate and simulate use --
    def _names(self) -> list[str]:
        return list(self.kernel_uncertainty.sd) if self.kernel_uncertainty else []

    def covariance(self) -> np.ndarray:
        """Posterior covariance in the fitted coordinates (log units or the parameter's own)."""
        ku = self.kernel_uncertainty
        if ku is None:
            return np.zeros((0, 0))
        sd = np.array([ku.sd[n] for n in self._names()])
        return np.asarray(ku.correlation) * np.outer(sd, sd)

    def predictive_log_sd(self, gradient: dict[str, float]) -> float:
        """sd of log step time for a layout: sqrt(g' C g + model_log_sd^2), g = d log step / d coordinate."""
        ku = self.kernel_uncertainty
        if ku is None:
            raise ValueError("the profile has no kernel uncertainty")
        g = np.array([gradient.get(n, 0.0) for n in self._names()])
        return math.sqrt(float(g @ self.covariance() @ g) + ku.model_log_sd ** 2)

    def draw_kernel(self, rng: np.random.Generator, n: int) -> list[dict[str, float]]:
        """n draws of the kernel parameters from the posterior (Gaussian in the fitted coordinates, clipped
        to the bounds); the parameters without uncertainty keep their value."""
        names = self._names()
        ku = self.kernel_uncertainty
        if ku is None or not names:
            return [dict(self.kernel) for _ in range(n)]
        centre = np.array([math.log(self.kernel[k]) if ku.coordinate[k] == "log" else self.kernel[k] for k in names])
        draws = rng.multivariate_normal(centre, self.covariance(), size=n, method="cholesky")
        out = []
        for row in draws:
            values = dict(self.kernel)
            for k, x in zip(names, row, strict=True):
                v = math.exp(x) if ku.coordinate[k] == "log" else float(x)
                values[k] = min(max(v, ku.lower.get(k, -math.inf)), ku.upper.get(k, math.inf))
            out.append(values)
        return out

    def draw_failure_mtbf_hours(self, rng: np.random.Generator, n: int) -> list[dict[str, float]]:
        """n draws of each component's per-unit MTBF from its Gamma posterior of the rate."""
        if self.failures is None:
            return [{} for _ in range(n)]
        cols = {s.component: 1.0 / rng.gamma(s.posterior_shape, 1.0 / s.posterior_rate_unit_hours, size=n)
                for s in self.failures.sources}
        return [{c: float(v[i]) for c, v in cols.items()} for i in range(n)]

    def scenario_sources(self) -> list[dict[str, Any]]:
        """The failure rates as scenario ``failures.sources`` entries."""
        if self.failures is None:
            return []
        out = []
        for s in self.failures.sources:
            src: dict[str, Any] = {"component": s.component, "per": s.per, "mtbf_hours": s.mtbf_hours}
            if s.distribution == "weibull":
                src.update(distribution="weibull", shape=s.shape)
            out.append(src)
        return out


def write_profile(path: str | os.PathLike[str], data: dict[str, Any]) -> Profile:
    """Validate and write a profile atomically; the header comment says what made it."""
    profile = Profile.model_validate(data)
    body = yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True), sort_keys=False, width=110)
    header = (f"# clustersim calibration profile '{profile.name}' (format {PROFILE_VERSION}), written "
              f"{profile.created_utc} by clustersim {profile.clustersim_version}.\n"
              "# Reference it from a scenario with `calibration: <this file>`. Regenerate with `clustersim calibrate`.\n")
    atomic_write_text(path, header + body)
    return profile


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile; ScenarioError with file:line for anything wrong."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(ErrorItem("the calibration profile does not exist", path="calibration"), str(p)) from None
    except OSError as exc:
        raise ScenarioError(ErrorItem(f"cannot read the calibration profile: {exc.strerror}"), str(p)) from None
    data, marks = read_yaml_bytes(raw, str(p))
    if not isinstance(data, dict) or "clustersim_calibration" not in data:
        raise ScenarioError(ErrorItem("not a calibration profile (no clustersim_calibration key)", line=1,
                                      expected="a file written by `clustersim calibrate`"), str(p))
    if data["clustersim_calibration"] != PROFILE_VERSION:
        raise ScenarioError(ErrorItem("unsupported profile version", path="clustersim_calibration",
                                      line=marks.find(("clustersim_calibration",))[0],
                                      given=repr(data["clustersim_calibration"]), expected=str(PROFILE_VERSION)),
                            str(p))
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(errors_from_validation(exc, data, marks), str(p)) from None


def kernel_overrides(path: str | os.PathLike[str]) -> dict[str, float]:
    """The ``kernel:`` mapping of a profile file, checked against the kernel's calibratable parameters:
    what a scenario's ``calibration: PATH`` replaces in its KernelInputs."""
    from clustersim.calibrate.params import check_kernel_names
    from clustersim.errors import ClustersimError

    profile = load_profile(path)
    try:
        check_kernel_names(list(profile.kernel), f"{path}: kernel")
    except ClustersimError as exc:
        raise ScenarioError(ErrorItem(str(exc), path="kernel"), str(path)) from None
    return dict(profile.kernel)
