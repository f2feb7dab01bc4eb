"""Per-tier bandwidth per GPU, computed from the graph's edge capacities by the bottleneck rule.

The rule (Leiserson 1985, "Fat-trees", IEEE Trans. Computers C-34(10): the bandwidth a processor gets at
a level of a fat tree is the capacity of the channel above its subtree divided by the processors in that
subtree; Al-Fares, Loukissas and Vahdat 2008, "A Scalable, Commodity Data Center Network
Architecture", SIGCOMM, §2.1 for oversubscription as the ratio of that share to the host's line rate): for each tier, take every cut that GPUs' traffic must cross to leave that tier, divide its
capacity (per direction) by the GPUs whose traffic shares it, and keep the minimum over cuts and over
the tiers below (a flow also crosses every lower tier's cut):

* scale-up: the GPU's own edge to its NVSwitch (the switch is non-blocking); ``scaleup_gpus`` is the
  largest number of GPUs on one NVSwitch.
* leaf: per GPU, the sum over its NICs of min(GPU-NIC capacity, NIC-leaf capacity / GPUs sharing that
  NIC). With 8x 400 Gb/s NICs per 8-GPU node this is 50 GB/s per GPU, the 400 GB/s per node of
  reference.md C.2 / D.6 ("cross-node on a fat tree: T = bytes / W_node_egress"). ``leaf_gpus`` is the
  largest number of GPUs in one leaf group (the GPUs that reach one another without a spine).
* spine: per leaf switch, the sum of its surviving leaf-spine edges divided by the GPUs below it (a
  GPU with k NICs counts 1/k on each NIC's switch); min with the leaf tier. One leaf group: no spine,
  the spine tier is the leaf tier. All spines failed: 0.

These figures are the bus bandwidth ``B`` of the alpha-beta collective model (reference.md D.6,
nccl-tests ``doc/PERFORMANCE.md``: t = S/B * 2(n-1)/n for a ring all-reduce). The spine figure is the
worst case in which every GPU under a leaf sends across the cut at once (the uniform / scattered
traffic a 1:o oversubscription is defined by); a ring whose neighbours mostly share a leaf gets more,
which :meth:`clustersim.topology.Cluster.groups_bandwidth` measures exactly.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clustersim.topology.graph import CAPACITY

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["LowerTiers", "lower_tiers", "spine_tier", "leaf_uplink_bytes_per_s"]


@dataclass(frozen=True)
class LowerTiers:
    """Scale-up and leaf tiers (spine failures never change them), and what the spine rule needs."""

    scaleup_gpus: int
    scaleup_bw_bytes_per_s: float
    leaf_gpus: int
    leaf_bw_bytes_per_s: float
    leaf_groups: int
    gpus_below_leaf: dict[Hashable, float] = field(repr=False)


def lower_tiers(graph: nx.Graph) -> LowerTiers:
    """Scale-up and leaf tier figures of ``graph`` by the bottleneck rule (module docstring)."""
    adj = graph.adj
    kind: dict[Hashable, str] = dict(graph.nodes(data="kind"))
    by_kind: dict[str, list[Hashable]] = {"gpu": [], "nvswitch": [], "nic": [], "leaf": [], "spine": []}
    for node, k in kind.items():
        by_kind.setdefault(k, []).append(node)

    scaleup_gpus = 0
    scaleup_bw = float("inf")
    for sw in by_kind["nvswitch"]:
        nbrs = adj[sw]
        scaleup_gpus = max(scaleup_gpus, len(nbrs))
        for attrs in nbrs.values():
            scaleup_bw = min(scaleup_bw, attrs[CAPACITY])

    # NIC -> (GPUs sharing it, its leaf, NIC-leaf capacity)
    nic_gpus: dict[Hashable, list[Hashable]] = {}
    nic_leaf: dict[Hashable, tuple[Hashable, float]] = {}
    for nic in by_kind["nic"]:
        gpus = []
        for nbr, attrs in adj[nic].items():
            nk = kind[nbr]
            if nk == "gpu":
                gpus.append(nbr)
            elif nk == "leaf":
                nic_leaf[nic] = (nbr, attrs[CAPACITY])
        nic_gpus[nic] = gpus

    leaf_group = {leaf: graph.nodes[leaf]["group"] for leaf in by_kind["leaf"]}
    leaf_bw = float("inf")
    gpus_below: dict[Hashable, float] = {leaf: 0.0 for leaf in by_kind["leaf"]}
    group_gpus: dict[int, int] = {}
    for gpu in by_kind["gpu"]:
        nics = [(nbr, attrs[CAPACITY]) for nbr, attrs in adj[gpu].items() if kind[nbr] == "nic"]
        egress = 0.0
        groups = set()
        for nic, cap in nics:
            leaf, leaf_cap = nic_leaf[nic]
            egress += min(cap, leaf_cap / len(nic_gpus[nic]))
            gpus_below[leaf] += 1.0 / len(nics)
            groups.add(leaf_group[leaf])
        leaf_bw = min(leaf_bw, egress)
        for grp in groups:
            group_gpus[grp] = group_gpus.get(grp, 0) + 1

    if not by_kind["nic"]:  # no scale-out at all: the leaf tier cannot be slower than what exists
        leaf_bw = scaleup_bw
    return LowerTiers(
        scaleup_gpus=scaleup_gpus,
        scaleup_bw_bytes_per_s=scaleup_bw,
        leaf_gpus=max(group_gpus.values(), default=scaleup_gpus),
        leaf_bw_bytes_per_s=leaf_bw,
        leaf_groups=len(group_gpus),
        gpus_below_leaf=gpus_below,
    )


def leaf_uplink_bytes_per_s(graph: nx.Graph, leaf: Hashable) -> float:
    """Sum of the surviving leaf-spine edge capacities of one leaf switch (per direction)."""
    nodes = graph.nodes
    return float(sum(attrs[CAPACITY] for nbr, attrs in graph.adj[leaf].items() if nodes[nbr]["kind"] == "spine"))


def spine_tier(graph: nx.Graph, lower: LowerTiers) -> float:
    """Spine tier per GPU of ``graph`` (possibly degraded) by the bottleneck rule (module docstring)."""
    if lower.leaf_groups <= 1:
        return lower.leaf_bw_bytes_per_s
    best = lower.leaf_bw_bytes_per_s
    for leaf, below in lower.gpus_below_leaf.items():
        if below > 0:
            best = min(best, leaf_uplink_bytes_per_s(graph, leaf) / below)
    return best
