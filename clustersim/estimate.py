"""``clustersim.estimate``: one scenario through the analytic kernel (failure-free), plus theory's goodput."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from clustersim import units
from clustersim.cost.kernel import evaluate_one
from clustersim.errors import InfeasibleError
from clustersim.resolve import ResolvedRun, load, resolve_run
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario
from clustersim.scenario.spec import ParallelismSpec

__all__ = ["Estimate", "estimate", "resolve", "BREAKDOWN_KEYS", "MEMORY_KEYS"]

#: Parts of the step time, in the kernel's names; they add up to ``step_time_s``.
BREAKDOWN_KEYS = ("compute_s", "tp_comm_s", "cp_comm_s", "ep_comm_s", "pp_comm_s", "dp_comm_s", "bubble_s",
                  "optimizer_s")
#: Parts of the per-GPU memory, in the kernel's names; they add up to ``memory_bytes``.
MEMORY_KEYS = ("weights_bytes", "grads_bytes", "optimizer_bytes", "activations_bytes", "overhead_bytes")


@dataclass(frozen=True)
class Estimate:
    """The failure-free answer for one scenario (``clustersim estimate --json`` prints :meth:`to_dict`)."""

    run: ResolvedRun
    kernel: dict[str, float]
    reliability: dict[str, Any] = field(default_factory=dict)
    #: The 80% prediction interval of the failure-free figures (see :func:`prediction_interval`).
    interval: dict[str, Any] | None = None

    @property
    def scenario(self) -> Scenario:
        return self.run.scenario

    @property
    def parallelism(self) -> ParallelismSpec:
        return self.run.parallelism

    @property
    def searched(self) -> bool:
        return self.run.searched

    # -- the figures scripts read --
    @property
    def step_time_s(self) -> float:
        return self.kernel["step_time_s"]

    @property
    def train_days(self) -> float:
        return self.kernel["train_s"] / units.DAY_S

    @property
    def cost_usd(self) -> float | None:
        return self.kernel["cost_usd"] if self.run.usd_per_gpu_hour is not None else None

    @property
    def memory_per_gpu_gib(self) -> float:
        return self.kernel["memory_bytes"] / units.GIB

    @property
    def checkpoint_size_gb(self) -> float:
        return self.kernel["checkpoint_bytes"] / units.GB

    def to_dict(self) -> dict[str, Any]:
        k = self.kernel
        run = self.run
        s = run.scenario
        out: dict[str, Any] = {
            "name": s.name,
            "model": run.model_name,
            "gpu": run.gpu_name,
            "gpus": run.gpus,
            "params_b": k["params"] / 1e9,
            "active_params_b": k["active_params"] / 1e9,
            "tokens": run.tokens,
            "step_time_s": k["step_time_s"],
            "tokens_per_s": k["tokens_per_s"],
            "mfu": k["mfu"],
            "mfu_bf16_peak": k["mfu_bf16_peak"],
            "hfu": k["hfu"],
            "model_tflops_per_gpu": k["model_tflops_per_gpu"],
            "hardware_tflops_per_gpu": k["hardware_tflops_per_gpu"],
            "memory_per_gpu_gib": self.memory_per_gpu_gib,
            "memory_breakdown_gib": {key.removesuffix("_bytes"): k[key] / units.GIB for key in MEMORY_KEYS},
            "gpu_memory_gib": run.gpu_memory_gib,
            "fits_in_memory": bool(k["fits_in_memory"]),
            "memory_excess_gib": k["memory_excess_bytes"] / units.GIB,
            "train_days": self.train_days,
            "gpu_hours": k["gpu_hours"],
            "usd_per_gpu_hour": run.usd_per_gpu_hour,
            "price_source": run.price_source,
            "cost_usd": self.cost_usd,
            "parallelism": {**self.parallelism.model_dump(), "micro_batch_seqs": s.training.micro_batch_seqs,
                            "recompute": s.training.recompute, "recompute_layers": s.training.recompute_layers,
                            "recompute_modules": s.training.recompute_modules, "searched": self.searched},
            "breakdown_s": {key.removesuffix("_s"): k[key] for key in BREAKDOWN_KEYS},
            "checkpoint_size_gb": self.checkpoint_size_gb,
        }
        out.update(self.reliability)
        out["prediction_interval"] = self.interval
        out.update(provenance())
        return jsonable(out)


def resolve(source: Scenario | str | os.PathLike[str] | Mapping[str, Any], set_: Iterable[str] = (),
            overrides: Mapping[str, Any] | None = None) -> Scenario:
    """A Scenario from a path/mapping/Scenario plus ``--set`` strings and keyword overrides (see
    :func:`clustersim.resolve.load`)."""
    return load(source, set_, overrides)


def kernel_of(run: ResolvedRun) -> dict[str, Any]:
    """The kernel's outputs for a resolved run's one configuration (floats; bools for the flags)."""
    return evaluate_one(run.inputs)


def infeasible_reasons(run: ResolvedRun, kernel: Mapping[str, Any]) -> list[str]:
    """Why a resolved layout cannot run (the rule set's messages, or the memory it lacks); empty if it can."""
    from clustersim.cost.kernel import invalid_reasons

    if not kernel["valid"]:
        return invalid_reasons(run.inputs) or ["the kernel marks this configuration invalid"]
    if not kernel["fits_in_memory"]:
        headroom = run.scenario.cluster.gpu_memory_headroom_gib
        return [f"needs {kernel['memory_bytes'] / units.GIB:.1f} GiB per GPU but the {run.gpu_name} has "
                f"{run.gpu_memory_gib:g} GiB less the {headroom:g} GiB headroom (cluster.gpu_memory_headroom_gib) "
                f"(over by {kernel['memory_excess_bytes'] / units.GIB:.1f} GiB); try more pipeline or tensor "
                "parallelism, ZeRO, recompute, narrower optimizer state (training.optimizer_moments_dtype), or "
                "`parallelism: auto`"]
    return []


def estimate(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any] | ResolvedRun, *,
             set: Iterable[str] = (), with_theory: bool = True, feasible_only: bool = True,
             with_interval: bool = True, **overrides: Any) -> Estimate:
    """Failure-free step time, MFU, memory, days, GPU-hours and dollars for a scenario.

    ``parallelism: auto`` runs :func:`clustersim.search` and uses the fastest configuration that fits.
    With ``failures`` in the scenario, the result also carries theory's expected goodput and Daly's
    checkpoint interval (see :mod:`clustersim.theory`), an instant answer before the Monte Carlo.
    Raises :class:`~clustersim.errors.InfeasibleError` with the reasons when the layout is invalid or does
    not fit in memory (``feasible_only=False`` returns the figures anyway, marked by ``fits_in_memory``).
    The result carries the 80% prediction interval of its figures (:func:`prediction_interval`;
    ``with_interval=False`` leaves it out, as the validation itself does).
    """
    run = scenario if isinstance(scenario, ResolvedRun) else resolve_run(scenario, set_=set, overrides=overrides)
    kernel = kernel_of(run)
    reasons = infeasible_reasons(run, kernel)
    if reasons and (feasible_only or not kernel["valid"]):
        raise InfeasibleError(f"{run.name or 'this scenario'}: " + "; ".join(reasons))
    interval = prediction_interval(run, kernel) if with_interval else None
    if not with_theory:
        return Estimate(run, kernel, interval=interval)
    from clustersim.reliability import theory_summary

    return Estimate(run, kernel, theory_summary(run, kernel), interval)


