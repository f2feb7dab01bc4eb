"""Cluster graph, per-tier fabric figures, group bandwidths, degraded fabrics and group placement."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import networkx as nx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clustersim.errors import InfeasibleError, ScenarioError
from clustersim.topology import (
    FABRIC_KEYS,
    NetworkParams,
    build_cluster,
    default_spine_switches,
    degraded_fabric,
    place_groups,
    spine_count,
    standard_fabric,
)

NIC_400G_BYTES_PER_S = 50e9  # 400 Gb/s = 50 GB/s (reference.md C.2: 8 x 400 Gb/s = 400 GB/s per node)


def kinds(cluster) -> Counter:
    return Counter(k for _, k in cluster.graph.nodes(data="kind"))


def nvl72(nodes: int, **kw) -> NetworkParams:
    return NetworkParams(nodes=nodes, gpus_per_node=4, nics_per_node=4, topology="nvl72",
                         scaleup_domain_gpus=72, scaleup_bw_bytes_per_s=900e9, **kw)


# ---------------------------------------------------------------------------------------------- graph
@pytest.mark.parametrize(
    "params, expected",
    [
        (NetworkParams(nodes=2048), dict(gpu=16384, nvswitch=2048, nic=16384, leaf=128, spine=128)),
        (NetworkParams(nodes=2048, oversubscription=7.0), dict(gpu=16384, nvswitch=2048, leaf=128, spine=19)),
        (NetworkParams(nodes=1), dict(gpu=8, nvswitch=1, nic=8, leaf=1, spine=0)),
        (NetworkParams(nodes=16), dict(gpu=128, nvswitch=16, leaf=1, spine=0)),
        (NetworkParams(nodes=20), dict(gpu=160, nvswitch=20, leaf=2, spine=128)),
        (NetworkParams(nodes=64, spine_switches=10), dict(gpu=512, leaf=4, spine=10)),
        (NetworkParams(nodes=64, nics_per_node=4), dict(gpu=512, nic=256, leaf=4, spine=64)),
        (NetworkParams(nodes=32, topology="rail-optimized"), dict(gpu=256, nvswitch=32, leaf=16, spine=16)),
        (NetworkParams(nodes=16, topology="rail-optimized"), dict(gpu=128, leaf=8, spine=0)),
        (nvl72(36), dict(gpu=144, nvswitch=2, nic=144, leaf=3, spine=64)),
        (nvl72(18 * 8, nodes_per_leaf=18), dict(gpu=576, nvswitch=8, leaf=8, spine=72)),
        (nvl72(2), dict(gpu=8, nvswitch=1, leaf=1, spine=0)),
    ],
)
def test_graph_counts_by_kind(params, expected):
    cluster = build_cluster(params)
    got = kinds(cluster)
    for kind, count in expected.items():
        assert got[kind] == count, kind
    assert len(cluster.spines()) == got["spine"]
    assert len(cluster.leaves()) == got["leaf"]


def test_graph_shape_and_capacities():
    p = NetworkParams(nodes=40, oversubscription=2.0)
    g = build_cluster(p).graph
    for u, v, cap in g.edges(data="capacity_bytes_per_s"):
        assert cap is not None and cap > 0, (u, v)
    for node, kind in g.nodes(data="kind"):
        nbr_kinds = Counter(g.nodes[n]["kind"] for n in g.adj[node])
        if kind == "gpu":
            assert nbr_kinds == Counter(nvswitch=1, nic=1)
        elif kind == "leaf":
            assert nbr_kinds["spine"] == default_spine_switches(p) == 64  # 128 ports / 2
    # a leaf's uplink is its designed downlink / oversubscription (16 nodes x 8 NICs x 50 GB/s / 2)
    up = sum(c for _, n, c in g.edges(("leaf", 0), data="capacity_bytes_per_s") if n[0] == "spine")
    assert up == pytest.approx(16 * 8 * NIC_400G_BYTES_PER_S / 2.0)


def test_rail_optimized_same_rail_is_one_switch_hop():
    g = build_cluster(NetworkParams(nodes=32, topology="rail-optimized")).graph
    no_nvlink = g.subgraph(n for n, k in g.nodes(data="kind") if k != "nvswitch")
    # GPU 3 of node 0 and GPU 3 of node 5 (same leaf group): GPU - NIC - rail switch - NIC - GPU
    path = nx.shortest_path(no_nvlink, ("gpu", 3), ("gpu", 5 * 8 + 3))
    assert len(path) == 5
    assert g.nodes[path[2]]["kind"] == "leaf" and g.nodes[path[2]]["rail"] == 3
    # another rail needs a spine (without the NVLink detour that PXN takes)
    assert nx.shortest_path_length(no_nvlink, ("gpu", 3), ("gpu", 5 * 8 + 4)) == 6


# ---------------------------------------------------------------------------------------------- fabric
@pytest.mark.parametrize("oversubscription", [1.0, 2.0, 4.0, 7.0])
@pytest.mark.parametrize("topology", ["fat-tree", "rail-optimized"])
def test_fabric_tiers(oversubscription, topology):
    p = NetworkParams(nodes=64, topology=topology, oversubscription=oversubscription)
    f = build_cluster(p).fabric()
    assert tuple(f) == FABRIC_KEYS
    assert f["scaleup_bw_bytes_per_s"] == 450e9  # the NVLink figure passed in (reference.md C.1)
    assert f["scaleup_gpus"] == 8
    assert f["leaf_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S)
    assert 8 * f["leaf_bw_bytes_per_s"] == pytest.approx(400e9)  # reference.md C.2: 400 GB/s per node
    assert f["leaf_gpus"] == 128
    assert f["spine_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S / oversubscription)
    assert f["gpus_per_node"] == 8
    assert f["scaleup_latency_s"] == p.scaleup_latency_s and f["scaleout_latency_s"] == p.scaleout_latency_s


@pytest.mark.parametrize(
    "params, scaleup, scaleup_gpus, leaf, leaf_gpus",
    [
        (nvl72(36), 900e9, 72, 50e9, 64),
        (nvl72(2), 900e9, 8, 50e9, 8),  # a partly built rack: 8 GPUs share the NVLink domain
        (NetworkParams(nodes=8, nic_gbit_per_s=200, scaleup_bw_bytes_per_s=300e9), 300e9, 8, 25e9, 64),  # DGX A100
        (NetworkParams(nodes=8, nics_per_node=4), 450e9, 8, 25e9, 64),  # two GPUs per NIC
        (NetworkParams(nodes=8, nics_per_node=16), 450e9, 8, 100e9, 64),  # two NICs per GPU
        (NetworkParams(nodes=2, gpus_per_node=8, scaleup_domain_gpus=4), 450e9, 4, 50e9, 16),
    ],
)
def test_fabric_other_shapes(params, scaleup, scaleup_gpus, leaf, leaf_gpus):
    f = build_cluster(params).fabric()
    assert f["scaleup_bw_bytes_per_s"] == pytest.approx(scaleup)
    assert f["scaleup_gpus"] == scaleup_gpus
    assert f["leaf_bw_bytes_per_s"] == pytest.approx(leaf)
    assert f["leaf_gpus"] == leaf_gpus


def test_single_leaf_spine_tier_is_leaf_tier():
    for nodes in (1, 16):
        f = build_cluster(NetworkParams(nodes=nodes, oversubscription=7.0)).fabric()
        assert f["spine_bw_bytes_per_s"] == f["leaf_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S)


def test_fabric_is_computed_from_the_graph_and_returns_a_copy():
    cluster = build_cluster(NetworkParams(nodes=32))
    f = cluster.fabric()
    f["spine_bw_bytes_per_s"] = -1.0
    assert cluster.fabric()["spine_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S)
    # halving one leaf's spine links in a fresh graph halves the spine tier (it is read from the edges)
    fresh = build_cluster(NetworkParams(nodes=32))
    for _, other, attrs in fresh.graph.edges(("leaf", 1), data=True):
        if fresh.graph.nodes[other]["kind"] == "spine":
            attrs["capacity_bytes_per_s"] /= 2
    assert fresh.fabric()["spine_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S / 2)


def _closed_form_grid():
    """Clusters of every standard topology: NIC ratios, oversubscriptions, spine counts, leaf sizes,
    one and several leaf groups, a partly populated last group, partly built NVL72 racks."""
    shapes = [  # (topology, gpus_per_node, nics_per_node, scaleup_domain_gpus)
        ("fat-tree", 8, 8, 8), ("fat-tree", 8, 4, 8), ("fat-tree", 8, 16, 8), ("fat-tree", 8, 2, 4),
        ("rail-optimized", 8, 8, 8), ("rail-optimized", 8, 4, 8), ("rail-optimized", 4, 8, 4),
        ("nvl72", 4, 4, 72), ("nvl72", 4, 2, 72), ("nvl72", 8, 8, 16),
    ]
    for (topology, gpn, npn, dom), nodes, o, spines, per_leaf in itertools.product(
            shapes, (1, 2, 7, 16, 19, 40), (1.0, 2.5, 7.0), (None, 3), (4, 16)):
        yield NetworkParams(nodes=nodes, topology=topology, gpus_per_node=gpn, nics_per_node=npn,
                            scaleup_domain_gpus=dom, oversubscription=o, spine_switches=spines,
                            nodes_per_leaf=per_leaf, nic_gbit_per_s=400.0 if o != 7.0 else 333.3,
                            scaleup_bw_bytes_per_s=900e9)


def test_closed_form_fabric_equals_the_graphs():
    """standard_fabric (no graph) gives the graph's fabric() and spine count on every cluster of the grid,
    bit for bit (an estimate must not change in its last digit with the path that computed its fabric)."""
    checked = 0
    for params in _closed_form_grid():
        cluster = build_cluster(params)
        closed = standard_fabric(params)
        graph = cluster.fabric()
        assert tuple(closed) == tuple(graph) == FABRIC_KEYS
        assert closed == graph, params  # to the bit: the closed form replays the graph's sums
        assert spine_count(params) == cluster.graph.graph["spines"], params
        checked += 1
    assert checked == 10 * 6 * 3 * 2 * 2


def test_closed_form_degraded_fabric_equals_the_graphs():
    """degraded_fabric(params, k) gives the degraded graph's fabric() to the bit, whichever k spines fail,
    and graph_elements counts the graph's nodes plus edges."""
    from clustersim.topology.graph import graph_elements

    checked = 0
    for i, params in enumerate(_closed_form_grid()):
        cluster = build_cluster(params)
        assert graph_elements(params) == cluster.graph.number_of_nodes() + cluster.graph.number_of_edges()
        spines = cluster.spines()
        for k in sorted({0, 1, len(spines) // 2, len(spines)}):
            failed = spines[i % 2::][:k] if k < len(spines) else spines  # different spines, same count
            if len(failed) < k:
                failed = spines[:k]
            assert degraded_fabric(params, k) == cluster.degrade(failed).fabric(), (params, k)
            checked += 1
    assert checked > 720
    with_spines = NetworkParams(nodes=40, nodes_per_leaf=4, spine_switches=3)
    assert degraded_fabric(with_spines, 99) == degraded_fabric(with_spines, 3)  # clipped to the spine count
    assert degraded_fabric(with_spines, 3)["spine_bw_bytes_per_s"] == 0.0


def test_million_nodes_without_a_graph():
    """10^6 nodes: the closed forms answer (sums of millions of terms become products), the graph is
    refused with its size and the reason instead of exhausting memory."""
    from clustersim.topology.graph import MAX_GRAPH_ELEMENTS, build_graph, graph_elements

    p = NetworkParams(nodes=1_000_000, nodes_per_leaf=500_000, oversubscription=2.0)
    f = standard_fabric(p)
    assert f["spine_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S / 2.0, rel=1e-12)
    half = degraded_fabric(p, spine_count(p) // 2)
    assert half["spine_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S / 4.0, rel=1e-12)
    assert graph_elements(p) > MAX_GRAPH_ELEMENTS
    with pytest.raises(ScenarioError, match="cluster graph of 1,000,000 nodes") as err:
        build_graph(p)
    assert err.value.items[0].path == "cluster.nodes"


def test_closed_form_at_16k_gpus():
    p = NetworkParams(nodes=2048, oversubscription=7.0)
    f = standard_fabric(p)
    assert f["spine_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S / 7.0)
    assert f["leaf_gpus"] == 128 and f["scaleup_gpus"] == 8
    assert spine_count(p) == 19


def test_the_graph_is_built_only_when_needed():
    from clustersim.planning import cluster_for, fabric_for

    p = NetworkParams(nodes=48, oversubscription=2.0)
    cluster = cluster_for(p)
    assert fabric_for(p) == standard_fabric(p)
    assert len(cluster.spines()) == default_spine_switches(p)
    degraded = fabric_for(p, failed_spines=len(cluster.spines()) // 2)
    assert cluster._graph is None  # neither the fabric (healthy or degraded) nor the spine count built it
    assert degraded["spine_bw_bytes_per_s"] == pytest.approx(fabric_for(p)["spine_bw_bytes_per_s"] / 2)
    assert degraded == cluster.degrade(cluster.spines()[: len(cluster.spines()) // 2]).fabric()


def test_16k_gpu_cluster():
    cluster = build_cluster(NetworkParams(nodes=2048, oversubscription=7.0))
    assert cluster.graph.number_of_nodes() == 16384 * 2 + 2048 + 128 + 19
    f = cluster.fabric()
    assert f["spine_bw_bytes_per_s"] == pytest.approx(NIC_400G_BYTES_PER_S / 7.0)
    groups = place_groups(16384, tp=8, cp=1, dp=128, pp=16)
    assert cluster.groups_bandwidth(groups["tp"]) == f["scaleup_bw_bytes_per_s"]
    # PP hops are 1,024 ranks = 128 nodes = 8 leaves apart: every GPU sends across its leaf's uplink
    assert cluster.groups_bandwidth(groups["pp"]) == pytest.approx(f["spine_bw_bytes_per_s"])


# ---------------------------------------------------------------------------------------------- groups
def _tier(params: NetworkParams, group: list[int]) -> str:
    gpn = params.gpus_per_node
    if len({r // params.scaleup_domain_gpus for r in group}) == 1:
        return "scaleup"
    if len({r // gpn // params.nodes_per_leaf for r in group}) == 1:
        return "leaf"
    return "spine"


def _every_hop_leaves_its_leaf(params: NetworkParams, groups: list[list[int]]) -> bool:
    leaf = [r // params.gpus_per_node // params.nodes_per_leaf for r in range(params.gpus)]
    covered = sorted(r for g in groups for r in g) == list(range(params.gpus))
    return covered and all(leaf[g[i]] != leaf[g[(i + 1) % len(g)]] for g in groups for i in range(len(g)))


def test_tp_group_inside_a_node_gets_scaleup():
    cluster = build_cluster(NetworkParams(nodes=4))
    assert cluster.group_bandwidth(list(range(8))) == 450e9
    assert cluster.group_bandwidth([8, 9]) == 450e9
    assert cluster.group_bandwidth([3]) == math.inf


def test_dp_group_across_leaves_gets_spine_tier():
    flat = build_cluster(NetworkParams(nodes=64))
    f = flat.fabric()
    dp = [0, 128, 256, 384]  # GPU 0 of nodes 0, 16, 32, 48: four leaves
    assert flat.group_bandwidth(dp) == pytest.approx(f["spine_bw_bytes_per_s"])

    over = build_cluster(NetworkParams(nodes=32, oversubscription=4.0))
    f = over.fabric()
    groups = place_groups(256, tp=8, cp=1, dp=2, pp=16, order="tp-cp-pp-dp")  # DP outermost
    assert all(_tier(over.params, g) == "spine" for g in groups["dp"])
    assert over.groups_bandwidth(groups["dp"]) == pytest.approx(f["spine_bw_bytes_per_s"])  # 12.5 GB/s
    # one group alone does not fill the uplink: its ring is bound by its NICs
    assert over.group_bandwidth(groups["dp"][0]) == pytest.approx(f["leaf_bw_bytes_per_s"])


CONFIGS = [
    (NetworkParams(nodes=4), dict(tp=8, cp=1, dp=4, pp=1)),
    (NetworkParams(nodes=4), dict(tp=4, cp=2, dp=2, pp=2)),
    (NetworkParams(nodes=4, nics_per_node=4), dict(tp=8, cp=1, dp=4, pp=1)),
    (NetworkParams(nodes=4), dict(tp=16, cp=1, dp=2, pp=1)),
    (NetworkParams(nodes=32, oversubscription=4.0), dict(tp=8, cp=1, dp=16, pp=2)),
    (NetworkParams(nodes=32, oversubscription=4.0), dict(tp=8, cp=1, dp=2, pp=16, order="tp-cp-pp-dp")),
    (NetworkParams(nodes=32, oversubscription=7.0), dict(tp=4, cp=2, dp=8, pp=4, ep=4)),
    (NetworkParams(nodes=32, topology="rail-optimized", oversubscription=4.0), dict(tp=8, cp=1, dp=16, pp=2)),
    (NetworkParams(nodes=32, topology="rail-optimized", oversubscription=4.0), dict(tp=16, cp=1, dp=8, pp=2)),
    (NetworkParams(nodes=32, topology="rail-optimized", oversubscription=2.0),
     dict(tp=2, cp=1, dp=64, pp=2, ep=8, order="tp-cp-ep-dp-pp")),
    (nvl72(36, oversubscription=2.0), dict(tp=8, cp=9, dp=2, pp=1)),
    (nvl72(36), dict(tp=4, cp=1, dp=18, pp=2)),
]


@pytest.mark.parametrize("params, layout", CONFIGS)
def test_groups_from_place_groups_agree_with_fabric(params, layout):
    cluster = build_cluster(params)
    f = cluster.fabric()
    tier_bw = {"scaleup": f["scaleup_bw_bytes_per_s"], "leaf": f["leaf_bw_bytes_per_s"],
               "spine": f["spine_bw_bytes_per_s"]}
    checked = 0
    for kind, groups in place_groups(params.gpus, **layout).items():
        if len(groups[0]) < 2:
            continue
        tiers = {_tier(params, g) for g in groups}
        tier = max(tiers, key=["scaleup", "leaf", "spine"].index)  # the slowest span among the groups
        got = cluster.groups_bandwidth(groups)
        if tier != "spine" or _every_hop_leaves_its_leaf(params, groups):
            assert got == pytest.approx(tier_bw[tier]), (kind, tier)
        else:  # rings that keep most hops under one leaf: fabric's spine figure is the worst case
            assert tier_bw["spine"] * (1 - 1e-9) <= got <= tier_bw["leaf"] * (1 + 1e-9), kind
        checked += 1
    assert checked >= 2


def test_group_bandwidth_rejects_bad_ranks():
    cluster = build_cluster(NetworkParams(nodes=2))
    with pytest.raises(ScenarioError):
        cluster.group_bandwidth([0, 16])
    with pytest.raises(ScenarioError):
        cluster.group_bandwidth([0, 1, 0])


# ---------------------------------------------------------------------------------------------- degrade
def test_degrade_half_the_spines_halves_the_spine_tier():
    full = build_cluster(NetworkParams(nodes=64))
    spines = full.spines()
    assert len(spines) == 128
    half = full.degrade(spines[: len(spines) // 2])
    f0, f1 = full.fabric(), half.fabric()
    assert f1["spine_bw_bytes_per_s"] == pytest.approx(f0["spine_bw_bytes_per_s"] / 2)
    for key in FABRIC_KEYS:
        if key != "spine_bw_bytes_per_s":
            assert f1[key] == f0[key], key
    assert half.failed_spines == frozenset(range(64))
    assert len(half.spines()) == 64
    assert not any(("spine", s) in half.graph for s in range(64))
    assert ("spine", 0) in full.graph  # the full cluster is untouched
    # the graph check agrees: every GPU sending across leaves now gets the halved figure
    pp = place_groups(512, tp=8, cp=1, dp=16, pp=4)["pp"]
    assert half.groups_bandwidth(pp) == pytest.approx(f1["spine_bw_bytes_per_s"])


def test_degrade_none_and_cumulative_and_all():
    full = build_cluster(NetworkParams(nodes=2048, oversubscription=7.0))
    f0 = full.fabric()
    assert full.degrade([]).fabric() == f0
    one = full.degrade([3])
    assert one.fabric()["spine_bw_bytes_per_s"] == pytest.approx(f0["spine_bw_bytes_per_s"] * 18 / 19)
    two = one.degrade([5])
    assert two.failed_spines == frozenset({3, 5})
    assert two.fabric()["spine_bw_bytes_per_s"] == pytest.approx(f0["spine_bw_bytes_per_s"] * 17 / 19)
    assert full.degrade(range(19)).fabric()["spine_bw_bytes_per_s"] == 0.0
    assert full.degrade(range(19)).fabric()["leaf_bw_bytes_per_s"] == f0["leaf_bw_bytes_per_s"]


def test_degrade_rejects_unknown_spines():
    cluster = build_cluster(NetworkParams(nodes=32))
    with pytest.raises(ScenarioError):
        cluster.degrade([128])
    with pytest.raises(ScenarioError):
        build_cluster(NetworkParams(nodes=1)).degrade([0])


def test_nodes_under_leaf():
    cluster = build_cluster(NetworkParams(nodes=20))
    assert cluster.nodes_under_leaf(0) == list(range(16))
    assert cluster.nodes_under_leaf(1) == [16, 17, 18, 19]
    rail = build_cluster(NetworkParams(nodes=20, topology="rail-optimized"))
    assert rail.nodes_under_leaf(9) == [16, 17, 18, 19]  # group 1, rail 1


# ---------------------------------------------------------------------------------------------- params
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(nodes=0),
        dict(nodes=4, oversubscription=0.5),
        dict(nodes=4, topology="torus"),
        dict(nodes=4, nics_per_node=3),
        dict(nodes=4, topology="nvl72"),  # an 8-GPU domain is not an NVL72 rack
        dict(nodes=4, scaleup_domain_gpus=16),  # NVLink across nodes needs nvl72
        dict(nodes=4, spine_switches=0),
        dict(nodes=4, nic_gbit_per_s=-1.0),
    ],
)
def test_network_params_validation(kwargs):
    with pytest.raises(ScenarioError):
        NetworkParams(**kwargs)


def test_default_spine_switches():
    assert default_spine_switches(NetworkParams(nodes=64)) == 128
    assert default_spine_switches(NetworkParams(nodes=64, oversubscription=7.0)) == 19  # ceil(128 / 7)
    assert default_spine_switches(NetworkParams(nodes=64, topology="rail-optimized")) == 16
    assert default_spine_switches(NetworkParams(nodes=64, spine_switches=4)) == 4


# ---------------------------------------------------------------------------------------------- placement
@pytest.mark.parametrize(
    "gpus, layout",
    [
        (64, dict(tp=8, cp=1, dp=4, pp=2)),
        (64, dict(tp=2, cp=2, dp=8, pp=2, ep=4)),
        (96, dict(tp=4, cp=1, dp=6, pp=4, ep=3, order="tp-cp-ep-dp-pp")),
        (64, dict(tp=8, cp=1, dp=4, pp=2, order="tp-cp-pp-dp")),
        (64, dict(tp=8, cp=1, dp=4, pp=2, order="tp-pp-dp")),
    ],
)
def test_place_groups_partitions(gpus, layout):
    groups = place_groups(gpus, **layout)
    sizes = {"tp": layout["tp"], "cp": layout["cp"], "ep": layout.get("ep", 1), "dp": layout["dp"],
             "pp": layout["pp"]}
    for kind, size in sizes.items():
        flat = sorted(r for g in groups[kind] for r in g)
        assert flat == list(range(gpus)), kind
        assert all(len(g) == size for g in groups[kind]), kind
    for g in groups["tp"]:
        assert g == list(range(g[0], g[0] + layout["tp"]))
    dp_of = {r: i for i, g in enumerate(groups["dp"]) for r in g}
    for g in groups["ep"]:
        assert len({dp_of[r] for r in g}) == 1  # expert parallelism is carved out of data parallelism


def test_place_groups_strides():
    g = place_groups(64, tp=2, cp=2, dp=4, pp=4)
    assert g["cp"][0] == [0, 2]
    assert g["dp"][0] == [0, 4, 8, 12]
    assert g["pp"][0] == [0, 16, 32, 48]
    h = place_groups(64, tp=2, cp=2, dp=4, pp=4, order="tp-cp-pp-dp")
    assert h["pp"][0] == [0, 4, 8, 12]
    assert h["dp"][0] == [0, 16, 32, 48]


def test_place_groups_errors():
    with pytest.raises(InfeasibleError):
        place_groups(64, tp=8, cp=1, dp=4, pp=4)
    with pytest.raises(InfeasibleError):
        place_groups(64, tp=8, cp=1, dp=4, pp=2, ep=3)
    with pytest.raises(ScenarioError):
        place_groups(64, tp=8, cp=1, dp=4, pp=2, order="tp-dp")
    with pytest.raises(ScenarioError):
        place_groups(64, tp=8, cp=1, dp=4, pp=2, order="tp-xx-dp-pp")
    with pytest.raises(ScenarioError):
        place_groups(64, tp=0, cp=1, dp=4, pp=2)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2]), st.sampled_from([1, 2, 3, 4, 6]),
    st.sampled_from([1, 2, 4]), st.sampled_from([1, 2, 3]),
    st.permutations(["tp", "cp", "ep", "dp", "pp"]),
)
def test_place_groups_property(tp, cp, dp, pp, ep, perm):
    assume(dp % ep == 0)
    gpus = tp * cp * dp * pp
    groups = place_groups(gpus, tp, cp, dp, pp, ep=ep, order="-".join(perm))
    members = {kind: [set(g) for g in gs] for kind, gs in groups.items()}
    for kind, sets in members.items():
        assert sum(len(s) for s in sets) == gpus and set().union(*sets) == set(range(gpus)), kind
    # a TP group and a DP group share exactly one rank (orthogonal dimensions)
    for t in members["tp"][:3]:
        for d in members["dp"][:3]:
            assert len(t & d) <= 1


def test_parallel_bandwidth_per_kind():
    cluster = build_cluster(NetworkParams(nodes=32, oversubscription=4.0))
    got = cluster.parallel_bandwidth(tp=8, cp=1, dp=16, pp=2)
    assert got["tp"] == 450e9
    assert got["dp"] == pytest.approx(NIC_400G_BYTES_PER_S)  # 16 nodes: one leaf
    assert got["pp"] == pytest.approx(NIC_400G_BYTES_PER_S / 4.0)  # every PP hop leaves its leaf
    assert got["cp"] == got["ep"] == math.inf  # groups of one rank do not communicate
