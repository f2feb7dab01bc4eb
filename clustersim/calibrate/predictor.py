"""The real predictor and the estimate's interval: a scenario's step time through :func:`clustersim.estimate`.

:func:`estimate_predictor` resolves the scenario once (:func:`clustersim.resolve.resolve_run`), replaces
the calibrated fields of its :class:`~clustersim.cost.inputs.KernelInputs` (exactly what a profile's
``kernel:`` mapping does) and runs the public :func:`clustersim.estimate` on that run. With no parameter
it is the plain estimate. :func:`step_time_interval` is the interval ``estimate`` prints: from a
profile's posterior when the scenario references one, else from the published validation residuals of
the same architecture (dense or MoE), GPU generation and parallelism style.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from clustersim.calibrate.intervals import (
    LEVEL,
    Interval,
    Residual,
    architecture,
    gpu_generation,
    interval_from_posterior,
    interval_from_residuals,
    parallelism_style,
    published_residuals,
)
from clustersim.calibrate.params import calibratable, check_kernel_names
from clustersim.calibrate.profile import Profile

__all__ = ["estimate_predictor", "calibratable", "check_kernel_names", "step_time_interval", "log_gradient"]

_RUNS: OrderedDict[str, Any] = OrderedDict()
_MAX_RUNS = 64


def _resolved(scenario: Any) -> Any:
    """The ResolvedRun of a scenario, cached by its content (the fit asks for the same few many times)."""
    from clustersim.resolve import ResolvedRun, resolve_run

    if isinstance(scenario, ResolvedRun):
        return scenario
    key = scenario.model_dump_json()
    run = _RUNS.get(key)
    if run is None:
        run = resolve_run(scenario)
        _RUNS[key] = run
        if len(_RUNS) > _MAX_RUNS:
            _RUNS.popitem(last=False)
    else:
        _RUNS.move_to_end(key)
    return run


def estimate_predictor(scenario: Any, params: dict[str, float]) -> float:
    """Step time (s) of ``scenario`` with ``params`` replacing those kernel inputs, through estimate."""
    from clustersim.estimate import estimate

    run = _resolved(scenario)
    if params:
        check_kernel_names(list(params), "calibration")
        run = dataclasses.replace(run, inputs=run.inputs.replace(**params))
    return float(estimate(run, with_theory=False, feasible_only=False, with_interval=False).step_time_s)


def log_gradient(scenario: Any, profile: Profile, rel_step: float = 1e-4) -> dict[str, float]:
    """d log step time / d coordinate of each profile parameter (forward differences at the profile)."""
    ku = profile.kernel_uncertainty
    if ku is None:
        return {}
    base = dict(profile.kernel)
    f0 = math.log(estimate_predictor(scenario, base))
    grad = {}
    for name, coord in ku.coordinate.items():
        moved = dict(base)
        if coord == "log":
            h = rel_step
            moved[name] = base[name] * math.exp(h)
        else:
            h = rel_step * max(abs(ku.upper.get(name, 1.0) - ku.lower.get(name, 0.0)), 1e-12)
            moved[name] = base[name] + h
        grad[name] = (math.log(estimate_predictor(scenario, moved)) - f0) / h
    return grad


def step_time_interval(scenario: Any, profile: Profile | None = None, level: float = LEVEL,
                       residuals: Sequence[Residual] | None = None) -> Interval:
    """The prediction interval of the scenario's step time (and so of its days, GPU-hours, dollars).

    With a profile: its posterior (delta method through the predictor, plus the model's own error).
    Without: the published validation residuals of the scenario's architecture, GPU generation and
    parallelism style.
    """
    if profile is not None and profile.kernel_uncertainty is not None:
        sd = profile.predictive_log_sd(log_gradient(scenario, profile))
        return interval_from_posterior(sd, level, f"calibration profile '{profile.name}'")
    run = _resolved(scenario)
    par = run.parallelism
    rows = residuals if residuals is not None else published_residuals()
    return interval_from_residuals(rows, gpu_generation(run.gpu_name), parallelism_style(par.tp, par.pp, par.zero),
                                   level, architecture(run.arch.get("experts", 1)))
