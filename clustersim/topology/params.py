"""The network a cluster is built from: :class:`NetworkParams` (frozen, hashable, validated).

Defaults and their sources
--------------------------
* ``nic_gbit_per_s = 400`` and ``nics_per_node = 8``: reference.md C.2 (Llama 3 §3.3.1: 400 Gb/s per
  GPU on both RoCE and InfiniBand) and C.1 (DGX H100: 8x 400 Gb/s ConnectX-7 = 400 GB/s per node).
* ``scaleup_bw_bytes_per_s = 450e9``: reference.md C.1, NVLink4 18 links x 25 GB/s per direction. The
  real figure comes from the GPU catalog (``scaleup_gbyte_per_s``) and is passed in by the caller.
* ``scaleup_domain_gpus = 8``: one 8-GPU HGX/DGX node on NVSwitch (reference.md C.1); 72 for a GB200
  NVL72 rack (18 compute trays x 4 GPUs, reference.md C.1 "72-GPU NVLink domain").
* ``scaleup_latency_s = 3.4e-6`` and ``scaleout_latency_s = 9.6e-6``: NCCL's own per-step hardware
  latency model, ``src/graph/tuning.cc`` table ``hwLat`` (NVIDIA/nccl, 2.7-era), Ring algorithm with the
  Simple protocol (the protocol NCCL picks for the large messages of training): 3.4 us per step over
  NVLink and 9.6 us per step over the network (the LL protocol's figures are 0.47 and 2.7 us). These
  are the alpha of the alpha-beta model, per ring step (reference.md D.6).
* ``nodes_per_leaf = 16``: the scenario format's default (SCENARIO.md). A "leaf" is the tier below
  which bandwidth is full; to model Llama 3's 3,072-GPU full-bisection pods with 1:7 above them
  (reference.md C.2) use ``nodes_per_leaf=384, oversubscription=7``.
* ``spine_switches = None``: one full-rate uplink port per spine switch, i.e. as many spines as a leaf
  has uplink ports: ``ceil(downlink ports of one leaf switch / oversubscription)``. This is the
  two-tier folded Clos of Al-Fares et al. 2008 (§3, every edge switch has one link to each switch of the
  tier above); see :func:`default_spine_switches`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.units import gbit_per_s_to_bytes_per_s

__all__ = ["NetworkParams", "TOPOLOGIES", "default_spine_switches", "leaf_downlink_ports"]

TOPOLOGIES = ("fat-tree", "rail-optimized", "nvl72")

# reference.md C.1: NVLink4 = 18 links x 25 GB/s per direction.
_NVLINK4_BYTES_PER_S = 450e9
# NVIDIA/nccl src/graph/tuning.cc, hwLat[NVLINK][Ring][Simple] and hwLat[NET][Ring][Simple], in us.
_NCCL_NVLINK_RING_SIMPLE_LATENCY_S = 3.4e-6
_NCCL_NET_RING_SIMPLE_LATENCY_S = 9.6e-6


@dataclass(frozen=True)
class NetworkParams:
    """Everything :func:`clustersim.topology.build_cluster` needs; SI units (bytes/s, seconds).

    ``oversubscription`` is the ratio of a leaf's downlink to its uplink capacity (7.0 means 1:7), as in
    Al-Fares et al. 2008 §2.1. ``spine_switches=None`` picks :func:`default_spine_switches`.
    """

    nodes: int
    gpus_per_node: int = 8
    topology: str = "fat-tree"
    nic_gbit_per_s: float = 400.0
    nics_per_node: int = 8
    oversubscription: float = 1.0
    nodes_per_leaf: int = 16
    scaleup_bw_bytes_per_s: float = _NVLINK4_BYTES_PER_S
    scaleup_domain_gpus: int = 8
    scaleup_latency_s: float = _NCCL_NVLINK_RING_SIMPLE_LATENCY_S
    scaleout_latency_s: float = _NCCL_NET_RING_SIMPLE_LATENCY_S
    spine_switches: int | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ScenarioError(problems)

    # ------------------------------------------------------------------ derived figures
    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def nic_bytes_per_s(self) -> float:
        """One NIC's line rate in bytes/s (Gbit/s are 1e9 bits, clustersim.units)."""
        return gbit_per_s_to_bytes_per_s(self.nic_gbit_per_s)

    @property
    def leaf_groups(self) -> int:
        """Groups of ``nodes_per_leaf`` nodes; the last one may be partly populated."""
        return math.ceil(self.nodes / self.nodes_per_leaf)

    @property
    def rail_optimized(self) -> bool:
        return self.topology == "rail-optimized"


