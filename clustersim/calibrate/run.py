""":func:`calibrate`: from a measurements file to a fit, failure and storage statistics, and a profile.

Each measurement becomes a step time: a step time as given; a median of a training log's steps; a
throughput or an MFU through the failure-free estimate of its own scenario (step = tokens per step /
tokens per second; step = model FLOP per step / (GPUs x peak x MFU), both read from
:func:`clustersim.estimate`, which do not depend on the efficiency parameters). The fit, its
leave-one-out check and the interval are in :mod:`clustersim.calibrate.fit`.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clustersim import __version__, units
from clustersim.calibrate import failurelog, logs, storage
from clustersim.calibrate.fit import FitResult, Observation, Parameter, Predictor, fit, leave_one_out
from clustersim.calibrate.measurements import (
    MeasurementsFile,
    MeasurementSpec,
    override_strings,
    read_measurements,
)
from clustersim.calibrate.params import calibratable, check_kernel_names
from clustersim.calibrate.profile import PROFILE_VERSION, Profile, write_profile
from clustersim.calibrate.profile_data import build_profile_data
from clustersim.errors import ErrorItem, InfeasibleError, ScenarioError
from clustersim.results import jsonable, provenance

__all__ = ["MeasuredRow", "CalibrationResult", "calibrate", "OverallPrior", "overall_prior_sd"]


@dataclass(frozen=True)
class MeasuredRow:
    """One measurement: what was given, its step time, and the step times predicted before, after, left out."""

    name: str
    metric: str
    given: float
    measured_step_s: float
    before_s: float
    after_s: float | None
    loo_s: float | None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        def err(x: float | None) -> float | None:
            return None if x is None else x / self.measured_step_s - 1.0

        return {"name": self.name, "metric": self.metric, "given": self.given, "measured_step_s": self.measured_step_s,
                "before_s": self.before_s, "after_s": self.after_s, "loo_s": self.loo_s, "error_before": err(self.before_s),
                "error_after": err(self.after_s), "error_loo": err(self.loo_s), "detail": self.detail}


def _rms_log(pairs: list[tuple[float, float]]) -> float | None:
    if not pairs:
        return None
    return math.sqrt(sum(math.log(a / b) ** 2 for a, b in pairs) / len(pairs))


@dataclass(frozen=True)
class CalibrationResult:
    """The result of ``clustersim calibrate``: the rows, the fit, failures, storage, and the profile's data."""

    name: str
    source: str
    rows: tuple[MeasuredRow, ...]
    fit: FitResult | None
    failures: failurelog.FailureStats | None
    storage: dict[str, storage.StorageEstimate]
    profile_data: dict[str, Any]
    notes: tuple[str, ...] = field(default=())

    def profile(self) -> Profile:
        return Profile.model_validate(self.profile_data)

    def write_profile(self, path: str | os.PathLike[str]) -> Profile:
        return write_profile(path, self.profile_data)

    def rms_log_error(self, which: str) -> float | None:
        """Root-mean-square log error of the rows: ``before``, ``after`` or ``loo``."""
        return _rms_log([(getattr(r, f"{which}_s"), r.measured_step_s) for r in self.rows
                         if getattr(r, f"{which}_s") is not None])

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "source": self.source, "rows": [r.to_dict() for r in self.rows],
               "rms_log_error": {k: self.rms_log_error(k) for k in ("before", "after", "loo")},
               "fit": self.fit.to_dict() if self.fit else None,
               "failures": self.failures.to_dict() if self.failures else None,
               "storage": {k: v.to_dict() for k, v in self.storage.items()}, "profile": self.profile_data,
               "notes": list(self.notes)}
        out.update(provenance())
        return jsonable(out)


def _scenario(spec: MeasurementSpec | None, file: MeasurementsFile, folder: Path, label: str) -> Any:
    from clustersim.estimate import resolve

    rel = (spec.scenario if spec is not None and spec.scenario else file.base) or ""
    path = Path(rel) if Path(rel).is_absolute() else folder / rel
    sets = override_strings(spec.set) if spec is not None else []
    try:
        return resolve(path, sets)
    except ScenarioError as exc:
        hint = f"while reading {label}"
        items = [ErrorItem(i.message, i.path, i.line, i.column, i.given, i.expected,
                           f"{i.hint}; {hint}" if i.hint else hint) for i in exc.items]
        raise ScenarioError(items, exc.filename) from None


