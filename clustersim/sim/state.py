"""The SimPy engine's replica state, as four explicit objects with one owner each.

* :class:`Progress` - the job's progress and its checkpoints (owned by the job process; a completed
  checkpoint is :meth:`Progress.commit`).
* :class:`NodeState` - node slots, free spares, nodes away and coming back, switches down, stragglers
  (changed by :mod:`.nodes`: replacements, repairs and returns; and by failures).
* :class:`Phase` - what the job is doing now and the plan of the current phase (set by the job
  process, :mod:`.runphase` for run phases; read by everything that must know where the job is).
* :class:`Counters` - what is counted for the result (interruptions by component, ...).

:class:`~clustersim.sim.replica.Replica` holds one of each, with the SimPy environment and the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .modes import RUN
from .records import BUCKETS

__all__ = ["Progress", "NodeState", "Phase", "Counters"]

_DEGR = BUCKETS.index("degraded")
_PROD = BUCKETS.index("productive")


@dataclass(slots=True)
class Progress:
    """Work done (failure-free seconds) at the current position, and the checkpoints.

    ``work_saved``: the work in the last completed checkpoint; ``pend_wall``: compute wall time since it;
    ``since``: compute wall time since the last checkpoint or restart (Daly's tau clock); ``inflight``: an
    async write still going, (done at, work, pend_wall); ``acc``: seconds in each of
    :data:`~clustersim.sim.records.BUCKETS`."""

    work: float = 0.0
    work_saved: float = 0.0
    pend_wall: float = 0.0
    since: float = 0.0
    inflight: tuple[float, float, float] | None = None
    acc: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    checkpoints: int = 0

    def commit(self, work: float, pend: float) -> None:
        """A checkpoint of ``work`` completed, covering ``pend`` seconds of compute since the last one."""
        done = work - self.work_saved
        acc = self.acc
        acc[_PROD] += done
        acc[_DEGR] += pend - done
        self.pend_wall -= pend
        self.work_saved = work


@dataclass(slots=True)
class NodeState:
    """The job's node slots and the nodes around them.

    ``vacant``: slot -> "repair" | "preempt" for slots whose node is away and not yet replaced; ``pool``:
    free spares as of the last sync of ``returns`` (nodes coming back without a repair crew:
    (time, seq, kind, count, component, ident), applied lazily; ``wake_on_return``: each return also
    wakes the job, while it waits or runs shrunk); ``missing``: DP replicas missing (elastic)."""

    pool: int
    vacant: dict[int, str] = field(default_factory=dict)
    returns: list[tuple[float, int, str, int, str, int]] = field(default_factory=list)
    return_seq: int = 0
    wake_on_return: bool = False
    missing: int = 0
    spines_down: set[int] = field(default_factory=set)
    leaves_down: set[int] = field(default_factory=set)
    stragglers: set[int] = field(default_factory=set)

    def missing_after(self, fill: int, nodes_per_replica: int) -> int:
        """DP replicas missing if ``fill`` vacant slots were filled (nodes pooled)."""
        left = max(len(self.vacant) - fill, 0)
        return -(-left // nodes_per_replica)


@dataclass(slots=True)
class Phase:
    """The current phase: ``mode`` (modes.py), ``phase_id`` (counts phases: a delayed re-plan checks it is
    still the same), ``ph_next`` the next boundary not yet applied (at ``next_t``, inf: none), ``ph_t0``
    its start. Recovery and maintenance phases use the ``gp_`` fields (parts, durations, end times;
    ``gp_merged``: detect, restart and load in one phase, the replacement at the end of detection); run
    phases (:mod:`.runphase`) the ``rp_`` fields: start, cycle 0's compute, tau, a plain cycle's blocking
    write, tau + w, start of cycle 1, cycles, the last cycle's compute and write (-1: none), whether the
    last and the plain writes complete a checkpoint, whether the last cycle finishes the job, what comes
    after (RUN, MAINT, RECOVER for a re-expansion), the rate, boundaries in the phase."""

    mode: int = RUN
    phase_id: int = 0
    ph_next: int = 0
    next_t: float = 0.0
    ph_t0: float = 0.0
    gp_parts: tuple[int, ...] = ()
    gp_durs: tuple[float, ...] = ()
    gp_ends: list[float] = field(default_factory=list)
    gp_merged: bool = False
    rp_t0: float = 0.0
    rp_c1: float = 0.0
    rp_tau: float = 0.0
    rp_w: float = 0.0
    rp_period: float = 0.0
    rp_base: float = 0.0
    rp_n: int = 1
    rp_last_c: float = 0.0
    rp_last_w: float = 0.0
    rp_last_commit: bool = True
    rp_plain_commit: bool = True
    rp_finishing: bool = False
    rp_after: int = RUN
    rp_rate: float = 1.0
    rp_nb: int = 0
    wait_bucket: int = 0


@dataclass(slots=True)
class Counters:
    """Counted for the result: interruptions by component, fabric degradations, planned (maintenance)
    interruptions, ignored failures, failures processed (the event budget)."""

    interruptions_by: dict[str, int] = field(default_factory=dict)
    degradations: int = 0
    planned: int = 0
    ignored: int = 0
    failures: int = 0
