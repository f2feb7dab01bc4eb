"""SimJob validation and the failure / repair time generators."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from clustersim import rng, theory
from clustersim.errors import SimulationError
from clustersim.sim import FailureSource, SimJob, TraceEvent
from clustersim.sim.distributions import (
    BATCH,
    ExponentialUnits,
    RepairDraws,
    WeibullUnits,
    failure_generators,
    trace_generator,
)


def job(**kw) -> SimJob:
    base = dict(work_s=1000.0, nodes=4, gpus_per_node=2, nodes_per_leaf=2, checkpoint_interval_s=100.0,
                checkpoint_write_s=10.0)
    base.update(kw)
    return SimJob(**base)


def test_job_is_frozen_and_picklable():
    j = job(sources=(FailureSource(component="gpu", per="gpu", units=8, mtbf_s=1e5),),
            trace=(TraceEvent(time_s=5.0, component="gpu", node=1),))
    assert pickle.loads(pickle.dumps(j)) == j
    with pytest.raises(AttributeError):
        j.work_s = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("kw, field", [
    ({"work_s": 0.0}, "work_s"),
    ({"work_s": math.inf}, "work_s"),
    ({"nodes": 0}, "nodes"),
    ({"checkpoint_interval_s": -1.0}, "checkpoint_interval_s"),
    ({"detect_s": -1.0}, "detect_s"),
    ({"repair_distribution": "gamma"}, "repair_distribution"),
    ({"nodes_per_replica": 3}, "nodes_per_replica"),
    ({"nodes_per_replica": 2, "min_replicas": 3}, "min_replicas"),
    ({"elastic_speed": (1.0, 1.5)}, "elastic_speed"),
    ({"degraded_speed": ()}, "degraded_speed"),
    ({"straggler_slowdown": 0.5}, "straggler_slowdown"),
    ({"straggler_fraction": 1.5}, "straggler_fraction"),
    ({"checkpoint_async": True, "checkpoint_block_s": 20.0}, "checkpoint_block_s"),
    ({"max_concurrent_repairs": 0}, "max_concurrent_repairs"),
    ({"spare_nodes": -1}, "spare_nodes"),
    ({"nodes": True}, "nodes"),
])
def test_job_rejects_bad_fields_naming_them(kw, field):
    with pytest.raises(SimulationError, match=field):
        job(**kw)


@pytest.mark.parametrize("kw, text", [
    ({"per": "rack"}, "per"),
    ({"units": 0}, "units"),
    ({"mtbf_s": 0.0}, "mtbf_s"),
    ({"distribution": "gamma"}, "distribution"),
    ({"shape": 0.0}, "shape"),
    ({"effect": "explode"}, "effect"),
    ({"effect": "leaf"}, "per .with effect leaf."),
    ({"per": "switch", "effect": "node"}, "per .with effect node."),
])
def test_source_rejects_bad_fields(kw, text):
    base = dict(component="gpu", per="gpu", units=8, mtbf_s=1e5)
    base.update(kw)
    with pytest.raises(SimulationError, match=text):
        FailureSource(**base)


def test_units_must_fit_the_job():
    with pytest.raises(SimulationError, match="at most 8"):
        job(sources=(FailureSource(component="gpu", per="gpu", units=9, mtbf_s=1e5),))
    with pytest.raises(SimulationError, match="at most 2"):
        job(sources=(FailureSource(component="leaf", per="switch", units=3, mtbf_s=1e5, effect="leaf"),))
    with pytest.raises(SimulationError, match="at most 0"):
        job(sources=(FailureSource(component="spine", per="switch", units=1, mtbf_s=1e5, effect="fabric"),))
    with pytest.raises(SimulationError, match="node"):
        job(trace=(TraceEvent(time_s=1.0, component="gpu", node=4),))


def test_trace_effects_are_inferred():
    j = job(spine_switches=2, sources=(FailureSource(component="flaky", per="job", units=1, mtbf_s=1e5,
                                                     effect="job"),))
    eff = {c: j.trace_effect(TraceEvent(time_s=0.0, component=c, node=0))
           for c in ("gpu", "leaf-switch", "spine-switch", "spot", "software", "flaky")}
    assert eff == {"gpu": "node", "leaf-switch": "leaf", "spine-switch": "fabric", "spot": "preempt",
                   "software": "job", "flaky": "job"}
    assert j.trace_effect(TraceEvent(time_s=0.0, component="gpu", node=0, effect="preempt")) == "preempt"


def test_derived_figures():
    j = job(nodes=6, nodes_per_leaf=4, nodes_per_replica=2, elastic_speed=(1.0, 0.6),
            degraded_speed=(1.0, 0.7), checkpoint_async=True, checkpoint_block_s=2.0, detect_s=1.0,
            restart_s=2.0, checkpoint_load_s=3.0)
    assert j.leaf_switches == 2 and j.dp_replicas == 3
    assert j.checkpoint_blocking_s == 2.0 and j.recovery_s == 6.0
    assert j.elastic_rate(1) == 0.6 and j.elastic_rate(2) == pytest.approx(1 / 3)
    assert j.fabric_rate(1) == 0.7 and j.fabric_rate(5) == 0.7
    assert j.horizon == pytest.approx(10 * 1000 * (1 + 2 / 100))
    assert job(horizon_s=5.0).horizon == 5.0


def test_exponential_superposition_gaps_and_uniform_units():
    """Gaps are exponential draws of mean mtbf/units in order, across batch refills; units uniform."""
    g = ExponentialUnits(rng.stream(1, 0, "t"), rng.stream(1, 0, "u"), mtbf_s=1000.0, units=10)
    draws = [g.next() for _ in range(3 * BATCH + 7)]
    gaps = np.diff([0.0] + [t for t, _ in draws])
    ref = rng.stream(1, 0, "t").exponential(100.0, len(draws))
    assert np.allclose(gaps, ref, rtol=1e-12)
    units = rng.stream(1, 0, "u").integers(0, 10, len(draws))
    assert [u for _, u in draws] == units.tolist()


def test_exponential_rate_is_units_over_mtbf():
    g = ExponentialUnits(rng.stream(2, 0, "t"), rng.stream(2, 0, "u"), mtbf_s=16384 * 3600.0, units=16384)
    times = np.array([g.next()[0] for _ in range(20000)])
    # mean gap = mtbf / units = 3600 s; SE = 3600 / sqrt(20000) = 25 s
    assert np.diff(times, prepend=0.0).mean() == pytest.approx(3600.0, abs=4 * 3600 / math.sqrt(20000))


def test_weibull_units_are_time_ordered_renewals_with_the_right_mean():
    shape, mean, units = 0.7, 500.0, 2000
    g = WeibullUnits(rng.stream(3, 0, "t"), rng.stream(3, 0, "r"), mean, shape, units)
    events = [g.next() for _ in range(20000)]
    times = [t for t, _ in events]
    assert times == sorted(times)
    # the first failures are the per-unit first draws, scale = mean / Gamma(1 + 1/k)
    scale = theory.weibull_scale_s(mean, shape)
    first = scale * rng.stream(3, 0, "t").weibull(shape, units)
    assert times[0] == pytest.approx(first.min(), rel=1e-12)
    # one unit's renewal gaps are iid Weibull draws with the requested mean (no window censoring)
    one = WeibullUnits(rng.stream(3, 1, "t"), rng.stream(3, 1, "r"), mean, shape, 1)
    gaps = np.diff([one.next()[0] for _ in range(20000)])
    se = gaps.std() / math.sqrt(gaps.size)
    assert gaps.mean() == pytest.approx(mean, abs=4 * se)
    # and the long-run rate is units / mean (the renewal theorem): fraction of units failed by time t
    t_half = 0.5 * mean
    failed_by = len({u for t, u in events if t <= t_half})
    p = 1 - math.exp(-((t_half / scale) ** shape))
    assert failed_by / units == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / units))


def test_repair_draws():
    assert RepairDraws(None, "fixed", 42.0).next() == 42.0
    assert RepairDraws(None, "exponential", 0.0).next() == 0.0
    e = RepairDraws(rng.stream(4, 0, "r"), "exponential", 100.0)
    x = np.array([e.next() for _ in range(20000)])
    assert x.mean() == pytest.approx(100.0, abs=4 * 100 / math.sqrt(20000))
    ln = RepairDraws(rng.stream(4, 0, "l"), "lognormal", 100.0, cv=0.5)
    y = np.array([ln.next() for _ in range(40000)])
    assert y.mean() == pytest.approx(100.0, abs=4 * 50 / math.sqrt(40000))
    assert y.std() / y.mean() == pytest.approx(0.5, rel=0.05)


def test_generators_use_keyed_streams_per_source():
    src = (FailureSource(component="gpu", per="gpu", units=8, mtbf_s=1e4),
           FailureSource(component="host", per="node", units=4, mtbf_s=1e4, distribution="weibull", shape=0.8))
    a = failure_generators(job(sources=src), seed=7, replica=3)
    b = failure_generators(job(sources=src, checkpoint_interval_s=55.0, spare_nodes=3), seed=7, replica=3)
    c = failure_generators(job(sources=src), seed=7, replica=4)
    seq = lambda gens: [g.next() for g, _ in gens for _ in range(5)]  # noqa: E731
    sa, sb, sc = seq(a), seq(b), seq(c)
    assert sa == sb and sa != sc


def test_trace_generator_sorts_and_ends():
    j = job(trace=(TraceEvent(time_s=5.0, component="gpu", node=1), TraceEvent(time_s=2.0, component="x", node=0)))
    times, events, _rep, _ret = trace_generator(j, 0, 0)
    assert [e.time_s for e in events] == [2.0, 5.0]
    assert times.next() == (2.0, 0) and times.next() == (5.0, 1) and times.next()[0] == math.inf


def test_sim_package_imports_no_scenario_models_networkx_or_kernel():
    """clustersim.sim sees only plain dataclasses (an adapter builds them); theory stays free of simpy."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "clustersim"
    forbidden = ("pydantic", "networkx", "plotly", "clustersim.cost", "clustersim.scenario",
                 "clustersim.topology", "clustersim.report")
    files = sorted((root / "sim").glob("*.py")) + [root / "theory.py"]
    assert len(files) > 5
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level]
        for name in names:
            assert not name.startswith(forbidden), f"{path.name} imports {name}"
        if path.name == "theory.py":
            assert "simpy" not in names


