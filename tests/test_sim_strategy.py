"""The strategy engine: exact scripted traces for every mechanism, closed forms where they exist."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim import theory
from clustersim.errors import SimulationError
from clustersim.sim.strategy import run_strategy_replica, simulate_strategy
from clustersim.sim.strategy_job import StrategyJob

H = 3600.0
# 10 h of work, hourly checkpoints of 60 s, 5 + 10 min recovery, a 60 s load.
BASE = dict(work_s=10 * H, nodes=4, interval_s=H, storage_write_s=60.0, storage_load_s=60.0, detect_s=300.0,
            restart_s=600.0, hot_spares=4, repair_s=7200.0, repair_fixed=True)


def job(**kw: object) -> StrategyJob:
    return StrategyJob(**{**BASE, **kw})  # type: ignore[arg-type]


def test_one_software_failure_exact() -> None:
    r = run_strategy_replica(job(trace=((9000.0, "soft"),)))
    # two cycles of 3660 s done; 1680 s lost; 960 s recovery; 8 cycles + the last one after
    assert r.wall_s == pytest.approx(9000 + 960 + 7 * 3660 + 3660, abs=1e-9)
    assert r.lost_s == pytest.approx(1680.0) and r.recovery_s == pytest.approx(960.0)
    assert r.checkpoint_s == pytest.approx(600.0) and r.finished and r.failures == 1


def test_no_failure_is_failure_free() -> None:
    j = job(trace=())
    assert run_strategy_replica(j).wall_s == pytest.approx(j.failure_free_s) == pytest.approx(36600.0)


TIERED = dict(write_s=5.0, tier_survives="job", storage_every=3, tier_load_s=10.0)


def test_fast_tier_survives_software_failure() -> None:
    r = run_strategy_replica(job(**TIERED, trace=((18720.0, "soft"),)))
    assert r.fast_restores == 1 and r.storage_restores == 0
    assert r.wall_s == pytest.approx(18720 + 910 + 4 * 3605 + 120 + 3665)


def test_host_memory_tier_lost_with_its_node() -> None:
    r = run_strategy_replica(job(**TIERED, trace=((18720.0, "node"),)))
    assert r.fast_restores == 0 and r.storage_restores == 1  # back to checkpoint 3, from storage
    assert r.wall_s == pytest.approx(18720 + 960 + 6 * 3605 + 120 + 3665)


def test_peer_replicated_tier_survives_a_node() -> None:
    r = run_strategy_replica(job(**{**TIERED, "tier_survives": "node"}, trace=((18720.0, "node"),)))
    assert r.fast_restores == 1
    assert r.wall_s == pytest.approx(18720 + 910 + 4 * 3605 + 120 + 3665)


def test_cold_spare_waits_for_provisioning_and_is_paid() -> None:
    r = run_strategy_replica(job(hot_spares=0, cold_provision_s=1800.0, trace=((9000.0, "node"),)))
    assert r.wall_s == pytest.approx(9000 + 960 + 1800 + 8 * 3660)
    assert r.waiting_s == pytest.approx(1800.0)
    assert r.cold_node_s == pytest.approx(r.wall_s - 9000)


def test_no_spare_waits_for_the_repair() -> None:
    r = run_strategy_replica(job(hot_spares=0, trace=((9000.0, "node"),)))
    assert r.wall_s == pytest.approx(9000 + 960 + 7200 + 8 * 3660)


def test_a_repaired_node_returns_to_the_hot_pool() -> None:
    # one hot spare: the first failure takes it; the second, after the repair (2 h), takes the repaired node
    r = run_strategy_replica(job(hot_spares=1, trace=((9000.0, "node"), (20000.0, "node"))))
    assert r.waiting_s == 0.0
    r2 = run_strategy_replica(job(hot_spares=1, trace=((9000.0, "node"), (12000.0, "node"))))
    assert r2.waiting_s == pytest.approx(9000 + 7200 - 12000)  # waits for the first repair


def test_lemon_retired_after_k_failures() -> None:
    trace = ((3000.0, "lemon"), (9000.0, "lemon"), (15000.0, "lemon"), (21000.0, "lemon"))
    # the lemon fails at 3000 and is back in the pool at 10200 (still a lemon); the 9000 row finds no lemon
    # in the job (a healthy node fails); at 15000 a healthy node fails and the lemon, returned last, takes
    # its slot; at 21000 it fails a second time
    counts = {k: run_strategy_replica(job(lemon_nodes=1, lemon_mtbf_s=H, retire_after=k, hot_spares=8,
                                          trace=trace)).retired for k in (1, 2, 3)}
    assert counts == {1: 1, 2: 1, 3: 0}


def test_misdiagnosed_node_becomes_a_lemon() -> None:
    j = job(misdiagnosis=1.0, lemon_mtbf_s=H, hot_spares=0, repair_s=600.0,
            trace=((9000.0, "node"), (20000.0, "lemon")))
    r = run_strategy_replica(j)
    assert r.by_kind == {"node": 1, "lemon": 1, "soft": 0, "sdc": 0}
    # the repaired node came back broken, joined the job (no spare) and its failure counts as a lemon's
    assert r.waiting_s == pytest.approx(600.0 * 2)


def test_corruption_found_late_rolls_back_within_retention() -> None:
    trace = ((18720.0, "sdc"),)  # 5 cycles done; found 2 h late: the clean checkpoint is number 3
    kept = run_strategy_replica(job(sdc_detect_s=2 * H, retention=3, sdc_mtbf_s=1e9, trace=trace))
    assert kept.unrecoverable == 0
    assert kept.wall_s == pytest.approx(18720 + 960 + 6 * 3660 + 3660)
    short = run_strategy_replica(job(sdc_detect_s=2 * H, retention=1, sdc_mtbf_s=1e9, trace=trace))
    assert short.unrecoverable == 1  # only checkpoint 5 is kept, written after the corruption: from scratch
    assert short.wall_s == pytest.approx(18720 + 960 + 9 * 3660 + 3660)


FT = dict(work_s=10 * H, nodes=4, replicas=4, interval_s=1e6, mode="per_replica", ft_stall_s=120.0, detect_s=60.0,
          ft_rejoin_s=240.0, hot_spares=10)


def test_per_replica_exact() -> None:
    r = run_strategy_replica(StrategyJob(**FT, trace=((3600.0, "node"),)))  # type: ignore[arg-type]
    # 3600 s at full rate; 120 s stalled; 180 s at 3/4; then the rest at full rate
    assert r.wall_s == pytest.approx(3900 + (36000 - 3600 - 135))
    assert r.stalled_s == pytest.approx(120.0) and r.lost_s == 0.0


def test_per_replica_and_restart_are_distinct() -> None:
    ft = run_strategy_replica(StrategyJob(**FT, trace=((3600.0, "node"),)))  # type: ignore[arg-type]
    sync = run_strategy_replica(StrategyJob(**{**FT, "mode": "restart"}, trace=((3600.0, "node"),)))  # type: ignore[arg-type]
    assert sync.wall_s > ft.wall_s  # the whole job lost its hour and restarted


def test_bad_fields_are_refused() -> None:
    with pytest.raises(SimulationError, match="replicas"):
        StrategyJob(work_s=1.0, nodes=4, interval_s=1.0, replicas=3)
    with pytest.raises(SimulationError, match="sdc_mtbf_s"):
        StrategyJob(work_s=1.0, nodes=4, interval_s=1.0, mode="per_replica", sdc_mtbf_s=10.0)
    with pytest.raises(SimulationError, match="tier_survives"):
        StrategyJob(work_s=1.0, nodes=4, interval_s=1.0, tier_survives="disk")


def _check(mean: float, se: float, theory_value: float) -> None:
    assert se < 0.01 * theory_value
    assert abs(mean - theory_value) <= 4 * se, (mean, se, theory_value)


def test_restart_mode_matches_daly() -> None:
    m, d, r = 6 * H, 300.0, 600.0
    tau = float(theory.daly_interval_s(d, m))
    j = StrategyJob(work_s=tau * 100, nodes=8, interval_s=tau, storage_write_s=d, soft_mtbf_s=m, detect_s=r)
    res = simulate_strategy(j, 400, seed=3)
    w = res["wall_s"]
    _check(float(w.mean()), float(w.std(ddof=1) / math.sqrt(w.size)),
           float(theory.daly_expected_wall_s(tau * 100, tau, d, m, r)))


def test_per_replica_availability_closed_form() -> None:
    """No stall: each replica alternates up (exponential, 1/lambda) and out (D): the rate is the
    availability 1 / (1 + lambda D) (alternating renewal process; Ross, Ch. 7)."""
    lam, dur = 1 / (100 * H), H
    j = StrategyJob(work_s=2000 * H, nodes=16, replicas=16, interval_s=1e6, mode="per_replica", node_mtbf_s=1 / lam,
                    detect_s=600.0, ft_rejoin_s=dur - 600.0, hot_spares=10_000)
    g = simulate_strategy(j, 100, seed=4)["goodput"]
    _check(float(g.mean()), float(g.std(ddof=1) / math.sqrt(g.size)), 1 / (1 + lam * dur))


def test_per_replica_stall_closed_form() -> None:
    """Out for no time, every failure stalls all for S, overlaps merged: the stalled fraction is
    P(an M/D/infinity queue is busy) = 1 - exp(-Lambda S) (Ross, Ch. 5, the Poisson count in a window)."""
    lam_job, stall = 1 / (0.5 * H), 600.0
    j = StrategyJob(work_s=500 * H, nodes=8, replicas=8, interval_s=1e6, mode="per_replica",
                    node_mtbf_s=8 / lam_job, ft_stall_s=stall, hot_spares=10_000)
    g = simulate_strategy(j, 100, seed=5)["goodput"]
    _check(float(g.mean()), float(g.std(ddof=1) / math.sqrt(g.size)), math.exp(-lam_job * stall))


def test_retirement_bounds_lemon_failures() -> None:
    j = StrategyJob(work_s=1000 * H, nodes=64, interval_s=H, storage_write_s=30.0, node_mtbf_s=200 * H,
                    lemon_nodes=4, lemon_mtbf_s=10 * H, retire_after=3, hot_spares=16, detect_s=60.0, restart_s=60.0,
                    repair_s=H)
    res = simulate_strategy(j, 50, seed=6)
    assert (res["lemon_failures"] <= 4 * 3).all() and res["retired"].mean() > 3.5
    never = simulate_strategy(StrategyJob(**{**j.__dict__, "retire_after": 0}), 50, seed=6)
    assert never["lemon_failures"].mean() > 2 * res["lemon_failures"].mean()


def test_same_seed_same_result_and_common_random_numbers() -> None:
    j = job(node_mtbf_s=40 * H, trace=None)
    a, b = simulate_strategy(j, 20, seed=9), simulate_strategy(j, 20, seed=9)
    assert np.array_equal(a["wall_s"], b["wall_s"])
    # the failure times do not depend on the strategy: more hot spares change nothing when none waited
    c = simulate_strategy(job(node_mtbf_s=40 * H, trace=None, hot_spares=40), 20, seed=9)
    same = a["waiting_s"] == 0
    assert same.any() and np.array_equal(a["wall_s"][same], c["wall_s"][same])


def test_restart_mode_agrees_with_the_whole_job_engine() -> None:
    """The same plain job (node + software failures, hot spares, one storage tier) through both engines:
    the mean wall times agree within 4 combined standard errors."""
    from clustersim.sim import FailureSource, SimJob, simulate

    j = StrategyJob(work_s=200 * H, nodes=64, interval_s=H, storage_write_s=60.0, storage_load_s=60.0,
                    node_mtbf_s=64 * 20 * H, soft_mtbf_s=40 * H, detect_s=300.0, restart_s=600.0, hot_spares=4,
                    repair_s=12 * H)
    a = simulate_strategy(j, 300, seed=11)["wall_s"]
    vec = SimJob(work_s=j.work_s, nodes=64, checkpoint_interval_s=H, checkpoint_write_s=60.0, checkpoint_load_s=60.0,
                 detect_s=300.0, restart_s=600.0, repair_s=12 * H, spare_nodes=4,
                 sources=(FailureSource(component="node", per="node", units=64, mtbf_s=64 * 20 * H),
                          FailureSource(component="software", per="job", units=1, mtbf_s=40 * H, effect="job")))
    b = np.asarray(simulate(vec, replicas=300, seed=11, engine="vector").wall_s)
    se = math.hypot(a.std(ddof=1) / math.sqrt(a.size), b.std(ddof=1) / math.sqrt(b.size))
    assert se < 0.01 * b.mean() and abs(a.mean() - b.mean()) <= 4 * se


@pytest.mark.parametrize("case", ["cold-spares", "peer-tier"])
def test_mechanisms_reduce_to_daly(case: str) -> None:
    """Cold provisioning with no hot spare adds its wait P to every recovery: Daly with R + P. A
    peer-replicated tier written every checkpoint, storage every time too, always restores from the tier:
    Daly with delta = w + w_storage and R = detect + restart + the tier's load (Daly 2006)."""
    m, tau = 8 * H, 1800.0
    if case == "cold-spares":
        j = StrategyJob(work_s=tau * 150, nodes=16, interval_s=tau, storage_write_s=120.0, storage_load_s=60.0,
                        node_mtbf_s=16 * m, detect_s=300.0, restart_s=300.0, cold_provision_s=1200.0,
                        repair_s=1e9, repair_fixed=True)  # no repaired node comes back as a hot spare
        delta, r = 120.0, 300.0 + 300.0 + 60.0 + 1200.0
    else:
        j = StrategyJob(work_s=tau * 150, nodes=16, interval_s=tau, write_s=5.0, storage_write_s=60.0,
                        tier_survives="node", tier_load_s=20.0, storage_load_s=600.0, node_mtbf_s=16 * m,
                        detect_s=300.0, restart_s=300.0, hot_spares=10_000)
        delta, r = 65.0, 300.0 + 300.0 + 20.0
    w = simulate_strategy(j, 300, seed=12)["wall_s"]
    _check(float(w.mean()), float(w.std(ddof=1) / math.sqrt(w.size)),
           float(theory.daly_expected_wall_s(tau * 150, tau, delta, m, r)))


