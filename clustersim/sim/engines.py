"""Which engine simulates a job: the vectorized one where it represents the job exactly, else SimPy.

The SimPy engine (:mod:`.replica`) is the reference and the general path: it simulates every
:class:`SimJob`. The vectorized engine (:mod:`.vector`) simulates all replicas at once, tens of times
faster, for the jobs whose mechanisms it implements with the same semantics; the test suite holds
the two equal in distribution on a grid of such jobs. :func:`vector_unsupported` lists what keeps a job
on the SimPy engine.
"""

from __future__ import annotations

from clustersim.errors import SimulationError

from .job import SimJob

__all__ = ["ENGINES", "vector_unsupported", "choose_engine"]

#: ``auto``: the vectorized engine where it can represent the job, else SimPy.
ENGINES = ("auto", "vector", "simpy")


def vector_unsupported(job: SimJob) -> tuple[str, ...]:
    """What the vectorized engine cannot represent in this job (empty: it can run it exactly)."""
    why = []
    if job.trace:
        why.append("a replayed failure trace")
    if job.elastic:
        why.append("elastic training")
    if job.maintenance_period_s is not None:
        why.append("maintenance windows")
    if job.straggler_fraction > 0 and job.straggler_slowdown > 1:
        why.append("stragglers")
    if job.max_concurrent_repairs is not None:
        why.append("a limited repair crew")
    effects = sorted({s.effect for s in job.sources if s.effect in ("leaf", "fabric")})
    if effects:
        why.append("switch failures (" + ", ".join(effects) + ")")
    return tuple(why)


def choose_engine(job: SimJob, engine: str = "auto") -> tuple[str, str]:
    """(engine to run, why): ``vector`` or ``simpy``. ``engine="vector"`` on a job it cannot represent
    raises :class:`~clustersim.errors.SimulationError` naming what is missing."""
    if engine not in ENGINES:
        raise SimulationError(f"engine: expected {' | '.join(ENGINES)}, given {engine!r}")
    if engine == "simpy":
        return "simpy", "asked for"
    why = vector_unsupported(job)
    if not why:
        return "vector", "represents this job exactly"
    if engine == "vector":
        raise SimulationError("engine vector cannot represent this job: it has " + ", ".join(why)
                              + "; use engine simpy (or auto)")
    return "simpy", "the vectorized engine does not model " + ", ".join(why)
