"""The vectorized engine against the SimPy engine (the reference): equal in distribution on a grid of jobs.

For each job both engines run many seeded replicas; the wall time passes a two-sample Kolmogorov-Smirnov
test at the 0.1% level, and the mean wall time, the mean interruptions and the mean of every part of
the time breakdown agree within 4 standard errors of their difference. A deliberately different job
(restart 25% longer) fails the same comparison, so the comparison can tell.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim.errors import SimulationError
from clustersim.sim import BUCKETS, FailureSource, SimJob, simulate
from clustersim.sim.engines import choose_engine, vector_unsupported
from clustersim.sim.stats import ks_two_sample, ks_two_sample_critical_value
from clustersim.sim.vecevents import FailureWindows, repair_means_s

H = 3600.0
MIN = 60.0


def base(**kw) -> SimJob:
    """40 h of work on 32 nodes of 8 GPUs, GPU, host and software failures (job MTBF 4 h)."""
    job = dict(work_s=40 * H, nodes=32, gpus_per_node=8, checkpoint_interval_s=40 * MIN, checkpoint_write_s=2 * MIN,
               checkpoint_load_s=1 * MIN, detect_s=5 * MIN, restart_s=10 * MIN, repair_s=6 * H,
               repair_distribution="lognormal", repair_cv=1.0, spare_nodes=4,
               sources=(FailureSource(component="gpu", per="gpu", units=256, mtbf_s=256 * 10 * H),
                        FailureSource(component="host", per="node", units=32, mtbf_s=32 * 20 * H),
                        FailureSource(component="software", per="job", units=1, mtbf_s=20 * H, effect="job")))
    job.update(kw)
    return SimJob(**job)


GRID = {
    "plenty_of_spares": base(spare_nodes=64, repair_distribution="exponential"),
    "few_spares_long_repairs": base(spare_nodes=1, repair_s=12 * H),
    "no_spares_fixed_repairs": base(spare_nodes=0, repair_s=2 * H, repair_distribution="fixed"),
    "preemptions": base(spare_nodes=1, preempt_return_s=3 * H, sources=(
        FailureSource(component="host", per="node", units=32, mtbf_s=32 * 12 * H),
        FailureSource(component="spot", per="node", units=32, mtbf_s=32 * 8 * H, effect="preempt"))),
    "async_short_background": base(checkpoint_async=True, checkpoint_write_s=10 * MIN, checkpoint_block_s=30.0),
    "async_background_longer_than_tau": base(checkpoint_async=True, checkpoint_interval_s=10 * MIN,
                                             checkpoint_write_s=25 * MIN, checkpoint_block_s=1 * MIN),
    "weibull_hosts": base(sources=(
        FailureSource(component="gpu", per="gpu", units=256, mtbf_s=256 * 12 * H),
        FailureSource(component="host", per="node", units=32, mtbf_s=32 * 8 * H, distribution="weibull",
                      shape=0.7))),
    "no_final_checkpoint_and_horizon": base(final_checkpoint=False, horizon_s=49 * H),
}
SIMPY_REPLICAS = 300
VECTOR_REPLICAS = 3000


def compare(a, b) -> list[str]:
    """What differs between two Monte Carlo results (empty: equal in distribution at these sizes)."""
    bad = []
    d = ks_two_sample(a.wall_s, b.wall_s)
    crit = ks_two_sample_critical_value(a.replicas, b.replicas, 0.001)
    if d > crit:
        bad.append(f"KS on wall_s: D {d:.4f} > {crit:.4f}")
    metrics = {"wall_s": (a.wall_s, b.wall_s), "interruptions": (a.interruptions, b.interruptions),
               "finished": (a.finished, b.finished)}
    metrics.update({p: (a.breakdown[p], b.breakdown[p]) for p in BUCKETS})
    for name, (x, y) in metrics.items():
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        se = math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
        diff = abs(x.mean() - y.mean())
        if diff > 4 * se + 1e-9 * max(abs(x.mean()), 1.0):
            bad.append(f"mean {name}: {x.mean():.6g} vs {y.mean():.6g} (4 SE = {4 * se:.3g})")
    return bad


@pytest.mark.parametrize("name", sorted(GRID))
def test_engines_are_equal_in_distribution(name):
    job = GRID[name]
    assert vector_unsupported(job) == ()
    ref = simulate(job, replicas=SIMPY_REPLICAS, seed=11, engine="simpy", events=False)
    vec = simulate(job, replicas=VECTOR_REPLICAS, seed=12, engine="vector", events=False)
    assert ref.engine == "simpy" and vec.engine == "vector"
    assert compare(ref, vec) == []
    # the job exercises what its name says
    if "spares" in name and name != "plenty_of_spares":
        assert vec.breakdown["waiting_for_spares"].mean() > 0
    if name == "preemptions":
        assert vec.breakdown["preempted"].mean() > 0
    if name == "no_final_checkpoint_and_horizon":
        assert 0.05 < 1 - vec.finished.mean() < 0.95
    total = sum(vec.breakdown[p] for p in BUCKETS)
    assert np.allclose(total, vec.wall_s, rtol=1e-9)
    assert np.allclose(vec.breakdown["productive"][vec.finished], job.work_s, rtol=1e-9)


def test_the_comparison_detects_a_different_job():
    job = GRID["plenty_of_spares"]
    ref = simulate(job, replicas=SIMPY_REPLICAS, seed=11, engine="simpy", events=False)
    other = SimJob(**{**job.__dict__, "restart_s": 1.25 * job.restart_s})
    vec = simulate(other, replicas=VECTOR_REPLICAS, seed=12, engine="vector", events=False)
    assert any(b.startswith("mean restarting") for b in compare(ref, vec))


def test_same_result_whatever_the_workers_and_says_which_engine():
    job = base(sources=(FailureSource(component="host", per="node", units=32, mtbf_s=32 * 8 * H,
                                      distribution="weibull", shape=0.8),))
    a = simulate(job, replicas=700, seed=3, workers=1)
    b = simulate(job, replicas=700, seed=3, workers=2)
    assert a.engine == b.engine == "vector" and "exactly" in a.engine_note
    assert np.array_equal(a.wall_s, b.wall_s)
    for p in BUCKETS:
        assert np.array_equal(a.breakdown[p], b.breakdown[p])
    c = simulate(job, replicas=700, seed=4)
    assert not np.array_equal(a.wall_s, c.wall_s)
    # the event log is an example history from the SimPy engine
    assert a.events is not None and a.events[0][1] == "start"


@pytest.mark.parametrize("kw, what", [
    ({"elastic": True, "nodes_per_replica": 2}, "elastic"),
    ({"maintenance_period_s": 10 * H, "maintenance_duration_s": 60.0}, "maintenance"),
    ({"straggler_fraction": 0.1, "straggler_slowdown": 1.5}, "stragglers"),
    ({"max_concurrent_repairs": 2}, "repair crew"),
    ({"spine_switches": 2, "sources": (FailureSource(component="spine", per="switch", units=2, mtbf_s=1e6,
                                                     effect="fabric"),)}, "fabric"),
])
def test_falls_back_to_simpy_for_what_it_does_not_model(kw, what):
    job = base(**kw)
    assert any(what in w for w in vector_unsupported(job))
    engine, why = choose_engine(job)
    assert engine == "simpy" and what in why
    with pytest.raises(SimulationError, match="engine vector cannot represent"):
        choose_engine(job, "vector")
    res = simulate(job, replicas=2, seed=0, events=False)
    assert res.engine == "simpy" and what in res.engine_note
    with pytest.raises(SimulationError, match="engine"):
        simulate(job, replicas=2, engine="fast")


def test_common_random_numbers_across_checkpoint_policies():
    """Two checkpoint intervals see the same failures, replica by replica, even when the replicas of one
    policy finish at other times than those of the other: the replicas stopped at the horizon under both
    count exactly the same failures (every failure before the horizon counts, whatever the job does)."""
    src = (FailureSource(component="software", per="job", units=1, mtbf_s=H / 12, effect="job"),)
    job = dict(work_s=10 * H, nodes=8, checkpoint_write_s=5.0, detect_s=5.0, restart_s=5.0, sources=src,
               horizon_s=14 * H)
    a = simulate(SimJob(**job, checkpoint_interval_s=120.0), replicas=400, seed=3, engine="vector", check=False,
                 events=False)
    b = simulate(SimJob(**job, checkpoint_interval_s=900.0), replicas=400, seed=3, engine="vector", check=False,
                 events=False)
    both = ~a.finished & ~b.finished
    assert 0.5 < a.finished.mean() < 1 and not b.finished.any() and both.sum() >= 5
    count = lambda r: r.interruptions + r.counts["ignored_failures"]  # noqa: E731
    assert np.array_equal(count(a)[both], count(b)[both])


class ScriptedWindows:
    """The same scripted failures for every replica, in one window (the interface of FailureWindows)."""

    memoryless = False
    rate_per_s = 1e-12  # one window up to the horizon

    def __init__(self, job: SimJob, rows: list[tuple[float, str, int]]):
        self.job = job
        self.rows = rows

    def window(self, n: int, t0_s: float, t1_s: float):
        from clustersim.sim.vecevents import Window, repair_means_s

        names = [s.component for s in self.job.sources]
        rows = [(t, names.index(c), slot) for t, c, slot in self.rows if t0_s <= t < t1_s]
        col = lambda values, dtype: np.repeat(np.array(values, dtype=dtype)[:, None], n, axis=1)  # noqa: E731
        src = [r[1] for r in rows]
        return Window(col([r[0] for r in rows], float), col(src, np.int64), col([r[2] for r in rows], np.int64),
                      col(repair_means_s(self.job)[src] if rows else [], float), np.full(n, t1_s))


SCRIPT = [(150.0, "gpu", 0), (152.0, "gpu", 1), (170.0, "gpu", 3), (195.0, "software", -1), (310.0, "gpu", 0),
          (640.0, "spot", 2), (655.0, "gpu", 2), (900.0, "gpu", 1), (901.0, "software", -1), (1401.0, "gpu", 3)]
EXACT = {
    "two_spares": {},
    "no_spare": {"spare_nodes": 0},
    "async": {"checkpoint_async": True, "checkpoint_block_s": 2.0},
    "async_background_longer": {"checkpoint_async": True, "checkpoint_write_s": 150.0, "checkpoint_block_s": 2.0},
    "no_final_checkpoint": {"final_checkpoint": False, "preempt_return_s": 50.0},
    "horizon": {"horizon_s": 1500.0, "spare_nodes": 1},
    "event_budget": {"max_events": 5, "checkpoint_async": True, "checkpoint_block_s": 2.0},
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_vector_matches_simpy_exactly_on_scripted_failures(name):
    """The same failures (a trace for SimPy, a scripted window for the vectorized engine), fixed repairs:
    the same wall time and breakdown at rtol 1e-12, the same counts, replica for replica. (No failure of
    the script falls at the very time a node returns: the engines may order two events of the same
    instant differently, which random times never produce.)"""
    from clustersim.sim import TraceEvent, run_replica
    from clustersim.sim.vector import VectorEngine

    never = 1e30  # the sources only name the components (and their effects) of the script
    sources = (FailureSource(component="gpu", per="node", units=4, mtbf_s=never),
               FailureSource(component="software", per="job", units=1, mtbf_s=never, effect="job"),
               FailureSource(component="spot", per="node", units=4, mtbf_s=never, effect="preempt"))
    job = SimJob(**{**dict(work_s=1000.0, nodes=4, gpus_per_node=1, checkpoint_interval_s=100.0,
                           checkpoint_write_s=10.0, detect_s=5.0, restart_s=20.0, checkpoint_load_s=15.0,
                           repair_s=500.0, repair_distribution="fixed", spare_nodes=2, sources=sources),
                    **EXACT[name]})
    ref = run_replica(SimJob(**{**job.__dict__, "trace": tuple(TraceEvent(time_s=t, component=c, node=max(s, 0))
                                                               for t, c, s in SCRIPT)}))
    eng = VectorEngine(job)
    out = eng.run_block(0, 0, 3, windows=ScriptedWindows(job, SCRIPT))  # type: ignore[arg-type]
    assert np.allclose(out.wall_s, ref.wall_s, rtol=1e-12, atol=0)
    assert bool(out.finished[0]) == ref.finished and bool(out.budget_hit[0]) == ref.budget_hit
    for i, part in enumerate(BUCKETS):
        assert np.allclose(out.acc[:, i], ref.breakdown[part], rtol=1e-12, atol=1e-9), part
    by = {c: int(out.by[0, k]) for k, c in enumerate(eng.components) if out.by[0, k]}
    assert by == ref.interruptions_by
    assert out.ignored[0] == ref.ignored_failures and out.checkpoints[0] == ref.checkpoints


@pytest.mark.parametrize("name", ["plenty_of_spares", "few_spares_long_repairs", "preemptions"])
def test_repair_durations_are_the_per_source_draws(name):
    """Repair durations drawn without the per-failure gather of means (every source with one mean: the
    first two jobs) are the numbers the per-source means give from the same stream; a job whose
    sources differ (preemptions re-acquire in 3 h, repairs take 6 h) takes the per-source path."""
    job = GRID[name]
    src = np.random.default_rng(1).integers(0, len(job.sources), 500)
    got = FailureWindows(job, np.random.default_rng(5), 4)._repairs(src)
    gen = np.random.default_rng(5)
    means = repair_means_s(job)[src]
    if job.repair_distribution == "exponential":
        d = gen.exponential(1.0, src.size) * means
    else:
        s = math.sqrt(math.log1p(job.repair_cv ** 2))
        d = np.exp(gen.normal(-s * s / 2, s, src.size)) * means
    np.testing.assert_array_equal(got, np.where(means > 0, d, 0.0))
    assert np.unique(got).size == src.size  # drawn, not the means


# ---------------------------------------------------------------- the fast path (clustersim.sim.vectorfast)
FAST_GRID = {
    **GRID,
    "moderate_spares": base(spare_nodes=3, repair_s=4 * H),
    "spares_short_now_and_then": base(spare_nodes=6, repair_s=10 * H, repair_distribution="exponential"),
    "event_budget": base(max_events=6),
    "async_no_final": base(checkpoint_async=True, checkpoint_write_s=10 * MIN, checkpoint_block_s=30.0,
                           final_checkpoint=False),
    "async_longer_than_tau_no_final": base(checkpoint_async=True, checkpoint_interval_s=10 * MIN,
                                           checkpoint_write_s=25 * MIN, checkpoint_block_s=1 * MIN,
                                           final_checkpoint=False),
    "long_detection": base(detect_s=60 * MIN, spare_nodes=8),
    "job_level_only": base(sources=(FailureSource(component="software", per="job", units=1, mtbf_s=4 * H,
                                                  effect="job"),)),
    "shared_component_names": base(sources=(
        FailureSource(component="gpu", per="gpu", units=256, mtbf_s=256 * 10 * H),
        FailureSource(component="gpu", per="node", units=32, mtbf_s=32 * 20 * H))),
    "six_gpus_per_node": base(gpus_per_node=6, sources=(
        FailureSource(component="gpu", per="gpu", units=192, mtbf_s=192 * 10 * H),
        FailureSource(component="host", per="node", units=32, mtbf_s=32 * 20 * H))),
    "long_run_many_windows": base(work_s=400 * H, spare_nodes=6),
}
_BLOCK_FIELDS = ("wall_s", "finished", "budget_hit", "acc", "by", "ignored", "checkpoints", "failures")


def _both_paths(job: SimJob, n: int, seed: int, scales=None):
    from clustersim.sim.vector import VectorEngine

    return (VectorEngine(job, fast=False).run_block(seed, 0, n, scales=scales),
            VectorEngine(job, fast=True).run_block(seed, 0, n, scales=scales))


@pytest.mark.parametrize("forced", [False, True], ids=["as_shipped", "pass_forced"])
@pytest.mark.parametrize("name", sorted(FAST_GRID))
def test_fast_path_is_the_lockstep_loop_bit_for_bit(name, forced, monkeypatch):
    """The closed-form pass over whole windows and the column-by-column lockstep loop give the same numbers,
    bit for bit, replica for replica (both from the same draws), on jobs that exercise every way the pass
    hands a failure to the lockstep loop: spares short, ignored failures, the finishing cycle of async
    checkpoints, the event budget, the horizon, Weibull windows. ``pass_forced``: the pass takes every
    window however many replicas it hands over (the shipped engine gives such windows to the lockstep loop
    at once), the spare bound is always refined, and few passes are allowed before the lockstep loop takes
    the rest of a window: every hand-over path runs."""
    import clustersim.sim.vectorfast as vf

    if forced:
        monkeypatch.setattr(vf, "HANDOVER", 0)
        monkeypatch.setattr(vf, "REFINE", 1)
        monkeypatch.setattr(vf, "MAX_PASSES", 4)
    job = FAST_GRID[name]
    for seed in (0, 11):
        slow, fast = _both_paths(job, 400, seed)
        for f in _BLOCK_FIELDS:
            assert np.array_equal(getattr(slow, f), getattr(fast, f)), (name, seed, f)


@pytest.mark.parametrize("name", ["long_run_many_windows", "plenty_of_spares", "moderate_spares"])
def test_fast_path_bit_for_bit_one_replica_per_block(name, monkeypatch):
    """Blocks of one replica (a pass of a single row: numpy would sum one column pairwise, not in order)."""
    import clustersim.sim.vectorfast as vf

    monkeypatch.setattr(vf, "HANDOVER", 0)
    job = FAST_GRID[name] if name != "plenty_of_spares" else base(work_s=400 * H, spare_nodes=64)
    for seed in range(6):
        slow, fast = _both_paths(job, 1, seed)
        for f in _BLOCK_FIELDS:
            assert np.array_equal(getattr(slow, f), getattr(fast, f)), (name, seed, f)


def test_fast_path_bit_for_bit_with_per_replica_scales():
    from clustersim.sim.scales import ReplicaScales

    job = FAST_GRID["moderate_spares"]
    g = np.random.default_rng(4)
    scales = ReplicaScales(step_factor=g.uniform(0.8, 1.3, 300), rate_scale=g.uniform(0.5, 2.0, (300, 3)))
    slow, fast = _both_paths(job, 300, 3, scales)
    for f in _BLOCK_FIELDS:
        assert np.array_equal(getattr(slow, f), getattr(fast, f)), f


def test_fast_path_takes_most_failures_where_spares_suffice(monkeypatch):
    """With spares to spare, the pass applies nearly every failure itself (the lockstep loop only the few it
    cannot represent); the bit-for-bit test above would pass trivially if it handed everything over."""
    import clustersim.sim.vectorfast as vf

    handed = []
    step = vf.step
    monkeypatch.setattr(vf, "step", lambda eng, st, w, rows, cols, h: (handed.append(rows.size),
                                                                      step(eng, st, w, rows, cols, h)))
    monkeypatch.setattr(vf, "lockstep", lambda *a: pytest.fail("the lockstep loop took a whole window"))
    from clustersim.sim.vector import VectorEngine

    out = VectorEngine(base(work_s=400 * H, spare_nodes=64)).run_block(0, 0, 500)
    assert out.failures.sum() > 20_000
    assert sum(handed) < 0.01 * out.failures.sum()


def test_fast_path_equal_in_distribution_to_simpy_on_a_long_job():
    """Many windows per replica (the pass carries the state from one to the next): the fast path against
    the SimPy engine, as the grid above."""
    job = base(work_s=200 * H, spare_nodes=16)
    a = simulate(job, replicas=2000, seed=1, events=False, engine="vector")
    b = simulate(job, replicas=300, seed=1, events=False, engine="simpy")
    assert compare(a, b) == []


def test_draw_helpers_are_numpys():
    from clustersim.sim.vecevents import count_at_most, running_sum

    g = np.random.default_rng(0)
    a = g.exponential(1.0, (50, 7))
    np.testing.assert_array_equal(running_sum(a.copy()), np.cumsum(a, axis=0))
    for size in (1, 5, 16, 40):
        edges = np.sort(g.random(size))
        u = np.concatenate([g.random(1000), edges, [0.0, 1.0]])
        np.testing.assert_array_equal(count_at_most(edges, u), np.searchsorted(edges, u, side="right"))


@pytest.mark.parametrize("spares", [3, 8, 20])
def test_spare_bound_is_safe(spares, monkeypatch):
    """Where :func:`~clustersim.sim.vectorfast.pool_ok` says a replacement surely finds its spares, the nodes
    away just after the failure before it (counted one by one: the table's and the window's) are at most
    the spares; the bound for a subset of replicas is the bound of the whole block on those replicas."""
    import clustersim.sim.vectorfast as vf
    from clustersim.sim.vecevents import FailureWindows
    from clustersim.sim.vector import VectorEngine

    job = base(spare_nodes=spares)
    eng = VectorEngine(job)
    n = 300
    fw = FailureWindows(job, np.random.default_rng(spares), n)
    w = fw.next_failures(np.random.default_rng(1).random(n) * 1e4, 128)
    g = np.random.default_rng(2)
    table = np.where(g.random((n, 12)) < 0.4, w.time_s[0][:, None] + g.exponential(6 * H, (n, 12)), np.inf)
    active = np.ones(n, dtype=bool)
    for upto in (None, 40):
        short, ok = vf.pool_ok(eng, table, w, active, None, upto)
        assert not short or ok is None
        if ok is None:
            continue
        top = 128 if upto is None else upto
        node = eng.on_node[w.source]
        ret = np.where(node, w.time_s + w.repair_s, -np.inf)
        for k in range(1, top):
            x = w.time_s[k - 1]
            away = (table > x[:, None]).sum(axis=1) + (ret[:k] > x).sum(axis=0)
            assert (away[ok[k]] <= spares).all(), k
        assert ((table < np.inf).sum(axis=1)[ok[0]] <= spares).all()
    monkeypatch.setattr(vf, "HANDOVER", 0)
    monkeypatch.setattr(vf, "REFINE", 1)
    _, whole = vf.pool_ok(eng, table, w, active)
    rows = np.arange(5, n, 7)
    _, part = vf.pool_ok(eng, table, w, active, rows)
    if whole is not None and part is not None:
        np.testing.assert_array_equal(whole[:, rows], part[:, rows])
