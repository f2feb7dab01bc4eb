"""Alpha-beta collectives on fabric tiers (reference.md D.6) and the per-shape GEMM time."""

from __future__ import annotations

import pytest

from clustersim.cost import comm, compute
from clustersim.cost import efficiency as eff
from clustersim.cost.backend import PY

FAB = comm.Fabric(8.0, 300e9, 2e-6, 256.0, 25e9, 25e9 / 7, 5e-6)


def test_collective_formulas_by_hand():
    S, B = 1e9, 100e9
    assert comm.all_reduce_s(PY, 8.0, S, B, 0.0) == pytest.approx(2 * 7 / 8 * S / B, rel=1e-12)
    assert comm.reduce_scatter_s(8.0, S, B, 0.0) == pytest.approx(7 / 8 * S / B, rel=1e-12)
    assert comm.all_reduce_s(PY, 8.0, 0.0, B, 1e-6) == pytest.approx(14e-6, rel=1e-12)  # ring: 2(n-1) alpha
    # latency steps: inside a node a chain (n - 1); across nodes the double binary tree over nodes
    assert comm.all_reduce_steps(PY, FAB, 8.0, 1.0) == 7.0
    assert comm.all_reduce_steps(PY, FAB, 1024.0, 8.0) == 10.0  # one rank per node: log2(1024)
    assert comm.all_reduce_steps(PY, FAB, 1024.0, 1.0) == 7.0 + 7.0  # chain of 8, tree over 128 nodes
    assert comm.all_reduce_steps(PY, FAB, 2.0, 8.0) == 1.0
    assert comm.all_reduce_s(PY, 1024.0, 0.0, B, 1e-6, 10.0) == pytest.approx(20e-6, rel=1e-12)
    assert comm.all_reduce_s(PY, 1.0, S, B, 1e-6) == 0.0  # nothing to do alone


def test_tiers_follow_the_span():
    inside, bw, lat = comm.tier(PY, FAB, 8.0)
    assert inside and bw == 300e9 and lat == 2e-6
    inside, bw, lat = comm.tier(PY, FAB, 16.0)
    assert not inside and bw == 25e9 and lat == 5e-6
    _, bw, _ = comm.tier(PY, FAB, 512.0)  # above one leaf: the oversubscribed spine is the bottleneck
    assert bw == pytest.approx(25e9 / 7)


def test_ring_collectives_aggregate_the_nics_of_a_node():
    # DP with stride 1 over 4 nodes: 8 ranks per node drive 8 NICs (per-node egress, reference.md D.6)
    bw, _ = comm.ring_bw(PY, FAB, 32.0, 1.0)
    assert bw == pytest.approx(min(300e9, 8 * 25e9) * eff.NET_EFF)
    # stride 8 (after TP 8): one rank per node, one NIC
    bw, _ = comm.ring_bw(PY, FAB, 32.0, 8.0)
    assert bw == pytest.approx(25e9 * eff.NET_EFF)
    bw, _ = comm.ring_bw(PY, FAB, 8.0, 1.0)  # inside the node: NVLink
    assert bw == pytest.approx(300e9 * eff.NET_EFF)


def test_a_ring_across_the_spine_is_limited_by_its_crossings_not_by_every_hop():
    # leaves of 256 GPUs, spine share 1/7 of a NIC. At stride 128 a ring has one member per node (one
    # NIC) and 2 members per leaf: its crossing of each leaf gets 2 x the spine share
    bw, _ = comm.ring_bw(PY, FAB, 8.0, 128.0)
    assert bw == pytest.approx(2 * 25e9 / 7 * eff.NET_EFF)
    # at stride 8, 32 members per leaf share its uplinks: more than the one NIC per node needs
    bw, _ = comm.ring_bw(PY, FAB, 64.0, 8.0)
    assert bw == pytest.approx(25e9 * eff.NET_EFF)
    # at stride 1, 8 rings per node (8 NICs) and 256 members per leaf: the NICs set the pace
    bw, _ = comm.ring_bw(PY, FAB, 512.0, 1.0)
    assert bw == pytest.approx(8 * 25e9 * eff.NET_EFF)
    # one member per leaf: every crossing gets one GPU's spine share
    bw, _ = comm.ring_bw(PY, FAB, 4.0, 256.0)
    assert bw == pytest.approx(25e9 / 7 * eff.NET_EFF)
    # all-to-all traffic does not take this route: each rank's remote bytes cross the spine
    _, tier_bw, _ = comm.tier(PY, FAB, 64.0 * 8.0)
    assert tier_bw == pytest.approx(25e9 / 7)


