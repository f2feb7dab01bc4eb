"""The resilience file: one job, the failures it sees, and the named strategies to compare.

A resilience file describes a run by what reliability reports state (GPUs, days of failure-free
compute, failure rates, recovery times, checkpoint policy), not by a model and a parallel layout: the
step time does not enter, so these files are not scenarios for ``estimate``. A training scenario states
the same mechanisms as its own keys (:mod:`clustersim.resilience.scenario`), with the kernel's step time. ``strategies`` maps a
name to dotted overrides of the base (``checkpoint.tier: node``, ``spares.hot: 16``, ``mode:
per_replica``); every strategy of a file runs on the same failures (common random numbers).
Every number has a range, as in :mod:`clustersim.scenario.spec`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.scenario.loader import _read as read_file_mapping
from clustersim.scenario.loader import apply_overrides, errors_from_validation, set_dotted
from clustersim.scenario.spec import Strict, ValidationCheck

__all__ = ["ResilienceFile", "JobPart", "FailuresPart", "CheckpointPart", "SparesPart", "FaultTolerancePart",
           "PricingPart", "Check", "load_resilience", "strategy_spec"]

Hours = Annotated[float, Field(ge=1 / 3600, le=1e8)]
Minutes = Annotated[float, Field(ge=0.0, le=10_080.0)]
Seconds = Annotated[float, Field(ge=0.0, le=604_800.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class JobPart(Strict):
    """The job: its size and how much failure-free compute it needs."""

    gpus: Annotated[int, Field(gt=0, le=10_000_000)] = Field(description="GPUs in the job")
    gpus_per_node: Annotated[int, Field(gt=0, le=128)] = Field(8, description="GPUs per node")
    days: Annotated[float, Field(gt=0.0, le=3_650.0)] = Field(description="failure-free compute, in days")
    replicas: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        1, description="data-parallel replicas (the unit of per-replica fault tolerance); divides the nodes")


class FailuresPart(Strict):
    """What fails, how often, and how long detection, restart and repair take."""

    node_mtbf_hours: Hours | None = Field(None, description="hardware MTBF of one healthy node")
    software_mtbf_hours: Hours | None = Field(None, description="MTBF of software failures of the whole job")
    sdc_mtbf_hours: Hours | None = Field(None, description="MTBF of silent data corruption of the whole job")
    sdc_detect_hours: Annotated[float, Field(ge=0.0, le=8_760.0)] = Field(
        0.0, description="how long after a corruption it is found")
    lemon_nodes: Annotated[int, Field(ge=0, le=1_000_000)] = Field(0, description="nodes that fail repeatedly")
    lemon_mtbf_hours: Hours | None = Field(None, description="MTBF of one lemon node")
    retire_after: Annotated[int, Field(ge=0, le=1_000)] = Field(0, description="retire a lemon after k failures (0: never)")
    escalate_after: Annotated[int, Field(ge=0, le=1_000)] = Field(
        0, description="a thorough repair that fixes a lemon after k failures (0: never)")
    misdiagnosis: Fraction = Field(0.0, description="probability a repaired node comes back still broken")
    detect_minutes: Minutes = Field(5.0, description="time to detect a failure")
    restart_minutes: Minutes = Field(10.0, description="whole-job restart (reschedule, initialise)")
    repair_hours: Annotated[float, Field(ge=0.0, le=87_600.0)] = Field(24.0, description="mean repair time of a node")
    repair_fixed: bool = Field(False, description="repairs take exactly repair_hours (default exponential)")


class CheckpointPart(Strict):
    """The checkpoint tiers: a fast tier (memory or peer copies) and storage."""

    interval_minutes: Annotated[float, Field(ge=1 / 60, le=525_600.0)] = Field(
        description="compute between checkpoints (the fast tier's interval when tier is not none)")
    write_seconds: Seconds = Field(0.0, description="blocking write of one checkpoint of the fast tier "
                                                    "(or of storage with a single tier)")
    tier: Literal["none", "job", "node"] = Field(
        "none", description="fast tier: none (single storage tier), job (host memory, lost with its node), "
                            "node (peer-replicated, survives one node)")
    storage_every: Annotated[int, Field(ge=1, le=100_000)] = Field(
        1, description="every k-th checkpoint also goes to storage")
    storage_gbyte: Annotated[float, Field(ge=0.0, le=1e9)] = Field(0.0, description="checkpoint size written to storage")
    storage_gbyte_per_s: Annotated[float, Field(ge=1e-3, le=1e6)] = Field(
        1_000.0, description="nominal storage bandwidth")
    storage_efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1.0, description="achieved storage bandwidth as a fraction of nominal")
    tier_load_seconds: Seconds = Field(0.0, description="restore from the fast tier")
    storage_load_seconds: Seconds | None = Field(None, description="restore from storage; default: the write time")
    retention: Annotated[int, Field(ge=1, le=1_000_000)] = Field(1_000_000, description="storage checkpoints kept")
    tier_gib_per_node: Annotated[float, Field(ge=0.0, le=1e5)] = Field(
        0.0, description="memory the fast tier holds per node (priced)")


class SparesPart(Strict):
    """Hot spares in the allocation, or cold provisioning from the provider."""

    hot: Annotated[int, Field(ge=0, le=1_000_000)] = Field(0, description="idle spare nodes in the job's allocation")
    cold_provision_minutes: Minutes | None = Field(
        None, description="wait for a node from the provider when no hot spare is free (default: wait for a repair)")


class FaultTolerancePart(Strict):
    """Per-replica fault tolerance (with mode: per_replica)."""

    stall_seconds: Seconds = Field(0.0, description="every replica pauses this long per failure (quorum re-forms)")
    rejoin_minutes: Minutes = Field(0.0, description="a replaced replica's restart and catch-up from its peers")
    speed: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1.0, description="step-time and convergence cost of fault-tolerant training (1 = none)")


class PricingPart(Strict):
    """Prices: GPUs (the job and its hot spares), the fast tier's memory, storage."""

    usd_per_gpu_hour: Annotated[float, Field(ge=0.0, le=10_000.0)] = Field(2.0, description="GPU price")
    usd_per_gib_hour: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.0, description="price of host memory reserved for the fast tier")
    storage_usd_per_hour: Annotated[float, Field(ge=0.0, le=1e6)] = Field(
        0.0, description="storage service for the run, per hour")


