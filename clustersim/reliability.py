"""From a Scenario (and the kernel's figures) to failure sources, checkpoint costs and theory's answer.

Units of a source: ``per: gpu`` counts the job's GPUs, ``per: node`` its nodes, ``per: switch`` its leaf
switches (a leaf-switch failure takes down every node below it), ``per: job`` one per job (software).
Spare nodes are idle and do not fail while idle (a documented simplification). Spot preemptions
(``pricing.spot.preemptions_per_node_day``) are one more per-node source.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from clustersim import theory, units
from clustersim.errors import ErrorItem, ScenarioError
from clustersim.scenario import catalog
from clustersim.scenario.model import Scenario

__all__ = ["Source", "failure_sources", "job_mtbf_s", "checkpoint_costs", "checkpoint_interval_s",
           "theory_summary", "read_trace", "leaf_switches"]

Source = dict[str, Any]


def leaf_switches(s: Scenario) -> int:
    return max(1, math.ceil(s.cluster.nodes / s.cluster.network.nodes_per_leaf))


def _effect(component: str, per: str) -> str:
    if per == "job":
        return "job"
    if per == "switch":
        return "fabric" if "spine" in component else "leaf"
    return "node"


def failure_sources(s: Scenario) -> list[Source]:
    """The scenario's failure sources, each with its unit count and SI mean time between failures."""
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
    units_by_per = {"gpu": s.gpus, "node": s.cluster.nodes, "switch": leaf_switches(s), "job": 1}
    for src in raw:
        per = src["per"]
        count = units_by_per[per]
        if per == "switch" and "spine" in src["component"]:
            count = _spines(s)
        out.append({
            "component": src["component"], "per": per, "units": count,
            "mtbf_s": float(src["mtbf_hours"]) * units.HOUR_S,
            "distribution": src.get("distribution", "exponential"), "shape": float(src.get("shape", 1.0)),
            "effect": _effect(src["component"], per),
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


def job_mtbf_s(s: Scenario) -> float | None:
    """Mean time between interruptions of the whole job (spine failures degrade, do not interrupt)."""
    stopping = [src for src in failure_sources(s) if src["effect"] != "fabric"]
    if not stopping:
        return None
    return theory.job_mtbf_s(
        [src["units"] for src in stopping], [src["mtbf_s"] for src in stopping])


def checkpoint_costs(s: Scenario, checkpoint_bytes: float) -> dict[str, float]:
    """Checkpoint write, blocking and load times from its size and the storage bandwidth.

    write = size / aggregate write bandwidth (shared by all writers); load = size / read bandwidth;
    async: only the device-to-host copy of each GPU's shard blocks (MegaScale Sec. 4.4), at
    ``host_copy_gbyte_per_s`` per GPU, all GPUs in parallel.
    """
    ck = s.checkpoint
    write_s = checkpoint_bytes / ck.write_bytes_per_s
    load_s = checkpoint_bytes / ck.read_bytes_per_s
    block_s = write_s
    if ck.async_:
        block_s = checkpoint_bytes / s.gpus / (ck.host_copy_gbyte_per_s * units.GB)
    return {"size_bytes": checkpoint_bytes, "write_s": write_s, "block_s": block_s, "load_s": load_s}


def checkpoint_interval_s(s: Scenario, block_s: float, mtbf_s: float | None) -> float:
    """The fixed interval, or ``auto`` = Daly's higher-order optimum (Daly 2006, Eq. 37) for the job MTBF.

    Without failures, ``auto`` means one checkpoint a day (a documented default for the failure-free case).
    """
    ck = s.checkpoint
    if ck.interval_minutes != "auto":
        return float(ck.interval_minutes) * units.MINUTE_S
    if mtbf_s is None:
        return units.DAY_S
    return float(theory.daly_interval_s(block_s, mtbf_s))


def theory_summary(s: Scenario, kernel: dict[str, float]) -> dict[str, Any]:
    """Theory's instant answer: job MTBF, Daly's interval, expected goodput and wall time (no Monte Carlo)."""
    ck = checkpoint_costs(s, kernel["checkpoint_bytes"])
    out: dict[str, Any] = {
        "checkpoint_write_s": ck["write_s"],
        "checkpoint_load_s": ck["load_s"],
    }
    mtbf = job_mtbf_s(s)
    interval = checkpoint_interval_s(s, ck["block_s"], mtbf)
    out["checkpoint_interval_minutes"] = interval / units.MINUTE_S
    if mtbf is None or s.failures is None:
        out.update({"job_mtbf_hours": None, "expected_goodput": None, "expected_wall_days": None,
                    "expected_interruptions": None})
        return out
    restart = s.failures.detect_s + s.failures.restart_s + ck["load_s"]
    work = kernel["train_s"]
    if mtbf <= ck["block_s"] + restart:
        out.update({"job_mtbf_hours": mtbf / units.HOUR_S, "expected_goodput": 0.0, "expected_wall_days": None,
                    "expected_interruptions": None,
                    "cannot_finish": f"the job MTBF ({mtbf / units.HOUR_S:.3g} h) is shorter than a checkpoint "
                                     f"({ck['block_s']:.3g} s) plus a recovery ({restart:.3g} s)"})
        return out
    wall = float(theory.daly_expected_wall_s(work, interval, ck["block_s"], mtbf, restart))
    out.update({
        "job_mtbf_hours": mtbf / units.HOUR_S,
        "expected_goodput": work / wall if math.isfinite(wall) and wall > 0 else 0.0,
        "expected_wall_days": wall / units.DAY_S,
        "expected_interruptions": wall / mtbf,
    })
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