def test_a_two_level_group_takes_the_tier_of_its_whole_span():
    # one copy of the outer level is the one-level group, to the last bit
    for n, stride in ((32.0, 1.0), (8.0, 128.0), (64.0, 8.0), (4.0, 256.0)):
        assert comm.ring_bw(PY, FAB, n, stride, 1.0, 4096.0) == comm.ring_bw(PY, FAB, n, stride)
        assert comm.all_reduce_steps(PY, FAB, n, stride, 1.0, 4096.0) == comm.all_reduce_steps(PY, FAB, n, stride)
    # context parallelism 2 at stride 8 inside data parallelism 4 at stride 128 (TP 8, CP 2, PP 8 between
    # them): 8 ranks over 512 GPUs, one per node, four per leaf of 256 (ranks 0, 8, 128, 136): the
    # spine's 4 x 1/7 of a NIC limits it; read as 8 ranks at the inner stride (span 64) it would stay
    # inside one leaf at a whole NIC
    bw, lat = comm.ring_bw(PY, FAB, 2.0, 8.0, 4.0, 128.0)
    assert bw == pytest.approx(4 * 25e9 / 7 * eff.NET_EFF) and lat == 5e-6
    assert comm.ring_bw(PY, FAB, 8.0, 8.0)[0] == pytest.approx(25e9 * eff.NET_EFF)
    # both CP ranks inside one node (stride 1) drive two NICs there; 8 ranks, a tree over 4 nodes
    bw, _ = comm.ring_bw(PY, FAB, 2.0, 1.0, 4.0, 16.0)
    assert bw == pytest.approx(2 * 25e9 * eff.NET_EFF)
    assert comm.all_reduce_steps(PY, FAB, 2.0, 1.0, 4.0, 16.0) == 1.0 + 2.0


def test_all_to_all_inside_and_across_nodes():
    S = 1e8
    inside = comm.all_to_all_s(PY, FAB, 8.0, 1.0, S)
    assert inside == pytest.approx(7 / 8 * S / (300e9 * eff.NET_EFF) + 7 * 2e-6, rel=1e-12)
    # 16 ranks, 8 per node: half the bytes leave through the rank's own NIC
    across = comm.all_to_all_s(PY, FAB, 16.0, 1.0, S)
    assert across == pytest.approx(8 / 16 * S / (25e9 * eff.NET_EFF) + 15 * 5e-6, rel=1e-12)


def test_p2p():
    assert comm.p2p_s(PY, FAB, 4.0, 1e6) == pytest.approx(1e6 / (300e9 * eff.NET_EFF) + 2e-6)
    assert comm.p2p_s(PY, FAB, 64.0, 1e6) == pytest.approx(1e6 / (25e9 * eff.NET_EFF) + 5e-6)


def test_context_parallel_rings_by_hand():
    """Megatron-core's p2p ring hides (2 + passes)(c - 1) block transfers behind all the attention;
    PyTorch's all-gather ring (torchtitan) hides each gather behind 1/c of a pass only and sends the
    fp32 K,V gradients at every one of the backward's c steps."""
    kv, c, slow = 2e9, 4.0, eff.OVERLAP_INTERFERENCE
    one = kv / (25e9 * eff.NET_EFF) + 5e-6  # a 32-GPU group spans nodes
    fwd, bwd = 0.3, 1.0
    ring = comm.context_parallel_s(PY, FAB, 32.0, c, kv, fwd, bwd, 2.0, False, 2.0)
    assert ring == pytest.approx(slow * 4 * 3 * one, rel=1e-12)  # 12 transfers, all hidden (1.6 s window)
    grad = one + kv / (25e9 * eff.NET_EFF)  # the same block in fp32: twice the bytes, one latency
    gathers = 2 * (3 * one - fwd / c + slow * fwd / c) + (3 * one - bwd / c + slow * bwd / c)
    grads = slow * 3 * grad + grad  # three hidden behind 3/4 of the backward, the last one exposed
    pytorch = comm.context_parallel_s(PY, FAB, 32.0, c, kv, fwd, bwd, 2.0, True, 2.0)
    assert 12 * one < 2 * fwd + bwd and 3 * one > bwd / c and 3 * grad < bwd * 3 / c
    assert pytorch == pytest.approx(gathers + grads, rel=1e-12)
    assert pytorch > ring
    assert comm.context_parallel_s(PY, FAB, 32.0, 1.0, kv, fwd, bwd, 2.0, True, 2.0) == 0.0


def test_overlap_costs_the_excess_plus_the_interference():
    assert comm.overlap_s(PY, 1.0, 3.0) == pytest.approx(eff.OVERLAP_INTERFERENCE)
    assert comm.overlap_s(PY, 3.0, 1.0) == pytest.approx(2.0 + eff.OVERLAP_INTERFERENCE)


def _a100(**changes):
    """The A100 80GB as the compute terms see it (kernel_model.yaml figures), no launch gap."""
    values = dict(peak=312e12, peak16=312e12, bw=2039e9, gemm_frac=0.869, half_size=960.0, sms=108.0,
                  tile_m=256.0, tile_n=128.0,
                  hbm_frac=0.834, gap_s=0.0, attn_fwd=0.575, attn_bwd=0.5, attn_half_seq=450.0, attn_scale=1.0)
    values.update(changes)
    return compute.Hardware(**values)


