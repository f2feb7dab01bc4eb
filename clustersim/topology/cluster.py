""":class:`Cluster`: the graph, its per-tier figures for the kernel, group bandwidths, degraded copies."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from clustersim.errors import ScenarioError
from clustersim.topology.closed_form import FABRIC_KEYS, spine_count
from clustersim.topology.fabric import LowerTiers, lower_tiers, spine_tier
from clustersim.topology.graph import build_graph, leaf_key, spine_key
from clustersim.topology.params import NetworkParams
from clustersim.topology.placement import DEFAULT_ORDER, place_groups
from clustersim.topology.routing import Router

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Cluster", "build_cluster", "FABRIC_KEYS"]

_DEGRADED_CACHE_MAX = 1024


class Cluster:
    """A built cluster: ``params``, the networkx ``graph`` and the set of ``failed_spines``.

    Build one with :func:`build_cluster`; :meth:`degrade` returns another whose graph is a read-only
    view of the full graph without the failed spine switches (and their links). The full graph is
    built on first use of ``graph`` (or of what needs it); ``spines()`` and the inventory counts of
    the healthy cluster come from ``params`` alone.
    """

    def __init__(self, params: NetworkParams, graph: nx.Graph | None = None,
                 failed_spines: frozenset[int] = frozenset(), *, _full: Cluster | None = None):
        self.params = params
        self._graph = graph
        self.failed_spines = frozenset(failed_spines)
        self._full = _full if _full is not None else self
        self._lower: LowerTiers | None = _full._lower_tiers() if _full is not None else None
        self._fabric: dict[str, float] | None = None
        self._router: Router | None = None
        self._degraded: dict[frozenset[int], Cluster] = {}

    @property
    def graph(self) -> nx.Graph:
        """The networkx graph (:mod:`clustersim.topology.graph`), built on first access."""
        if self._graph is None:
            self._graph = build_graph(self.params)
        return self._graph

    def __repr__(self) -> str:
        p = self.params
        return (f"Cluster({p.nodes} nodes x {p.gpus_per_node} GPUs, {p.topology}, "
                f"{len(self.spines())} spines, failed={sorted(self.failed_spines)})")

    # ------------------------------------------------------------------ inventory
    def spines(self) -> Sequence[int]:
        """Indices of the spine switches still in the graph (0 .. S-1 less the failed ones); a ``range``
        for the healthy cluster (millions of spines cost nothing to count)."""
        total = spine_count(self._full.params)  # what build_graph records as graph["spines"]
        if not self.failed_spines:
            return range(total)
        return [s for s in range(total) if s not in self.failed_spines]

    def leaves(self) -> list[int]:
        """Indices of the leaf (or rail) switches."""
        return sorted(i for _, i in self._leaf_nodes())

    def nodes_under_leaf(self, leaf: int) -> list[int]:
        """The compute nodes with a NIC on leaf switch ``leaf`` (a leaf failure takes them down)."""
        key = leaf_key(leaf)
        if key not in self.graph:
            raise ScenarioError(f"no leaf switch {leaf!r} (0..{len(self.leaves()) - 1})")
        return sorted({self.graph.nodes[n]["node"] for n in self.graph.adj[key]
                       if self.graph.nodes[n]["kind"] == "nic"})

    def _leaf_nodes(self) -> Iterator[tuple[Hashable, int]]:
        return ((n, n[1]) for n, k in self.graph.nodes(data="kind") if k == "leaf")

    # ------------------------------------------------------------------ tiers
    def _lower_tiers(self) -> LowerTiers:
        if self._lower is None:
            self._lower = lower_tiers(self.graph)
        return self._lower

    def fabric(self) -> dict[str, float]:
        """The network figures the cost kernel needs, computed from the graph (cached; a fresh dict).

        Keys (:data:`FABRIC_KEYS`): ``scaleup_gpus`` (GPUs in one scale-up domain),
        ``scaleup_bw_bytes_per_s``, ``scaleup_latency_s``, ``leaf_gpus`` (GPUs in one leaf group),
        ``leaf_bw_bytes_per_s``, ``spine_bw_bytes_per_s``, ``scaleout_latency_s``, ``gpus_per_node``.
        Bandwidths are per GPU per direction by the bottleneck rule of :mod:`clustersim.topology.fabric`
        (Leiserson 1985; Al-Fares et al. 2008 §2.1; reference.md C.2, D.6). The scale-up and leaf tiers
        are computed once on the full graph and shared with degraded copies (spine failures do not
        touch those links); the spine tier is computed on this cluster's graph. Latencies are the
        per-step alphas of :class:`NetworkParams` (NCCL ``tuning.cc``).
        """
        if self._fabric is None:
            low = self._lower_tiers()
            self._fabric = {
                "scaleup_gpus": float(low.scaleup_gpus),
                "scaleup_bw_bytes_per_s": float(low.scaleup_bw_bytes_per_s),
                "scaleup_latency_s": float(self.params.scaleup_latency_s),
                "leaf_gpus": float(low.leaf_gpus),
                "leaf_bw_bytes_per_s": float(low.leaf_bw_bytes_per_s),
                "spine_bw_bytes_per_s": float(spine_tier(self.graph, low)),
                "scaleout_latency_s": float(self.params.scaleout_latency_s),
                "gpus_per_node": float(self.params.gpus_per_node),
            }
        return dict(self._fabric)

    # ------------------------------------------------------------------ groups
    def _routes(self) -> Router:
        if self._router is None:
            self._router = Router(self.graph, self.params.rail_optimized)
        return self._router

    def group_bandwidth(self, ranks: Sequence[int]) -> float:
        """Bottleneck bandwidth per GPU (bytes/s per direction) of a ring collective among ``ranks``.

        Each member sends to the next one (ring order as given; torch.distributed orders a group's ranks
        ascending), all at once; the result is the minimum over the links used of capacity / flows
        crossing the link (routing in :mod:`clustersim.topology.routing`). ``inf`` for fewer than two
        ranks (no traffic). For the figure a parallel group gets while every group of its kind runs at
        the same time, use :meth:`groups_bandwidth`.
        """
        return self.groups_bandwidth([ranks])

    def groups_bandwidth(self, groups: Iterable[Sequence[int]]) -> float:
        """Like :meth:`group_bandwidth` for several groups whose rings all run concurrently.

        Pass every group of one kind (e.g. all DP groups from :func:`place_groups`) to get the bandwidth
        each of them gets during a training step, where they all communicate at once.
        """
        return self._routes().bottleneck(groups)

    def parallel_bandwidth(self, tp: int, cp: int, dp: int, pp: int, ep: int = 1,
                           order: str = DEFAULT_ORDER) -> dict[str, float]:
        """Per kind ("tp", "cp", "ep", "dp", "pp"): :meth:`groups_bandwidth` of all its groups.

        The exact figure for one layout on this graph (``inf`` for groups of one rank), against which
        :meth:`fabric`'s tier figures are the per-tier worst case. About a second for 16,384 GPUs, so
        meant for one configuration at a time, not for the vectorized search.
        """
        layout = place_groups(self.params.gpus, tp=tp, cp=cp, dp=dp, pp=pp, ep=ep, order=order)
        return {kind: self.groups_bandwidth(groups) for kind, groups in layout.items()}

    # ------------------------------------------------------------------ failures
    def degrade(self, failed_spines: Iterable[int]) -> Cluster:
        """A new Cluster without the given spines (on top of those already failed here).

        Each leaf loses the failed spines' links, so its uplink falls in proportion and
        ``spine_bw_bytes_per_s`` drops; scale-up and leaf tiers are unchanged. ``degrade([])`` gives a
        cluster with equal figures. To restore repaired spines, degrade the full cluster
        (``build_cluster(params)``) with the set that is still failed. Results are memoised per set.
        """
        new = set(self.failed_spines)
        total = spine_count(self._full.params)
        for s in failed_spines:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < total:
                raise ScenarioError(
                    f"no spine switch {s!r} in this cluster (it has {total} spines"
                    + (", numbered 0.." + str(total - 1) + ")" if total else ")")
                )
            new.add(int(s))
        key = frozenset(new)
        full = self._full
        if key == full.failed_spines:
            return full
        cached = full._degraded.get(key)
        if cached is not None:
            return cached
        import networkx as nx

        view = nx.restricted_view(full.graph, [spine_key(s) for s in key], [])
        out = Cluster(full.params, view, key, _full=full)
        if len(full._degraded) >= _DEGRADED_CACHE_MAX:
            full._degraded.clear()
        full._degraded[key] = out
        return out


def build_cluster(params: NetworkParams) -> Cluster:
    """The cluster of ``params``; its graph (see :mod:`clustersim.topology.graph` for its shape) is
    built when first needed."""
    if not isinstance(params, NetworkParams):
        raise ScenarioError(f"build_cluster needs NetworkParams, got {type(params).__name__}")
    return Cluster(params)
