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
from clustersim.cost.flops import AttentionShape, attention_matrices, op_sac_matmuls, window_mask_share

__all__ = ["gemm_s", "elementwise_s", "layer_times", "selective_rerun_s", "op_sac_recompute_gemm_s", "logits_time_s", "optimizer_s"]

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


def _per_gpu(d_in: Any, d_out: Any, split: float, t: Any) -> tuple[Any, Any]:
    """A weight matrix's (K, N) on one GPU: column-parallel (split 1) divides d_out by the tensor-parallel
    degree, row-parallel (2) divides d_in, duplicated (0) keeps both (Shoeybi et al. 2019)."""
    return (d_in / t if split == 2.0 else d_in), (d_out / t if split == 1.0 else d_out)


def _matrix_s(xp: Any, rows: Any, d_in: Any, d_out: Any, split: float, t: Any, count: Any, hw: Hardware,
              gemm_bytes: Any) -> Any:
    """:func:`gemm_s` of one weight matrix's GEMM on its per-GPU shape (:func:`_per_gpu`); nothing for an
    empty slot (d_out 0: a matrix the model does not have)."""
    K, N = _per_gpu(d_in, d_out, split, t)
    return xp.select(d_out > 0.0, lambda: gemm_s(xp, rows, K, N, count, hw, gemm_bytes), lambda: 0.0)


def op_sac_recompute_gemm_s(xp: Any, *, tokens: Any, h: Any, f: Any, at: AttentionShape, gated: Any, experts: Any,
                            topk: Any, t: Any, ep: Any, hw: Hardware, gemm_bytes: Any) -> Any:
    """Forward GEMM time one layer reruns in the backward under op-level selective checkpointing
    (torchtitan's ``selective_ac_option = "op"``).

    The policy keeps the outputs of every *other* matmul, of the fused attention and of reduce-scatters
    and recomputes the rest of the layer's forward from them (torchtitan ``parallelize_llama.py``,
    ``_save_list``: "Saves output of all compute ops, except every second mm"): the even-numbered
    matmuls of :func:`clustersim.cost.flops.op_sac_matmuls`, for a Llama layer the K projection
    (tokens x h x k_v/t), the output projection (tokens x o/t x h) and the MLP's W3 (gated: tokens x h x
    f/t) or W2 (tokens x f/t x h), with the same per-GPU shapes as :func:`layer_times` (MoE: per local
    expert, as there; no published torchtitan MoE or MLA run checks it). The attention core is not
    rerun: its output is saved."""
    rows, local = _expert_rows(xp, tokens, experts, topk, ep)
    total: Any = 0.0
    for d_in, d_out, split, expert, rerun in op_sac_matmuls(h, f, gated, at):
        m, n = (rows, local) if expert else (tokens, 1.0)
        total = total + xp.select(rerun > 0.0, lambda d_in=d_in, d_out=d_out, split=split, rerun=rerun, m=m, n=n:
                                  rerun * _matrix_s(xp, m, d_in, d_out, split, t, n, hw, gemm_bytes), lambda: 0.0)
    return total


def _rope_width(at: AttentionShape, t: Any) -> Any:
    """Elements per token the rotary embedding rotates on one GPU: the queries and keys (q + k)/t, or
    under MLA the rotary part of each query head (a d_rope / t) and the one rotary key all heads share
    (d_rope, on every rank)."""
    mla = at.mla
    return (1 - mla) * (at.q + at.k) / t + mla * (at.heads * at.rope / t + at.rope)


def _cast_width(mats: Any, t: Any, inputs: bool) -> Any:
    """Elements per token an FP8 recipe casts for the attention matrices ``mats`` on one GPU: each
    existing matrix's input (``inputs``) or its output gradient, on its per-GPU shape (:func:`_per_gpu`)."""
    total: Any = 0.0
    for d_in, d_out, split in mats:
        K, N = _per_gpu(d_in, d_out, split, t)
        total = total + (d_out > 0.0) * (K if inputs else N)
    return total


