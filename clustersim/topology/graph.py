"""The cluster as a networkx graph: GPUs, NVSwitches, NICs, leaf (or rail) switches and spines.

Node keys and attributes (``kind`` is always set):

* ``("gpu", r)``: kind ``gpu``; ``rank`` (global GPU index r), ``node``, ``local`` (index in the node),
  ``domain`` (scale-up domain).
* ``("nvswitch", d)``: kind ``nvswitch``; ``index``. One logical, non-blocking switch per scale-up domain
  (an 8-GPU node, or an NVL72 rack whose 18 NVSwitch chips act as one 72-port crossbar, reference.md C.1).
* ``("nic", node, k)``: kind ``nic``; ``node``, ``index`` (k in the node), ``rail`` (= k).
* ``("leaf", l)``: kind ``leaf``; ``index``, ``group`` (the leaf group of ``nodes_per_leaf`` nodes),
  ``rail`` (the rail of a rail-optimized switch, None in a fat tree).
* ``("spine", s)``: kind ``spine``; ``index``.

Every edge carries ``capacity_bytes_per_s``, the capacity of the link in EACH direction:

* GPU - NVSwitch: the GPU's scale-up bandwidth per direction (reference.md C.1: NVLink4 450 GB/s).
* GPU - NIC: the NIC's line rate. The host path (PCIe) is not modelled; giving the edge the NIC's rate
  means it never binds before the NIC does, and a NIC shared by several GPUs is the NIC - leaf edge.
* NIC - leaf: the NIC's line rate (reference.md C.2: 400 Gb/s per GPU on 8x H100 nodes).
* leaf - spine: a leaf's uplink capacity, (designed downlink capacity) / oversubscription, spread evenly
  over the spines (Al-Fares et al. 2008 §2.1 for oversubscription; Leiserson 1985 for the fat tree).

Topologies: ``fat-tree`` and ``nvl72`` put every NIC of a leaf group's nodes on one leaf switch;
``rail-optimized`` gives each leaf group one switch per NIC index ("rail"), NIC k of every node of the
group on rail switch k, so same-rail traffic is one switch hop (NVIDIA DGX SuperPOD reference
architecture). A single leaf group needs no spine; ``spine_bw`` then equals the leaf tier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.topology.params import NetworkParams, default_spine_switches, leaf_downlink_ports

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["CAPACITY", "build_graph", "gpu_key", "nvswitch_key", "nic_key", "leaf_key", "spine_key",
           "gpu_nic_indices", "graph_elements", "MAX_GRAPH_ELEMENTS"]

CAPACITY = "capacity_bytes_per_s"
#: The largest graph built, in nodes plus edges: networkx keeps ~600 bytes per element (measured on a
#: 4,096-node cluster), so this bounds a graph near 900 MB; about 35,000 8-GPU nodes at 1:1. Larger
#: clusters are estimated and simulated without a graph (clustersim.topology.closed_form); only exact
#: group bandwidths and the leaf-to-node map need one, and are refused above this size.
MAX_GRAPH_ELEMENTS = 1_500_000


def gpu_key(rank: int) -> tuple[str, int]:
    return ("gpu", rank)


def nvswitch_key(domain: int) -> tuple[str, int]:
    return ("nvswitch", domain)


def nic_key(node: int, k: int) -> tuple[str, int, int]:
    return ("nic", node, k)


def leaf_key(leaf: int) -> tuple[str, int]:
    return ("leaf", leaf)


def spine_key(spine: int) -> tuple[str, int]:
    return ("spine", spine)


def gpu_nic_indices(params: NetworkParams, local: int) -> range:
    """Indices (within the node) of the NICs GPU ``local`` uses.

    More NICs than GPUs: each GPU owns ``nics/gpus`` consecutive NICs. Fewer: ``gpus/nics`` consecutive
    GPUs share one NIC (the divisibility is checked by :class:`NetworkParams`).
    """
    g, n = params.gpus_per_node, params.nics_per_node
    if n >= g:
        per = n // g
        return range(local * per, (local + 1) * per)
    share = g // n
    return range(local // share, local // share + 1)


def _leaf_of(params: NetworkParams, node: int, nic: int) -> int:
    group = node // params.nodes_per_leaf
    if params.rail_optimized:
        return group * params.nics_per_node + nic
    return group


def graph_elements(params: NetworkParams) -> int:
    """Nodes plus edges of :func:`build_graph`'s graph for ``params``, from the counts alone."""
    p = params
    gpus, nics = p.gpus, p.nodes * p.nics_per_node
    domains = -(-gpus // p.scaleup_domain_gpus)
    gpu_nic_edges = gpus * max(1, p.nics_per_node // p.gpus_per_node)
    leaves = p.leaf_groups * (p.nics_per_node if p.rail_optimized else 1)
    spines = default_spine_switches(p) if p.leaf_groups > 1 else 0
    return gpus + domains + nics + leaves + spines + gpus + gpu_nic_edges + nics + leaves * spines


def build_graph(params: NetworkParams) -> nx.Graph:
    """The full (undegraded) cluster graph for ``params``. Linear in the GPU count; refused (ScenarioError)
    above :data:`MAX_GRAPH_ELEMENTS` nodes plus edges."""
    elements = graph_elements(params)
    if elements > MAX_GRAPH_ELEMENTS:
        raise ScenarioError([ErrorItem(
            f"the cluster graph of {params.nodes:,} nodes would have {elements:,} nodes and links (~"
            f"{elements * 600 / 2**30:.1f} GiB)", path="cluster.nodes",
            expected=f"at most {MAX_GRAPH_ELEMENTS:,} for the graph that exact group bandwidths need",
            hint="estimates, searches and simulations of any size use the closed-form fabric, without a graph")])
    import networkx as nx  # only here: estimates of the standard topologies need no graph

    p = params
    g = nx.Graph(topology=p.topology)
    gpn, npn, dom = p.gpus_per_node, p.nics_per_node, p.scaleup_domain_gpus
    n_gpus = p.gpus
    n_domains = -(-n_gpus // dom)
    nic_bw = p.nic_bytes_per_s
    up_bw = {CAPACITY: p.scaleup_bw_bytes_per_s}
    nic_cap = {CAPACITY: nic_bw}

    g.add_nodes_from(
        (gpu_key(r), {"kind": "gpu", "rank": r, "node": r // gpn, "local": r % gpn, "domain": r // dom})
        for r in range(n_gpus)
    )
    g.add_nodes_from((nvswitch_key(d), {"kind": "nvswitch", "index": d}) for d in range(n_domains))
    g.add_edges_from((gpu_key(r), nvswitch_key(r // dom), dict(up_bw)) for r in range(n_gpus))

    g.add_nodes_from(
        (nic_key(n, k), {"kind": "nic", "node": n, "index": k, "rail": k})
        for n in range(p.nodes) for k in range(npn)
    )
    nics_of_local = [gpu_nic_indices(p, i) for i in range(gpn)]
    g.add_edges_from(
        (gpu_key(r), nic_key(r // gpn, k), dict(nic_cap))
        for r in range(n_gpus) for k in nics_of_local[r % gpn]
    )

    groups = p.leaf_groups
    rails = npn if p.rail_optimized else 1
    g.add_nodes_from(
        (leaf_key(grp * rails + k), {"kind": "leaf", "index": grp * rails + k, "group": grp,
                                     "rail": k if p.rail_optimized else None})
        for grp in range(groups) for k in range(rails)
    )
    g.add_edges_from(
        (nic_key(n, k), leaf_key(_leaf_of(p, n, k)), dict(nic_cap)) for n in range(p.nodes) for k in range(npn)
    )

    if groups > 1:
        spines = default_spine_switches(p)
        uplink = leaf_downlink_ports(p) * nic_bw / p.oversubscription
        link = {CAPACITY: uplink / spines}
        g.add_nodes_from((spine_key(s), {"kind": "spine", "index": s}) for s in range(spines))
        g.add_edges_from(
            (leaf_key(leaf), spine_key(s), dict(link)) for leaf in range(groups * rails) for s in range(spines)
        )
    g.graph["spines"] = default_spine_switches(p) if groups > 1 else 0
    return g
