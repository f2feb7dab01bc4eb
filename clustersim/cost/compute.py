"""Compute time of one micro-batch on one GPU: GEMMs on their per-GPU shapes, attention, memory-bound work.

* Each GEMM (M x K) @ (K x N) on its per-GPU shard takes max(FLOP / (peak x eff(I)), bytes / HBM
  bandwidth, launch floor), with eff(I) the single shape curve of :mod:`clustersim.cost.efficiency`
  (arithmetic intensity I against the GPU's ridge point). The backward pass runs two GEMMs of the same
  shape per forward GEMM (input gradient and weight gradient; Narayanan et al. 2021 Sec. 3.3.2).
* Attention core, FlashAttention style (Dao et al. 2022/2023): O(s^2) FLOPs in one fused kernel that
  skips the masked half under causal masking, forward 4 b s_q s h / t x 1/2, backward 2.5 x forward
  (5 GEMMs against 2; FlashAttention-2 Sec. 3.1), at FLASH_ATTN_EFF of the peak. Without fused
  attention (Megatron-LM before FlashAttention, the runs of Narayanan 2021 and Korthikanti 2022) the
  scores QK^T and attention x V are batched GEMMs per head over the full s x s matrix, and the softmax
  and dropout on s^2 elements are memory-bound work.
* Memory-bound work (LayerNorms, bias-dropout-residual, activation function, MoE token permutation,
  softmax, optimizer) at HBM_EFF of the HBM bandwidth, with byte counts per element documented below.
"""

from __future__ import annotations

from typing import Any

from clustersim.cost import efficiency as eff

__all__ = ["gemm_s", "elementwise_s", "layer_times", "logits_time_s", "optimizer_s"]

#: Bytes per element of the cross-entropy on fp32 logits (forward read + write, backward read + write of
#: 4-byte values; Megatron's vocab-parallel cross-entropy works in fp32, Korthikanti 2022 Sec. 4.3).
CROSS_ENTROPY_BYTES_PER_ELEMENT = 16.0


def gemm_s(xp: Any, M: Any, K: Any, N: Any, count: Any, peak: Any, bw: Any, elem_bytes: Any) -> Any:
    """Time of ``count`` GEMMs (M x K) @ (K x N), launched as one (batched/grouped) kernel.

    Compute-bound time FLOP/(peak x eff(I)) = (FLOP/peak + GEMM_HALF_RIDGE x bytes/bw) / GEMM_EFF_MAX,
    with FLOP = 2MKN and bytes = elem x (MK + KN + MN) (operands and result once through HBM);
    memory-bound time bytes / (bw x HBM_EFF); never below one kernel launch.
    """
    mk = M * K
    flop = mk * N * (2.0 * count)
    byts = (mk + K * N + M * N) * (elem_bytes * count)
    compute = flop / (peak * eff.GEMM_EFF_MAX) + byts * (eff.GEMM_HALF_RIDGE / eff.GEMM_EFF_MAX) / bw
    memory = byts / (bw * eff.HBM_EFF)
    return xp.maximum(xp.maximum(compute, memory), eff.KERNEL_LAUNCH_S)


def elementwise_s(xp: Any, byts: Any, bw: Any, kernels: Any) -> Any:
    """Memory-bound kernels moving ``byts`` through HBM, never faster than their launches."""
    return xp.maximum(byts / (bw * eff.HBM_EFF), kernels * eff.KERNEL_LAUNCH_S)


