"""Fit the kernel's efficiency parameters to measured step times: bounded least squares on log step time.

Model: log y_i = log f_i(theta) + e_i, e_i ~ N(0, sigma_i^2), y_i the measured step time, f_i the
predictor's step time for measurement i's scenario. Prior: each parameter's public calibration value
(its default) with a Gaussian in log space for a positive parameter (u = log theta, sd ``prior_sd`` or
log(upper/lower)/4, so the bounds sit at about +/-2 sd), in linear space for one that may be zero (an
overhead in seconds, sd (upper - lower)/4). The maximum a posteriori estimate minimises the sum of
squared whitened residuals of the data and of the prior (a Tikhonov-regularised least squares; Tarantola,
"Inverse Problem Theory" 2005, Sec. 3.2), solved by Levenberg-Marquardt (Marquardt 1963; damping of
the Hessian's diagonal as in Numerical Recipes 3rd ed. Sec. 15.5.2) with the steps clipped to the bounds.

Uncertainty: the Laplace approximation, posterior covariance (J^T J)^-1 of the whitened Jacobian of data
and prior rows at the optimum (Tarantola Sec. 3.2.3; Gauss-Newton Hessian). Identifiability: the data
rows' Jacobian in prior-whitened coordinates; its singular values above 1 are the directions the data
constrain more than the prior does (Brun, Reichert & Kunsch 2001, "Practical identifiability analysis of
large environmental simulation models", Water Resour. Res. 37(4): sensitivity and collinearity from the
scaled sensitivity matrix). One measurement has one such direction at most; the prior keeps the rest.

What one measurement moves (``mode="auto"``): when the data identify at most one direction (one
measurement, or layouts that all change the step time the same way), the fit moves only the **overall
efficiency scale**, one common log factor z on every positive efficiency parameter (the fixed overhead
stays at its public value): u = mu + z d, d_j = 1 for a log-coordinate parameter, 0 otherwise. A step
time is (nearly) inversely proportional to that common factor whatever the layout, so what one layout
says about it carries over to every other layout; the split of the error between GEMM, attention, HBM
and network efficiency, which one number cannot tell, stays at the public calibration. z has its own
prior sd (``overall_prior_sd``; :func:`clustersim.calibrate.run.calibrate` gives the spread of published
sources' common errors around the public calibration, from the validation residuals' random-effects
fit), and one layout is evidence of the common factor only to within that layout's own model error
(``layout_sd``: the validation's within-publication sd; the measurement's log-sd is raised to it), so z
is the measured log error shrunk by prior^2 / (prior^2 + sd^2), empirical Bayes (Efron & Morris 1975,
JASA 70:311). With two or more identified directions the fit moves every parameter (``mode="full"``). Either
way the reported covariance is the Laplace approximation of the full problem at the fitted point, so the
directions one measurement leaves unfixed keep their prior uncertainty.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["Parameter", "Predictor", "Observation", "FitResult", "Direction", "fit", "leave_one_out",
           "DEFAULT_NOISE_LOG_SD", "IDENTIFIED_SHRINK"]

#: Default log-sd of one measurement against the model: the model's own error on one cluster (the
#: published-run validation's mean absolute error is 3-4%), not only the run-to-run noise of the timer.
DEFAULT_NOISE_LOG_SD = 0.05
#: A parameter counts as identified when the data cut its prior sd at least this much (posterior/prior sd).
IDENTIFIED_SHRINK = 0.5


class Parameter(Protocol):
    """What the fitter needs of a calibratable parameter (clustersim.cost.inputs.Calibratable has it)."""

    @property
    def name(self) -> str: ...
    @property
    def default(self) -> float: ...
    @property
    def lower(self) -> float: ...
    @property
    def upper(self) -> float: ...
    @property
    def description(self) -> str: ...


class Predictor(Protocol):
    """The step time (s) of a scenario when the given efficiency parameters replace their defaults."""

    def __call__(self, scenario: Any, params: dict[str, float]) -> float: ...


@dataclass(frozen=True)
class Observation:
    """One measured layout, reduced to a step time, with its log-sd."""

    name: str
    scenario: Any
    step_time_s: float
    log_sd: float = DEFAULT_NOISE_LOG_SD


@dataclass(frozen=True)
class Direction:
    """A combination of parameters (in prior-whitened log units) and how strongly the data fix it."""

    singular_value: float
    weights: dict[str, float]

    def describe(self) -> str:
        terms = sorted(self.weights.items(), key=lambda kv: -abs(kv[1]))
        shown = [f"{w:+.2f} {n}" for n, w in terms if abs(w) >= 0.1]
        return " ".join(shown) + f" (data/prior = {self.singular_value:.2g})"


@dataclass(frozen=True)
class FitResult:
    names: tuple[str, ...]
    defaults: dict[str, float]
    values: dict[str, float]
    log_scale: dict[str, bool]
    prior_sd: dict[str, float]  # in the fitted coordinate (log units or the parameter's own unit)
    posterior_sd: dict[str, float]
    covariance: list[list[float]]  # fitted coordinates, in the order of names
    at_bound: tuple[str, ...]
    identified: tuple[str, ...]
    directions: tuple[Direction, ...]  # every direction, strongest first
    predicted_before_s: tuple[float, ...]
    predicted_after_s: tuple[float, ...]
    chi2: float
    iterations: int
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    observations: tuple[Observation, ...] = field(repr=False, default=())
    #: what the fit moved: "full" (every parameter) or "overall" (the overall efficiency scale only)
    mode: str = "full"
    #: the overall efficiency scale's factor exp(z) and its prior sd (mode "overall" only)
    overall: dict[str, float] = field(default_factory=dict)

    def moved(self) -> str:
        """In words: what the measurements moved."""
        if self.mode != "overall":
            return "every parameter (the data identify more than one combination)"
        names = [n for n in self.names if self.log_scale[n]]
        return (f"the overall efficiency scale only (x{self.overall['factor']:.4g} on {', '.join(names)}): the data "
                "identify one combination, and the split between the parameters stays at the public calibration")

    def shrink(self, name: str) -> float:
        return self.posterior_sd[name] / self.prior_sd[name]

    def identified_directions(self) -> list[Direction]:
        return [d for d in self.directions if d.singular_value > 1.0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": [{"name": n, "default": self.defaults[n], "value": self.values[n],
                            "coordinate": "log" if self.log_scale[n] else "linear", "prior_sd": self.prior_sd[n],
                            "posterior_sd": self.posterior_sd[n], "identified": n in self.identified,
                            "at_bound": n in self.at_bound} for n in self.names],
            "covariance": self.covariance,
            "directions": [{"singular_value": d.singular_value, "weights": d.weights, "text": d.describe()}
                           for d in self.directions],
            "chi2": self.chi2, "iterations": self.iterations, "mode": self.mode, "overall": self.overall,
            "moved": self.moved(),
        }


class _Problem:
    def __init__(self, params: Sequence[Parameter], predictor: Predictor, obs: Sequence[Observation],
                 prior_sd: Mapping[str, float] | None):
        self.params = list(params)
        self.predictor = predictor
        self.obs = list(obs)
        self.log = np.array([p.lower > 0 for p in self.params])
        self.lo = np.array([math.log(p.lower) if lg else p.lower for p, lg in zip(self.params, self.log, strict=True)])
        self.hi = np.array([math.log(p.upper) if lg else p.upper for p, lg in zip(self.params, self.log, strict=True)])
        self.mu = np.array([math.log(p.default) if lg else p.default for p, lg in zip(self.params, self.log, strict=True)])
        given = dict(prior_sd or {})
        self.sd = np.array([given.get(p.name, (h - lo) / 4.0) for p, lo, h in zip(self.params, self.lo, self.hi, strict=True)])
        self.y = np.log([o.step_time_s for o in self.obs])
        self.sig = np.array([o.log_sd for o in self.obs])

    def values(self, u: np.ndarray) -> dict[str, float]:
        return {p.name: float(math.exp(x) if lg else x) for p, x, lg in zip(self.params, u, self.log, strict=True)}

    def log_pred(self, u: np.ndarray, obs: Sequence[Observation] | None = None) -> np.ndarray:
        vals = self.values(u)
        return np.log([self.predictor(o.scenario, dict(vals)) for o in (obs if obs is not None else self.obs)])

    def residuals(self, u: np.ndarray, log_pred: np.ndarray) -> np.ndarray:
        return np.concatenate([(self.y - log_pred) / self.sig, (u - self.mu) / self.sd])

    def data_jacobian(self, u: np.ndarray, base: np.ndarray) -> np.ndarray:
        """d log f_i / d u_j by forward differences, stepping inward from a bound."""
        jac = np.empty((len(self.obs), len(u)))
        for j in range(len(u)):
            h = 1e-5 * max(1.0, abs(u[j])) if self.log[j] else 1e-5 * max(self.hi[j] - self.lo[j], 1e-12)
            if u[j] + h > self.hi[j]:
                h = -h
            du = u.copy()
            du[j] += h
            jac[:, j] = (self.log_pred(du) - base) / h
        return jac

    def full_jacobian(self, data_jac: np.ndarray) -> np.ndarray:
        return np.vstack([-data_jac / self.sig[:, None], np.diag(1.0 / self.sd)])


def _solve(prob: _Problem, u0: np.ndarray, max_iter: int = 60) -> tuple[np.ndarray, np.ndarray, int]:
    u = np.clip(u0, prob.lo, prob.hi)
    lp = prob.log_pred(u)
    r = prob.residuals(u, lp)
    cost = float(r @ r)
    lam = 1e-3
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007  (it is returned)
        jd = prob.data_jacobian(u, lp)
        jac = prob.full_jacobian(jd)
        jtj = jac.T @ jac
        grad = jac.T @ r
        improved = done = False
        for _ in range(12):
            a = jtj + lam * np.diag(np.diag(jtj))
            step = np.linalg.solve(a, -grad)
            new = np.clip(u + step, prob.lo, prob.hi)
            new_lp = prob.log_pred(new)
            new_r = prob.residuals(new, new_lp)
            new_cost = float(new_r @ new_r)
            if new_cost < cost:
                improved = True
                done = cost - new_cost < 1e-12 * max(cost, 1.0) or float(np.max(np.abs(new - u))) < 1e-9
                u, lp, r, cost = new, new_lp, new_r, new_cost
                lam = max(lam / 10.0, 1e-9)
                break
            lam *= 10.0
        if not improved or done:
            break
    return u, lp, it


@dataclass(frozen=True)
class _OverallScale:
    """The overall efficiency scale as one parameter (the shape of :class:`Parameter`)."""

    name: str
    default: float
    lower: float
    upper: float
    description: str = "common factor on every efficiency parameter"


def _identified_count(prob: _Problem) -> int:
    """Directions the data fix more strongly than the prior, at the prior (singular values above 1)."""
    jd = prob.data_jacobian(prob.mu, prob.log_pred(prob.mu))
    svals = np.linalg.svd((jd / prob.sig[:, None]) * prob.sd[None, :], compute_uv=False)
    return int(np.sum(svals > 1.0))


def _fit_overall(prob: _Problem, prior_sd: float, layout_sd: float = 0.0) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(u, log predictions, iterations, z): the MAP of z alone (u = mu + z d); each measurement's log-sd at
    least ``layout_sd`` (how far one layout's own error strays from the cluster's common one)."""
    d = prob.log.astype(float)
    lo = float(np.max((prob.lo - prob.mu)[prob.log])) if prob.log.any() else 0.0
    hi = float(np.min((prob.hi - prob.mu)[prob.log])) if prob.log.any() else 0.0
    scale = _OverallScale("overall_efficiency_scale", 1.0, math.exp(lo), math.exp(hi))

    def predictor(scenario: Any, params: dict[str, float]) -> float:
        return prob.predictor(scenario, prob.values(prob.mu + math.log(params[scale.name]) * d))

    obs = prob.obs if layout_sd <= 0 else [dataclasses.replace(o, log_sd=max(o.log_sd, layout_sd)) for o in prob.obs]
    sub = _Problem([scale], predictor, obs, {scale.name: prior_sd})
    z_u, _, iterations = _solve(sub, sub.mu.copy())
    z = float(z_u[0])
    u = prob.mu + z * d
    return u, prob.log_pred(u), iterations, z