def test_escalated_repair_fixes_a_lemon() -> None:
    # one lemon, no spare: it fails at 3000 and waits for its own repair; with escalation after one failure
    # the repair takes twice as long and the node comes back healthy (the 20000 "lemon" row finds none)
    trace = ((3000.0, "lemon"), (20000.0, "lemon"))
    fixed = run_strategy_replica(job(lemon_nodes=1, lemon_mtbf_s=H, escalate_after=1, hot_spares=0, trace=trace))
    assert fixed.by_kind["lemon"] == 1 and fixed.by_kind["node"] == 1
    assert fixed.waiting_s == pytest.approx(2 * 7200 + 7200)
    plain = run_strategy_replica(job(lemon_nodes=1, lemon_mtbf_s=H, hot_spares=0, trace=trace))
    assert plain.by_kind["lemon"] == 2 and plain.waiting_s == pytest.approx(2 * 7200)


#: Every mechanism at once (two tiers, short retention, lemons retired, misdiagnosis, corruption, cold
#: provisioning, exponential repairs), drawn failures.
PINNED = dict(work_s=500 * H, nodes=256, interval_s=600.0, write_s=2.0, storage_every=6, storage_write_s=30.0,
              tier_survives="job", tier_load_s=20.0, storage_load_s=120.0, retention=3, node_mtbf_s=256 * 30 * H,
              soft_mtbf_s=40 * H, lemon_nodes=4, lemon_mtbf_s=100 * H, retire_after=3, misdiagnosis=0.1,
              sdc_mtbf_s=200 * H, sdc_detect_s=2 * H, detect_s=300.0, restart_s=600.0, hot_spares=2,
              cold_provision_s=3600.0, repair_s=24 * H)


