"""The fleet against Kokolis et al. 2024 (arXiv:2410.21680), from the inputs the paper states.

Inputs (reference.md B.2, D.8): RSC-1's node failure rate r_f = 6.50 per 1000 node-days (the catalog's
``kokolis-rsc1`` preset), health checks every 5 minutes and a fixed loss u0 per failure of 5-20 min
(here 5 min detection + 10 min restart = 15 min), 8 GPUs per node.

1. MTTF by job size: the paper projects MTTF = (N_nodes r_f)^-1: 1.8 h at 16,384 GPUs and 0.23 h at
   131,072 GPUs. The fleet's jobs of those sizes are interrupted at the simulated rate; the published
   figures have two significant digits, so the tolerance is 5% (rounding alone allows 2.8% at 1.8 h and
   2.2% at 0.23 h).
2. ETTR by job size: the paper's expected ETTR, E = (1 - N r_f (u0 + dt/2)) / (1 + w/dt) at its optimum
   interval dt = sqrt(2 w / (N r_f)) (:func:`clustersim.theory.kokolis_ettr`), against the fleet's
   simulated ETTR of one 7-day job per size with a spare always at hand (work / mean wall time from
   start to end). The formula is first order; the exact expectation of the same renewal model is
   Daly's (Daly 2006: work / T_w), which the simulation must match within 4 standard errors. The
   tolerance against Kokolis's formula, 0.03 absolute, is what its first-order error allows: it is
   0.015 below Daly's exact value at 16,384 GPUs (MTTF 1.8 h) and under 0.002 at 4,096 GPUs or fewer.
3. The share of hardware loss from secondary preemptions (16% on RSC-1, from one 1024-GPU NODE_FAIL job
   requeued 35 times, 548 preemptions across 7,000 GPUs). The paper does not state the workload (job
   mix, priorities, the preempted jobs' checkpoints) that produced it; the cascade was driven by lemon
   nodes, which the fleet models (:mod:`clustersim.fleet.lemons`) with the count and share of failures
   the paper gives. The fleet's figures for an RSC-1-like fleet, with and without lemons, are printed
   against a named tolerance (4 points) and reported as not met.
"""

from __future__ import annotations

import math
from typing import Any

from clustersim import theory, units
from clustersim.fleet.runner import fleet

__all__ = ["R_F_PER_NODE_DAY", "U0_S", "WRITE_S", "mttf_checks", "ettr_checks", "secondary_share",
           "validation_section", "MTTF_TOLERANCE", "ETTR_TOLERANCE", "SECONDARY_PUBLISHED", "SECONDARY_TOLERANCE"]

R_F_PER_NODE_DAY = 6.50 / 1000
NODE_MTBF_H = 1 / R_F_PER_NODE_DAY * 24
DETECT_MIN, RESTART_MIN = 5.0, 10.0
U0_S = (DETECT_MIN + RESTART_MIN) * units.MINUTE_S
#: The checkpoint's blocking write time; the paper gives none, so 2 minutes (a stated assumption).
WRITE_S = 120.0
MTTF_TOLERANCE = 0.05
ETTR_TOLERANCE = 0.03
SEED = 20241028
#: (GPUs, published MTTF in hours) of the paper's projected rows.
MTTF_ROWS = ((16_384, 1.8), (131_072, 0.23))
ETTR_SIZES = (8, 1024, 4096, 16_384)


def _rate_per_s() -> float:
    return R_F_PER_NODE_DAY / units.DAY_S


