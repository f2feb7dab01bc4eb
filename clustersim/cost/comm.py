"""Collectives by the alpha-beta model, on the fabric tier that a parallel group spans.

Cost of a collective over n ranks moving S bytes per rank at per-rank bandwidth B with per-step latency
alpha (nccl-tests doc/PERFORMANCE.md; reference.md D.6):

* all-reduce: 2(n-1)/n x S/B + 2 h alpha, with h latency steps: the ring's n - 1, or, for a group
  spanning nodes, NCCL's double binary tree over the nodes with a chain inside each (k members per
  scale-up domain): (k - 1) + ceil(log2(n / k)), whichever is fewer (Sanders, Speck & Traeff 2009,
  "Two-tree algorithms for full bandwidth broadcast, reduction and scan"; NVIDIA, "Massively Scale Your
  Deep Learning Training with NCCL 2.4", 2019); reduce-scatter and all-gather stay rings
* reduce-scatter, all-gather: (n-1)/n x S/B + (n-1) alpha
* all-to-all: (n-1)/n x S/B + (n-1) alpha
* point-to-point: S/B + alpha

B is the tier's bandwidth per GPU per direction times NET_EFF (NCCL's achieved fraction).

Placement: ranks are ordered TP innermost, then CP, then DP (EP = the innermost ep members of the DP
group), PP outermost. A group of n ranks with stride k spans n x k consecutive GPUs and uses the
scale-up tier (NVLink/NVSwitch) if that span fits in the scale-up domain, the leaf tier if it fits
under one leaf, else the spine tier (bandwidth = the bottleneck of leaf and spine). When a group
leaves the scale-up domain, its members inside one domain reduce hierarchically and drive their own
NICs in parallel (NCCL's rings/trees over rails), so a ring collective gets min(scale-up, members per
domain x NIC bandwidth) per rank: the per-node egress view of scaling-book gpus.md (reference.md D.6,
"T ~ bytes / W_node_egress"). All-to-all and point-to-point traffic does not aggregate: each rank's
off-domain bytes go through its own NIC.
"""

from __future__ import annotations

from typing import Any

from clustersim.cost import efficiency as eff

__all__ = ["Fabric", "tier", "ring_bw", "all_reduce_steps", "all_reduce_s", "reduce_scatter_s", "all_to_all_s",
           "moe_remote_copies", "dedup_all_to_all_s", "p2p_s", "overlap_s", "context_parallel_s"]


class Fabric:
    """The fabric tiers (per GPU, per direction), as :mod:`clustersim.topology` computes them."""

    __slots__ = ("su_gpus", "su_bw", "su_lat", "leaf_gpus", "leaf_bw", "spine_bw", "so_lat")

    def __init__(self, su_gpus: Any, su_bw: Any, su_lat: Any, leaf_gpus: Any, leaf_bw: Any, spine_bw: Any,
                 so_lat: Any) -> None:
        self.su_gpus = su_gpus
        self.su_bw = su_bw
        self.su_lat = su_lat
        self.leaf_gpus = leaf_gpus
        self.leaf_bw = leaf_bw
        self.spine_bw = spine_bw
        self.so_lat = so_lat


def tier(xp: Any, fab: Fabric, span: Any) -> tuple[Any, Any, Any]:
    """(inside the scale-up domain?, per-GPU bandwidth, latency) of the tier a ``span`` of GPUs uses."""
    inside = span <= fab.su_gpus
    out_bw = xp.where(span <= fab.leaf_gpus, fab.leaf_bw, xp.minimum(fab.leaf_bw, fab.spine_bw))
    return inside, xp.where(inside, fab.su_bw, out_bw), xp.where(inside, fab.su_lat, fab.so_lat)


def _members(xp: Any, size: Any, n: Any, stride: Any) -> Any:
    """Members of a group of n ranks at ``stride`` inside one block of ``size`` consecutive ranks."""
    return xp.minimum(xp.maximum(xp.floor(size / stride), 1.0), n)


