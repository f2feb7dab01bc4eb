"""``clustersim.estimate``: one scenario through the analytic kernel (failure-free), plus theory's goodput."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from clustersim import units
from clustersim.cost.kernel import evaluate_one
from clustersim.errors import InfeasibleError
from clustersim.planning import kernel_inputs
from clustersim.results import jsonable, provenance
from clustersim.scenario import Scenario, load_scenario
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

    scenario: Scenario
    parallelism: ParallelismSpec
    searched: bool
    kernel: dict[str, float]
    reliability: dict[str, Any] = field(default_factory=dict)

    # -- the figures scripts read --
    @property
    def step_time_s(self) -> float:
        return self.kernel["step_time_s"]

    @property
    def train_days(self) -> float:
        return self.kernel["train_s"] / units.DAY_S

    @property
    def cost_usd(self) -> float | None:
        return self.kernel["cost_usd"] if self.scenario.usd_per_gpu_hour() is not None else None

    @property
    def memory_per_gpu_gib(self) -> float:
        return self.kernel["memory_bytes"] / units.GIB

    @property
    def checkpoint_size_gb(self) -> float:
        return self.kernel["checkpoint_bytes"] / units.GB

    def to_dict(self) -> dict[str, Any]:
        k = self.kernel
        s = self.scenario
        out: dict[str, Any] = {
            "name": s.name,
            "model": s.model_arch()["name"],
            "gpu": s.gpu()["name"],
            "gpus": s.gpus,
            "params_b": k["params"] / 1e9,
            "active_params_b": k["active_params"] / 1e9,
            "tokens": s.tokens(),
            "step_time_s": k["step_time_s"],
            "tokens_per_s": k["tokens_per_s"],
            "mfu": k["mfu"],
            "hfu": k["hfu"],
            "model_tflops_per_gpu": k["model_tflops_per_gpu"],
            "hardware_tflops_per_gpu": k["hardware_tflops_per_gpu"],
            "memory_per_gpu_gib": self.memory_per_gpu_gib,
            "memory_breakdown_gib": {key.removesuffix("_bytes"): k[key] / units.GIB for key in MEMORY_KEYS},
            "gpu_memory_gib": s.gpu()["memory_gib"],
            "fits_in_memory": bool(k["fits_in_memory"]),
            "memory_excess_gib": k["memory_excess_bytes"] / units.GIB,
            "train_days": self.train_days,
            "gpu_hours": k["gpu_hours"],
            "usd_per_gpu_hour": s.usd_per_gpu_hour(),
            "price_source": s.price_source(),
            "cost_usd": self.cost_usd,
            "parallelism": {**self.parallelism.model_dump(), "micro_batch_seqs": s.training.micro_batch_seqs,
                            "recompute": s.training.recompute, "searched": self.searched},
            "breakdown_s": {key.removesuffix("_s"): k[key] for key in BREAKDOWN_KEYS},
            "checkpoint_size_gb": self.checkpoint_size_gb,
        }
        out.update(self.reliability)
        out.update(provenance())
        return jsonable(out)


def resolve(source: Scenario | str | os.PathLike[str] | Mapping[str, Any], set_: Iterable[str] = (),
            overrides: Mapping[str, Any] | None = None) -> Scenario:
    """A Scenario from a path/mapping/Scenario plus ``--set`` strings and keyword overrides.

    Keyword overrides use ``__`` for dots: ``cluster__nodes=256`` is ``--set cluster.nodes=256``.
    """
    sets = list(set_)
    for key, value in (overrides or {}).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        sets.append(f"{key.replace('__', '.')}={text}")
    return load_scenario(source, sets)


def _evaluate(s: Scenario, par: ParallelismSpec) -> dict[str, float]:
    return {k: (float(v) if not isinstance(v, bool) else v) for k, v in evaluate_one(**kernel_inputs(s, par)).items()}


def estimate(scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], *, set: Iterable[str] = (),
             with_theory: bool = True, **overrides: Any) -> Estimate:
    """Failure-free step time, MFU, memory, days, GPU-hours and dollars for a scenario.

    ``parallelism: auto`` runs :func:`clustersim.search` and uses the fastest configuration that fits.
    With ``failures`` in the scenario, the result also carries theory's expected goodput and Daly's
    checkpoint interval (see :mod:`clustersim.theory`), an instant answer before the Monte Carlo.
    """
    s = resolve(scenario, set, overrides)
    par = s.parallelism()
    searched = par is None
    if par is None:
        from clustersim.search import apply_best

        s = apply_best(s)
        par = s.parallelism()
        if par is None:  # pragma: no cover - apply_best always sets one
            raise InfeasibleError("the search returned no configuration")
    kernel = _evaluate(s, par)
    est = Estimate(scenario=s, parallelism=par, searched=searched, kernel=kernel)
    if with_theory:
        from clustersim.reliability import theory_summary

        est = Estimate(s, par, searched, kernel, theory_summary(s, kernel))
    return est


def require_fit(est: Estimate) -> None:
    """Raise InfeasibleError when the configuration does not fit in GPU memory (for simulate)."""
    if not est.kernel["fits_in_memory"]:
        raise InfeasibleError(
            f"{est.scenario.name}: needs {est.memory_per_gpu_gib:.1f} GiB per GPU but the "
            f"{est.scenario.gpu()['name']} has {est.scenario.gpu()['memory_gib']} GiB "
            f"(over by {est.kernel['memory_excess_bytes'] / units.GIB:.1f} GiB); try more pipeline or tensor "
            "parallelism, ZeRO, recompute, or `parallelism: auto`")
