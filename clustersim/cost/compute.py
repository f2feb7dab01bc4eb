"""Compute time of one micro-batch on one GPU: GEMMs on their per-GPU shapes, attention, memory-bound work.

Every hardware figure is the GPU's own, measured (:class:`Hardware`, from kernel_model.yaml):

* Each GEMM (M x K) @ (K x N) on its per-GPU shard: the roofline of :func:`gemm_s` with the GPU's best
  measured GEMM fraction, its measured size curve and tile padding, plus a launch gap. The backward pass
  runs two GEMMs of the same shape per forward GEMM (input gradient and weight gradient; Narayanan et al.
  2021 Sec. 3.3.2).
* Attention core, fused (FlashAttention, Dao et al. 2022/2023; cuDNN): the causal half of the FLOPs at
  the kernel's measured fraction of the 16-bit peak, forward and backward, rising with the sequence;
  backward 2.5 x the forward's FLOPs (5 GEMMs against 2; FlashAttention-2 Sec. 3.1). Without fused
  attention (Megatron-LM before FlashAttention, the runs of Narayanan 2021 and Korthikanti 2022) the
  scores QK^T and attention x V are batched GEMMs per head over the full s x s matrix, and the softmax
  and dropout on s^2 elements are memory-bound work.
* Memory-bound work (norms, bias-dropout-residual, activation function, rotary, FP8 casts, MoE token
  permutation, softmax, optimizer) at the GPU's measured fraction of the HBM bandwidth, with byte counts
  per element documented below, plus a launch gap per kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clustersim.cost import efficiency as eff
from clustersim.cost.flops import kv_width, q_width

__all__ = ["gemm_s", "elementwise_s", "layer_times", "op_sac_recompute_gemm_s", "logits_time_s", "optimizer_s"]

#: Bytes per element of the cross-entropy on fp32 logits (forward read + write, backward read + write of
#: 4-byte values; Megatron's vocab-parallel cross-entropy works in fp32, Korthikanti 2022 Sec. 4.3).
CROSS_ENTROPY_BYTES_PER_ELEMENT = 16.0


@dataclass
class Hardware:
    """One GPU as the compute terms see it: peaks, HBM bandwidth and the measured efficiencies
    (clustersim/scenario/catalog/kernel_model.yaml), scaled by a calibration profile. Fields are scalars
    or arrays (the kernel's backend)."""

    peak: Any
    peak16: Any
    bw: Any
    gemm_frac: Any
    half_size: Any
    sms: Any
    tile_m: Any
    tile_n: Any
    hbm_frac: Any
    gap_s: Any
    attn_fwd: Any
    attn_bwd: Any
    attn_half_seq: Any
    attn_scale: Any


def _tile_padding(xp: Any, M: Any, N: Any, tm: Any, tn: Any) -> Any:
    """Useful fraction of an M x N output computed in tm x tn tiles (NVIDIA "Matrix Multiplication
    Background User's Guide": tile quantization; a thin shard pads its last tile)."""
    return _tile_use(xp, M * N, M, N, tm, tn)


def _tile_use(xp: Any, mn: Any, M: Any, N: Any, tm: Any, tn: Any) -> Any:
    """:func:`_tile_padding` given ``mn`` = M N (computed once by the caller). The augmented assignments
    here and below update temporaries this function created, in place on numpy arrays (no new array per
    operation), with the same operations in the same order as the plain expressions."""
    den = xp.ceil(M / tm)
    den *= tm
    den *= xp.ceil(N / tn)
    den *= tn
    return mn / den


def size_use(xp: Any, M: Any, K: Any, N: Any, hw: Hardware) -> Any:
    """Fraction of its best throughput a GEMM of this size reaches: r(n) = 1 / (1 + (n_half / n)^2) with
    n the cube root of M N K and n_half the GPU's measured half-throughput size (kernel_model.yaml, from
    square-GEMM curves measured on that GPU, which include wave quantization); times the tile padding
    of thin outputs (the better of the catalog tile and a half-size one)."""
    return _size_use(xp, M * K, M, N, M * N, hw)


def _size_use(xp: Any, mk: Any, M: Any, N: Any, mn: Any, hw: Hardware) -> Any:
    """:func:`size_use` given ``mk`` = M K and ``mn`` = M N (computed once by :func:`gemm_s`)."""
    n = xp.cbrt(mk * N)
    r = hw.half_size / xp.maximum(n, 1.0)
    r **= 2
    r += 1.0
    use = 1.0 / r
    use *= xp.maximum(_tile_use(xp, mn, M, N, hw.tile_m, hw.tile_n),
                      _tile_use(xp, mn, M, N, 0.5 * hw.tile_m, 0.5 * hw.tile_n))
    return use


def gemm_s(xp: Any, M: Any, K: Any, N: Any, count: Any, hw: Hardware, elem_bytes: Any, peak: Any = None) -> Any:
    """Time of ``count`` GEMMs (M x K) @ (K x N), launched as one (batched/grouped) kernel.

    Compute-bound: FLOP/(peak f q) + GEMM_HALF_RIDGE x bytes/(bw f) (the no-overlap roofline of Williams
    et al. 2009: operand traffic not hidden behind the math), with f the GPU's best measured fraction of
    its peak (a shape sweep on that GPU) and q the size and tile use of :func:`size_use`; FLOP = 2MKN,
    bytes = elem x (MK + KN + MN). Memory-bound: bytes / (bw x the GPU's measured STREAM fraction). Plus
    one kernel's launch gap (added, not a floor).
    """
    peak = hw.peak if peak is None else peak
    mk, mn = M * K, M * N
    flop = mk * N
    flop *= 2.0 * count
    byts = K * N
    byts += mk
    byts += mn
    byts *= elem_bytes * count
    q = _size_use(xp, mk, M, N, mn, hw)
    compute = flop / (peak * hw.gemm_frac * q)
    ridge = byts * eff.GEMM_HALF_RIDGE
    ridge /= hw.gemm_frac * hw.bw
    compute += ridge
    memory = byts / (hw.bw * hw.hbm_frac)
    # a matrix-vector-like product runs on the CUDA cores at HBM speed instead (cuBLAS dispatches GEMV
    # kernels): at most 1/16 of the tensor peak (A100: 19.5 of 312 TFLOP/s dense, the datasheet ratio)
    vector = xp.maximum(memory, flop / (peak / 16.0))
    time_s = xp.minimum(xp.maximum(compute, memory), vector)
    time_s += hw.gap_s
    return time_s


def elementwise_s(xp: Any, byts: Any, hw: Hardware, kernels: Any) -> Any:
    """Memory-bound kernels moving ``byts`` through HBM at the measured STREAM fraction, plus their
    launch gaps."""
    return byts / (hw.bw * hw.hbm_frac) + kernels * hw.gap_s


def _expert_rows(xp: Any, tokens: Any, experts: Any, topk: Any, ep: Any) -> tuple[Any, Any]:
    """(rows per MLP GEMM, MLPs per GPU): a dense layer's ``tokens`` through one MLP; a MoE layer's E/ep
    local experts, each receiving tokens x top-k x ep / E rows (balanced routing over the EP group)."""
    moe = experts > 1.0
    return xp.select(moe, lambda: tokens * topk * ep / experts, lambda: tokens), xp.where(moe, experts / ep, 1.0)


def op_sac_recompute_gemm_s(xp: Any, *, tokens: Any, h: Any, f: Any, a: Any, kv: Any, gated: Any, experts: Any,
                            topk: Any, t: Any, ep: Any, hw: Hardware, gemm_bytes: Any, qw: Any = None) -> Any:
    """Forward GEMM time one layer reruns in the backward under op-level selective checkpointing
    (torchtitan's ``selective_ac_option = "op"``).

    The policy keeps the outputs of every *other* matmul, of the fused attention and of reduce-scatters
    and recomputes the rest of the layer's forward from them (torchtitan ``parallelize_llama.py``,
    ``_save_list``: "Saves output of all compute ops, except every second mm"). A Llama layer runs its
    matmuls as Q, K, V, output projection, then W1, W3, W2 (gated) or W1, W2: the 2nd, 4th and 6th are
    rerun, i.e. the K projection (tokens x h x k_v/t), the output projection (tokens x q/t x h) and
    the MLP's W3 (gated: tokens x h x f/t) or W2 (tokens x f/t x h), with the same per-GPU shapes as
    :func:`layer_times` (MoE: per local expert, as there; no published torchtitan MoE run checks it).
    The attention core is not rerun: its output is saved."""
    q = q_width(h, qw)
    hkv = kv_width(h, a, kv, qw)
    rows, local = _expert_rows(xp, tokens, experts, topk, ep)
    mlp = xp.where(gated, gemm_s(xp, rows, h, f / t, local, hw, gemm_bytes),
                   gemm_s(xp, rows, f / t, h, local, hw, gemm_bytes))
    return gemm_s(xp, tokens, h, hkv / t, 1.0, hw, gemm_bytes) + gemm_s(xp, tokens, q / t, h, 1.0, hw, gemm_bytes) + mlp


def layer_times(xp: Any, *, tokens: Any, s_q: Any, s_kv: Any, b: Any, h: Any, f: Any, a: Any, kv: Any,
                gated: Any, experts: Any, topk: Any, t: Any, ep: Any, sp: Any, flash: Any, hw: Hardware,
                gemm_bytes: Any, act_bytes: Any, cast_bytes: Any,
                dropout: Any = True, qw: Any = None, eager: Any = False) -> tuple[Any, Any, Any, Any, Any]:
    """Per-pass times of one transformer layer for one micro-batch on one GPU.

    Returns (gemm_fwd, attn_fwd, attn_bwd, elem_fwd, elem_bwd): the weight GEMMs of one pass (the
    backward runs them twice), the attention core forward and backward (with the softmax when it is not
    fused), and the other memory-bound work of the forward and backward. ``tokens`` = b s / cp is the GPU's share, ``s_q`` = s / cp the queries of one
    sequence on this GPU, ``s_kv`` = s the keys they attend.

    Per-GPU GEMM shapes under tensor parallelism t (Megatron-LM column/row split, Shoeybi et al. 2019):
    QKV tokens x h x (q + 2k_v q/a)/t; projection tokens x q/t x h, with q = ``qw`` = a x head_dim (h
    unless the model sets its head_dim); MLP in tokens x h x (2 or 1)f/t
    (gate and up fused) and out tokens x f/t x h; MoE: E/ep local experts, each with
    tokens x top-k x ep / E rows, and the router tokens x h x E.

    ``dropout`` false (a model trained without dropout): no mask is written or read, so the
    bias-dropout-residual adds read 2 and write 1, and unfused attention runs only the softmax on the
    scores.

    ``eager``: torchtitan without torch.compile runs its layer's memory-bound work as separate PyTorch
    ops (torchtitan/models/llama/model.py and norms.py), each reading and writing its whole tensor:
    RMSNorm as x.float(), pow(2), mean, x * rsqrt, type_as, * weight (28 + 4e bytes per element
    against the fused kernel's 2e); the rotary embedding in complex fp32 (q and k .float(), complex
    multiply, type_as: 16 + 2e against 2e); SwiGLU as silu then multiply (5e against 3e). The backward
    moves twice the forward's extra bytes (each op's gradient reads its saved input and the incoming
    gradient and writes its own), and every op is its own kernel (efficiency.EAGER_KERNELS_PER_LAYER).
    """
    q = q_width(h, qw)
    hkv = kv_width(h, a, kv, qw)
    moe = experts > 1.0
    g = gemm_s(xp, tokens, h, (q + 2.0 * hkv) / t, 1.0, hw, gemm_bytes)
    g = g + gemm_s(xp, tokens, q / t, h, 1.0, hw, gemm_bytes)
    rows, local = _expert_rows(xp, tokens, experts, topk, ep)
    g = g + gemm_s(xp, rows, h, (1.0 + gated) * f / t, local, hw, gemm_bytes)
    g = g + gemm_s(xp, rows, f / t, h, local, hw, gemm_bytes)
    # the router stays in 16-bit precision
    g = g + xp.select(moe, lambda: gemm_s(xp, tokens, h, experts, 1.0, hw, act_bytes, hw.peak16), lambda: 0.0)

    heads = b * a / t
    n_s2 = heads * s_q * s_kv  # score elements per GPU
    e = act_bytes
    # Fused attention: the causal half of 4 s_q s_kv hd FLOPs per head, at the kernel's measured fraction
    # of the 16-bit peak on this GPU (FP8 runs keep attention in BF16: Transformer Engine's fp8_autocast
    # changes only the linear layers' GEMMs), rising with the sequence as F s / (s + s_half); backward 2.5
    # x the forward's FLOPs (5 GEMMs against 2; FlashAttention-2 Sec. 3.1) at its own measured fraction.
    attn_peak = hw.peak16
    hd = q / a
    seq_use = s_kv / (s_kv + hw.attn_half_seq)

    def fused() -> tuple[Any, Any]:
        flop = 0.5 * 4.0 * n_s2 * hd
        fwd = flop / (attn_peak * hw.attn_fwd * seq_use * hw.attn_scale) + hw.gap_s
        bwd = 2.5 * flop / (attn_peak * hw.attn_bwd * seq_use * hw.attn_scale) + 2.0 * hw.gap_s
        return fwd, bwd

    def unfused() -> tuple[Any, Any]:
        # QK^T and attention x V as batched GEMMs per head over the full s x s matrix, plus the softmax
        # and dropout on the scores (forward: read, write, read, write, 1-byte mask; backward: read
        # probabilities, gradient and mask, write)
        scores = (gemm_s(xp, s_q, hd, s_kv, heads, hw, e, attn_peak)
                  + gemm_s(xp, s_q, s_kv, hd, heads, hw, e, attn_peak))
        drop = xp.where(dropout, 2.0 * e + 1.0, 0.0)  # dropout on the probabilities: read, write, mask
        return (scores + elementwise_s(xp, n_s2 * (2.0 * e + drop), hw, 2.0),
                2.0 * scores + elementwise_s(xp, n_s2 * (3.0 * e + drop), hw, 2.0))

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
    mask = xp.where(dropout, 1.0, 0.0)
    fwd = tokens * width * (4.0 * e + 2.0 * (3.0 * e + mask)) + act * (2.0 + gated) * e + perm
    # backward: LayerNorm (read x, dy; write dx), dropout-residual (read dy, mask; write), activation
    # (read inputs and dy, write d-inputs), permutation
    bwd = tokens * width * (6.0 * e + 2.0 * (2.0 * e + mask)) + act * (3.0 + 2.0 * gated) * e + perm
    # rotary embedding of q and k (read, write; forward and backward): Su et al. 2021 (RoFormer)
    rope = 2.0 * e * tokens * (q + hkv) / t
    # FP8 (gemm_bytes 1): each FP8 GEMM's activation input is cast forward (QKV and FC1 inputs h wide,
    # projection and FC2 inputs h/t and f/t wide) and each output gradient backward, at the recipe's
    # bytes per element (Transformer Engine FP8 recipes; Micikevicius et al. 2022, "FP8 formats")
    fp8 = gemm_bytes < 1.5
    cast_fwd = xp.select(fp8, lambda: cast_bytes * tokens * (2.0 * h + q / t + topk * f / t), lambda: 0.0)
    cast_bwd = xp.select(fp8, lambda: cast_bytes * tokens * ((q + 2.0 * hkv) / t + 2.0 * h
                                                             + topk * (1.0 + gated) * f / t), lambda: 0.0)
    eager_b = xp.select(eager, lambda: tokens * (2.0 * width * (28.0 + 2.0 * e) + 16.0 * (q + hkv) / t)
                        + 2.0 * e * gated * act, lambda: 0.0)
    kernels = eff.ELEMENTWISE_KERNELS_PER_LAYER + xp.where(eager, eff.EAGER_KERNELS_PER_LAYER, 0.0)
    return (g, attn_fwd, attn_bwd, elementwise_s(xp, fwd + rope + cast_fwd + eager_b, hw, kernels),
            elementwise_s(xp, bwd + rope + cast_bwd + 2.0 * eager_b, hw, kernels))


def logits_time_s(xp: Any, tokens: Any, h: Any, V: Any, t: Any, hw: Hardware, act_bytes: Any,
                  passes: Any) -> Any:
    """Output layer on the last stage: the tokens x h x V/t GEMM for ``passes`` passes (in 16-bit
    precision: Transformer Engine keeps the output layer out of FP8), plus the fp32 cross-entropy over
    tokens x V/t logits (CROSS_ENTROPY_BYTES_PER_ELEMENT)."""
    gemm = passes * gemm_s(xp, tokens, h, V / t, 1.0, hw, act_bytes, hw.peak16)
    return gemm + elementwise_s(xp, CROSS_ENTROPY_BYTES_PER_ELEMENT * tokens * V / t, hw, 2.0)


def optimizer_s(xp: Any, params: Any, w_b: Any, g_b: Any, k_b: Any, hw: Hardware) -> Any:
    """Adam step over ``params`` local trainable parameters, memory-bound (Kingma & Ba 2015).

    Per parameter: read and write the K optimizer bytes (fp32 master, m, v), read the gradient twice (norm
    for clipping, update) and zero it, write the low-precision weight: 2K + 3 g_b + w_b bytes (38 B for
    bf16 with fp32 main gradients).
    """
    return elementwise_s(xp, params * (2.0 * k_b + 3.0 * g_b + w_b), hw, 4.0)
