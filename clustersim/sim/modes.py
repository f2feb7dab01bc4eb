"""What the job is doing (its mode), shared by the job process and the failure and repair processes."""

from __future__ import annotations

__all__ = ["RUN", "RECOVER", "WAIT", "MAINT", "DONE", "RATE_CHANGE"]

#: computing and writing checkpoints; recovering (detect, restart, load); waiting for a node;
#: in a maintenance window; finished (or stopped at the horizon).
RUN, RECOVER, WAIT, MAINT, DONE = range(5)

#: Interrupt cause that only changes the job's speed (a spine switch failed or came back).
RATE_CHANGE = "rate"