def selective_rerun_s(xp: Any, *, modules: Any, tokens: Any, h: Any, f: Any, at: AttentionShape, gated: Any,
                      experts: Any, topk: Any, t: Any, ep: Any, sp: Any, hw: Hardware, gemm_bytes: Any,
                      act_bytes: Any, dense_mlp: Any) -> Any:
    """Forward work one layer reruns in its backward under Megatron-core's selective recomputation besides
    the attention core (``training.recompute_modules``; :class:`clustersim.cost.memory.SelectiveModules`,
    whose stored bytes it trades for this time): mla_up_proj MLA's query and key-value up projections
    (:func:`clustersim.cost.flops.attention_matrices` slots 2 and 4, on their per-GPU shapes) and the
    rotary embedding; layernorm the two norms (read, write); mlp a dense MLP's GEMMs and activation
    (``dense_mlp``: this layer's MLP is dense); moe_act the experts' activation (read 1 or 2, write 1)."""
    e = act_bytes
    mats = attention_matrices(h, at)
    total: Any = 0.0
    if not (xp.is_scalar(modules.mla_up_proj) and not modules.mla_up_proj):
        up = xp.select(at.mla, lambda: _matrix_s(xp, tokens, *mats[1], t, 1.0, hw, gemm_bytes)
                       + _matrix_s(xp, tokens, *mats[3], t, 1.0, hw, gemm_bytes)
                       + elementwise_s(xp, 2.0 * e * tokens * _rope_width(at, t), hw, 1.0), lambda: 0.0)
        total = total + modules.mla_up_proj * up
    if not (xp.is_scalar(modules.layernorm) and not modules.layernorm):
        total = total + modules.layernorm * elementwise_s(xp, 2.0 * 2.0 * e * tokens * xp.where(sp, h / t, h), hw, 2.0)
    if not (xp.is_scalar(modules.mlp) and not modules.mlp):
        rows, local = _expert_rows(xp, tokens, experts, topk, ep)
        mlp = (gemm_s(xp, rows, h, (1.0 + gated) * f / t, local, hw, gemm_bytes)
               + gemm_s(xp, rows, f / t, h, local, hw, gemm_bytes)
               + elementwise_s(xp, tokens * topk * f / t * (2.0 + gated) * e, hw, 1.0))
        total = total + modules.mlp * dense_mlp * mlp
    if not (xp.is_scalar(modules.moe_act) and not modules.moe_act):
        total = total + modules.moe_act * (1 - dense_mlp) * elementwise_s(
            xp, tokens * topk * f / t * (2.0 + gated) * e, hw, 1.0)
    return total