def leaf_downlink_ports(params: NetworkParams) -> int:
    """NIC ports below one (fully populated) leaf switch.

    fat-tree / nvl72: every NIC of the leaf group's nodes; rail-optimized: one NIC per node (the rail's).
    """
    if params.rail_optimized:
        return params.nodes_per_leaf
    return params.nodes_per_leaf * params.nics_per_node


def default_spine_switches(params: NetworkParams) -> int:
    """Spine count when none is given: one line-rate uplink port per spine.

    A leaf switch with ``P`` downlink ports and oversubscription ``o`` needs ``P / o`` uplink ports of
    the same line rate (Al-Fares et al. 2008 §2.1: 1:1 means every host can use its full NIC rate,
    o:1 means 1/o of it under the worst traffic pattern). In a two-tier folded Clos every leaf has one
    link to every spine (Al-Fares et al. 2008 §3; Leiserson 1985 for the fat tree whose channel
    capacity is chosen per level), so the spine count is ``ceil(P / o)``. A spine here is a logical
    switch of whatever radix that needs; only the uplink capacity and the share one spine carries
    (what one spine failure removes) matter to the model.
    """
    if params.spine_switches is not None:
        return params.spine_switches
    return max(1, math.ceil(leaf_downlink_ports(params) / params.oversubscription))


def _problems(p: NetworkParams) -> list[ErrorItem]:
    out: list[ErrorItem] = []

    def bad(field: str, msg: str, given: object, expected: str, hint: str | None = None) -> None:
        out.append(ErrorItem(msg, path=f"network.{field}", given=repr(given), expected=expected, hint=hint))

    for name in ("nodes", "gpus_per_node", "nics_per_node", "nodes_per_leaf", "scaleup_domain_gpus"):
        value = getattr(p, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            bad(name, "must be a positive integer", value, "an integer >= 1")
    for name in ("nic_gbit_per_s", "scaleup_bw_bytes_per_s"):
        value = getattr(p, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            bad(name, "must be a positive finite number", value, "> 0")
    for name in ("scaleup_latency_s", "scaleout_latency_s"):
        value = getattr(p, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            bad(name, "must be a non-negative finite number", value, ">= 0")
    o = p.oversubscription
    if not isinstance(o, (int, float)) or not math.isfinite(o) or o < 1.0:
        bad("oversubscription", "must be >= 1 (7.0 means 1:7)", o, ">= 1.0")
    if p.spine_switches is not None and (
        isinstance(p.spine_switches, bool) or not isinstance(p.spine_switches, int) or p.spine_switches < 1
    ):
        bad("spine_switches", "must be a positive integer or None", p.spine_switches, "an integer >= 1 or None")
    if p.topology not in TOPOLOGIES:
        bad("topology", "unknown topology", p.topology, " | ".join(TOPOLOGIES))
    if out:
        return out
    g, n, d = p.gpus_per_node, p.nics_per_node, p.scaleup_domain_gpus
    if n % g and g % n:
        bad("nics_per_node", "NICs per node and GPUs per node must divide one another", n,
            f"a divisor or multiple of gpus_per_node={g}")
    if p.topology == "nvl72":
        if d <= g or d % g:
            bad("scaleup_domain_gpus", "an nvl72 scale-up domain spans several whole nodes", d,
                f"a multiple of gpus_per_node={g} larger than it",
                hint="GB200 NVL72: scaleup_domain_gpus=72, gpus_per_node=4 (reference.md C.1)")
    elif d > g:
        bad("scaleup_domain_gpus", f"a {p.topology} scale-up domain cannot span nodes", d,
            f"at most gpus_per_node={g}", hint="multi-node NVLink domains need topology 'nvl72'")
    elif g % d:
        bad("scaleup_domain_gpus", "scale-up domains must tile a node", d, f"a divisor of gpus_per_node={g}")
    return out