def _members_per_domain(xp: Any, fab: Fabric, n: Any, stride: Any) -> Any:
    return _members(xp, fab.su_gpus, n, stride)


def _members_within(xp: Any, size: Any, n: Any, stride: Any, outer_n: Any, outer_stride: Any) -> Any:
    """Members of a (possibly two-level) group inside one block of ``size`` consecutive ranks: n ranks at
    ``stride``, repeated ``outer_n`` times at ``outer_stride`` (>= n x stride, as a mixed-radix rank order
    nests its dimensions); the outer copies count only where the whole inner group fits in the block."""
    return _members(xp, size, n, stride) * xp.where(n * stride <= size, _members(xp, size, outer_n, outer_stride), 1.0)


def _group_span(xp: Any, n: Any, stride: Any, outer_n: Any, outer_stride: Any) -> Any:
    """Consecutive ranks a two-level group covers (the outer level's extent when it has more than one copy)."""
    return xp.where(outer_n > 1.0, outer_n * outer_stride, n * stride)


def ring_bw(xp: Any, fab: Fabric, n: Any, stride: Any, outer_n: Any = 1.0,
            outer_stride: Any = 1.0) -> tuple[Any, Any]:
    """(bandwidth per rank, latency) for ring collectives of n ranks at ``stride``, NICs aggregated;
    ``outer_n`` > 1: the group is that many such copies at ``outer_stride`` (the ZeRO group of data x
    context parallelism: its two dimensions' ranks, each at its own stride), n x outer_n ranks in all.

    The k members of the group inside one scale-up domain drive k rings over their own NICs (k x the
    NIC bandwidth, up to the scale-up bandwidth). Above one leaf, rings ordered by position cross out
    of a leaf once each per leaf, so the group's k crossings share the uplinks of its m_leaf members
    there: at most m_leaf x the per-GPU spine share (the link-load argument of the bandwidth-optimal
    ring, Patarasuk & Yuan 2009, J. Parallel Distrib. Comput. 69(2)), and the spine limits a ring
    only when m_leaf x the spine share is below k x the NIC bandwidth. The tier is the one the group's
    whole span reaches: a two-level group whose outer copies sit in other scale-up domains leaves it.
    """
    span = _group_span(xp, n, stride, outer_n, outer_stride)
    inside, bw, lat = tier(xp, fab, span)
    k = _members_within(xp, fab.su_gpus, n, stride, outer_n, outer_stride)
    m_leaf = _members_within(xp, fab.leaf_gpus, n, stride, outer_n, outer_stride)
    nics = xp.minimum(fab.su_bw, k * fab.leaf_bw)
    out = xp.where(span <= fab.leaf_gpus, nics, xp.minimum(nics, m_leaf * fab.spine_bw))
    return xp.where(inside, bw, out) * eff.NET_EFF, lat


def all_reduce_steps(xp: Any, fab: Fabric, n: Any, stride: Any, outer_n: Any = 1.0, outer_stride: Any = 1.0) -> Any:
    """Latency steps of an all-reduce of n ranks at ``stride`` (times ``outer_n`` copies at
    ``outer_stride``, as :func:`ring_bw`): the ring's N - 1 over its N ranks, or the double binary tree's
    (k - 1) + ceil(log2(N / k)) over nodes with a chain of the k members inside each domain."""
    k = _members_within(xp, fab.su_gpus, n, stride, outer_n, outer_stride)
    total = n * outer_n
    tree = (k - 1.0) + xp.ceil(xp.log2(xp.maximum(total / k, 1.0)))
    return xp.minimum(total - 1.0, tree)


