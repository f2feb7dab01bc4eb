"""Build time, fabric() time, degrade time and group-bandwidth time of clustersim.topology, and the
closed-form fabric (what an estimate pays) against building the graph and reducing it, same run.

Run: .venv/bin/python benchmarks/bench_topology.py   (prints figures; asserts nothing)
"""

from __future__ import annotations

import time

from clustersim.topology import NetworkParams, build_cluster, place_groups, standard_fabric


def _timed(fn, repeat: int = 3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _built(params: NetworkParams):
    cluster = build_cluster(params)
    _ = cluster.graph  # the graph is built on first use
    return cluster


def main() -> None:
    for nodes in (256, 2048, 4096):
        params = NetworkParams(nodes=nodes, oversubscription=7.0)
        cluster, build_s = _timed(lambda p=params: _built(p))
        _, fabric_s = _timed(cluster.fabric, repeat=1)  # first call: computed from the graph
        _, closed_s = _timed(lambda p=params: standard_fabric(p), repeat=100)
        half = cluster.spines()[: len(cluster.spines()) // 2]
        degraded, degrade_s = _timed(lambda c=cluster, h=half: c.degrade(h).fabric(), repeat=1)
        gpus = params.gpus
        layout = place_groups(gpus, tp=8, cp=1, dp=gpus // 64, pp=8)
        _, dp_s = _timed(lambda c=cluster, g=layout["dp"]: c.groups_bandwidth(g), repeat=1)
        g = cluster.graph
        print(f"{gpus:6d} GPUs: {g.number_of_nodes():6d} graph nodes, {g.number_of_edges():6d} edges, "
              f"build {build_s:.3f} s, fabric {fabric_s:.3f} s, degrade(half spines)+fabric {degrade_s:.3f} s, "
              f"all DP groups {dp_s:.3f} s; closed form {closed_s * 1e6:.1f} us "
              f"({(build_s + fabric_s) / closed_s:,.0f}x faster than graph + fabric); spine {cluster.fabric()['spine_bw_bytes_per_s'] / 1e9:.2f} -> "
              f"{degraded['spine_bw_bytes_per_s'] / 1e9:.2f} GB/s per GPU")
    # cached fabric: what the kernel pays per call
    cluster = build_cluster(NetworkParams(nodes=2048))
    cluster.fabric()
    _, cached_s = _timed(cluster.fabric, repeat=1000)
    print(f"fabric() cached: {cached_s * 1e6:.1f} us per call")


if __name__ == "__main__":
    main()
