"""The input of the strategy engine (:mod:`.strategy`): one training job and the resilience strategy it buys.

A :class:`StrategyJob` states what the whole-job engines (:class:`~clustersim.sim.job.SimJob`) do not
represent: two checkpoint tiers (a fast in-memory / peer-replicated tier lost when its holder fails,
and a storage tier every ``storage_every``-th checkpoint), hot spares vs cold provisioning, per-replica
fault tolerance (a failed data-parallel replica drops out and rejoins while the others continue), lemon
nodes with retirement and misdiagnosed repairs, and silent data corruption found late (a rollback to a
retained checkpoint). All times are seconds; every field is checked when the object is built and a
bad value raises :class:`~clustersim.errors.SimulationError` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from clustersim.errors import SimulationError

__all__ = ["StrategyJob", "MODES", "TIER_SURVIVES", "KINDS"]

#: ``restart``: every failure stops the whole job (restart from a checkpoint); ``per_replica``: the failed
#: data-parallel replica drops out and rejoins, the others continue (torchft / FT-HSDP style).
MODES = ("restart", "per_replica")
#: What the fast tier survives: ``none`` (single tier: every checkpoint goes to storage), ``job`` (host
#: memory: a software failure keeps it, a node failure loses it), ``node`` (peer-replicated: it survives
#: the loss of one node).
TIER_SURVIVES = ("none", "job", "node")
#: Failure kinds of a scripted trace: a node (hardware, needs a replacement), a lemon node, software
#: (restart only), silent data corruption (found ``sdc_detect_s`` after it happened).
KINDS = ("node", "lemon", "soft", "sdc")


def _bad(field: str, value: object, expected: str) -> SimulationError:
    return SimulationError(f"strategy job {field}: expected {expected}, given {value!r}")


def _num(field: str, value: object, minimum: float = 0.0, positive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (positive and value <= 0):  # type: ignore[operator]
        raise _bad(field, value, f"a finite number {'>' if positive else '>='} {minimum}")


def _int(field: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(field, value, f"an integer >= {minimum}")


@dataclass(frozen=True, kw_only=True)
class StrategyJob:
    """One job under one strategy. Failure rates are per unit: ``node_mtbf_s`` per healthy node (hardware,
    the node must be replaced), ``soft_mtbf_s`` for the whole job (software: restart only), ``lemon_mtbf_s``
    per lemon node, ``sdc_mtbf_s`` for the whole job (None: no such failures).

    Checkpoints: ``interval_s`` of compute between checkpoints, each blocking ``write_s`` (the fast tier's
    write, or the storage write with a single tier); every ``storage_every``-th checkpoint (and the last)
    also goes to storage, blocking ``storage_write_s`` more. A restore from the fast tier loads in
    ``tier_load_s``, one from storage in ``storage_load_s``. Storage keeps the last ``retention`` storage
    checkpoints (what a late-detected corruption can roll back to).

    Spares: ``hot_spares`` idle nodes already in the job's allocation (a swap costs only the restart);
    with none free, a ``cold_provision_s`` wait for a node from the provider (None: wait for a repair).
    A failed node returns to the hot pool after ``repair_s`` (``repair_fixed``: exactly, else exponential).

    Per-replica mode: ``replicas`` data-parallel replicas; a failure stalls every replica ``ft_stall_s``
    (the quorum re-forms) and takes its replica out for detection + replacement + ``ft_rejoin_s``; the
    job runs at ``ft_speed`` x (replicas up / replicas) (``ft_speed``: the step-time and convergence cost
    of fault-tolerant training, in (0, 1]). Storage checkpoints cost a fraction
    ``storage_write_s / (interval_s * storage_every + storage_write_s)`` of the time.

    Lemons: ``lemon_nodes`` of the job's nodes fail at ``lemon_mtbf_s``; a lemon is retired after
    ``retire_after`` failures (0: never) and a fresh node is provisioned in its place (after
    ``cold_provision_s``, else ``repair_s``); a repaired healthy node comes back still broken (a lemon) with
    probability ``misdiagnosis``; ``escalate_after`` failures of one lemon send it to a thorough repair that
    fixes it (0: never).
    """

    work_s: float
    nodes: int
    interval_s: float
    write_s: float = 0.0
    storage_every: int = 1
    storage_write_s: float = 0.0
    tier_survives: str = "none"
    tier_load_s: float = 0.0
    storage_load_s: float = 0.0
    retention: int = 1_000_000
    node_mtbf_s: float | None = None
    soft_mtbf_s: float | None = None
    lemon_nodes: int = 0
    lemon_mtbf_s: float | None = None
    retire_after: int = 0
    escalate_after: int = 0
    misdiagnosis: float = 0.0
    sdc_mtbf_s: float | None = None
    sdc_detect_s: float = 0.0
    detect_s: float = 0.0
    restart_s: float = 0.0
    hot_spares: int = 0
    cold_provision_s: float | None = None
    repair_s: float = 0.0
    repair_fixed: bool = False
    mode: str = "restart"
    replicas: int = 1
    ft_stall_s: float = 0.0
    ft_rejoin_s: float = 0.0
    ft_speed: float = 1.0
    trace: tuple[tuple[float, str], ...] | None = None
    horizon_s: float | None = None
    max_events: int = 1_000_000

    def __post_init__(self) -> None:
        _num("work_s", self.work_s, positive=True)
        _int("nodes", self.nodes, 1)
        _num("interval_s", self.interval_s, positive=True)
        for name in ("write_s", "storage_write_s", "tier_load_s", "storage_load_s", "sdc_detect_s", "detect_s",
                     "restart_s", "repair_s", "ft_stall_s", "ft_rejoin_s"):
            _num(name, getattr(self, name))
        _int("storage_every", self.storage_every, 1)
        _int("retention", self.retention, 1)
        if self.tier_survives not in TIER_SURVIVES:
            raise _bad("tier_survives", self.tier_survives, " | ".join(TIER_SURVIVES))
        for name in ("node_mtbf_s", "soft_mtbf_s", "lemon_mtbf_s", "sdc_mtbf_s", "cold_provision_s", "horizon_s"):
            value = getattr(self, name)
            if value is not None:
                _num(name, value, positive=name != "cold_provision_s")
        _int("lemon_nodes", self.lemon_nodes, 0)
        if self.lemon_nodes > self.nodes:
            raise _bad("lemon_nodes", self.lemon_nodes, f"at most the job's {self.nodes} nodes")
        if self.lemon_nodes and self.lemon_mtbf_s is None:
            raise _bad("lemon_mtbf_s", None, "a number when lemon_nodes > 0")
        _int("retire_after", self.retire_after, 0)
        _int("escalate_after", self.escalate_after, 0)
        if not (isinstance(self.misdiagnosis, (int, float)) and 0 <= self.misdiagnosis <= 1):
            raise _bad("misdiagnosis", self.misdiagnosis, "a probability in [0, 1]")
        if self.misdiagnosis and self.lemon_mtbf_s is None:
            raise _bad("lemon_mtbf_s", None, "a number when misdiagnosis > 0 (a misdiagnosed node fails as a lemon)")
        _int("hot_spares", self.hot_spares, 0)
        if self.mode not in MODES:
            raise _bad("mode", self.mode, " | ".join(MODES))
        _int("replicas", self.replicas, 1)
        if self.nodes % self.replicas:
            raise _bad("replicas", self.replicas, f"a divisor of nodes ({self.nodes})")
        if not (isinstance(self.ft_speed, (int, float)) and 0 < self.ft_speed <= 1):
            raise _bad("ft_speed", self.ft_speed, "a factor in (0, 1]")
        if self.mode == "per_replica" and self.sdc_mtbf_s is not None:
            raise _bad("sdc_mtbf_s", self.sdc_mtbf_s, "None in per_replica mode (a corruption rollback is "
                                                      "whole-job; simulate it in restart mode)")
        if self.trace is not None:
            for row in self.trace:
                if (not isinstance(row, tuple) or len(row) != 2 or row[1] not in KINDS
                        or not isinstance(row[0], (int, float)) or not 0 <= row[0] < math.inf):
                    raise _bad("trace", row, "(time_s >= 0, " + " | ".join(KINDS) + ") rows")
        _int("max_events", self.max_events, 1)

    # -- derived figures --
    @property
    def cycles(self) -> int:
        """Checkpoint cycles in the run (the last one shorter, ending with a storage write)."""
        return max(1, math.ceil(self.work_s / self.interval_s - 1e-12))

    @property
    def failure_free_s(self) -> float:
        """Wall time with no failure: work, the fast-tier writes, the storage writes (the last one too)."""
        n = self.cycles
        storage_writes = n // self.storage_every + (1 if n % self.storage_every else 0)
        return self.work_s + n * self.write_s + storage_writes * self.storage_write_s

    @property
    def horizon(self) -> float:
        """The horizon: ``horizon_s``, else 10 x the failure-free wall time plus 10 repairs."""
        if self.horizon_s is not None:
            return self.horizon_s
        return 10.0 * self.failure_free_s + 10.0 * self.repair_s

    def rates_per_s(self, lemons: int) -> tuple[float, float, float, float]:
        """(healthy-node, lemon, software, corruption) failure rates of the job with ``lemons`` lemons in it."""
        good = (self.nodes - lemons) / self.node_mtbf_s if self.node_mtbf_s else 0.0
        bad = lemons / self.lemon_mtbf_s if self.lemon_mtbf_s and lemons else 0.0
        soft = 1.0 / self.soft_mtbf_s if self.soft_mtbf_s else 0.0
        sdc = 1.0 / self.sdc_mtbf_s if self.sdc_mtbf_s else 0.0
        return good, bad, soft, sdc
