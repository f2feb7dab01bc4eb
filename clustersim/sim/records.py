"""What one replica returns, the names of the time breakdown, and the event log's CSV writer."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clustersim.io import atomic_write_text

__all__ = ["BUCKETS", "EVENT_COLUMNS", "EventRow", "ReplicaResult", "write_events_csv"]

#: The parts of a replica's wall time; they add up to it exactly.
#:
#: productive          compute that ended in a completed checkpoint (or the finish), in failure-free seconds
#: lost_work           compute (and checkpoint writes) thrown away by a failure
#: checkpointing       blocking checkpoint time that completed (the whole write, or the async copy)
#: detecting           detection delay after a failure
#: restarting          re-launch and re-initialise
#: loading             checkpoint load
#: waiting_for_spares  the job is stopped for want of a node (no free spare, repair not done)
#: preempted           the same, while a spot preemption's node has not come back
#: maintenance         planned maintenance windows
#: degraded            extra compute time from running slower than the failure-free rate (degraded
#:                     fabric, stragglers, fewer DP replicas), for compute that was kept
BUCKETS = ("productive", "lost_work", "checkpointing", "detecting", "restarting", "loading",
           "waiting_for_spares", "preempted", "maintenance", "degraded")

#: Columns of the event log: time, what happened, which component, which node (slot; -1 none), detail.
EVENT_COLUMNS = ("time_s", "event", "component", "node", "detail")

EventRow = tuple[float, str, str, int, str]


@dataclass(frozen=True)
class ReplicaResult:
    """One simulated run. ``breakdown`` adds up to ``wall_s``; ``interruptions_by`` counts the failures that
    stopped the job, by component; ``events`` is the log (None unless asked for), cut at
    ``job.max_log_rows`` rows (``log_truncated``); ``budget_hit``: stopped at the event budget."""

    replica: int
    wall_s: float
    finished: bool
    breakdown: dict[str, float]
    interruptions_by: dict[str, int]
    degradations: int = 0
    planned_interruptions: int = 0
    checkpoints: int = 0
    ignored_failures: int = 0
    sim_events: int = 0
    events: list[EventRow] | None = field(default=None, compare=False)
    budget_hit: bool = False
    log_truncated: bool = False

    @property
    def interruptions(self) -> int:
        return sum(self.interruptions_by.values())

    @property
    def goodput(self) -> float:
        return self.breakdown["productive"] / self.wall_s if self.wall_s > 0 else 0.0


def write_events_csv(events: Iterable[Sequence[Any]], path: str | os.PathLike[str]) -> Path:
    """Write an event log as CSV (header :data:`EVENT_COLUMNS`), atomically (:mod:`clustersim.io`: a
    temporary file in the same folder, then :func:`os.replace`), so a reader never sees half a file.
    Node -1 is written empty."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(EVENT_COLUMNS)
    for t, event, component, node, detail in events:
        w.writerow((repr(float(t)), event, component, "" if node == -1 else node, detail))
    target = Path(path)
    atomic_write_text(target, buf.getvalue())
    return target