def _step_time(spec: MeasurementSpec, scenario: Any, folder: Path) -> tuple[float, float, str]:
    """(measured step time s, the value as given, where it came from)."""
    from clustersim.estimate import estimate

    metric = spec.metric
    if metric == "step_time_s":
        return float(spec.step_time_s or 0.0), float(spec.step_time_s or 0.0), "step time"
    detail = metric
    if metric == "log":
        log_path = Path(spec.log or "")
        log_path = log_path if log_path.is_absolute() else folder / log_path
        fmt, summary = logs.read_log(log_path, spec.format, spec.skip_steps, field=f"measurements.{spec.name}.log")
        detail = (f"{fmt} log {log_path.name}: median of {summary.steps_used} steps after {spec.skip_steps} warm-up, "
                  f"spread {summary.log_sd:.1%}")
        if summary.metric == "step_time_s":
            return summary.value, summary.value, detail
        metric, value = summary.metric, summary.value
    else:
        value = float(getattr(spec, metric))
    est = estimate(scenario, with_theory=False, feasible_only=False, with_interval=False)  # the measured run ran
    k = est.kernel
    if metric == "mfu":
        return est.step_time_s * k["mfu"] / value, value, detail
    tokens_per_step = est.step_time_s * k["tokens_per_s"]
    tps = value * scenario.gpus if metric == "tokens_per_s_per_gpu" else value
    return tokens_per_step / tps, value, detail


#: Prior sd of an additive parameter whose public value is zero (a per-step overhead), as a fraction of
#: the median measured step time: an overhead "of the order of a tenth of a step". Its bounds alone
#: (e.g. 0-60 s) would let it absorb any slowdown at no cost, and a fixed overhead extrapolates to other
#: scales very differently from an efficiency.
OVERHEAD_PRIOR_STEP_FRACTION = 0.1