def layer_times(xp: Any, *, tokens: Any, s_q: Any, s_kv: Any, b: Any, h: Any, f: Any, at: AttentionShape,
                gated: Any, experts: Any, topk: Any, t: Any, ep: Any, sp: Any, flash: Any, hw: Hardware,
                gemm_bytes: Any, act_bytes: Any, cast_bytes: Any,
                dropout: Any = True, eager: Any = False, shared: Any = 0.0, window: Any = 0.0,
                window_share: Any = 0.0) -> tuple[Any, Any, Any, Any, Any]:
    """Per-pass times of one transformer layer for one micro-batch on one GPU.

    Returns (gemm_fwd, attn_fwd, attn_bwd, elem_fwd, elem_bwd): the weight GEMMs of one pass (the
    backward runs them twice), the attention core forward and backward (with the softmax when it is not
    fused), and the other memory-bound work of the forward and backward. ``tokens`` = b s / cp is the GPU's share, ``s_q`` = s / cp the queries of one
    sequence on this GPU, ``s_kv`` = s the keys they attend.

    Per-GPU GEMM shapes under tensor parallelism t (Megatron-LM column/row split, Shoeybi et al. 2019):
    the attention matrices of :func:`clustersim.cost.flops.attention_matrices` (``at``), QKV tokens x h
    x (q + k + v)/t and projection tokens x o/t x h, MLA's five with its down projections whole on
    every rank; MLP in tokens x h x (2 or 1)f/t (gate and up fused) and out tokens x f/t x h; MoE: E/ep
    local experts, each with tokens x top-k x ep / E rows, and the router tokens x h x E; ``shared``
    shared experts (DeepSeekMoE, Dai et al. 2024, arXiv:2401.06066 Sec. 3.2: experts every token passes
    through) run as one dense MLP of shared x f on all the tokens, split by tensor parallelism as a dense
    MLP is (Megatron-core SharedExpertMLP).

    ``window``, ``window_share``: sliding-window attention on that share of the layers (per-layer
    averages): a fused kernel computes :func:`clustersim.cost.flops.window_mask_share` of the scores there,
    at the throughput its measured curve gives for a key span of the window (s / (s + s_half) at s = W:
    the short rows of a narrow band fill the kernel's tiles as short sequences do); unfused attention
    materialises the whole score matrix whatever the mask.

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
    moe = experts > 1.0
    mats = attention_matrices(h, at)
    g: Any = 0.0
    for d_in, d_out, split in mats:
        g = g + _matrix_s(xp, tokens, d_in, d_out, split, t, 1.0, hw, gemm_bytes)
    rows, local = _expert_rows(xp, tokens, experts, topk, ep)
    g = g + gemm_s(xp, rows, h, (1.0 + gated) * f / t, local, hw, gemm_bytes)
    g = g + gemm_s(xp, rows, f / t, h, local, hw, gemm_bytes)
    g = g + xp.select(shared > 0.0, lambda: gemm_s(xp, tokens, h, (1.0 + gated) * shared * f / t, 1.0, hw, gemm_bytes)
                      + gemm_s(xp, tokens, shared * f / t, h, 1.0, hw, gemm_bytes), lambda: 0.0)
    # the router stays in 16-bit precision
    g = g + xp.select(moe, lambda: gemm_s(xp, tokens, h, experts, 1.0, hw, act_bytes, hw.peak16), lambda: 0.0)

    heads = b * at.heads / t
    n_s2 = heads * s_q * s_kv  # score elements per GPU
    e = act_bytes
    # Fused attention: the causal half of 2 s_q s_kv (d_qk + d_v) FLOPs per head, at the kernel's measured fraction
    # of the 16-bit peak on this GPU (FP8 runs keep attention in BF16: Transformer Engine's fp8_autocast
    # changes only the linear layers' GEMMs), rising with the sequence as F s / (s + s_half); backward 2.5
    # x the forward's FLOPs (5 GEMMs against 2; FlashAttention-2 Sec. 3.1) at its own measured fraction.
    attn_peak = hw.peak16
    hd, hd_v = at.q / at.heads, at.o / at.heads
    seq_use = s_kv / (s_kv + hw.attn_half_seq)

    def fused() -> tuple[Any, Any]:
        # causal layers compute 1/2 of the scores, windowed ones window_mask_share of them at the window's
        # span: FLOPs over the throughput factor, averaged over the layers
        span = xp.where(window > 0.0, xp.minimum(window, s_kv), s_kv)
        per_use = ((1.0 - window_share) * 0.5 / seq_use
                   + window_share * window_mask_share(xp, s_kv, window) * (span + hw.attn_half_seq) / span)
        flop_use = 2.0 * n_s2 * (hd + hd_v) * per_use
        fwd = flop_use / (attn_peak * hw.attn_fwd * hw.attn_scale) + hw.gap_s
        bwd = 2.5 * flop_use / (attn_peak * hw.attn_bwd * hw.attn_scale) + 2.0 * hw.gap_s
        return fwd, bwd

    def unfused() -> tuple[Any, Any]:
        # QK^T and attention x V as batched GEMMs per head over the full s x s matrix, plus the softmax
        # and dropout on the scores (forward: read, write, read, write, 1-byte mask; backward: read
        # probabilities, gradient and mask, write)
        scores = (gemm_s(xp, s_q, hd, s_kv, heads, hw, e, attn_peak)
                  + gemm_s(xp, s_q, s_kv, hd_v, heads, hw, e, attn_peak))
        drop = xp.where(dropout, 2.0 * e + 1.0, 0.0)  # dropout on the probabilities: read, write, mask
        return (scores + elementwise_s(xp, n_s2 * (2.0 * e + drop), hw, 2.0),
                2.0 * scores + elementwise_s(xp, n_s2 * (3.0 * e + drop), hw, 2.0))

    if xp.is_scalar(flash):
        attn_fwd, attn_bwd = fused() if flash else unfused()
    else:
        (ff, fb), (uf, ub) = fused(), unfused()
        attn_fwd, attn_bwd = xp.where(flash, ff, uf), xp.where(flash, fb, ub)

    width = xp.where(sp, h / t, h)  # LayerNorm / dropout region width per GPU
    act = tokens * (topk + shared) * f / t
    perm = xp.select(moe, lambda: 4.0 * e * tokens * h * topk / xp.where(sp, t, 1.0), lambda: 0.0)
    # forward: 2 LayerNorms (read, write), 2 bias-dropout-residual (read 2, write 1, mask 1 byte),
    # activation (read 1 or 2, write 1), MoE permutation and un-permutation (read, write)
    mask = xp.where(dropout, 1.0, 0.0)
    fwd = tokens * width * (4.0 * e + 2.0 * (3.0 * e + mask)) + act * (2.0 + gated) * e + perm
    # backward: LayerNorm (read x, dy; write dx), dropout-residual (read dy, mask; write), activation
    # (read inputs and dy, write d-inputs), permutation
    bwd = tokens * width * (6.0 * e + 2.0 * (2.0 * e + mask)) + act * (3.0 + 2.0 * gated) * e + perm
    # rotary embedding of q and k (read, write; forward and backward): Su et al. 2021 (RoFormer); MLA
    # rotates only the d_rope part of each query head and the one shared rotary key (DeepSeek-V2 Sec. 2.1.3)
    rope_w = _rope_width(at, t)
    rope = 2.0 * e * tokens * rope_w
    # MLA's two latent RMSNorms on r_q and r_kv (DeepSeek-V2 App. C; forward read, write; backward read x
    # and dy, write dx), on every tensor-parallel rank
    latent = tokens * at.mla * ((at.q_rank > 0.0) * at.q_rank + at.kv_rank)
    # FP8 (gemm_bytes 1): each FP8 GEMM's activation input is cast forward (QKV and FC1 inputs h wide,
    # projection and FC2 inputs o/t and f/t wide; MLA's five matrices their own inputs) and each output
    # gradient backward, at the recipe's bytes per element (Transformer Engine FP8 recipes; Micikevicius
    # et al. 2022, "FP8 formats")
    fp8 = gemm_bytes < 1.5
    mlps = 1.0 + (shared > 0.0)  # MLP blocks whose input is cast (the routed experts', the shared experts')
    cast_fwd = xp.select(fp8, lambda: cast_bytes * tokens * (_cast_width(mats, t, True) + mlps * h
                                                             + (topk + shared) * f / t), lambda: 0.0)
    cast_bwd = xp.select(fp8, lambda: cast_bytes * tokens * (_cast_width(mats, t, False) + mlps * h
                                                             + (topk + shared) * (1.0 + gated) * f / t), lambda: 0.0)
    eager_b = xp.select(eager, lambda: tokens * (2.0 * width * (28.0 + 2.0 * e) + 16.0 * rope_w)
                        + 2.0 * e * gated * act, lambda: 0.0)
    kernels = eff.ELEMENTWISE_KERNELS_PER_LAYER + xp.where(eager, eff.EAGER_KERNELS_PER_LAYER, 0.0) + 2.0 * at.mla
    fwd = fwd + 2.0 * e * latent
    bwd = bwd + 3.0 * e * latent
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
