"""The strategy engine's event log: one replica's history in the whole-job engines' format.

Rows are :data:`~clustersim.sim.records.EVENT_COLUMNS` (time_s, event, component, node, detail), written
by :func:`~clustersim.sim.records.write_events_csv` (atomically), read by ``clustersim simulate``'s
timeline. The strategy engine does not track node slots, so ``node`` is always -1 (written empty).

Events, with the whole-job engines' names where the thing is the same:

* ``start``; ``finish``, ``horizon`` or ``event_budget`` at the end (details as theirs);
* restart mode: ``checkpoint_start`` and ``checkpoint_done`` for each checkpoint (``work_s=`` the work it
  holds, ``tier=`` ``memory``, ``memory+storage`` or ``storage``); ``failure`` (component ``node``,
  ``lemon-node``, ``software`` or ``silent-corruption``; detail: during what, and the checkpoint it
  restores, from which tier, or that no clean one is retained); ``detected``; for a node, ``spare_swap``
  (a hot spare) or ``wait_for_spares`` then ``spare_swap`` when the cold or repaired node arrives;
  ``restarted``; ``resumed`` (``work_s=`` restored, ``from=`` the tier). A failure during a recovery cuts
  its remaining rows;
* per-replica mode: ``failure`` (its replica drops out; the quorum stalls), ``resumed`` when the stall
  ends, ``shrink`` / ``expand`` as a replica leaves and rejoins (``replicas=up/total``), and
  ``failure_ignored`` for a failure that strikes a replica already out; no checkpoint rows (its storage
  checkpoints are a duty factor, not events);
* a node failure: ``repair_start`` (``until=``), and ``node_retired`` for a lemon retired.

A log is cut at ``limit`` rows (``truncated``), as the whole-job engines' is at ``SimJob.max_log_rows``.
"""

from __future__ import annotations

from .records import EventRow
from .strategy_job import StrategyJob

__all__ = ["EventLog", "COMPONENTS", "log_cycles", "log_recovery"]

#: Interruption components of the strategy engine's failure kinds.
COMPONENTS = {"node": "node", "lemon": "lemon-node", "soft": "software", "sdc": "silent-corruption"}


class EventLog:
    """Rows of one replica, at most ``limit`` (then ``truncated``, and later rows are dropped)."""

    def __init__(self, limit: int = 100_000):
        self.rows: list[EventRow] = []
        self.limit = limit
        self.truncated = False

    def add(self, t: float, event: str, component: str = "", detail: str = "") -> None:
        if self.truncated:
            return
        self.rows.append((float(t), event, component, -1, detail))
        if len(self.rows) >= self.limit:
            self.truncated = True

    def sorted_rows(self) -> list[EventRow]:
        """The rows by time (a stable sort: rows at one instant keep the order they happened in)."""
        return sorted(self.rows, key=lambda row: row[0])


def _tier(job: StrategyJob, k: int, last: bool) -> str:
    if job.tier_survives == "none":
        return "storage"
    return "memory+storage" if last or k % job.storage_every == 0 else "memory"


def log_cycles(log: EventLog, job: StrategyJob, g: int, t: float, n: int, cut: float, nmax: int, *,
               finished: bool) -> bool:
    """The checkpoint rows of cycles g+1 .. g+n, run from ``t`` (their wall time is the restart loop's:
    n x (interval + fast write) + the storage writes among them), then of the cycle cut at ``cut`` (its
    ``checkpoint_start`` if its write had begun), or, ``finished`` (at ``cut``), the last cycle's. Returns
    whether the cut fell in a checkpoint write."""
    iw, sw, m, interval = job.interval_s + job.write_s, job.storage_write_s, job.storage_every, job.interval_s
    gm = g // m

    def wall(j: int) -> float:
        return j * iw + sw * (((g + j) // m) - gm)

    for j in range(1, n + 1):
        if log.truncated:
            return False
        k = g + j
        log.add(t + wall(j - 1) + interval, "checkpoint_start", detail=f"work_s={k * interval!r}")
        log.add(t + wall(j), "checkpoint_done", detail=f"work_s={k * interval!r} tier={_tier(job, k, False)}")
    c = wall(n)
    last = n == nmax
    compute = (job.work_s - (job.cycles - 1) * interval) if last else interval
    work = job.work_s if last else (g + n + 1) * interval
    if finished:
        log.add(t + c + compute, "checkpoint_start", detail=f"work_s={work!r}")
        log.add(cut, "checkpoint_done", detail=f"work_s={work!r} tier={_tier(job, g + n + 1, True)}")
        return False
    if c + compute < cut - t:
        log.add(t + c + compute, "checkpoint_start", detail=f"work_s={work!r}")
        return True
    return False


def log_recovery(log: EventLog, job: StrategyJob, now: float, wait: float, load_s: float, source: str,
                 spares_left: int, work_s: float, fast: bool, until: float, completed: bool) -> None:
    """The rows of one recovery that began at ``now`` (detection, the replacement from ``source`` when a
    node failed, restart, load), those before ``until`` (the next failure), or all of them when the
    recovery ``completed``."""
    detected = now + job.detect_s
    rows = [(detected, "detected", "")]
    if source == "hot spare":
        rows.append((detected, "spare_swap", f"spares_left={spares_left}"))
    elif source:
        rows.append((detected, "wait_for_spares", f"vacant=1 next={source}"))
        rows.append((detected + wait, "spare_swap", source))
    rows.append((detected + wait + job.restart_s, "restarted", ""))
    rows.append((detected + wait + job.restart_s + load_s, "resumed",
                 f"work_s={work_s!r} from={'memory' if fast else 'storage'}"))
    for t, event, detail in rows:
        if t < until or completed:
            log.add(t, event, detail=detail)