@pytest.mark.parametrize("case, kw, sums, counts", [
    ("restart", {}, ("0x1.2b16c149019e6p+24", "0x1.09582acf4c506p+17", "0x1.50989e6af89dcp+16",
                     "0x1.1099d820f873bp+25"), (465, 111, 0, 29, 132)),
    ("short-retention", {"retention": 1},
     ("0x1.0fd74879f8175p+26", "0x1.b41461350ed0fp+18", "0x1.6cb89e6af89dcp+16", "0x1.4bc764ec573bcp+27"),
     (1461, 217, 101, 84, 462)),
    ("peer-no-cold", {"tier_survives": "node", "cold_provision_s": None, "escalate_after": 2, "retire_after": 0},
     ("0x1.49c75390cdebbp+24", "0x1.caf469eb3859ap+16", "0x1.3bf5fc6d74024p+21", "0x0.0p+0"), (473, 86, 0, 0, 372)),
    ("per-replica", {"mode": "per_replica", "replicas": 16, "sdc_mtbf_s": None, "ft_stall_s": 60.0,
                     "ft_rejoin_s": 600.0, "ft_speed": 0.98},
     ("0x1.1b681e2df98d1p+24", "0x0.0p+0", "0x1.6da0000000000p+16", "0x1.07ca1770ae179p+25"), (419, 107, 0, 27, 0)),
])
def test_seeded_results_are_pinned(case: str, kw: dict[str, object], sums: tuple[str, ...],
                                   counts: tuple[int, ...]) -> None:
    """Same seed, same result, bit for bit, across rewrites of the engine: the figures of 10 seeded replicas
    as the engine gave them before its hot path was written out (commit 8f3bcd7). A change of the
    engine's draws or arithmetic shows here; a deliberate one updates the pins and says why."""
    raw = simulate_strategy(StrategyJob(**{**PINNED, **kw}), 10, seed=3)  # type: ignore[arg-type]
    assert tuple(float(raw[k].sum()).hex() for k in ("wall_s", "lost_s", "waiting_s", "cold_node_s")) == sums
    assert tuple(int(raw[k].sum()) for k in ("failures", "lemon_failures", "unrecoverable", "retired",
                                             "fast_restores")) == counts