def all_reduce_s(xp: Any, n: Any, nbytes: Any, bw: Any, lat: Any, steps: Any = None) -> Any:
    """All-reduce: 2(n-1)/n S/B + 2 h alpha with h latency steps (:func:`all_reduce_steps`; the ring's
    n - 1 when not given; zero for n = 1)."""
    h = n - 1.0 if steps is None else steps
    return (n - 1.0) * 2.0 * nbytes / (n * bw) + 2.0 * h * lat


def reduce_scatter_s(n: Any, nbytes: Any, bw: Any, lat: Any) -> Any:
    """Reduce-scatter or all-gather of S bytes per rank: (n-1)/n S/B + (n-1) alpha."""
    return (n - 1.0) * (nbytes / (n * bw) + lat)


def all_to_all_s(xp: Any, fab: Fabric, n: Any, stride: Any, nbytes: Any) -> Any:
    """All-to-all of S bytes per rank: the share for ranks in other scale-up domains leaves through this
    rank's NIC while the share for local ranks crosses NVLink; the slower of the two, plus (n-1) alpha."""
    inside, bw, lat = tier(xp, fab, n * stride)
    k = _members_per_domain(xp, fab, n, stride)
    local = (k - 1.0) / n * nbytes / (fab.su_bw * eff.NET_EFF)
    remote = (n - k) / n * nbytes / (bw * eff.NET_EFF)
    inner = (n - 1.0) / n * nbytes / (bw * eff.NET_EFF)
    return xp.where(inside, inner, xp.maximum(local, remote)) + (n - 1.0) * lat


def moe_remote_copies(xp: Any, nodes: Any, topk: Any, groups: Any, groups_per_token: Any) -> Any:
    """Expected scale-out copies of one token under node-deduplicated dispatch: the distinct other nodes
    its top-k experts sit on.

    The ``nodes`` scale-up domains of the expert-parallel group hold the experts in contiguous blocks, and
    the experts in ``groups`` equal contiguous groups, so a group spans max(1, nodes / groups) nodes and a
    token whose experts come from at most ``groups_per_token`` groups reaches at most R = min(nodes,
    groups_per_token x that) nodes (DeepSeek-V3, arXiv:2412.19437, Sec. 2.1.2 node-limited routing and
    Sec. 3.2.2: each token goes to at most 4 nodes over IB, then NVLink). With the top-k experts spread
    evenly over those R nodes, R (1 - (1 - 1/R)^k) distinct nodes are hit (occupancy of R cells by k
    draws), of which the fraction (nodes - 1) / nodes are other nodes.
    """
    per_group = xp.maximum(nodes / xp.maximum(groups, 1.0), 1.0)
    reach = xp.maximum(xp.minimum(nodes, xp.maximum(groups_per_token, 1.0) * per_group), 1.0)
    hit = reach * (1.0 - (1.0 - 1.0 / reach) ** topk)
    return hit * (nodes - 1.0) / xp.maximum(nodes, 1.0)


def dedup_all_to_all_s(xp: Any, fab: Fabric, n: Any, stride: Any, copy_bytes: Any, topk: Any, groups: Any,
                       groups_per_token: Any) -> Any:
    """MoE dispatch (or combine) of one token set, deduplicated per node (DeepEP's normal kernels;
    DeepSeek-V3 Sec. 3.2.2): each token crosses the scale-out network once per distinct other node
    (:func:`moe_remote_copies`; ``copy_bytes`` per copy) and is forwarded over NVLink to the experts'
    GPUs there, so the NVLink side carries the top-k copies less those landing on the receiving GPU; the
    slower side sets the time, plus (n-1) alpha. Inside one scale-up domain it is the plain all-to-all
    of the top-k copies."""
    inside, bw, lat = tier(xp, fab, n * stride)
    k = _members_per_domain(xp, fab, n, stride)
    nodes = xp.maximum(n / k, 1.0)
    remote = moe_remote_copies(xp, nodes, topk, groups, groups_per_token) * copy_bytes / (bw * eff.NET_EFF)
    local = topk * (k - 1.0) / k * copy_bytes / (fab.su_bw * eff.NET_EFF)
    inner = (n - 1.0) / n * topk * copy_bytes / (bw * eff.NET_EFF)
    return xp.where(inside, inner, xp.maximum(local, remote)) + (n - 1.0) * lat


