"""From a Scenario (and the kernel's figures) to failure sources, checkpoint costs and theory's answer.

Units of a source: ``per: gpu`` counts the job's GPUs, ``per: node`` its nodes, ``per: switch`` its leaf
switches (a leaf-switch failure takes down every node below it), ``per: job`` one per job (software).
Spare nodes are idle and do not fail while idle (a documented simplification). Spot preemptions
(``pricing.spot.preemptions_per_node_day``) are one more per-node source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clustersim import units
from clustersim.errors import ErrorItem, ScenarioError
from clustersim.scenario import catalog
from clustersim.scenario.model import Scenario

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Source", "failure_sources", "job_mtbf_s", "checkpoint_costs", "checkpoint_interval_s",
           "theory_summary", "theory_columns", "read_trace", "leaf_switches", "THEORY_KEYS"]

#: The keys of :func:`theory_summary` (and the columns of :func:`theory_columns`), always all present.
THEORY_KEYS = ("checkpoint_write_s", "checkpoint_load_s", "checkpoint_interval_minutes", "job_mtbf_hours",
               "expected_goodput", "expected_wall_days", "expected_interruptions", "cannot_finish")

Source = dict[str, Any]


def leaf_switches(s: Scenario) -> int:
    return max(1, math.ceil(s.cluster.nodes / s.cluster.network.nodes_per_leaf))


def _effect(component: str, per: str) -> str:
    if per == "job":
        return "job"
    if per == "switch":
        return "fabric" if "spine" in component else "leaf"
    return "node"


def failure_sources(s: Scenario, spines: Callable[[], int] | None = None, gpus: int | None = None) -> list[Source]:
    """The scenario's failure sources, each with its unit count and SI mean time between failures.

    ``spines`` gives the cluster's spine-switch count (asked only when a source is per spine switch);
    by default the scenario's cluster graph is built for it."""
    f = s.failures
    out: list[Source] = []
    raw: list[dict[str, Any]] = []
    if f is not None:
        if f.node_mtbf_hours is not None:
            raw.append({"component": "node", "per": "node", "mtbf_hours": f.node_mtbf_hours})
        elif f.preset is not None:
            raw.extend(catalog.reliability_preset(f.preset)["sources"])
        elif f.sources is not None:
            raw.extend(src.model_dump() for src in f.sources)
    units_by_per = {"gpu": gpus if gpus is not None else s.gpus, "node": s.cluster.nodes, "switch": leaf_switches(s), "job": 1}
    for src in raw:
        per = src["per"]
        count = units_by_per[per]
        if per == "switch" and "spine" in src["component"]:
            count = max(1, spines() if spines is not None else _spines(s))
        out.append({
            "component": src["component"], "per": per, "units": count,
            "mtbf_s": float(src["mtbf_hours"]) * units.HOUR_S,
            "distribution": src.get("distribution", "exponential"), "shape": float(src.get("shape", 1.0)),
            "effect": _effect(src["component"], per),
            # failures the source's study counted (presets' count_in_study): its rate's stated uncertainty
            "count_in_study": src.get("count_in_study"),
        })
    spot = s.pricing.spot
    if spot is not None and spot.preemptions_per_node_day > 0:
        out.append({"component": "spot", "per": "node", "units": s.cluster.nodes,
                    "mtbf_s": units.DAY_S / spot.preemptions_per_node_day, "distribution": "exponential",
                    "shape": 1.0, "effect": "preempt"})
    return out


def _spines(s: Scenario) -> int:
    from clustersim.planning import cluster_of

    return max(1, len(cluster_of(s).spines()))


def job_mtbf_s(sources: Scenario | Sequence[Mapping[str, Any]]) -> float | None:
    """Mean time between interruptions of the whole job (spine failures degrade, do not interrupt), from
    resolved failure sources (or a scenario's)."""
    if isinstance(sources, Scenario):
        sources = failure_sources(sources)
    stopping = [src for src in sources if src["effect"] != "fabric"]
    if not stopping:
        return None
    counts, mtbfs = [float(src["units"]) for src in stopping], [float(src["mtbf_s"]) for src in stopping]
    if len(stopping) < _SEQUENTIAL_SUM:
        # theory.job_mtbf_s in plain Python (no numpy import for one estimate): numpy sums fewer than 8
        # values left to right, as this loop does, so the result is the same float
        if any(m <= 0 for m in mtbfs) or any(u < 0 for u in counts):
            raise ValueError("mtbf_s must be > 0 and units >= 0")
        rate = 0.0
        for u, m in zip(counts, mtbfs, strict=True):
            rate += u / m
        return math.inf if rate == 0 else 1.0 / rate
    from clustersim import theory

    return float(theory.job_mtbf_s(counts, mtbfs))