def layer_times(xp: Any, *, tokens: Any, s_q: Any, s_kv: Any, b: Any, h: Any, f: Any, a: Any, kv: Any,
                gated: Any, experts: Any, topk: Any, t: Any, ep: Any, sp: Any, flash: Any, peak: Any, bw: Any,
                gemm_bytes: Any, act_bytes: Any) -> tuple[Any, Any, Any, Any, Any]:
    """Per-pass times of one transformer layer for one micro-batch on one GPU.

    Returns (gemm_fwd, attn_fwd, attn_bwd, elem_fwd, elem_bwd): the weight GEMMs of one pass (the
    backward runs them twice), the attention core forward and backward (with the softmax when it is not
    fused), and the other memory-bound work of the forward and backward. ``tokens`` = b s / cp is the GPU's share, ``s_q`` = s / cp the queries of one
    sequence on this GPU, ``s_kv`` = s the keys they attend.

    Per-GPU GEMM shapes under tensor parallelism t (Megatron-LM column/row split, Shoeybi et al. 2019):
    QKV tokens x h x (h + 2k_v h/a)/t; projection tokens x h/t x h; MLP in tokens x h x (2 or 1)f/t
    (gate and up fused) and out tokens x f/t x h; MoE: E/ep local experts, each with
    tokens x top-k x ep / E rows, and the router tokens x h x E.
    """
    hkv = kv * h / a
    moe = experts > 1.0
    g = gemm_s(xp, tokens, h, (h + 2.0 * hkv) / t, 1.0, peak, bw, gemm_bytes)
    g = g + gemm_s(xp, tokens, h / t, h, 1.0, peak, bw, gemm_bytes)
    rows = xp.where(moe, tokens * topk * ep / experts, tokens)
    local = xp.where(moe, experts / ep, 1.0)
    g = g + gemm_s(xp, rows, h, (1.0 + gated) * f / t, local, peak, bw, gemm_bytes)
    g = g + gemm_s(xp, rows, f / t, h, local, peak, bw, gemm_bytes)
    g = g + xp.select(moe, lambda: gemm_s(xp, tokens, h, experts, 1.0, peak, bw, gemm_bytes), lambda: 0.0)

    heads = b * a / t
    n_s2 = heads * s_q * s_kv  # score elements per GPU
    e = act_bytes
    # Fused attention: causal half of 4 s_q s_kv hd FLOPs per head; attention runs at the 16-bit peak
    # (for fp8 runs, half the fp8 peak: every GPU in the catalog has fp8 = 2 x bf16).
    attn_peak = peak * xp.where(gemm_bytes < 1.5, 0.5, 1.0)
    hd = h / a

    def fused() -> tuple[Any, Any]:
        fwd = 0.5 * 4.0 * n_s2 * hd / (attn_peak * eff.FLASH_ATTN_EFF)
        return fwd, 2.5 * fwd

    def unfused() -> tuple[Any, Any]:
        # QK^T and attention x V as batched GEMMs per head over the full s x s matrix, plus the softmax
        # and dropout on the scores (forward: read, write, read, write, 1-byte mask; backward: read
        # probabilities, gradient and mask, write)
        scores = (gemm_s(xp, s_q, hd, s_kv, heads, attn_peak, bw, e)
                  + gemm_s(xp, s_q, s_kv, hd, heads, attn_peak, bw, e))
        return (scores + elementwise_s(xp, n_s2 * (4.0 * e + 1.0), bw, 2.0),
                2.0 * scores + elementwise_s(xp, n_s2 * (5.0 * e + 1.0), bw, 2.0))

    if xp.is_scalar(flash):
        attn_fwd, attn_bwd = fused() if flash else unfused()
    else:
        (ff, fb), (uf, ub) = fused(), unfused()
        attn_fwd, attn_bwd = xp.where(flash, ff, uf), xp.where(flash, fb, ub)

    width = xp.where(sp, h / t, h)  # LayerNorm / dropout region width per GPU
    act = tokens * topk * f / t
    perm = xp.select(moe, lambda: 4.0 * e * tokens * h * topk / xp.where(sp, t, 1.0), lambda: 0.0)
    # forward: 2 LayerNorms (read, write), 2 bias-dropout-residual (read 2, write 1, mask 1 byte),
    # activation (read 1 or 2, write 1), MoE permutation and un-permutation (read, write)
    fwd = tokens * width * (4.0 * e + 2.0 * (3.0 * e + 1.0)) + act * (2.0 + gated) * e + perm
    # backward: LayerNorm (read x, dy; write dx), dropout-residual (read dy, mask; write), activation
    # (read inputs and dy, write d-inputs), permutation
    bwd = tokens * width * (6.0 * e + 2.0 * (2.0 * e + 1.0)) + act * (3.0 + 2.0 * gated) * e + perm
    kernels = eff.ELEMENTWISE_KERNELS_PER_LAYER
    return (g, attn_fwd, attn_bwd, elementwise_s(xp, fwd, bw, kernels), elementwise_s(xp, bwd, bw, kernels))


def logits_time_s(xp: Any, tokens: Any, h: Any, V: Any, t: Any, peak: Any, bw: Any, gemm_bytes: Any,
                  passes: Any) -> Any:
    """Output layer on the last stage: the tokens x h x V/t GEMM for ``passes`` passes, plus the
    fp32 cross-entropy over tokens x V/t logits (CROSS_ENTROPY_BYTES_PER_ELEMENT)."""
    gemm = passes * gemm_s(xp, tokens, h, V / t, 1.0, peak, bw, gemm_bytes)
    return gemm + elementwise_s(xp, CROSS_ENTROPY_BYTES_PER_ELEMENT * tokens * V / t, bw, 2.0)


def optimizer_s(xp: Any, params: Any, w_b: Any, g_b: Any, k_b: Any, bw: Any) -> Any:
    """Adam step over ``params`` local trainable parameters, memory-bound (Kingma & Ba 2015).

    Per parameter: read and write the K optimizer bytes (fp32 master, m, v), read the gradient twice (norm
    for clipping, update) and zero it, write the low-precision weight: 2K + 3 g_b + w_b bytes (38 B for
    bf16 with fp32 main gradients).
    """
    return elementwise_s(xp, params * (2.0 * k_b + 3.0 * g_b + w_b), bw, 4.0)
