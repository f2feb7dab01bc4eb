"""The keyed streams and the SimPy engine's merged failure stream give the numbers of their plain
definitions: a SeedSequence of the list [seed, replica, key], and a heap of each source's next failure
with ``next()`` draws."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from clustersim import rng
from clustersim.sim import FailureSource, SimJob
from clustersim.sim.distributions import failure_generators
from clustersim.sim.failstream import FailureStream


@pytest.mark.parametrize("seed", [0, 1, 7, 2**31, 2**32 - 1, 2**32, 2**40 + 3, 2**64 + 5])
@pytest.mark.parametrize("replica", [0, 3, 2**32 + 1])
def test_stream_is_the_seed_sequence_of_the_list(seed: int, replica: int) -> None:
    for name in ("fail/gpu/0", "repair/straggler", "x"):
        ref = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            entropy=[seed, replica, rng.stream_key(name)])))
        assert (rng.stream(seed, replica, name).random(8) == ref.random(8)).all()


def test_streams_are_the_streams() -> None:
    names = ["fail/gpu/0", "fail/nic/1", "x" * 40]
    for seed, replica in ((0, 0), (3, 9), (2**33, 1)):
        got = [g.random(4) for g in rng.streams(seed, replica, names)]
        assert all((a == rng.stream(seed, replica, n).random(4)).all() for a, n in zip(got, names, strict=True))


def _heap_order(job: SimJob, seed: int, replica: int, n: int) -> list[tuple[float, int, int, float]]:
    """The first n failures as a heap of each source's next failure gives them, with next() draws."""
    gens = failure_generators(job, seed, replica)
    heap = []
    for i, (g, _d) in enumerate(gens):
        t, u = g.next()
        heap.append((t, i, u))
    heapq.heapify(heap)
    out = []
    for _ in range(n):
        t, i, u = heap[0]
        nt, nu = gens[i][0].next()
        heapq.heapreplace(heap, (nt, i, nu))
        out.append((t, i, u, gens[i][1].next()))
    return out


@pytest.mark.parametrize("distribution,shape,repair", [("exponential", 1.0, "lognormal"),
                                                       ("weibull", 0.7, "exponential"),
                                                       ("exponential", 1.0, "fixed")])
def test_merged_stream_is_the_heap_order(distribution: str, shape: float, repair: str) -> None:
    sources = (FailureSource(component="gpu", per="gpu", units=64, mtbf_s=2e5, distribution=distribution,
                             shape=shape),
               FailureSource(component="node", per="node", units=8, mtbf_s=3e6),
               FailureSource(component="sw", per="job", units=1, mtbf_s=4e4, effect="job"),
               FailureSource(component="psu", per="node", units=8, mtbf_s=2e5))
    job = SimJob(work_s=1e6, nodes=8, checkpoint_interval_s=1e3, repair_s=3600.0, repair_distribution=repair,
                 sources=sources)
    n = 1500  # several batches of every fast source, so several merges
    for replica in range(3):
        st = FailureStream(failure_generators(job, 5, replica), None, float("inf"))
        got = []
        while len(got) < n:
            if st.k == st.n:
                st.more()
            k = st.k
            got.append((st.times[k], st.sources[k], st.units[k], st.repairs[k]))
            st.k = k + 1
        assert got == _heap_order(job, 5, replica, n)