def fit(params: Sequence[Parameter], predictor: Predictor, observations: Sequence[Observation], *,
        prior_sd: Mapping[str, float] | None = None, start: Mapping[str, float] | None = None,
        mode: str = "auto", overall_prior_sd: float | None = None, layout_sd: float = 0.0) -> FitResult:
    """The MAP parameters, their posterior covariance and what the observations identify.

    ``mode``: ``auto`` (the overall efficiency scale alone when the data identify at most one direction,
    else every parameter; see the module docstring), ``full`` or ``overall``. ``overall_prior_sd``: the
    prior sd of the overall scale's log (default: the smallest prior sd of the log-coordinate parameters).
    ``layout_sd``: in the overall mode, the least log-sd of a measurement as evidence of the common factor
    (one layout's own model error: the validation's within-publication sd).
    """
    if not params:
        raise ValueError("no parameter to fit")
    if not observations:
        raise ValueError("no measurement to fit")
    if mode not in ("auto", "full", "overall"):
        raise ValueError("mode is 'auto', 'full' or 'overall'")
    prob = _Problem(params, predictor, observations, prior_sd)
    if mode == "auto":
        mode = "overall" if prob.log.any() and (len(observations) == 1 or _identified_count(prob) <= 1) else "full"
    if mode == "overall" and not prob.log.any():
        raise ValueError("an overall efficiency scale needs at least one positive (log-coordinate) parameter")
    before = np.exp(prob.log_pred(prob.mu))
    overall: dict[str, float] = {}
    if mode == "overall":
        sd0 = overall_prior_sd if overall_prior_sd is not None else float(np.min(prob.sd[prob.log]))
        u, lp, iterations, z = _fit_overall(prob, sd0, layout_sd)
        overall = {"factor": math.exp(z), "log_factor": z, "prior_sd": sd0, "layout_sd": layout_sd}
    else:
        u0 = prob.mu.copy()
        if start:
            u0 = np.array([math.log(start[p.name]) if lg else start[p.name]
                           for p, lg in zip(prob.params, prob.log, strict=True)])
        u, lp, iterations = _solve(prob, u0)
    jd = prob.data_jacobian(u, lp)
    jac = prob.full_jacobian(jd)
    cov = np.linalg.inv(jac.T @ jac)
    post_sd = np.sqrt(np.diag(cov))
    names = tuple(p.name for p in prob.params)
    whitened = (jd / prob.sig[:, None]) * prob.sd[None, :]
    _, svals, vt = np.linalg.svd(whitened, full_matrices=True)
    svals_full = np.zeros(len(names))
    svals_full[: len(svals)] = svals
    directions = tuple(Direction(float(s), {n: float(w) for n, w in zip(names, row, strict=True)}) for s, row in zip(svals_full, vt, strict=True))
    r_data = (prob.y - lp) / prob.sig
    tol = 1e-6 * (prob.hi - prob.lo)
    at_bound = tuple(n for n, x, lo, hi, t in zip(names, u, prob.lo, prob.hi, tol, strict=True) if x - lo < t or hi - x < t)
    return FitResult(
        names=names, defaults={p.name: float(p.default) for p in prob.params}, values=prob.values(u),
        log_scale={p.name: bool(lg) for p, lg in zip(prob.params, prob.log, strict=True)},
        prior_sd=dict(zip(names, map(float, prob.sd), strict=True)), posterior_sd=dict(zip(names, map(float, post_sd), strict=True)),
        covariance=cov.tolist(), at_bound=at_bound,
        identified=tuple(n for n, ps, s in zip(names, post_sd, prob.sd, strict=True) if ps < IDENTIFIED_SHRINK * s),
        directions=directions, predicted_before_s=tuple(map(float, before)),
        predicted_after_s=tuple(map(float, np.exp(lp))), chi2=float(r_data @ r_data), iterations=iterations,
        bounds={p.name: (float(p.lower), float(p.upper)) for p in prob.params}, observations=tuple(observations),
        mode=mode, overall=overall)


def leave_one_out(params: Sequence[Parameter], predictor: Predictor, observations: Sequence[Observation], full: FitResult,
                  *, prior_sd: Mapping[str, float] | None = None, overall_prior_sd: float | None = None,
                  layout_sd: float = 0.0) -> list[float]:
    """For each observation: the step time predicted by a fit to all the others (started at the full fit;
    the same ``auto`` rule decides what the others can move)."""
    out = []
    for i, held in enumerate(observations):
        rest = [o for j, o in enumerate(observations) if j != i]
        if rest:
            values = fit(params, predictor, rest, prior_sd=prior_sd, start=full.values,
                         overall_prior_sd=overall_prior_sd, layout_sd=layout_sd).values
        else:
            values = dict(full.defaults)
        out.append(float(predictor(held.scenario, dict(values))))
    return out
