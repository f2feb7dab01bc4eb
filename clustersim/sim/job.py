"""The simulation's input: plain frozen dataclasses (picklable, so replicas run in worker processes).

An adapter elsewhere turns a scenario and the kernel's figures into a :class:`SimJob`; this package
never sees a scenario. All times are seconds. Every field is checked when the object is built, and a
bad value raises :class:`clustersim.errors.SimulationError` naming the field and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from clustersim.errors import SimulationError

__all__ = ["FailureSource", "TraceEvent", "SimJob", "PERS", "EFFECTS", "DISTRIBUTIONS", "REPAIR_DISTRIBUTIONS",
           "SIMPY_EVENTS_PER_BUDGET"]

#: What one unit of a source is.
PERS = ("gpu", "node", "switch", "job")
#: What a failure does: ``node`` the node goes to repair and the job restarts; ``leaf`` every node below
#: that leaf switch goes down until the switch is repaired; ``job`` restart only, nothing to repair
#: (software); ``fabric`` a spine switch: the job runs on, slower, until it is repaired; ``preempt`` a spot
#: preemption: the node is taken away and comes back after a re-acquire delay.
EFFECTS = ("node", "leaf", "job", "fabric", "preempt")
DISTRIBUTIONS = ("exponential", "weibull")
#: SimPy events a replica may schedule per unit of ``SimJob.max_events`` (a failure costs a few).
SIMPY_EVENTS_PER_BUDGET = 16
REPAIR_DISTRIBUTIONS = ("exponential", "fixed", "lognormal")

# Which unit kinds each effect accepts (a node effect needs a unit that lives in one node, etc.).
_EFFECT_PERS = {
    "node": ("gpu", "node"),
    "leaf": ("switch",),
    "fabric": ("switch",),
    "preempt": ("gpu", "node"),
    "job": PERS,
}

# Trace components whose effect is not ``node`` when a trace row does not say (matched by substring).
_TRACE_EFFECT_HINTS = (("spine", "fabric"), ("leaf", "leaf"), ("spot", "preempt"), ("preempt", "preempt"),
                       ("software", "job"), ("nccl", "job"))


def _bad(field: str, value: object, expected: str) -> SimulationError:
    return SimulationError(f"{field}: expected {expected}, given {value!r}")


def _positive(field: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise _bad(field, value, "a finite number > 0")


def _non_negative(field: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise _bad(field, value, "a finite number >= 0")


def _count(field: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(field, value, f"an integer >= {minimum}")


def _speeds(field: str, values: tuple[float, ...]) -> None:
    if not isinstance(values, tuple) or not values:
        raise _bad(field, values, "a non-empty tuple of rates in (0, 1]")
    for v in values:
        if not (isinstance(v, (int, float)) and 0 < v <= 1):
            raise _bad(field, values, "a non-empty tuple of rates in (0, 1]")


@dataclass(frozen=True, kw_only=True)
class FailureSource:
    """One kind of failure: ``units`` identical units, each failing with mean time ``mtbf_s``.

    ``mtbf_s`` is always the MEAN time between failures of one unit; for ``weibull`` the scale is
    ``mtbf_s / Gamma(1 + 1/shape)`` (see :func:`clustersim.theory.weibull_scale_s`).
    """

    component: str
    per: str
    units: int
    mtbf_s: float
    distribution: str = "exponential"
    shape: float = 1.0
    effect: str = "node"

    def __post_init__(self) -> None:
        where = f"failure source {self.component!r}"
        if not isinstance(self.component, str) or not self.component:
            raise _bad("component", self.component, "a non-empty name")
        if self.per not in PERS:
            raise _bad(f"{where}: per", self.per, " | ".join(PERS))
        _count(f"{where}: units", self.units, 1)
        _positive(f"{where}: mtbf_s", self.mtbf_s)
        if self.distribution not in DISTRIBUTIONS:
            raise _bad(f"{where}: distribution", self.distribution, " | ".join(DISTRIBUTIONS))
        _positive(f"{where}: shape", self.shape)
        if self.effect not in EFFECTS:
            raise _bad(f"{where}: effect", self.effect, " | ".join(EFFECTS))
        if self.per not in _EFFECT_PERS[self.effect]:
            raise _bad(f"{where}: per (with effect {self.effect})", self.per, " | ".join(_EFFECT_PERS[self.effect]))

    @property
    def stops_job(self) -> bool:
        """Whether a failure of this source stops the job (all but a degraded fabric)."""
        return self.effect != "fabric"


@dataclass(frozen=True, kw_only=True)
class TraceEvent:
    """One observed failure to replay. ``node`` is the job's node index (slot); for a leaf switch any node
    below it; for a spine switch the spine's index; ignored for a job-level failure. ``effect`` empty:
    taken from the source with the same component, else inferred from the name (spine -> fabric,
    leaf -> leaf, spot/preempt -> preempt, software/nccl -> job, anything else -> node)."""

    time_s: float
    component: str
    node: int = -1
    effect: str = ""

    def __post_init__(self) -> None:
        _non_negative("trace event time_s", self.time_s)
        object.__setattr__(self, "time_s", float(self.time_s))  # the event log's times are floats
        if self.effect and self.effect not in EFFECTS:
            raise _bad("trace event effect", self.effect, " | ".join(EFFECTS))
        if isinstance(self.node, bool) or not isinstance(self.node, int):
            raise _bad("trace event node", self.node, "an integer")


@dataclass(frozen=True, kw_only=True)
class SimJob:
    """A training job to simulate: the work, the cluster's shape, failures, repairs, checkpoints.

    Checkpoints: ``checkpoint_interval_s`` is Daly's tau, the compute time (wall time spent computing)
    between the end of one checkpoint (or a restart) and the start of the next. With
    ``final_checkpoint`` (default) the run ends by writing one more checkpoint (the trained model), so
    ``work_s / interval`` whole segments each end with a checkpoint, as in Daly's model.

    ``horizon_s``: a replica that has not finished by then stops and says so; None means
    10 x the failure-free wall time (work plus checkpoints), a bound so that nothing runs forever.

    Bounds on the work of one replica (hitting one is a result, flagged, never a hang):
    ``max_events`` is the event budget: a replica stops (unfinished, ``budget_hit``) after that many
    failures; the SimPy engine also stops after :data:`SIMPY_EVENTS_PER_BUDGET` x ``max_events``
    scheduled SimPy events, which bounds everything else it does (maintenance windows, wake-ups).
    ``max_log_rows`` caps the event log kept for replica 0 (the log says it was cut).
    """

    work_s: float
    nodes: int
    checkpoint_interval_s: float
    checkpoint_write_s: float = 0.0
    gpus_per_node: int = 8  # SCENARIO.md's example cluster
    nodes_per_leaf: int = 16  # SCENARIO.md's example cluster
    spine_switches: int = 0
    sources: tuple[FailureSource, ...] = ()
    trace: tuple[TraceEvent, ...] | None = None
    detect_s: float = 0.0
    restart_s: float = 0.0
    repair_s: float = 0.0
    repair_distribution: str = "exponential"
    repair_cv: float = 1.0
    max_concurrent_repairs: int | None = None
    spare_nodes: int = 0
    preempt_return_s: float | None = None
    elastic: bool = False
    nodes_per_replica: int = 1
    min_replicas: int = 1
    elastic_speed: tuple[float, ...] = (1.0,)
    degraded_speed: tuple[float, ...] = (1.0,)
    checkpoint_async: bool = False
    checkpoint_block_s: float = 0.0
    checkpoint_load_s: float = 0.0
    final_checkpoint: bool = True
    straggler_fraction: float = 0.0
    straggler_slowdown: float = 1.0
    maintenance_period_s: float | None = None
    maintenance_duration_s: float = 0.0
    horizon_s: float | None = None
    max_events: int = 1_000_000
    max_log_rows: int = 100_000

    def __post_init__(self) -> None:
        _positive("work_s", self.work_s)
        _count("nodes", self.nodes, 1)
        _positive("checkpoint_interval_s", self.checkpoint_interval_s)
        _count("gpus_per_node", self.gpus_per_node, 1)
        _count("nodes_per_leaf", self.nodes_per_leaf, 1)
        _count("spine_switches", self.spine_switches, 0)
        for name in ("checkpoint_write_s", "detect_s", "restart_s", "repair_s", "checkpoint_block_s",
                     "checkpoint_load_s", "maintenance_duration_s", "straggler_fraction"):
            _non_negative(name, getattr(self, name))
        if not isinstance(self.sources, tuple) or not all(isinstance(s, FailureSource) for s in self.sources):
            raise _bad("sources", self.sources, "a tuple of FailureSource")
        if self.trace is not None and (not isinstance(self.trace, tuple)
                                       or not all(isinstance(e, TraceEvent) for e in self.trace)):
            raise _bad("trace", self.trace, "a tuple of TraceEvent or None")
        if self.repair_distribution not in REPAIR_DISTRIBUTIONS:
            raise _bad("repair_distribution", self.repair_distribution, " | ".join(REPAIR_DISTRIBUTIONS))
        _positive("repair_cv", self.repair_cv)
        if self.max_concurrent_repairs is not None:
            _count("max_concurrent_repairs", self.max_concurrent_repairs, 1)
        _count("spare_nodes", self.spare_nodes, 0)
        if self.preempt_return_s is not None:
            _non_negative("preempt_return_s", self.preempt_return_s)
        _count("nodes_per_replica", self.nodes_per_replica, 1)
        if self.nodes % self.nodes_per_replica:
            raise _bad("nodes_per_replica", self.nodes_per_replica, f"a divisor of nodes ({self.nodes})")
        _count("min_replicas", self.min_replicas, 1)
        if self.min_replicas > self.dp_replicas:
            raise _bad("min_replicas", self.min_replicas, f"at most the {self.dp_replicas} DP replicas")
        _speeds("elastic_speed", self.elastic_speed)
        _speeds("degraded_speed", self.degraded_speed)
        if self.straggler_fraction > 1:
            raise _bad("straggler_fraction", self.straggler_fraction, "a fraction in [0, 1]")
        if not (math.isfinite(self.straggler_slowdown) and self.straggler_slowdown >= 1):
            raise _bad("straggler_slowdown", self.straggler_slowdown, "a factor >= 1")
        if self.checkpoint_async and self.checkpoint_block_s > self.checkpoint_write_s:
            raise _bad("checkpoint_block_s", self.checkpoint_block_s,
                       f"at most checkpoint_write_s ({self.checkpoint_write_s})")
        if self.maintenance_period_s is not None:
            _positive("maintenance_period_s", self.maintenance_period_s)
        if self.horizon_s is not None:
            _positive("horizon_s", self.horizon_s)
        _count("max_events", self.max_events, 1)
        _count("max_log_rows", self.max_log_rows, 1)
        self._check_units()

    def _check_units(self) -> None:
        limits = {"gpu": self.nodes * self.gpus_per_node, "node": self.nodes, "job": None}
        for s in self.sources:
            limit = limits.get(s.per)
            if s.per == "switch":
                limit = self.spine_switches if s.effect == "fabric" else self.leaf_switches
            if limit is not None and s.units > limit:
                raise _bad(f"failure source {s.component!r}: units", s.units,
                           f"at most {limit} ({s.per}s in the job)")
        for e in self.trace or ():
            effect = self.trace_effect(e)
            limit = self.spine_switches if effect == "fabric" else self.nodes
            if effect != "job" and not 0 <= e.node < limit:
                raise _bad(f"trace event at {e.time_s} s ({e.component}): node", e.node,
                           f"an index in [0, {limit})")

    # -- derived figures --
    @property
    def dp_replicas(self) -> int:
        return self.nodes // self.nodes_per_replica

    @property
    def leaf_switches(self) -> int:
        return -(-self.nodes // self.nodes_per_leaf)

    @property
    def checkpoint_blocking_s(self) -> float:
        """The part of one checkpoint that stops training (the whole write unless async)."""
        return self.checkpoint_block_s if self.checkpoint_async else self.checkpoint_write_s

    @property
    def checkpoint_stall_s(self) -> float:
        """Training time lost per checkpoint in steady state: the blocking part, plus, for an async write
        longer than the interval, the wait for the previous write to end."""
        if not self.checkpoint_async:
            return self.checkpoint_write_s
        background = self.checkpoint_write_s - self.checkpoint_block_s
        return self.checkpoint_block_s + max(0.0, background - self.checkpoint_interval_s)

    @property
    def recovery_s(self) -> float:
        """R in Daly's model: detection + restart + checkpoint load."""
        return self.detect_s + self.restart_s + self.checkpoint_load_s

    @property
    def horizon(self) -> float:
        """The horizon in seconds (``horizon_s`` or its default, see the class docstring)."""
        if self.horizon_s is not None:
            return self.horizon_s
        per_segment = 1.0 + self.checkpoint_stall_s / self.checkpoint_interval_s
        return 10.0 * self.work_s * per_segment

    def trace_effect(self, event: TraceEvent) -> str:
        """The effect of a trace row: its own, else its component's source's, else inferred from the name."""
        if event.effect:
            return event.effect
        for s in self.sources:
            if s.component == event.component:
                return s.effect
        name = event.component.lower()
        for hint, effect in _TRACE_EFFECT_HINTS:
            if hint in name:
                return effect
        return "node"

    def elastic_rate(self, missing_replicas: int) -> float:
        """Relative progress rate with k DP replicas missing: elastic_speed[k], else (R - k) / R beyond it."""
        if missing_replicas < len(self.elastic_speed):
            return float(self.elastic_speed[missing_replicas])
        r = self.dp_replicas
        return max(r - missing_replicas, 0) / r

    def fabric_rate(self, spines_down: int) -> float:
        """Relative progress rate with k spine switches down: degraded_speed[k], the last entry beyond it."""
        return float(self.degraded_speed[min(spines_down, len(self.degraded_speed) - 1)])