def p2p_s(xp: Any, fab: Fabric, span: Any, nbytes: Any) -> Any:
    """Point-to-point transfer inside a group spanning ``span`` GPUs (the pipeline group: pp x its
    stride; its slowest boundary sets the pace)."""
    _, bw, lat = tier(xp, fab, span)
    return nbytes / (bw * eff.NET_EFF) + lat


def overlap_s(xp: Any, comm_s: Any, window_s: Any) -> Any:
    """Cost of a communication that runs concurrently with ``window_s`` of compute: what exceeds the
    window, plus the slowdown its hidden part inflicts on that compute (efficiency.OVERLAP_INTERFERENCE
    of the hidden time; Jangda et al. 2022: overlapped collectives take SMs and HBM bandwidth from the
    kernels they overlap)."""
    return xp.maximum(comm_s - window_s, 0.0) + eff.OVERLAP_INTERFERENCE * xp.minimum(comm_s, window_s)


def context_parallel_s(xp: Any, fab: Fabric, span: Any, c: Any, kv_bytes: Any, attn_fwd_s: Any, attn_bwd_s: Any,
                       fwd_passes: Any, pytorch_ring: Any, act_bytes: Any) -> Any:
    """Ring-attention communication of one layer for one micro-batch, as it costs the step.

    ``kv_bytes``: one rank's K and V block (2 x tokens x K/V width / tp x bytes); ``span``: the GPUs the
    CP group spans; ``fwd_passes``: forward passes of the attention (1, plus 1 with full or selective
    recompute); ``attn_*_s``: this rank's attention time per pass (all c blocks).

    * Megatron-core / Transformer Engine (Liu et al. 2023, "Ring Attention"; Transformer Engine
      ``AttnFuncWithCPAndKVP2P``): each of the c - 1 ring steps passes a K,V block per forward pass, and
      K,V plus their gradients in the backward, each send overlapped with the attention block it feeds.
    * PyTorch context parallel as torchtitan runs it (``pytorch_ring``; torch/distributed/tensor/
      experimental/_attention.py): the K,V blocks are all-gathered once, after the first block is
      launched (torchtitan's ``context_parallel_rotate_method`` default ``allgather``: "all-gather all kv
      shards on ranks after the first sub-SDPA computation", torchtitan config_manager.py), so each pass
      hides the gather behind 1/c of its attention only; the backward gathers K,V again the same way and
      passes the K,V gradients on the ring at every one of its c steps in fp32 (``convert_to_f32``:
      gradients accumulated in float32), the last one after its last block. The blocks are as wide as
      the query heads: torchtitan's models repeat K,V to the query heads before SDPA (``repeat_kv``,
      torchtitan/models/llama/model.py); the caller passes that width.
    """
    _, bw, lat = tier(xp, fab, span)
    one = kv_bytes / (bw * eff.NET_EFF) + lat  # one block to one neighbour
    steps = c - 1.0

    def ring() -> Any:
        return overlap_s(xp, (2.0 + fwd_passes) * steps * one, attn_fwd_s * fwd_passes + attn_bwd_s)

    def gathered() -> Any:
        grad = one + (4.0 / act_bytes - 1.0) * kv_bytes / (bw * eff.NET_EFF)  # a gradient block in fp32
        gather = fwd_passes * overlap_s(xp, steps * one, attn_fwd_s / c) + overlap_s(xp, steps * one,
                                                                                      attn_bwd_s / c)
        return gather + overlap_s(xp, steps * grad, attn_bwd_s * steps / c) + grad

    return (c > 1.0) * xp.select(pytorch_ring, gathered, ring)
