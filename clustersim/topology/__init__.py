"""The cluster as a networkx graph, and the bandwidth each parallel group gets from it.

``build_cluster(NetworkParams(...))`` gives a :class:`Cluster` whose ``graph`` has GPUs, one NVSwitch
per scale-up domain, NICs, leaf (or rail) switches and spines, with per-direction capacities on the
edges; ``Cluster.fabric()`` reduces it to the per-tier figures the cost kernel needs (bottleneck per
GPU), ``Cluster.degrade(spines)`` removes failed spines, and ``place_groups`` lays out TP/CP/EP/DP/PP
rank groups whose bandwidth ``Cluster.group_bandwidth`` / ``groups_bandwidth`` measure on the graph.
``standard_fabric(params)`` gives the healthy cluster's ``fabric()`` in closed form, without the graph,
and ``degraded_fabric(params, k)`` that of the cluster with ``k`` spines down (networkx is imported only
when a graph is built; graphs over ``graph.MAX_GRAPH_ELEMENTS`` nodes plus edges are refused).
"""

from __future__ import annotations

from clustersim.topology.closed_form import FABRIC_KEYS, degraded_fabric, spine_count, standard_fabric
from clustersim.topology.cluster import Cluster, build_cluster
from clustersim.topology.params import TOPOLOGIES, NetworkParams, default_spine_switches
from clustersim.topology.placement import DEFAULT_ORDER, GROUP_KINDS, place_groups

__all__ = [
    "NetworkParams",
    "Cluster",
    "build_cluster",
    "place_groups",
    "default_spine_switches",
    "FABRIC_KEYS",
    "standard_fabric",
    "degraded_fabric",
    "spine_count",
    "TOPOLOGIES",
    "GROUP_KINDS",
    "DEFAULT_ORDER",
]
