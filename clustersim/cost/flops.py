"""Parameter counts and FLOPs per step: model FLOPs (what the model needs) and hardware FLOPs (what runs).

Notation (Megatron's): L layers, h hidden size, f FFN width (per expert), a attention heads, k_v
key/value heads, V vocabulary, s sequence length, B sequences per step. A gated MLP (SwiGLU, Shazeer
2020) has three matrices h x f instead of two. A mixture-of-experts layer has E expert MLPs of which
top-k run per token, and a router h x E.

The attention block's widths are one :class:`AttentionShape` (built once by :func:`attention_shape`):
queries a x d_qk, keys k_v x d_qk, values k_v x d_v and the attention output a x d_v, with the head
dimension d_qk = h/a unless the model sets its own (Qwen3 and gpt-oss have a x head_dim > h: the HF
configs' ``head_dim``, Megatron's ``kv_channels``) and d_v = d_qk unless it sets ``v_head_dim``;
grouped-query attention (Ainslie et al. 2023) has k_v < a. Multi-head latent attention (MLA:
DeepSeek-V2, arXiv:2405.04434 Sec. 2.1; DeepSeek-V3, arXiv:2412.19437 Sec. 2.1.1) gives every head its
own key and value (k_v = a), with d_qk = d_nope + d_rope, and projects through low-rank latents: queries
h -> r_q -> a d_qk (h -> a d_qk without query compression), keys and values h -> r_kv + d_rope (the
latent and one rotary key all heads share) -> a (d_nope + d_v), output a d_v -> h. Training runs these
five matrices as they are (the latents are absorbed into the projections only for inference, V2 Sec.
2.1.2), so their FLOPs, shapes and stored inputs are what the time and memory models charge.

All functions take floats or numpy arrays (see :mod:`clustersim.cost.backend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AttentionShape",
    "attention_shape",
    "attention_matrices",
    "attention_weights",
    "attention_params",
    "mlp_params",
    "router_params",
    "model_params",
    "lora_layer_params",
    "gemm_flop_per_token",
    "attention_flop_per_token",
    "window_mask_share",
    "attention_mask_share",
    "model_attention_share",
    "logits_flop_per_token",
    "model_flop_per_token",
    "hardware_flop_per_token",
    "op_sac_matmuls",
    "op_sac_recompute_flop_per_token",
]


@dataclass(frozen=True)
class AttentionShape:
    """The widths of one layer's attention over all its heads (floats or arrays; see the module doc).

    ``q``: the queries, a x d_qk (the QK^T contraction summed over the heads); ``k``: the keys, k_v x
    d_qk; ``v``: the values, k_v x d_v; ``o``: the attention output and the output projection's input,
    a x d_v; ``heads``: a. MLA (``kv_rank`` > 0): ``q_rank`` the query latent (0: no query compression),
    ``kv_rank`` the key-value latent, ``rope`` the rotary part of d_qk."""

    q: Any
    k: Any
    v: Any
    o: Any
    heads: Any
    q_rank: Any = 0.0
    kv_rank: Any = 0.0
    rope: Any = 0.0

    @property
    def mla(self) -> Any:
        return self.kv_rank > 0.0


def _pick(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` else ``b``, by arithmetic (floats or arrays alike; both finite)."""
    return cond * a + (1 - cond) * b


def attention_shape(h: Any, a: Any, kv: Any, head_dim: Any = 0.0, v_head_dim: Any = 0.0,
                    q_rank: Any = 0.0, kv_rank: Any = 0.0, rope: Any = 0.0) -> AttentionShape:
    """The :class:`AttentionShape` of a model: d_qk = ``head_dim`` (h/a when 0), d_v = ``v_head_dim``
    (d_qk when 0); MLA when ``kv_rank`` > 0, with ``q_rank`` and ``rope`` (d_rope, part of d_qk)."""
    d_qk = _pick(head_dim > 0.0, head_dim, h / a)
    d_v = _pick(v_head_dim > 0.0, v_head_dim, d_qk)
    kv = _pick(kv_rank > 0.0, a, kv)
    return AttentionShape(q=a * d_qk, k=kv * d_qk, v=kv * d_v, o=a * d_v, heads=a, q_rank=q_rank,
                          kv_rank=kv_rank, rope=rope)