#: Below this many terms numpy's sum (pairwise, in blocks of 8) adds left to right.
_SEQUENTIAL_SUM = 8


def checkpoint_times(size_bytes: Any, write_bytes_per_s: Any, read_bytes_per_s: Any, is_async: Any, gpus: Any,
                     host_copy_bytes_per_s: Any) -> tuple[Any, Any, Any]:
    """(write, blocking, load) seconds of a checkpoint, vectorized.

    write = size / aggregate write bandwidth (shared by all writers); load = size / read bandwidth;
    async: only the device-to-host copy of each GPU's shard blocks (MegaScale Sec. 4.4), at the host-copy
    bandwidth per GPU, all GPUs in parallel; blocking: the whole write blocks."""
    import numpy as np

    size = np.asarray(size_bytes, dtype=float)
    write_s = size / np.asarray(write_bytes_per_s, dtype=float)
    load_s = size / np.asarray(read_bytes_per_s, dtype=float)
    with np.errstate(all="ignore"):
        block_s = np.where(np.asarray(is_async, dtype=bool),
                           size / np.asarray(gpus, dtype=float) / np.asarray(host_copy_bytes_per_s, dtype=float),
                           write_s)
    return write_s, block_s, load_s


def checkpoint_costs(s: Scenario, checkpoint_bytes: float, gpus: int | None = None) -> dict[str, float]:
    """Checkpoint write, blocking and load times of a scenario's checkpoint (see :func:`checkpoint_times`);
    ``gpus`` the job's GPU count (the scenario's by default)."""
    ck = s.checkpoint
    write_s, block_s, load_s = checkpoint_times(checkpoint_bytes, ck.write_bytes_per_s, ck.read_bytes_per_s,
                                                ck.async_, gpus if gpus is not None else s.gpus,
                                                ck.host_copy_gbyte_per_s * units.GB)
    return {"size_bytes": float(checkpoint_bytes), "write_s": float(write_s), "block_s": float(block_s),
            "load_s": float(load_s)}


def checkpoint_interval_s(s: Scenario, block_s: float, mtbf_s: float | None) -> float:
    """The fixed interval, or ``auto`` = Daly's higher-order optimum (Daly 2006, Eq. 37) for the job MTBF.

    Without failures, ``auto`` means one checkpoint a day (a documented default for the failure-free case).
    """
    ck = s.checkpoint
    if ck.interval_minutes != "auto":
        return float(ck.interval_minutes) * units.MINUTE_S
    if mtbf_s is None:
        return units.DAY_S
    from clustersim import theory

    return float(theory.daly_interval_s(block_s, mtbf_s))