def interval_figures(run: ResolvedRun, kernel: Mapping[str, Any]) -> dict[str, float | None]:
    """The failure-free figures that scale with the step time, as estimate reports them."""
    return {"step_time_s": kernel["step_time_s"], "train_days": kernel["train_s"] / units.DAY_S,
            "gpu_hours": kernel["gpu_hours"],
            "cost_usd": kernel["cost_usd"] if run.usd_per_gpu_hour is not None else None}


def prediction_interval(run: ResolvedRun, kernel: Mapping[str, Any]) -> dict[str, Any] | None:
    """The 80% prediction interval of the step time, days, GPU-hours and dollars (see
    :func:`step_interval` for where it comes from; the JSON says which in ``method`` and ``source``).
    None when no interval can be formed (too few comparable rows)."""
    iv = step_interval(run)
    return None if iv is None else iv.report(interval_figures(run, kernel))


def step_interval(run: ResolvedRun) -> Any:
    """The distribution of the factor on the predicted step time, as a
    :class:`~clustersim.calibrate.intervals.Interval` (80%), or None when none can be formed.

    With a calibration profile: its fit's predictive model error (``clustersim calibrate`` also reports the
    per-layout posterior, :func:`clustersim.calibrate.predictor.step_time_interval`).
    Otherwise the residuals of the published runs of the same architecture (dense or MoE), GPU generation
    and parallelism style (docs/validation.md; :func:`clustersim.calibrate.intervals.interval_from_residuals`).
    ``simulate`` and ``dollars`` draw each replica's step-time factor from the same distribution
    (:mod:`clustersim.calibrate.uncertainty`).
    """
    from clustersim.calibrate import intervals

    profile = run_profile(run)
    if profile is not None and profile.kernel_uncertainty is not None:
        # the profile's predictive spread for its own measurements' conditions: its fit's model error
        # (the per-layout parameter term needs the kernel's gradient: `clustersim calibrate` reports it)
        return intervals.interval_from_posterior(profile.kernel_uncertainty.model_log_sd,
                                                 source=f"calibration profile '{profile.name}' (fit model error)")
    par = run.parallelism
    return layout_interval(run.gpu_name, par.tp, par.pp, par.zero, run.arch.get("experts", 1))


def layout_interval(gpu_name: str, tp: int, pp: int, zero: int, experts: int = 1) -> Any:
    """The published-residual interval (80%) of the step-time factor for a layout on a GPU, as
    :func:`step_interval` gives it without a calibration profile; None when none can be formed (the money
    tables, which search many layouts, give each row the interval of its winner). ``experts``: the
    model's routed experts (above 1: the MoE rows' residuals)."""
    from clustersim.groups import architecture, gpu_generation, parallelism_style

    try:
        return _residual_interval(gpu_generation(gpu_name), parallelism_style(tp, pp, zero), architecture(experts))
    except ValueError:
        return None


def run_profile(run: ResolvedRun) -> Any:
    """The calibration profile the run's scenario references (a validated
    :class:`~clustersim.calibrate.profile.Profile`), or None."""
    if run.scenario.calibration is None:
        return None
    from clustersim.calibrate.profile import load_profile

    return load_profile(run.scenario.calibration)


@lru_cache(maxsize=64)
def _residual_interval(generation: str, style: str, arch: str = "dense") -> Any:
    from clustersim.calibrate import intervals

    return intervals.interval_from_residuals(intervals.published_residuals(), generation, style, arch=arch)


def require_fit(est: Estimate) -> None:
    """Raise InfeasibleError when the configuration does not fit in GPU memory (for simulate)."""
    reasons = infeasible_reasons(est.run, est.kernel)
    if reasons:
        raise InfeasibleError(f"{est.scenario.name}: " + "; ".join(reasons))