def attention_matrices(h: Any, at: AttentionShape) -> tuple[tuple[Any, Any, float], ...]:
    """The attention block's weight matrices in execution order, as (d_in, d_out, split): ``split`` 1 for
    a column- or row-parallel matrix that tensor parallelism divides (Megatron-LM, Shoeybi et al. 2019),
    0 for one every tensor-parallel rank runs whole (MLA's down projections: Megatron-core's
    MultiLatentAttention builds linear_q_down_proj and linear_kv_down_proj "duplicated").

    ``split``: 0 duplicated, 1 column-parallel (d_out divided), 2 row-parallel (d_in divided). Five
    slots: the query down projection h -> r_q (MLA with query compression; else empty, 0 wide), the
    query (or fused QKV) projection, the key-value down projection h -> r_kv + d_rope (MLA; else empty),
    the key-value up projection r_kv -> a d_nope + a d_v (MLA; else empty), and the output projection
    o -> h. Without MLA the second is Megatron's fused h -> q + k + v."""
    mla = at.mla
    q_down = mla * (at.q_rank > 0.0) * at.q_rank
    return ((h, q_down, 0.0),
            (_pick(q_down > 0.0, q_down, h), _pick(mla, at.q, at.q + at.k + at.v), 1.0),
            (h, mla * (at.kv_rank + at.rope), 0.0),
            (mla * at.kv_rank, mla * (at.k - at.heads * at.rope + at.v), 1.0),
            (at.o, h, 2.0))


def attention_weights(h: Any, at: AttentionShape, split: bool | None = None) -> Any:
    """Weight elements of the attention matrices (:func:`attention_matrices`, no biases); ``split`` True:
    only those tensor parallelism divides, False: only the duplicated ones, None: all."""
    total: Any = 0.0
    for d_in, d_out, share in attention_matrices(h, at):
        if split is None or split == (share > 0.0):
            total = total + d_in * d_out
    return total


def attention_params(h: Any, at: AttentionShape, split: bool | None = None, biases: Any = 1.0) -> Any:
    """Attention block parameters of one layer, with biases and the two LayerNorms.

    Each matrix of :func:`attention_matrices` with its bias, (d_in + 1) x d_out, MLA's two latent norms
    (r_q + r_kv), and the LayerNorm weight and bias 2 x 2h. Without MLA: QKV (h+1) x (q + k + v), output
    projection (o+1) x h, which for multi-head attention with the MLP below gives Narayanan et al. 2021
    (arXiv:2104.04473) Eq. 2's per-layer count 12h^2 + 13h. ``split`` as :func:`attention_weights` (the
    latent norms go with the duplicated matrices, the LayerNorms with the split ones). ``biases`` 0: without
    the biases, the norms as scale vectors only (2h), the count of a bias-free model (Llama, DeepSeek).
    """
    total: Any = 0.0
    for d_in, d_out, share in attention_matrices(h, at):
        if split is None or split == (share > 0.0):
            total = total + (d_in + biases) * d_out
    if split is None or not split:
        total = total + at.mla * ((at.q_rank > 0.0) * at.q_rank + at.kv_rank)
    if split is None or split:
        total = total + (2.0 + 2.0 * biases) * h
    return total


def mlp_params(h: Any, f: Any, gated: Any, biases: Any = 1.0) -> Any:
    """One (expert) MLP's parameters with biases: (h+1) x f per input matrix (two if gated), (f+1) x h
    (``biases`` 0: h x f and f x h)."""
    return (h + biases) * f * (1.0 + gated) + (f + biases) * h


def router_params(h: Any, experts: Any) -> Any:
    """The MoE router h x E (zero for a dense model)."""
    return (experts > 1.0) * h * experts