def theory_columns(*, checkpoint_bytes: Any, train_s: Any, gpus: Any, write_bytes_per_s: Any,
                   read_bytes_per_s: Any, is_async: Any, host_copy_bytes_per_s: Any, fixed_interval_s: Any,
                   mtbf_s: Any, recovery_s: Any) -> dict[str, np.ndarray]:
    """Theory's answer for many points at once (arrays broadcast together; NaN where not applicable).

    Checkpoint times from :func:`checkpoint_times`; the interval is the fixed
    one, or (NaN given) Daly's higher-order optimum (Daly 2006, Eq. 37; one day without failures); the
    expected wall time is Daly's (Daly 2006; :func:`clustersim.theory.daly_expected_wall_s`) with
    restart = detection + restart + checkpoint load. ``mtbf_s`` NaN: no failures. A job whose MTBF is not
    longer than a checkpoint plus a recovery cannot finish: ``cannot_finish`` True, wall time NaN.
    """
    import numpy as np

    from clustersim import theory

    write_s, block_s, load_s = checkpoint_times(checkpoint_bytes, write_bytes_per_s, read_bytes_per_s, is_async,
                                                gpus, host_copy_bytes_per_s)
    mtbf = np.asarray(mtbf_s, dtype=float)
    fixed = np.asarray(fixed_interval_s, dtype=float)
    known = ~np.isnan(mtbf)
    with np.errstate(all="ignore"):
        daly = np.asarray(theory.daly_interval_s(block_s, np.where(known, mtbf, 1.0)), dtype=float)
        interval = np.where(np.isnan(fixed), np.where(known, daly, units.DAY_S), fixed)
        # an interval longer than the run is one segment that ends with the run (Daly's expectation of
        # that single segment, finite), not a fraction of a segment
        interval = np.minimum(interval, np.maximum(np.asarray(train_s, dtype=float), 1e-9))
        restart = np.asarray(recovery_s, dtype=float) + load_s
        cannot = known & (mtbf <= block_s + restart)
        ok = known & ~cannot
        wall = np.asarray(theory.daly_expected_wall_s(train_s, interval, block_s, np.where(ok, mtbf, 1.0),
                                                      restart), dtype=float)
        wall = np.where(ok, wall, np.nan)
        goodput = np.where(ok, np.where(np.isfinite(wall) & (wall > 0), np.asarray(train_s) / wall, 0.0),
                           np.where(cannot, 0.0, np.nan))
    return {"checkpoint_write_s": write_s, "checkpoint_load_s": load_s, "checkpoint_block_s": block_s,
            "checkpoint_interval_s": interval, "job_mtbf_s": mtbf, "expected_goodput": goodput,
            "expected_wall_s": wall, "expected_interruptions": wall / mtbf, "cannot_finish": cannot,
            "recovery_s": restart}


def _theory_point(*, checkpoint_bytes: float, train_s: float, gpus: float, write_bytes_per_s: float,
                  read_bytes_per_s: float, is_async: bool, host_copy_bytes_per_s: float, fixed_interval_s: float,
                  mtbf_s: float, recovery_s: float) -> dict[str, float]:
    """:func:`theory_columns` for one point in plain Python (``math``; one estimate imports no numpy): the
    same operations in the same order, NaN and infinity where numpy gives them. Checkpoint times,
    Daly's interval (Daly 2006, Eq. 37, as :func:`clustersim.theory.daly_interval_s`) and the
    cannot-finish rule are the same floats; the expected wall time (Daly 2006's complete cost function,
    as :func:`clustersim.theory.daly_segment_time_s`) uses the C library's exp and expm1, which may differ
    from numpy's vectorized ones in the last bit (tests/test_theory_point.py holds them within 1e-15)."""
    size = float(checkpoint_bytes)
    write_s = size / float(write_bytes_per_s)
    load_s = size / float(read_bytes_per_s)
    block_s = size / float(gpus) / float(host_copy_bytes_per_s) if is_async else write_s
    mtbf, fixed, train = float(mtbf_s), float(fixed_interval_s), float(train_s)
    known = not math.isnan(mtbf)
    m = mtbf if known else 1.0
    if m <= 0 or block_s < 0:
        raise ValueError("mtbf_s must be > 0 and write_s >= 0")
    xi = block_s / (2.0 * m)
    daly = math.sqrt(2.0 * block_s * m) * (1.0 + math.sqrt(xi) / 3.0 + xi / 9.0) - block_s
    daly = daly if block_s < 2.0 * m else m
    interval = (daly if known else units.DAY_S) if math.isnan(fixed) else fixed
    interval = _nan_min(interval, _nan_max(train, 1e-9))
    restart = float(recovery_s) + load_s
    cannot = known and mtbf <= block_s + restart
    ok = known and not cannot
    wall = math.nan
    if ok:
        segment = mtbf * _exp(restart / mtbf) * _expm1((interval + block_s) / mtbf)
        wall = _ieee_div(segment * train, interval)
    goodput = ((train / wall if math.isfinite(wall) and wall > 0 else 0.0) if ok
               else (0.0 if cannot else math.nan))
    return {"checkpoint_write_s": write_s, "checkpoint_load_s": load_s, "checkpoint_block_s": block_s,
            "checkpoint_interval_s": interval, "job_mtbf_s": mtbf, "expected_goodput": goodput,
            "expected_wall_s": wall, "expected_interruptions": wall / mtbf, "cannot_finish": float(cannot),
            "recovery_s": restart}


