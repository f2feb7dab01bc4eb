"""Flows of a collective on the graph, and the bottleneck bandwidth each flow gets.

Traffic model: every member of a group sends to the next member of the ring (the ring collectives of
reference.md D.6, nccl-tests ``doc/PERFORMANCE.md``), all groups passed together send concurrently,
and every flow gets the same rate: the minimum over the links it uses of capacity / flows on that
link (per direction). That is the bus bandwidth ``B`` the alpha-beta model divides bytes by.

Routes:

* same scale-up domain: GPU -> NVSwitch -> GPU (NVLink, one switch hop).
* otherwise: GPU -> NIC -> leaf [-> spines -> leaf] -> NIC -> GPU. A GPU with k NICs splits its flow
  evenly over them. Between leaf switches the flow is split over the surviving spines in proportion to
  the link capacities (ECMP / adaptive routing as a fluid; Llama 3 §3.3.1 (reference.md C.2) spreads
  each GPU pair over 16 flows for this reason), so the leaf's uplink acts as one cut whose capacity is
  the sum of its spine links: every spine link of leaf L carries load(L) * c_s / U(L), hence
  capacity / load = U(L) / load(L) on each of them.
* rail-optimized: NCCL's PXN (NCCL 2.12, NVIDIA technical blog "Doubling all2all performance with NVIDIA
  Collective Communication Library 2.12", 2022) first moves the data over NVLink to the GPU of the
  source node whose NIC sits on the destination's rail, so that inter-node traffic stays on one rail
  switch inside a leaf group and only crosses the spines between groups. Where no such GPU shares the
  source's scale-up domain the flow leaves on the source's own NIC and changes rail through the spines.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING

from clustersim.errors import ScenarioError
from clustersim.topology.fabric import leaf_uplink_bytes_per_s
from clustersim.topology.graph import CAPACITY, gpu_key

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Router"]

Edge = tuple[Hashable, Hashable]


class Router:
    """Lookups derived from one (possibly degraded) graph, to route ring flows between GPUs."""

    def __init__(self, graph: nx.Graph, rail_optimized: bool):
        self.graph = graph
        self.rail_optimized = rail_optimized
        kind: dict[Hashable, str] = dict(graph.nodes(data="kind"))
        adj = graph.adj
        self.n_gpus = sum(1 for k in kind.values() if k == "gpu")
        self.switch: dict[Hashable, Hashable] = {}
        self.nics: dict[Hashable, list[Hashable]] = {}
        self.node: dict[Hashable, int] = {}
        self.nic_leaf: dict[Hashable, Hashable] = {}
        self.nic_owner: dict[Hashable, Hashable] = {}
        self.leaf_rail: dict[Hashable, int | None] = {}
        self.uplink: dict[Hashable, float] = {}
        self.node_rail_nic: dict[tuple[int, int | None], Hashable] = {}
        for n, k in kind.items():
            if k == "leaf":
                self.leaf_rail[n] = graph.nodes[n]["rail"]
                self.uplink[n] = leaf_uplink_bytes_per_s(graph, n)
        for n, k in kind.items():
            if k == "gpu":
                self.node[n] = graph.nodes[n]["node"]
                nics = []
                for nbr in adj[n]:
                    if kind[nbr] == "nvswitch":
                        self.switch[n] = nbr
                    elif kind[nbr] == "nic":
                        nics.append(nbr)
                self.nics[n] = sorted(nics)
            elif k == "nic":
                owners = sorted(nbr for nbr in adj[n] if kind[nbr] == "gpu")
                self.nic_owner[n] = owners[0]
                leaf = next(nbr for nbr in adj[n] if kind[nbr] == "leaf")
                self.nic_leaf[n] = leaf
                self.node_rail_nic[(graph.nodes[n]["node"], self.leaf_rail[leaf])] = n

    # ------------------------------------------------------------------ validation
    def check_group(self, ranks: Sequence[int]) -> list[Hashable]:
        out: list[Hashable] = []
        seen: set[int] = set()
        for r in ranks:
            if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < self.n_gpus:
                raise ScenarioError(f"GPU rank {r!r} is not in this cluster (0..{self.n_gpus - 1})")
            if r in seen:
                raise ScenarioError(f"GPU rank {r} appears twice in one group")
            seen.add(r)
            out.append(gpu_key(int(r)))
        return out

    # ------------------------------------------------------------------ flows
    def _sources(self, a: Hashable, dst_leaf: Hashable, loads: dict[Edge, float],
                 w: float) -> list[tuple[Hashable, Hashable]]:
        """(GPU, NIC) pairs the flow a -> (NIC on dst_leaf) leaves from, after any PXN NVLink hop."""
        if not self.rail_optimized:
            return [(a, na) for na in self.nics[a]]
        rail = self.leaf_rail[dst_leaf]
        own = [na for na in self.nics[a] if self.leaf_rail[self.nic_leaf[na]] == rail]
        if own:
            return [(a, na) for na in own]
        relay_nic = self.node_rail_nic.get((self.node[a], rail))
        if relay_nic is not None:
            relay = self.nic_owner[relay_nic]
            sw = self.switch[a]
            if self.switch[relay] == sw:
                _add(loads, (a, sw), w)
                _add(loads, (sw, relay), w)
                return [(relay, relay_nic)]
        return [(a, na) for na in self.nics[a]]

    def route(self, a: Hashable, b: Hashable, loads: dict[Edge, float], up: dict[Hashable, float],
              down: dict[Hashable, float]) -> None:
        """Add one unit flow a -> b to the per-direction loads (``up``/``down``: leaf uplink cuts)."""
        sw = self.switch[a]
        if sw == self.switch[b]:
            _add(loads, (a, sw), 1.0)
            _add(loads, (sw, b), 1.0)
            return
        dst_nics = self.nics[b]
        wd = 1.0 / len(dst_nics)
        for nb in dst_nics:
            ld = self.nic_leaf[nb]
            sources = self._sources(a, ld, loads, wd)
            ws = wd / len(sources)
            for src, na in sources:
                la = self.nic_leaf[na]
                _add(loads, (src, na), ws)
                _add(loads, (na, la), ws)
                if la != ld:
                    up[la] = up.get(la, 0.0) + ws
                    down[ld] = down.get(ld, 0.0) + ws
                _add(loads, (ld, nb), ws)
                _add(loads, (nb, b), ws)

    def bottleneck(self, groups: Iterable[Sequence[int]]) -> float:
        """Per-flow bandwidth (bytes/s per direction) of all ring flows of ``groups`` together."""
        loads: dict[Edge, float] = {}
        up: dict[Hashable, float] = {}
        down: dict[Hashable, float] = {}
        for ranks in groups:
            members = self.check_group(ranks)
            if len(members) < 2:
                continue
            for i, a in enumerate(members):
                self.route(a, members[(i + 1) % len(members)], loads, up, down)
        best = float("inf")
        adj = self.graph.adj
        for (u, v), load in loads.items():
            best = min(best, adj[u][v][CAPACITY] / load)
        for cut in (up, down):
            for leaf, load in cut.items():
                best = min(best, self.uplink[leaf] / load)
        return best


def _add(loads: dict[Edge, float], edge: Edge, w: float) -> None:
    loads[edge] = loads.get(edge, 0.0) + w