def model_params(L: Any, h: Any, f: Any, at: AttentionShape, V: Any, gated: Any, experts: Any, topk: Any,
                 tied: Any, shared: Any = 0.0, dense_layers: Any = 0.0, dense_f: Any = 0.0,
                 biases: Any = 1.0) -> tuple[Any, Any]:
    """(total, active) parameters: layers + input embedding V x h + output layer (unless tied) + final norm.

    Active counts top-k experts per layer (DeepSeek-V3 and Mixtral report both). A MoE layer also has
    ``shared`` shared experts of width f that every token passes through (DeepSeekMoE, Dai et al. 2024,
    arXiv:2401.06066 Sec. 3.2); the first ``dense_layers`` layers have one dense MLP of width ``dense_f``
    instead (DeepSeek-V3's first three, arXiv:2412.19437 Sec. 4.2; HF first_k_dense_replace). Learned
    position embeddings (s x h in GPT-3, 0.01% of 175B) are left out: modern models use rotary embeddings.
    ``biases`` 0: every matrix without its bias and the norms as scale vectors (the count the catalog and
    the scenario's checks use, :func:`clustersim.scenario.catalog.params_from_architecture`).
    """
    att = attention_params(h, at, None, biases)
    mlp = mlp_params(h, f, gated, biases)
    moe = att + router_params(h, experts) + shared * mlp
    dense = dense_layers * (att + mlp_params(h, dense_f, gated, biases))
    emb = V * h * (2.0 - tied) + (1.0 + biases) * h
    n = L - dense_layers
    return n * (moe + experts * mlp) + dense + emb, n * (moe + topk * mlp) + dense + emb


def lora_layer_params(h: Any, f: Any, at: AttentionShape, gated: Any, n_experts: Any, rank: Any) -> Any:
    """LoRA adapter parameters of one layer: r x (d_in + d_out) for every linear layer (Hu et al. 2021).

    Adapters on all linear layers, as QLoRA does (Dettmers et al. 2023, Sec. 4): the attention matrices
    of :func:`attention_matrices` (the fused QKV and the output projection; MLA's five), the MLP input
    matrices (gate and up) and the output matrix, per expert.
    """
    attn: Any = 0.0
    for d_in, d_out, _ in attention_matrices(h, at):
        attn = attn + (d_out > 0.0) * rank * (d_in + d_out)
    mlp = rank * (h + f) * (1.0 + gated) + rank * (f + h)
    return attn + n_experts * mlp


def gemm_flop_per_token(h: Any, f: Any, at: AttentionShape, gated: Any, experts: Any, topk: Any) -> Any:
    """Forward FLOPs of one layer's weight GEMMs per token: 2 x (active weight matrix elements).

    The attention matrices (:func:`attention_weights`: QKV 2h(q + k + v) and projection 2oh, MLA's five
    matrices), MLP 2hf(2 or 3) per active expert, router 2hE. For GPT (k_v = a, f = 4h, no gate) this is
    24h^2, Megatron's count (Narayanan 2021, Sec. 3.3.2 / App.).
    """
    mlp = h * f * (2.0 + gated)
    return 2.0 * (attention_weights(h, at) + topk * mlp + (experts > 1.0) * h * experts)


def attention_flop_per_token(s: Any, at: AttentionShape) -> Any:
    """Forward FLOPs of the attention core per token per layer: QK^T over the queries' a x d_qk and
    attention x V over the output's a x d_v, 2s(q + o); 4sq for attention with d_v = d_qk.

    Counted over the full s x s score matrix, as Megatron (Korthikanti et al. 2022, arXiv:2205.05198,
    Eq. 7: 4Bs^2h per layer) and PaLM (Chowdhery et al. 2022, App. B: 12LHQT for forward + backward)
    count it, so MFU compares with the published figures. Grouped-query attention does not change it
    (every query head still attends); MLA attends at d_qk = 192 and d_v = 128 per head (DeepSeek-V3's
    dimensions). A sliding window shortens the span each query is counted over
    (:func:`model_attention_share`). The time model charges what the kernels really run (see compute and
    :func:`attention_mask_share`), and so does HFU.
    """
    return 2.0 * s * (at.q + at.o)


def window_mask_share(xp: Any, s: Any, window: Any) -> Any:
    """Share of the s x s score matrix a fused kernel computes under a causal sliding window of
    ``window`` keys (0 = none): query i attends min(i + 1, W) keys (Beltagy et al. 2020, "Longformer",
    arXiv:2004.05150 Sec. 3.1; Jiang et al. 2023, "Mistral 7B", arXiv:2310.06825 Sec. 2: each token attends
    at most W tokens back), so the kernel covers s W - W^2 / 2 of the s^2 entries: W / s - (W / s)^2 / 2,
    which is the causal 1/2 at W = s (FlashAttention-2 skips the blocks the mask empties, Dao 2023
    Sec. 3.1.1; its window_size argument, as cuDNN's and Transformer Engine's, likewise)."""
    r = xp.where(window > 0.0, xp.minimum(window, s), s) / s
    return r - 0.5 * r * r