def _nan_min(a: float, b: float) -> float:
    """``numpy.minimum`` of two floats (NaN if either is)."""
    return math.nan if math.isnan(a) or math.isnan(b) else min(a, b)


def _nan_max(a: float, b: float) -> float:
    """``numpy.maximum`` of two floats (NaN if either is)."""
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)


def _ieee_div(a: float, b: float) -> float:
    """a / b as numpy divides (infinite or NaN for b = 0, no exception)."""
    if b != 0:
        return a / b
    return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)


def _exp(x: float) -> float:
    """exp, infinite where it overflows (as numpy's)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _expm1(x: float) -> float:
    """expm1, infinite where it overflows (as numpy's)."""
    try:
        return math.expm1(x)
    except OverflowError:
        return math.inf


def _float_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def theory_summary(run: Any, kernel: Mapping[str, Any]) -> dict[str, Any]:
    """Theory's instant answer for one run (a :class:`~clustersim.resolve.ResolvedRun`, or a Scenario):
    job MTBF, Daly's interval, expected goodput and wall time (no Monte Carlo); :func:`theory_columns`
    for one point."""
    s = run if isinstance(run, Scenario) else run.scenario
    mtbf = job_mtbf_s(s) if isinstance(run, Scenario) else run.job_mtbf_s
    ck = s.checkpoint
    fails = s.failures
    has = mtbf is not None and fails is not None
    one = _theory_point(
        checkpoint_bytes=kernel["checkpoint_bytes"], train_s=kernel["train_s"],
        gpus=s.gpus if isinstance(run, Scenario) else run.gpus,
        write_bytes_per_s=ck.write_bytes_per_s, read_bytes_per_s=ck.read_bytes_per_s, is_async=ck.async_,
        host_copy_bytes_per_s=ck.host_copy_gbyte_per_s * units.GB,
        fixed_interval_s=math.nan if ck.interval_minutes == "auto" else float(ck.interval_minutes) * units.MINUTE_S,
        mtbf_s=mtbf if has and mtbf is not None else math.nan,
        recovery_s=(fails.detect_s + fails.restart_s) if fails is not None else 0.0)
    out: dict[str, Any] = {
        "checkpoint_write_s": one["checkpoint_write_s"],
        "checkpoint_load_s": one["checkpoint_load_s"],
        "checkpoint_interval_minutes": one["checkpoint_interval_s"] / units.MINUTE_S,
        "job_mtbf_hours": None, "expected_goodput": None, "expected_wall_days": None,
        "expected_interruptions": None, "cannot_finish": None,
    }
    if not has:
        return out
    out["job_mtbf_hours"] = one["job_mtbf_s"] / units.HOUR_S
    out["expected_goodput"] = one["expected_goodput"]
    if one["cannot_finish"]:
        out["cannot_finish"] = (
            f"the job MTBF ({one['job_mtbf_s'] / units.HOUR_S:.3g} h) is shorter than a checkpoint "
            f"({one['checkpoint_block_s']:.3g} s) plus a recovery ({one['recovery_s']:.3g} s)")
        return out
    wall = _float_or_none(one["expected_wall_s"])
    out["expected_wall_days"] = wall / units.DAY_S if wall is not None else None
    out["expected_interruptions"] = _float_or_none(one["expected_interruptions"])
    return out


def read_trace(path: str) -> list[dict[str, Any]]:
    """A failure trace CSV with columns time_hours, component, node (errors name file:line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(ErrorItem("the failure trace does not exist", path="failures.trace", given=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(ErrorItem(f"cannot read the failure trace: {exc}", path="failures.trace")) from None
    import csv  # (only for a trace)

    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]][:3] != ["time_hours", "component", "node"]:
        raise ScenarioError(ErrorItem("the trace needs the header time_hours,component,node", line=1), path)
    events: list[dict[str, Any]] = []
    problems: list[ErrorItem] = []
    for i, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            t = float(row[0])
            node = int(row[2])
            if not math.isfinite(t) or t < 0 or node < 0:
                raise ValueError
        except (ValueError, IndexError):
            problems.append(ErrorItem("expected a time in hours >= 0, a component and a node index >= 0",
                                      line=i, given=",".join(row)))
            continue
        events.append({"time_s": t * units.HOUR_S, "component": row[1].strip(), "node": node})
    if problems:
        raise ScenarioError(problems, path)
    return sorted(events, key=lambda e: e["time_s"])