def test_gemm_efficiency_falls_for_small_shards_and_follows_the_ridge():
    hw = _a100()

    def efficiency(M, K, N, hardware=hw):
        return 2 * M * K * N / compute.gemm_s(PY, M, K, N, 1.0, hardware, 2.0) / hardware.peak

    big = efficiency(8192, 8192, 8192)
    assert 0.75 < big <= hw.gemm_frac
    shard = efficiency(2048, 12288, 12288 // 64)  # a thin tensor-parallel shard
    assert shard < 0.8 * big
    # a smaller GEMM is less efficient, as the A100's measured squares are (cuBLASLt: 221.8 TFLOP/s at
    # 2048^3 of 256.5 at 16384^3, ratio 0.86); the model's ratio, with the roofline's operand term on
    # top of the measured size curve, is lower (0.71): within 20% of the measurement
    ratio = efficiency(2048, 2048, 2048) / efficiency(16384, 16384, 16384)
    assert ratio < 1.0 and ratio == pytest.approx(221.8 / 256.5, rel=0.20)
    # tile padding: an output one row past a whole tile pays for a padded tile
    whole = compute.gemm_s(PY, 256.0, 8192.0, 8192.0, 1.0, hw, 2.0)
    padded = compute.gemm_s(PY, 257.0, 8192.0, 8192.0, 1.0, hw, 2.0)
    assert padded / whole > 1.1
    # the same shape is more efficient on a GPU with more bandwidth per FLOP (lower ridge)
    assert efficiency(2048, 12288, 192, hardware=_a100(bw=2 * 2039e9)) > shard
    # memory-bound (a matrix-vector product): never faster than its bytes at the measured HBM fraction,
    # and within the roofline's factor ~2 of it (the tensor-core path pads M = 1 to a tile)
    t = compute.gemm_s(PY, 1.0, 16384.0, 16384.0, 1.0, hw, 2.0)
    floor = 2.0 * (16384 + 16384**2 + 16384) / (2039e9 * 0.834)
    assert floor <= t <= 2.5 * floor
    # the launch gap adds to every kernel, it is not a floor
    gap = 2.5e-6
    assert compute.gemm_s(PY, 1.0, 8.0, 8.0, 1.0, _a100(gap_s=gap), 2.0) == pytest.approx(
        compute.gemm_s(PY, 1.0, 8.0, 8.0, 1.0, hw, 2.0) + gap, rel=1e-12)


def test_node_deduplicated_dispatch_counts_distinct_remote_nodes():
    """DeepSeek-V3's node-limited routing (Sec. 2.1.2, 3.2.2): 8 nodes, top-8 experts from at most 4
    groups of one node each: the occupancy of 4 nodes by 8 draws, times the share of other nodes."""
    limited = comm.moe_remote_copies(PY, 8.0, 8.0, 8.0, 4.0)
    assert limited == pytest.approx(4 * (1 - 0.75 ** 8) * 7 / 8, rel=1e-12)
    free = comm.moe_remote_copies(PY, 8.0, 8.0, 8.0, 8.0)
    assert free == pytest.approx(8 * (1 - (7 / 8) ** 8) * 7 / 8, rel=1e-12)
    assert comm.moe_remote_copies(PY, 8.0, 8.0, 1.0, 1.0) == free  # one group spans every node
    assert comm.moe_remote_copies(PY, 8.0, 1.0, 1.0, 1.0) == pytest.approx(7 / 8, rel=1e-12)  # top-1
    assert comm.moe_remote_copies(PY, 1.0, 8.0, 1.0, 1.0) == 0.0  # one node: nothing leaves it
    # fewer copies leave the node than one per routed expert (the plain all-to-all's 8 x 56/64)
    assert limited < free < 8.0 * 56.0 / 64.0


def test_deduplicated_dispatch_is_the_plain_all_to_all_inside_a_node():
    copy = 1e6
    assert comm.dedup_all_to_all_s(PY, FAB, 8.0, 1.0, copy, 4.0, 1.0, 1.0) == pytest.approx(
        comm.all_to_all_s(PY, FAB, 8.0, 1.0, 4.0 * copy), rel=1e-12)
    # across 8 nodes (stride 8: one rank per node) the scale-out side carries the distinct nodes only
    got = comm.dedup_all_to_all_s(PY, FAB, 8.0, 8.0, copy, 8.0, 8.0, 4.0)
    _, bw, lat = comm.tier(PY, FAB, 64.0)
    want = comm.moe_remote_copies(PY, 8.0, 8.0, 8.0, 4.0) * copy / (bw * eff.NET_EFF) + 7.0 * lat
    assert got == pytest.approx(want, rel=1e-12)
    assert got < comm.all_to_all_s(PY, FAB, 8.0, 8.0, 8.0 * copy)
