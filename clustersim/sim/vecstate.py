"""The vectorized engine's replica state: four explicit objects of arrays, one row per replica.

* :class:`CheckpointPlan` - constants: the cycle of compute and checkpoint writes (no per-replica state).
* :class:`Progress` - the job: its mode, the times that define the current phase, the saved work.
* :class:`Nodes` - vacant node slots, free spares and the nodes away in repair (their return times).
* :class:`Tally` - what is counted: the time buckets, interruptions by component, checkpoints.

Each owns its arrays, one row per replica of the block; the engine updates them in place under masks
of the replicas concerned (a finished replica's row no longer changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .job import SimJob
from .records import BUCKETS

__all__ = ["RUN", "REC", "WAIT", "DONE", "NO_SLOT", "CheckpointPlan", "Progress", "Nodes", "Tally",
           "components_of", "widen", "empty_value"]

#: Modes: running (compute and checkpoints), recovering (detect, replace, restart, load), waiting for a
#: node, finished or stopped.
RUN, REC, WAIT, DONE = range(4)
#: An empty entry of the vacant-slot table.
NO_SLOT = np.iinfo(np.int64).max

def empty_value(a: np.ndarray) -> object:
    """What an empty entry of a 2-D table holds: NO_SLOT (slots), inf (times), False (flags)."""
    if a.dtype == np.int64:
        return NO_SLOT
    return np.inf if a.dtype == float else False


def widen(a: np.ndarray, columns: int) -> np.ndarray:
    """The table with empty columns added up to ``columns``."""
    extra = np.full((a.shape[0], columns - a.shape[1]), empty_value(a), dtype=a.dtype)
    return np.concatenate([a, extra], axis=1)


@dataclass(frozen=True)
class CheckpointPlan:
    """The run's cycle, from a (re)start with no checkpoint write in flight (Daly's tau clock at 0).

    Cycle j < jf computes tau, waits for the previous background write if it is longer than tau (async),
    and blocks for ``block_s``; its write ends at start + first_s + j period_s and the checkpoint is on
    storage ``background_s`` later (0 when synchronous). The finishing cycle jf computes what is left and
    writes the final checkpoint in full (after waiting for the previous background write), or nothing.
    """

    tau_s: float
    block_s: float
    background_s: float
    wait_s: float
    first_s: float
    period_s: float
    final_s: float
    final: bool

    @classmethod
    def of(cls, job: SimJob) -> CheckpointPlan:
        tau = job.checkpoint_interval_s
        block = job.checkpoint_blocking_s
        background = job.checkpoint_write_s - block if job.checkpoint_async else 0.0
        wait = max(0.0, background - tau)
        return cls(tau, block, background, wait, tau + block, tau + wait + block, job.checkpoint_write_s,
                   job.final_checkpoint)

    def begin(self, rem: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(finishing cycle jf, its compute, finish time) of a run starting at ``t`` with ``rem`` left to
        compute; as the SimPy engine, a remainder of a billionth of tau earns no cycle."""
        tau = self.tau_s
        tol = rem - 1e-9 * tau
        jf = np.maximum(np.ceil(tol / tau) - 1.0, 0.0)
        jf = np.where(tol > (jf + 1.0) * tau, jf + 1.0, jf)
        jf = np.where((jf > 0) & (tol <= jf * tau), jf - 1.0, jf)
        last = rem - jf * tau
        fin = t + np.where(jf > 0, self.first_s + (jf - 1.0) * self.period_s, 0.0) + last
        if self.final:
            fin = fin + self.final_s + np.where(jf > 0, np.maximum(0.0, self.background_s - last), 0.0)
        return jf, last, fin


@dataclass
class Progress:
    """The job in each replica. ``t0``: RUN the start of the run; REC the failure that began the recovery;
    WAIT the start of this wait. ``t1``: REC with ``filled``, when the restart began (nodes replaced).
    RUN: ``jf`` the finishing cycle, ``last_s`` its compute, ``fin_s`` the finish time. ``stopped``: ended
    at the horizon or the event budget (``budget_hit``) instead of finishing."""

    mode: np.ndarray
    t0: np.ndarray
    t1: np.ndarray
    filled: np.ndarray
    saved: np.ndarray
    jf: np.ndarray
    last_s: np.ndarray
    fin_s: np.ndarray
    wait_preempt: np.ndarray
    wall_s: np.ndarray
    stopped: np.ndarray
    budget_hit: np.ndarray

    @classmethod
    def start(cls, n: int) -> Progress:
        z = np.zeros(n)
        f = np.zeros(n, bool)
        return cls(np.full(n, RUN, dtype=np.int64), z.copy(), z.copy(), f.copy(), z.copy(), z.copy(),
                   z.copy(), z.copy(), f.copy(), z.copy(), f.copy(), f.copy())


@dataclass
class Nodes:
    """Nodes: ``pool`` free spares (as of the last sync), ``vacant[r, :n_vacant[r]]`` the vacant slots
    (NO_SLOT beyond), ``vacant_preempt`` whether a spot preemption took that slot's node,
    ``returns_s[r, :n_returns[r]]`` when each node away comes back (inf: already back, and beyond)."""

    pool: np.ndarray
    n_vacant: np.ndarray
    vacant: np.ndarray
    vacant_preempt: np.ndarray
    n_returns: np.ndarray
    returns_s: np.ndarray

    @classmethod
    def start(cls, n: int, spares: int) -> Nodes:
        z = np.zeros(n, dtype=np.int64)
        return cls(np.full(n, spares, dtype=np.int64), z.copy(), np.full((n, 2), NO_SLOT, dtype=np.int64),
                   np.zeros((n, 2), bool), z.copy(), np.full((n, 32), np.inf))


@dataclass
class Tally:
    """Per replica: seconds in each of :data:`BUCKETS`, interruptions by component, ignored failures,
    completed checkpoints, failures processed."""

    acc: np.ndarray
    by: np.ndarray
    ignored: np.ndarray
    checkpoints: np.ndarray
    failures: np.ndarray

    @classmethod
    def start(cls, n: int, components: int) -> Tally:
        i = np.zeros(n, dtype=np.int64)
        return cls(np.zeros((n, len(BUCKETS))), np.zeros((n, components), dtype=np.int64), i.copy(), i.copy(),
                   i.copy())


def components_of(job: SimJob) -> tuple[tuple[str, ...], np.ndarray]:
    """The distinct component names (in source order) and each source's index among them."""
    names: list[str] = []
    for s in job.sources:
        if s.component not in names:
            names.append(s.component)
    return tuple(names), np.array([names.index(s.component) for s in job.sources], dtype=np.int64)