def attention_mask_share(xp: Any, s: Any, window: Any, window_share: Any) -> Any:
    """Mean share of the s x s score matrix a fused kernel computes per layer, when ``window_share`` of the
    layers attend through a sliding window (:func:`window_mask_share`) and the rest causally (1/2)."""
    return (1.0 - window_share) * 0.5 + window_share * window_mask_share(xp, s, window)


def model_attention_share(xp: Any, s: Any, window: Any, window_share: Any) -> Any:
    """The model FLOPs' attention count per layer under sliding windows, relative to
    :func:`attention_flop_per_token`: the convention counts every query over the whole span it may attend
    (s for a causal layer, masked half included), so a windowed layer counts its window, min(W, s) / s of
    it (the PaLM formula's sequence length read as the attention span, Chowdhery et al. 2022 App. B)."""
    span = xp.where(window > 0.0, xp.minimum(window, s), s)
    return (1.0 - window_share) + window_share * span / s


def logits_flop_per_token(h: Any, V: Any) -> Any:
    """Forward FLOPs of the output layer per token: 2hV (Narayanan 2021 Eq. 3's logit term is 6BshV)."""
    return 2.0 * h * V


def model_flop_per_token(xp: Any, L: Any, gemm: Any, attn: Any, logits: Any, lora: Any, lora_params: Any) -> Any:
    """Model FLOPs per token (no recomputation): the FLOPs the update needs.

    Full training: 3 x forward (backward = 2 x forward: Kaplan et al. 2020; GPT-3 App. D; C = 6ND),
    i.e. 72BLsh^2(1 + s/(6h) + V/(12hL)) per step for GPT (Korthikanti 2022 Eq. 7; reference.md D.2).
    LoRA/QLoRA (Hu et al. 2021): the frozen weights need no weight gradient, so their GEMMs and the
    logits run forward and input-gradient only (2 x forward); the attention core still runs its full
    backward (3 x), and the adapters cost 6 x their parameters.
    """
    return xp.select(lora, lambda: L * (2.0 * gemm + 3.0 * attn) + 2.0 * logits + 6.0 * lora_params,
                     lambda: 3.0 * (L * (gemm + attn) + logits))


def op_sac_matmuls(h: Any, f: Any, gated: Any, at: AttentionShape) -> tuple[tuple[Any, Any, Any, bool, Any], ...]:
    """A layer's matmuls under torchtitan's op-level selective checkpointing, which keeps the outputs of
    every *other* matmul and reruns the rest (torchtitan ``parallelize_llama.py``, ``_save_list``: "Saves
    output of all compute ops, except every second mm"; the count runs over the layer's forward).

    Rows (d_in, d_out, split, expert, rerun): ``split`` as :func:`attention_matrices`; ``expert`` True for the MLP's matrices (per active
    expert), ``rerun`` 1 for the even-numbered matmuls (rerun in the backward), 0 for the odd ones (their
    outputs kept). torchtitan runs the projections unfused: Q, K, V, O (K and O rerun); MLA (torchtitan's
    DeepSeek-V3 model) wq_a, wq_b, wkv_a, wkv_b, wo (wq_b and wkv_b rerun) or, without query compression,
    wq, wkv_a, wkv_b, wo (wkv_a and wo rerun); then the MLP's W1, W3, W2 (gated) or W1, W2, numbered on."""
    mla = at.mla
    five = mla * (at.q_rank > 0.0)  # five attention matmuls: the MLP's numbering shifts by one
    four = 1 - five
    std = 1 - mla
    kv_up = mla * (at.k - at.heads * at.rope + at.v)
    return ((h, std * at.q + mla * four * at.q, 1.0, False, 0.0),          # 1: Q (wq): kept
            (h, std * at.k, 1.0, False, 1.0),                               # 2: K: rerun
            (h, std * at.v, 1.0, False, 0.0),                               # 3: V: kept
            (h, five * at.q_rank, 0.0, False, 0.0),                         # 1: wq_a: kept
            (_pick(five > 0.0, at.q_rank, 1.0), five * at.q, 1.0, False, 1.0),  # 2: wq_b: rerun
            (h, mla * (at.kv_rank + at.rope), 0.0, False, four),            # 3 (kept) or 2 (rerun): wkv_a
            (mla * at.kv_rank, kv_up, 1.0, False, five),                    # 4 (rerun) or 3 (kept): wkv_b
            (at.o, h, 2.0, False, four),                                    # 5 (kept) or 4 (rerun): O / wo
            (h, f, 1.0, True, five),                                        # W1: 6 (rerun) or 5 (kept)
            (h, gated * f, 1.0, True, four),                                # W3 (gated): 7 or 6
            (f, h, 2.0, True, _pick(gated > 0.0, five, four)))              # W2: 8 or 7; 7 or 6 ungated


