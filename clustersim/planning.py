"""From a Scenario's cluster section to the network: its parameters, the cluster graph, the fabric tiers.

The one place that reads ``cluster.network`` with the GPU catalog's defaults; :mod:`clustersim.resolve`
calls it once per run. The healthy fabric of the standard topologies is computed in closed form
(:func:`clustersim.topology.standard_fabric`), and so is a fabric with failed spines
(:func:`clustersim.topology.degraded_fabric`), both held equal to the graph's by tests/test_topology.py,
so neither an estimate nor a simulation builds a graph, at any size up to 10^6 nodes; the networkx graph
is built, once per network (cached), only for exact group bandwidths and the leaf-to-node map (and
refused above clustersim.topology.graph.MAX_GRAPH_ELEMENTS).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from clustersim import units
from clustersim.scenario.model import Scenario, gpus_per_node_of
from clustersim.topology import TOPOLOGIES, Cluster, NetworkParams, build_cluster, degraded_fabric

__all__ = ["network_params", "cluster_for", "fabric_for", "cluster_of", "fabric_of"]


def network_params(s: Scenario, gpu: Mapping[str, Any] | None = None) -> NetworkParams:
    """The network as the scenario gives it, with the GPU catalog's defaults for what it omits."""
    gpu = gpu if gpu is not None else s.gpu()
    net = s.cluster.network
    per_node = gpus_per_node_of(s.cluster.gpus_per_node, gpu)
    domain = int(gpu.get("scaleup_domain_gpus") or per_node)
    topology = net.topology or ("nvl72" if domain > per_node else "fat-tree")
    if topology != "nvl72":
        domain = min(domain, per_node)  # an NVLink domain beyond one node needs the nvl72 topology
    return NetworkParams(
        nodes=s.cluster.nodes,
        gpus_per_node=per_node,
        topology=topology,
        nic_gbit_per_s=float(net.nic_gbit_per_s or gpu.get("nic_gbit_per_s") or 400.0),
        nics_per_node=int(net.nics_per_node or gpu.get("nics_per_node") or per_node),
        oversubscription=net.oversubscription,
        nodes_per_leaf=net.nodes_per_leaf,
        scaleup_bw_bytes_per_s=float(gpu["scaleup_gbyte_per_s"]) * units.GB,
        scaleup_domain_gpus=domain,
        spine_switches=net.spine_switches,
    )


@lru_cache(maxsize=64)
def cluster_for(params: NetworkParams) -> Cluster:
    """The cluster of a network (cached; its graph is built on first use, see :class:`Cluster`)."""
    return build_cluster(params)


def fabric_for(params: NetworkParams, failed_spines: int = 0) -> dict[str, float]:
    """Per-tier bandwidths and latencies of the network (optionally with spines removed).

    The standard topologies (healthy or with spines down): the closed form; any other: the (cached)
    cluster graph.
    """
    if params.topology in TOPOLOGIES:
        return degraded_fabric(params, failed_spines)
    cluster = cluster_for(params)  # pragma: no cover - NetworkParams accepts only the standard topologies
    if failed_spines:
        spines = cluster.spines()
        cluster = cluster.degrade(spines[: min(failed_spines, len(spines))])
    return dict(cluster.fabric())


def cluster_of(s: Scenario) -> Cluster:
    """The cluster graph of a scenario (reports that draw it; runs use their resolved network)."""
    return cluster_for(network_params(s))


def fabric_of(s: Scenario, failed_spines: int = 0) -> dict[str, float]:
    """The fabric tiers of a scenario's network (see :func:`fabric_for`)."""
    return fabric_for(network_params(s), failed_spines)