def test_sim_package_has_no_import_cycles_and_no_mixin():
    """Imports inside clustersim/sim (all but those under ``if TYPE_CHECKING:``) form no cycle; the
    replica's state lives in explicit objects, not in a mixin."""
    import ast
    from pathlib import Path

    from clustersim.sim.replica import Replica

    root = Path(__file__).resolve().parents[1] / "clustersim" / "sim"
    graph: dict[str, set[str]] = {}
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
        graph[path.stem] = {n.module.split(".")[0] for n in ast.walk(tree)
                            if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module and id(n) not in skip}
    seen: dict[str, int] = {}

    def visit(m: str, stack: tuple[str, ...]) -> None:
        assert m not in stack, " -> ".join((*stack, m))
        if seen.get(m):
            return
        for d in graph.get(m, ()):
            visit(d, (*stack, m))
        seen[m] = 1

    for m in graph:
        visit(m, ())
    assert len(graph) > 10 and "replica" in graph["runner"]
    assert Replica.__mro__ == (Replica, object)


def test_sim_events_counts_the_events_processed_not_scheduled():
    """A failure-free job of one segment: the process start, the end of the segment (the final
    checkpoint written) and the run's done event are processed; the horizon's timeout is scheduled but
    never reached, so it is not counted (the benchmark's events per second are real events)."""
    from clustersim.sim import SimJob, run_replica

    one = run_replica(SimJob(work_s=10.0, nodes=1, checkpoint_interval_s=100.0))
    assert one.finished and one.wall_s == 10.0 and one.sim_events == 3
    two = run_replica(SimJob(work_s=150.0, nodes=1, checkpoint_interval_s=100.0, checkpoint_write_s=1.0))
    assert two.checkpoints == 2 and two.sim_events == 3  # both cycles in one run phase: one timeout