def prior_sds(params: Sequence[Parameter], obs: Sequence[Observation], given: dict[str, float]) -> dict[str, float]:
    """The prior sd of each parameter: the file's ``prior_sd``, else (for an overhead at zero) a tenth of the
    median measured step, else the fitter's default from the bounds (see clustersim.calibrate.fit)."""
    out = dict(given)
    steps = sorted(o.step_time_s for o in obs)
    median = steps[len(steps) // 2] if steps else 0.0
    for p in params:
        if p.name not in out and p.lower <= 0 and p.default == 0 and median > 0:
            out[p.name] = min((p.upper - p.lower) / 4.0, OVERHEAD_PRIOR_STEP_FRACTION * median)
    return out


@dataclass(frozen=True)
class OverallPrior:
    """What one measurement's overall efficiency scale is fitted with: ``prior_sd`` of its log (how far
    published sources' common errors lie from the public calibration, sqrt(mu^2 + tau^2)), ``layout_sd``
    (the within-publication sd: one layout's own error about its source's), and their source in words."""

    prior_sd: float
    layout_sd: float
    source: str


def overall_prior_sd(scenario: Any) -> OverallPrior | None:
    """The :class:`OverallPrior` for a cluster like ``scenario``'s, from the random-effects fit of the
    validation residuals of its architecture, GPU generation and parallelism style
    (:func:`clustersim.calibrate.intervals.group_effects`: mu the group's mean log error, tau the spread
    between publications, sigma within them). None when it cannot be formed."""
    from clustersim.calibrate.intervals import group_effects
    from clustersim.groups import architecture, gpu_generation, parallelism_style

    par = scenario.parallelism()
    if par is None:
        return None
    try:
        fx, source = group_effects(gpu_generation(scenario.gpu().get("name", "")),
                                   parallelism_style(par.tp, par.pp, par.zero),
                                   arch=architecture(scenario.model_arch().get("experts", 1)))
    except (ValueError, OSError):
        return None
    sd = math.sqrt(fx.mu ** 2 + fx.tau2)
    if sd <= 0:
        return None
    return OverallPrior(sd, math.sqrt(fx.sigma2), f"{source} (random effects: mean {fx.mu:+.3f}, between-publication "
                                                   f"sd {math.sqrt(fx.tau2):.3f}, within {math.sqrt(fx.sigma2):.3f})")


def _failure_part(file: MeasurementsFile, folder: Path, base: Any) -> failurelog.FailureStats | None:
    f = file.failures
    if f is None:
        return None
    log_path = Path(f.log) if Path(f.log).is_absolute() else folder / f.log
    events = failurelog.read_failure_log(log_path)
    return failurelog.failure_stats(
        events, observed_hours=f.observed_hours, nodes=f.nodes or base.cluster.nodes,
        gpus_per_node=f.gpus_per_node or base.gpus_per_node,
        nodes_per_leaf=f.nodes_per_leaf or base.cluster.network.nodes_per_leaf, per=dict(f.per), level=f.level,
        source=str(log_path))


def _storage_part(file: MeasurementsFile, base: Any, folder: Path) -> dict[str, storage.StorageEstimate]:
    if not file.checkpoints:
        return {}
    size_bytes: float | None = None
    if any(c.size_gb is None for c in file.checkpoints):
        from clustersim.estimate import estimate

        size_bytes = estimate(base, with_theory=False, feasible_only=False, with_interval=False).checkpoint_size_gb * units.GB
    ops: list[tuple[str, float, float]] = []
    for i, c in enumerate(file.checkpoints):
        size = c.size_gb * units.GB if c.size_gb is not None else float(size_bytes or 0.0)
        if c.log is not None:
            log_path = Path(c.log) if Path(c.log).is_absolute() else folder / c.log
            ops.extend((op, size, sec) for op, sec, _ in logs.read_checkpoint_ops(log_path, f"checkpoints.{i}.log"))
        elif c.op is not None and c.seconds is not None:
            ops.append((c.op, size, c.seconds))
    nominal = {"write": base.checkpoint.write_bytes_per_s, "read": base.checkpoint.read_bytes_per_s}
    return storage.storage_bandwidth(ops, nominal)


def calibrate(measurements: str | os.PathLike[str], *, predictor: Predictor | None = None,
              parameters: Sequence[Parameter] | None = None, created_utc: str | None = None) -> CalibrationResult:
    """Fit the kernel's efficiency parameters to measured runs; failure rates and storage from logs.

    ``predictor``/``parameters`` default to clustersim's own (:func:`clustersim.estimate` and
    ``clustersim.cost.inputs.CALIBRATABLE``). Returns the result; write its profile with
    :meth:`CalibrationResult.write_profile`.
    """
    path = Path(measurements)
    file, digest = read_measurements(path)
    folder = path.parent
    params = tuple(parameters) if parameters is not None else calibratable()
    notes: list[str] = []
    own_kernel = predictor is None and parameters is None
    if predictor is None:
        from clustersim.calibrate.predictor import estimate_predictor

        check_kernel_names([p.name for p in params], "parameters")
        predictor = estimate_predictor
    unknown = sorted(set(file.prior_sd) - {p.name for p in params})
    if unknown:
        raise ScenarioError(ErrorItem(f"prior_sd names unknown parameter(s): {', '.join(unknown)}", path="prior_sd",
                                      expected="one of " + ", ".join(p.name for p in params)), str(path))
    base = _scenario(None, file, folder, f"{path}: base") if file.base else None
    obs, given, details, metrics = [], [], [], []
    for spec in file.measurements:
        scenario = _scenario(spec, file, folder, f"measurement {spec.name!r} of {path}")
        if scenario.parallelism() is None:
            raise ScenarioError(ErrorItem(f"measurement {spec.name!r}: a measured run needs its parallel layout",
                                          path=f"measurements.{spec.name}.set", given="training.parallelism: auto",
                                          expected="training.parallelism with tp, pp (and dp) as the run used"), str(path))
        try:
            step, value, detail = _step_time(spec, scenario, folder)
        except InfeasibleError as exc:
            raise InfeasibleError(f"measurement {spec.name!r} of {path}: {exc}") from None
        obs.append(Observation(spec.name, scenario, step, spec.log_sd or file.noise_log_sd))
        given.append(value)
        details.append(detail)
        metrics.append(spec.metric)
    defaults = {p.name: float(p.default) for p in params}
    fitted: FitResult | None = None
    loo: list[float | None] = [None] * len(obs)
    if obs and params:
        prior = prior_sds(params, obs, file.prior_sd)
        overall = overall_prior_sd(obs[0].scenario) if own_kernel else None
        # a prior the file sets on an efficiency parameter bounds how far the common factor may move it
        tight = [file.prior_sd[p.name] for p in params if p.lower > 0 and p.name in file.prior_sd]
        if tight and (overall is None or min(tight) < overall.prior_sd):
            overall = OverallPrior(min(tight), overall.layout_sd if overall else 0.0, "the measurements file's prior_sd")
        osd, lsd = (overall.prior_sd, overall.layout_sd) if overall is not None else (None, 0.0)
        fitted = fit(params, predictor, obs, prior_sd=prior, overall_prior_sd=osd, layout_sd=lsd)
        if fitted.mode == "overall":
            notes.append(f"the measurements identify one combination: the fit moved {fitted.moved()}" + (
                f"; its prior sd {overall.prior_sd:.3f} and one layout's own error {overall.layout_sd:.3f} (log) "
                f"are from {overall.source}" if overall is not None else ""))
        if len(obs) > 1:
            loo = list(leave_one_out(params, predictor, obs, fitted, prior_sd=prior, overall_prior_sd=osd,
                                     layout_sd=lsd))
        else:
            notes.append("one measurement: no leave-one-out check (a second layout gives one)")
        before = list(fitted.predicted_before_s)
        after: list[float | None] = list(fitted.predicted_after_s)
    else:
        before = [float(predictor(o.scenario, dict(defaults))) for o in obs]
        after = [None] * len(obs)
        if obs:
            notes.append("this clustersim's kernel exposes no calibratable parameter: measured vs predicted only")
    rows = tuple(MeasuredRow(o.name, m, g, o.step_time_s, b, a, lo, d)
                 for o, m, g, b, a, lo, d in zip(obs, metrics, given, before, after, loo, details, strict=True))
    fstats = _failure_part(file, folder, base) if base is not None else None
    stor = _storage_part(file, base, folder) if base is not None else {}
    if fstats is not None:
        notes.extend(fstats.notes)  # each rate's own note stays with its rate
    name = file.name or path.stem
    when = created_utc or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    partial = CalibrationResult(name, str(path), rows, fitted, fstats, stor, {}, tuple(notes))
    data = build_profile_data(partial, file, digest, when, version=PROFILE_VERSION, clustersim_version=__version__)
    return CalibrationResult(name, str(path), rows, fitted, fstats, stor, data, tuple(notes))
