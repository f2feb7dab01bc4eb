"""The per-tier figures of :meth:`Cluster.fabric` in closed form, for the standard topologies.

For the graphs :func:`clustersim.topology.graph.build_graph` builds (fat-tree, rail-optimized, nvl72),
the bottleneck rule of :mod:`clustersim.topology.fabric` (Leiserson 1985; Al-Fares et al. 2008 §2.1)
reduces to a few products, so an estimate needs no graph (building one for 16,384 GPUs takes about a
second). Derivation, with ``g`` GPUs and ``n`` NICs per node, NIC line rate ``b``, ``m`` nodes per leaf
group, oversubscription ``o``:

* scale-up: every GPU-NVSwitch edge carries ``scaleup_bw_bytes_per_s``; the largest NVSwitch has
  ``min(scaleup_domain_gpus, gpus)`` GPUs (a partly built NVL72 rack has fewer).
* leaf: a GPU's egress is the sum over its NICs of min(b, b / GPUs sharing the NIC). With ``n >= g``
  each GPU owns ``n/g`` NICs: ``(n/g) b``; with ``n < g``, ``g/n`` GPUs share one NIC: ``b / (g/n)``.
  Both are ``n b / g``. All NICs of a node sit in the node's leaf group, so ``leaf_gpus = min(m, nodes) g``.
* spine (more than one leaf group): a leaf's uplink is its designed downlink ``P b`` over ``o``, split
  over the spines (their number does not change the sum); the GPUs below it count ``P b / (n b / g)``
  (a fat-tree leaf has ``P = m n`` ports and ``m g`` GPUs; a rail switch has ``P = m`` ports and
  ``m g / n`` GPU-shares), so every fully populated leaf gives ``(n b / g) / o`` per GPU and a partly
  populated last group gives more. With ``o >= 1`` the spine tier is ``leaf / o``; one leaf group has no
  spine and the tier equals the leaf tier.

* degraded (``k`` of the ``S`` spines failed, :func:`degraded_fabric`): every leaf has one link to every
  spine (Al-Fares et al. 2008 §3), so each leaf loses ``k`` of its ``S`` equal links whichever spines
  fail; its uplink is ``(S - k)`` links, and the spine tier is ``min(leaf, (S - k) link / below)``
  (0 with every spine down). Scale-up and leaf tiers do not change.

The code replays the graph's floating-point sums (:func:`_repeat_sum`), so the figures equal the graph's
to the bit for every cluster whose graph can be built (sums of up to :data:`EXACT_REPLAY` terms; above
that, a product, within a few ulps). tests/test_topology.py holds them equal to the graph's figures on a
grid of clusters (every topology, NIC ratios, oversubscriptions, spine counts, partial groups, failed
spines). Only exact group bandwidths (:meth:`Cluster.groups_bandwidth`) and the leaf-to-node map
need the graph.
"""

from __future__ import annotations

from functools import lru_cache

from clustersim.topology.graph import MAX_GRAPH_ELEMENTS
from clustersim.topology.params import TOPOLOGIES, NetworkParams, default_spine_switches, leaf_downlink_ports

__all__ = ["FABRIC_KEYS", "standard_fabric", "degraded_fabric", "spine_count", "EXACT_REPLAY"]

#: Sums of more terms than this are computed as a product (time bounded at 10^6 nodes: a sum of 1.5M
#: terms takes ~0.1 s, once per network); every sum of a graph that can be built has fewer terms (each
#: term is a node or a link of it, and clustersim.topology.graph refuses more than this many).
EXACT_REPLAY = MAX_GRAPH_ELEMENTS

# The keys of Cluster.fabric(), exactly the keyword arguments the cost kernel takes for the network.
FABRIC_KEYS = (
    "scaleup_gpus",
    "scaleup_bw_bytes_per_s",
    "scaleup_latency_s",
    "leaf_gpus",
    "leaf_bw_bytes_per_s",
    "spine_bw_bytes_per_s",
    "scaleout_latency_s",
    "gpus_per_node",
)


