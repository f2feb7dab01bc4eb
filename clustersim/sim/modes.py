"""What the job is doing (its mode), shared by the job process and the failure and repair processes."""

from __future__ import annotations

__all__ = ["RUN", "RECOVER", "WAIT", "MAINT", "DONE", "RATE_CHANGE", "P_DETECT", "P_RESTART", "P_LOAD", "P_MAINT",
           "DETECT_RESTART_LOAD"]

#: computing and writing checkpoints; recovering (detect, restart, load); waiting for a node;
#: in a maintenance window; finished (or stopped at the horizon).
RUN, RECOVER, WAIT, MAINT, DONE = range(5)

#: Interrupt cause that only changes the job's speed (a spine switch failed or came back).
RATE_CHANGE = "rate"

#: Parts of a recovery or maintenance phase; the whole recovery after a failure, when the free spares
#: cover every vacant slot (the one tuple object: the engine tests ``parts is DETECT_RESTART_LOAD``).
P_DETECT, P_RESTART, P_LOAD, P_MAINT = range(4)
DETECT_RESTART_LOAD = (P_DETECT, P_RESTART, P_LOAD)