#: One published figure the file is checked against (scenarios/validation/): the scenario's model, one
#: definition for both file kinds.
Check = ValidationCheck


class ResilienceFile(Strict):
    """A resilience file: one run, its strategies, its deadline, its checks."""

    name: str = "resilience"
    source: str = Field("", description="what the file is built from")
    job: JobPart
    failures: FailuresPart = FailuresPart()
    checkpoint: CheckpointPart
    spares: SparesPart = SparesPart()
    mode: Literal["restart", "per_replica"] = Field("restart", description="whole-job restart or per-replica FT")
    fault_tolerance: FaultTolerancePart = FaultTolerancePart()
    pricing: PricingPart = PricingPart()
    strategies: Annotated[dict[str, dict[str, Any]], Field(max_length=64)] = Field(
        default_factory=dict, description="name -> dotted overrides of the base")
    deadline_days: Annotated[float, Field(gt=0.0, le=36_500.0)] | None = Field(
        None, description="pick the cheapest strategy whose P90 wall time meets it")
    replicas: Annotated[int, Field(gt=0, le=1_000_000)] = Field(200, description="Monte Carlo replicas")
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    validation: Annotated[list[Check], Field(max_length=64)] = Field(default_factory=list)


def _validate(data: Any, filename: str | None, marks: Any = None) -> ResilienceFile:
    try:
        return ResilienceFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(errors_from_validation(exc, data, marks), filename) from None


def load_resilience(path: str | os.PathLike[str], overrides: tuple[str, ...] | list[str] = (),
                    extra: dict[str, dict[str, Any]] | None = None) -> tuple[ResilienceFile, dict[str, Any]]:
    """(the validated file, its raw mapping with ``overrides`` applied and the ``extra`` strategies added).
    Errors name the file and line."""
    p = Path(path)
    data, marks = read_file_mapping(p)  # bounded, safe YAML; errors name the file
    if not isinstance(data, dict):
        raise ScenarioError(ErrorItem("the top level is not a mapping", line=1, column=1,
                                      expected="a mapping with job, checkpoint"), str(p))
    data.setdefault("name", p.stem)
    data = apply_overrides(data, overrides)
    if extra:
        if not isinstance(data.get("strategies", {}), dict):
            raise ScenarioError(ErrorItem("strategies is not a mapping", path="strategies"), str(p))
        data["strategies"] = {**data.get("strategies", {}), **extra}
    spec = _validate(data, str(p), marks if not overrides else None)
    for name in spec.strategies:  # every strategy must be valid before anything runs
        strategy_spec(spec, data, name, str(p))
    return spec, data


def strategy_spec(spec: ResilienceFile, data: dict[str, Any], name: str, filename: str | None = None) -> ResilienceFile:
    """The base with strategy ``name``'s overrides applied (``base``: the file as written)."""
    if name == "base":
        return spec
    if name not in spec.strategies:
        raise ScenarioError(ErrorItem(f"no strategy {name!r}", path="strategies",
                                      expected=" | ".join(["base", *spec.strategies])), filename)
    import copy

    out = copy.deepcopy({k: v for k, v in data.items() if k not in ("strategies", "validation")})
    for key, value in spec.strategies[name].items():
        if not isinstance(key, str) or key.split(".")[0] in ("strategies", "validation", "replicas", "seed"):
            raise ScenarioError(ErrorItem(f"strategy {name!r} cannot set {key!r}", path=f"strategies.{name}"),
                                filename)
        set_dotted(out, key, value)
    try:
        return ResilienceFile.model_validate(out)
    except ValidationError as exc:
        items = [ErrorItem(f"strategy {name!r}: {i.message}", path=i.path, expected=i.expected)
                 for i in errors_from_validation(exc, out, None)]
        raise ScenarioError(items, filename) from None