def spine_count(params: NetworkParams) -> int:
    """Spine switches of the healthy cluster: none for one leaf group, else the configured count."""
    return default_spine_switches(params) if params.leaf_groups > 1 else 0


def _repeat_sum(x: float, count: int) -> float:
    """``x + x + ... + x`` (``count`` terms) as the graph's sums compute it, term by term from 0 (so the
    closed form equals the graph's figure to the bit); above :data:`EXACT_REPLAY` terms, ``count * x``."""
    if count > EXACT_REPLAY:
        return float(count * x)
    total = 0.0  # sum() starts at int 0; 0 + x and 0.0 + x are both exactly x
    for _ in range(count):
        total += x
    return total


@lru_cache(maxsize=4096)
def _tiers(params: NetworkParams, failed_spines: int = 0) -> tuple[float, float]:
    """(leaf, spine) per GPU with ``failed_spines`` of the spines down, with the graph's own floating-point
    operations in the graph's order (the sums of :mod:`clustersim.topology.fabric` repeat one value, so
    they are exact replays), so that the closed form equals the graph's figures to the bit, not only to
    rounding."""
    p = params
    b = p.nic_bytes_per_s
    g, n = p.gpus_per_node, p.nics_per_node
    nics_per_gpu = n // g if n >= g else 1
    # egress: sum over the GPU's NICs of min(b, b / GPUs on the NIC)
    leaf_bw = _repeat_sum(min(b, b / (1 if n >= g else g // n)), nics_per_gpu)
    if p.leaf_groups <= 1:
        return leaf_bw, leaf_bw
    spines = default_spine_switches(p)
    link = leaf_downlink_ports(p) * b / p.oversubscription / spines
    uplink = _repeat_sum(link, spines - failed_spines)  # leaf_uplink_bytes_per_s: the surviving links
    # GPUs below one full leaf: each GPU-NIC incidence on it adds 1 / (NICs of that GPU)
    incidences = p.nodes_per_leaf * (n if n >= g else g) if p.rail_optimized else p.nodes_per_leaf * g * nics_per_gpu
    if p.rail_optimized:
        incidences //= n  # one rail of the n: its NIC's owner (n >= g) or sharers (n < g) on each node
    below = _repeat_sum(1.0 / nics_per_gpu, incidences)
    return leaf_bw, min(leaf_bw, uplink / below)


def standard_fabric(params: NetworkParams) -> dict[str, float]:
    """:meth:`Cluster.fabric` of the undegraded cluster of ``params``, without building its graph.

    Keys and units as :data:`FABRIC_KEYS` (bytes/s per GPU per direction, seconds); derivation in the
    module docstring.
    """
    return degraded_fabric(params, 0)


def degraded_fabric(params: NetworkParams, failed_spines: int) -> dict[str, float]:
    """:meth:`Cluster.fabric` of the cluster of ``params`` with ``failed_spines`` spine switches down
    (which ones does not matter: every leaf links to every spine), without building its graph.

    ``failed_spines`` is clipped to ``0 .. spine_count(params)``; derivation in the module docstring.
    """
    if params.topology not in TOPOLOGIES:  # pragma: no cover - NetworkParams refuses other names
        raise ValueError(f"no closed form for topology {params.topology!r}")
    p = params
    failed = min(max(0, int(failed_spines)), spine_count(p))
    leaf_bw, spine_bw = _tiers(p, failed)
    return {
        "scaleup_gpus": float(min(p.scaleup_domain_gpus, p.gpus)),
        "scaleup_bw_bytes_per_s": float(p.scaleup_bw_bytes_per_s),
        "scaleup_latency_s": float(p.scaleup_latency_s),
        "leaf_gpus": float(min(p.nodes_per_leaf, p.nodes) * p.gpus_per_node),
        "leaf_bw_bytes_per_s": float(leaf_bw),
        "spine_bw_bytes_per_s": float(spine_bw),
        "scaleout_latency_s": float(p.scaleout_latency_s),
        "gpus_per_node": float(p.gpus_per_node),
    }