def op_sac_recompute_flop_per_token(h: Any, f: Any, gated: Any, at: AttentionShape, topk: Any) -> Any:
    """Forward FLOPs per token per layer that op-level selective checkpointing reruns: the even-numbered
    matmuls of :func:`op_sac_matmuls` (for a Llama layer the K projection, the output projection and one
    MLP matmul, h x f per active expert; :func:`clustersim.cost.compute.op_sac_recompute_gemm_s` times them)."""
    total: Any = 0.0
    for d_in, d_out, _, expert, rerun in op_sac_matmuls(h, f, gated, at):
        total = total + rerun * (topk if expert else 1.0) * d_in * d_out
    return 2.0 * total


def hardware_flop_per_token(xp: Any, model: Any, L: Any, gemm: Any, attn: Any, recompute: Any,
                            fused: Any = False, op_sac: Any = False, op_sac_gemm: Any = 0.0,
                            rerun_share: Any = 1.0, sel_attn: Any = 1.0, sel_gemm: Any = 0.0,
                            mask: Any = 0.5, model_attn: Any = None) -> Any:
    """Hardware FLOPs per token: the FLOPs the time model charges, recomputation included.

    Full recomputation reruns every layer's forward (Narayanan 2021 Eq. 3: 96BLsh^2(1 + s/(6h) +
    V/(16Lh)), the logit layer is not recomputed); selective recomputation reruns the attention core's
    forward (Korthikanti 2022 Sec. 5). The attention core is charged as its kernels run: unfused, the
    full s x s scores, forward once and backward twice (Eq. 3's count); fused (FlashAttention, cuDNN) under
    causal masking only the unmasked half, forward once and backward 2.5 times (5 GEMMs against 2;
    FlashAttention-2 Sec. 3.1). So HFU never counts work the time model does not charge.

    ``op_sac`` (torchtitan's op-level selective checkpointing, with ``recompute`` selective): the layer
    reruns ``op_sac_gemm`` forward GEMM FLOPs per token (:func:`op_sac_recompute_flop_per_token`) and
    not the attention core, whose output it keeps. ``rerun_share``: the share of the layers full
    recomputation reruns (training.recompute_layers; 1 = all). Megatron-core's selective recomputation
    (``training.recompute_modules``): ``sel_attn`` 1 where it reruns the attention core (core_attn, the
    default), ``sel_gemm`` the forward GEMM FLOPs per token per layer it reruns besides (mla_up_proj: MLA's
    two up projections; mlp: the dense MLPs). ``mask``: the share of the score matrix a fused kernel
    computes (:func:`attention_mask_share`: 1/2 causal, less under sliding-window attention); an unfused
    attention computes the whole matrix whatever the mask. ``attn`` is the full-matrix count per token and
    layer; ``model_attn`` the one ``model`` holds where it differs (sliding windows,
    :func:`model_attention_share`).
    """
    passes = xp.where(fused, mask * 3.5, 3.0)  # the attention core's charged share of its 3 x 4sh count
    sel = (recompute >= 1.0) & (recompute < 2.0)
    titan = sel & (op_sac != 0.0)
    share = xp.where(recompute >= 2.0, rerun_share, 1.0)
    megatron_sel = sel & xp.logical_not(titan)
    recomputed = xp.where(fused, mask, 1.0) * xp.where(recompute >= 2.0, share, xp.where(megatron_sel, sel_attn, 0.0))
    charged_attn = L * attn * (passes + recomputed)
    gemm_recompute = (xp.where(recompute >= 2.0, L * gemm * rerun_share, 0.0) + xp.where(titan, L * op_sac_gemm, 0.0)
                      + xp.where(megatron_sel, L * sel_gemm, 0.0))
    in_model = attn if model_attn is None else model_attn
    return model - 3.0 * L * in_model + charged_attn + gemm_recompute