def _job_fleet(gpus: int, work_h: float, horizon_days: float, replicas: int, interval_s: float | None = None
               ) -> dict[str, Any]:
    nodes = gpus // 8
    spares = max(4, nodes // 64)
    ck: dict[str, Any] = {"write_minutes": WRITE_S / 60, "load_minutes": 0.0, "detect_minutes": DETECT_MIN,
                          "restart_minutes": RESTART_MIN}
    ck["interval_minutes"] = interval_s / 60 if interval_s else "auto"
    return {"name": f"kokolis {gpus} GPUs",
            "pools": [{"name": "rsc1", "gpu": "a100-sxm-80gb", "nodes": nodes + spares, "spare_nodes": spares,
                       "failures": {"node_mtbf_hours": NODE_MTBF_H, "repair_hours": 0.5}}],
            "workload": {"jobs": [{"gpus": gpus, "duration_hours": work_h, "checkpoint": ck}]},
            "simulation": {"horizon_days": horizon_days, "replicas": replicas, "seed": SEED}}


def mttf_checks(replicas: int = 100) -> list[dict[str, Any]]:
    """Simulated job MTTF (time holding nodes / interruptions) against the paper's projections."""
    rows = []
    for gpus, published_h in MTTF_ROWS:
        res = fleet(_job_fleet(gpus, work_h=1e6, horizon_days=2.0, replicas=replicas, interval_s=3600.0))
        held_h = sum(2.0 * 24 - m["mean_wait_hours"] for m in res.metrics)  # never finishes: holds to the horizon
        interruptions = sum(m["interruptions"] for m in res.metrics)
        sim_h = held_h / interruptions
        rows.append({"gpus": gpus, "published_h": published_h, "formula_h": 1 / (gpus / 8 * _rate_per_s()) / 3600,
                     "simulated_h": sim_h, "interruptions": interruptions,
                     "error": sim_h / published_h - 1, "ok": abs(sim_h / published_h - 1) <= MTTF_TOLERANCE})
    return rows


def ettr_checks(replicas: int = 100, work_h: float = 168.0) -> list[dict[str, Any]]:
    """Simulated ETTR of one job per size (spares at hand) against Kokolis's formula and Daly's exact form."""
    rows = []
    for gpus in ETTR_SIZES:
        nodes = gpus // 8
        rate = nodes * _rate_per_s()
        dt = float(theory.kokolis_interval_s(nodes, _rate_per_s(), WRITE_S))
        res = fleet(_job_fleet(gpus, work_h=work_h, horizon_days=60.0, replicas=replicas, interval_s=dt))
        wall = res.values("mean_completion_hours")
        mean_wall = float(wall.mean())
        ettr = work_h / mean_wall
        se = ettr * float(wall.std(ddof=1) / math.sqrt(wall.size)) / mean_wall
        expected = float(theory.kokolis_ettr(nodes, _rate_per_s(), U0_S, dt, WRITE_S))
        daly = work_h * units.HOUR_S / float(theory.daly_expected_wall_s(work_h * units.HOUR_S, dt, WRITE_S,
                                                                        1 / rate, U0_S))
        rows.append({"gpus": gpus, "interval_min": dt / 60, "kokolis_ettr": expected, "daly_ettr": daly,
                     "simulated_ettr": ettr, "se": se, "z_vs_daly": (ettr - daly) / se if se > 0 else 0.0,
                     "difference": ettr - expected, "ok": abs(ettr - expected) <= ETTR_TOLERANCE})
    return rows


#: Kokolis et al.'s lemon nodes on RSC-1: 40 found among its ~2,000 nodes; removing them cut the failures
#: of jobs on 512+ GPUs from 14% to 4%, read here as lemons causing 1 - 4/14 of the failures.
LEMONS_PER_NODE = 40 / 2000
LEMON_FAILURE_SHARE = 1 - 4 / 14
#: The published share of hardware goodput loss from secondary preemptions, and the tolerance a
#: reproduction would have to meet (absolute, in share points).
SECONDARY_PUBLISHED = 0.16
SECONDARY_TOLERANCE = 0.04
_RSC_NODES = 500


def _rsc_like(lemon_repair_hours: float | None, replicas: int) -> dict[str, Any]:
    """An RSC-1-like fleet: 500 nodes at RSC-1's rate, a generated 8-1,024-GPU mix, priority backfill with
    preemption after 2 h, no spares (a failed job is requeued); with lemons at the same total rate."""
    failures: dict[str, Any] = {"node_mtbf_hours": NODE_MTBF_H, "repair_hours": 24}
    if lemon_repair_hours is not None:
        n, lemons = _RSC_NODES, round(LEMONS_PER_NODE * _RSC_NODES)
        total = n * R_F_PER_NODE_DAY  # failures per day, lemons included
        failures = {"node_mtbf_hours": (n - lemons) / ((1 - LEMON_FAILURE_SHARE) * total) * 24, "repair_hours": 24,
                    "lemon_nodes": lemons, "lemon_mtbf_hours": lemons / (LEMON_FAILURE_SHARE * total) * 24,
                    "lemon_repair_hours": lemon_repair_hours}
    return {"name": "RSC-1-like", "pools": [{"name": "rsc1", "gpu": "a100-sxm-80gb", "nodes": _RSC_NODES,
                                             "spare_nodes": 0, "failures": failures}],
            "workload": {"generated": {"count": 3000, "arrivals_per_hour": 6, "gpus": {
                "choices": [8, 64, 256, 1024], "weights": [0.6, 0.25, 0.1, 0.05]},
                "duration_hours": {"distribution": "lognormal", "median": 6, "sigma": 1.2, "max_hours": 168},
                "priority": {"choices": [0, 5], "weights": [0.7, 0.3]},
                "checkpoint": {"write_minutes": WRITE_S / 60, "detect_minutes": DETECT_MIN,
                               "restart_minutes": RESTART_MIN}}},
            "scheduler": {"policy": "backfill", "preemption": True, "preempt_after_hours": 2,
                          "replace_from_idle": False},
            "simulation": {"horizon_days": 30, "warmup_days": 2, "replicas": replicas, "seed": SEED}}


def secondary_share(replicas: int = 8) -> list[dict[str, Any]]:
    """Share of hardware loss (lost work and recoveries) from secondary preemptions on an RSC-1-like fleet:
    independent node failures, then lemon nodes (the same total failure rate) repaired in 24 h or back
    within 2 h (they pass the health checks)."""
    rows = []
    for label, lemon_repair_h in (("independent node failures", None), ("lemon nodes, repaired in 24 h", 24.0),
                                  ("lemon nodes, back in 2 h", 2.0)):
        res = fleet(_rsc_like(lemon_repair_h, replicas))
        share = res.values("secondary_loss_share")
        se = float(share.std(ddof=1) / math.sqrt(share.size)) if share.size > 1 else 0.0
        rows.append({"variant": label, "published": SECONDARY_PUBLISHED, "simulated": float(share.mean()), "se": se,
                     "requeues": float(res.values("requeues").mean()),
                     "preemptions": float(res.values("preemptions").mean()),
                     "utilization": float(res.values("utilization").mean()),
                     "ok": abs(float(share.mean()) - SECONDARY_PUBLISHED) <= SECONDARY_TOLERANCE})
    return rows


def validation_section() -> str:
    """The "Fleet" section of docs/validation.md (every figure computed here, seeded)."""
    mttf, ettr, sec = mttf_checks(), ettr_checks(), secondary_share()
    lines = ["", "## Fleet", "",
             "The fleet simulation (`clustersim fleet`, clustersim/fleet/) is checked four ways: against queueing",
             "theory and Daly's closed form in `tests/test_fleet_queueing.py` (Erlang C's mean wait for M/M/2;",
             "the availability MTBF/(MTBF+MTTR) as the utilization under failures only; one job's wall time),",
             "event for event against `clustersim simulate` in `tests/test_fleet_single.py` (a one-job fleet",
             "with the scenario's own failures has simulate's event log and wall times, rtol 1e-12: spares, no",
             "spares, a repair crew, fixed repairs; exponential, Weibull and job-level sources; 3 seeds),",
             "and here against Kokolis et al. 2024 (arXiv:2410.21680) from the inputs the paper states:",
             f"r_f = 6.50 failures per 1000 node-days (RSC-1), u0 = {U0_S / 60:g} min per failure (5 min detection",
             "+ 10 min restart, inside the paper's 5-20 min), 8 GPUs per node, and (not in the paper, an",
             f"assumption) a {WRITE_S / 60:g}-minute checkpoint write. Seed {SEED}. "
             "Source: clustersim/fleet/validation.py.", "",
             "### Job MTTF by size (the paper's projected rows; tolerance "
             f"{MTTF_TOLERANCE:.0%})", "",
             "| GPUs | published MTTF (h) | (N r_f)^-1 (h) | simulated (h) | interruptions | error | pass |",
             "|---|---|---|---|---|---|---|"]
    for r in mttf:
        lines.append(f"| {r['gpus']:,} | {r['published_h']:g} | {r['formula_h']:.3f} | {r['simulated_h']:.3f} | "
                     f"{r['interruptions']:,} | {r['error']:+.1%} | {'yes' if r['ok'] else 'no'} |")
    lines += ["", "The paper's measured rows (8 GPUs: 47.7 days; 1,024 GPUs: 7.9 h) are observed, not derived from",
              "r_f: (N r_f)^-1 gives 154 days and 28.8 h for them, so they count failures r_f leaves out and are",
              "not a check of this model."]
    lines += ["", f"### ETTR by job size (Kokolis's expected ETTR at its optimum interval; tolerance "
              f"{ETTR_TOLERANCE:g} absolute)", "",
              "One 7-day job per size, a spare always at hand, 100 replicas. Simulated ETTR = work / mean wall",
              "time. Kokolis's formula is first order; Daly's exact expectation of the same model is shown",
              "too, with the simulation's z-score against it.", "",
              "| GPUs | interval (min) | Kokolis E[ETTR] | Daly (exact) | simulated ETTR | z vs Daly | "
              "difference vs Kokolis | pass |",
              "|---|---|---|---|---|---|---|---|"]
    for r in ettr:
        lines.append(f"| {r['gpus']:,} | {r['interval_min']:.1f} | {r['kokolis_ettr']:.4f} | {r['daly_ettr']:.4f} | "
                     f"{r['simulated_ettr']:.4f} ± {r['se']:.4f} | {r['z_vs_daly']:+.2f} | {r['difference']:+.4f} | "
                     f"{'yes' if r['ok'] else 'no'} |")
    lines += ["", "### Share of hardware loss from requeue cascades: not reproduced "
              f"(tolerance ±{SECONDARY_TOLERANCE * 100:g} points)", "",
              f"Kokolis et al. attribute {SECONDARY_PUBLISHED:.0%} of RSC-1's hardware goodput loss to secondary",
              "preemptions: jobs preempted by a job requeued after a hardware failure (NODE_FAIL); their example is",
              "one 1,024-GPU job requeued 35 times, which preempted 548 jobs across 7,000 GPUs, a cascade they trace",
              "to lemon nodes. The fleet counts the same quantity: the GPU-hours preempted jobs lose (work since",
              "their checkpoint, then their relaunch) when the preempting job was requeued after a failure, over",
              "all GPU-hours lost to hardware (failed jobs' lost work, detection, relaunch, and those).",
              "RSC-1-like fleet: 500 nodes at r_f, a generated mix of 8-1,024-GPU jobs (lognormal durations,",
              "median 6 h, at most 7 days), 30% of them at a higher priority, priority backfill with preemption",
              "after 2 h, no spares (a failed job is requeued), 30 days, 8 replicas. Lemon rows: "
              f"{LEMONS_PER_NODE * 2000:g} lemons per 2,000 nodes",
              "(the paper's count on RSC-1) causing 1 - 4/14 = 71% of the failures (the paper: removing them cut",
              "the failures of 512+ GPU jobs from 14% to 4%), at the same total rate r_f.", "",
              "| variant | published | simulated | requeues | preemptions | utilization | pass |",
              "|---|---|---|---|---|---|---|"]
    for r in sec:
        lines.append(f"| {r['variant']} | {r['published']:.0%} | {r['simulated']:.1%} ± {r['se']:.1%} | "
                     f"{r['requeues']:,.0f} | {r['preemptions']:,.0f} | {r['utilization']:.2f} | "
                     f"{'yes' if r['ok'] else 'no'} |")
    lines += ["", "Not met, and not a modelling gap that a fix here can close: the figure depends on what the paper",
              "does not publish. It gives neither the job mix by size and priority (QoS) nor which jobs may",
              "preempt which, nor the checkpoint intervals of the preempted jobs (their loss per preemption), nor",
              "how often lemon nodes failed and how fast they came back into service, nor whether the 16% counts",
              "all secondary preemptions or that one cascade. Lemon nodes (`failures.lemon_nodes`, added for this",
              "check) do not raise the share at the same total failure rate: they concentrate failures on a few",
              "nodes but do not make a requeued job land on one again more often than its share of the idle",
              "nodes; the paper's cascade needs a lemon back in service and picked again at once, a",
              "scheduler detail the paper does not state."]
    return "\n".join(lines) + "\n"
