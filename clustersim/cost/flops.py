"""Parameter counts and FLOPs per step: model FLOPs (what the model needs) and hardware FLOPs (what runs).

Notation (Megatron's): L layers, h hidden size, f FFN width (per expert), a attention heads, k_v
key/value heads, V vocabulary, s sequence length, B sequences per step. Head dimension h/a unless the
model sets its own (``qw`` = a x head_dim, the query width: Qwen3 and gpt-oss have a x head_dim > h, the
HF configs' ``head_dim``, Megatron's ``kv_channels``); the key and value projections are ``k_v x
head_dim`` wide (grouped-query attention, Ainslie et al. 2023). A gated MLP
(SwiGLU, Shazeer 2020) has three matrices h x f instead of two. A mixture-of-experts layer has E
expert MLPs of which top-k run per token, and a router h x E.

All functions take floats or numpy arrays (see :mod:`clustersim.cost.backend`).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "q_width",
    "kv_width",
    "attention_params",
    "mlp_params",
    "router_params",
    "model_params",
    "lora_layer_params",
    "gemm_flop_per_token",
    "attention_flop_per_token",
    "logits_flop_per_token",
    "model_flop_per_token",
    "hardware_flop_per_token",
    "op_sac_recompute_flop_per_token",
]


def q_width(h: Any, qw: Any = None) -> Any:
    """The query (and attention output) width a x head_dim: ``qw``, or h when the model sets no head_dim."""
    return h if qw is None else qw


def kv_width(h: Any, a: Any, kv: Any, qw: Any = None) -> Any:
    """Width of the K (or V) projection: kv_heads x head_dim (GQA; = h for multi-head attention)."""
    return kv * q_width(h, qw) / a


def attention_params(h: Any, a: Any, kv: Any, qw: Any = None) -> Any:
    """Attention block parameters of one layer, with biases and the two LayerNorms.

    QKV (h+1) x (q + 2 k_v q/a) with q = a x head_dim (= h by default), output projection (q+1) x h,
    LayerNorm weight and bias 2 x 2h. For multi-head attention with the MLP below this gives Narayanan et
    al. 2021 (arXiv:2104.04473) Eq. 2's per-layer count 12h^2 + 13h.
    """
    q = q_width(h, qw)
    hkv = kv_width(h, a, kv, qw)
    return (h + 1.0) * (q + 2.0 * hkv) + (q + 1.0) * h + 4.0 * h


def mlp_params(h: Any, f: Any, gated: Any) -> Any:
    """One (expert) MLP's parameters with biases: (h+1) x f per input matrix (two if gated), (f+1) x h."""
    return (h + 1.0) * f * (1.0 + gated) + (f + 1.0) * h


def router_params(h: Any, experts: Any) -> Any:
    """The MoE router h x E (zero for a dense model)."""
    return (experts > 1.0) * h * experts


def model_params(L: Any, h: Any, f: Any, a: Any, kv: Any, V: Any, gated: Any, experts: Any, topk: Any,
                 tied: Any, qw: Any = None) -> tuple[Any, Any]:
    """(total, active) parameters: layers + input embedding V x h + output layer (unless tied) + final norm.

    Active counts top-k experts per layer (DeepSeek-V3 and Mixtral report both). Learned position
    embeddings (s x h in GPT-3, 0.01% of 175B) are left out: modern models use rotary embeddings.
    """
    att = attention_params(h, a, kv, qw) + router_params(h, experts)
    mlp = mlp_params(h, f, gated)
    emb = V * h * (2.0 - tied) + 2.0 * h
    return L * (att + experts * mlp) + emb, L * (att + topk * mlp) + emb


def lora_layer_params(h: Any, f: Any, a: Any, kv: Any, gated: Any, n_experts: Any, rank: Any,
                      qw: Any = None) -> Any:
    """LoRA adapter parameters of one layer: r x (d_in + d_out) for every linear layer (Hu et al. 2021).

    Adapters on all linear layers, as QLoRA does (Dettmers et al. 2023, Sec. 4): the fused QKV, the
    output projection, the MLP input matrices (gate and up) and the output matrix, per expert.
    """
    q = q_width(h, qw)
    hkv = kv_width(h, a, kv, qw)
    attn = rank * (h + q + 2.0 * hkv) + rank * (q + h)
    mlp = rank * (h + f) * (1.0 + gated) + rank * (f + h)
    return attn + n_experts * mlp


def gemm_flop_per_token(h: Any, f: Any, a: Any, kv: Any, gated: Any, experts: Any, topk: Any,
                        qw: Any = None) -> Any:
    """Forward FLOPs of one layer's weight GEMMs per token: 2 x (active weight matrix elements).

    QKV 2h(q + 2k_v q/a), projection 2qh (q = a x head_dim, = h by default), MLP 2hf(2 or 3) per active
    expert, router 2hE. For GPT (k_v = a, f = 4h, no gate) this is 24h^2, Megatron's count (Narayanan
    2021, Sec. 3.3.2 / App.).
    """
    q = q_width(h, qw)
    hkv = kv_width(h, a, kv, qw)
    mlp = h * f * (2.0 + gated)
    return 2.0 * (h * (q + 2.0 * hkv) + q * h + topk * mlp + (experts > 1.0) * h * experts)


def attention_flop_per_token(s: Any, h: Any) -> Any:
    """Forward FLOPs of the attention core per token per layer: QK^T and attention x V, 4sh (``h`` here
    is the query width a x head_dim, the hidden size unless the model sets its own head_dim).

    Counted over the full s x s score matrix, as Megatron (Korthikanti et al. 2022, arXiv:2205.05198,
    Eq. 7: 4Bs^2h per layer) and PaLM (Chowdhery et al. 2022, App. B: 12LHQT for forward + backward)
    count it, so MFU compares with the published figures. Grouped-query attention does not change it
    (every query head still attends). The time model charges what the kernels really run (see compute).
    """
    return 4.0 * s * h


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


def op_sac_recompute_flop_per_token(h: Any, f: Any, a: Any, kv: Any, topk: Any, qw: Any = None) -> Any:
    """Forward FLOPs per token per layer that op-level selective checkpointing reruns: the K projection,
    the output projection and one MLP matmul (h x f per active expert), every second matmul of a Llama
    layer (torchtitan ``parallelize_llama.py``, "Saves output of all compute ops, except every second mm";
    :func:`clustersim.cost.compute.op_sac_recompute_gemm_s` times them)."""
    q = q_width(h, qw)
    hkv = kv_width(h, a, kv, qw)
    return 2.0 * (h * hkv + q * h + topk * h * f)


def hardware_flop_per_token(xp: Any, model: Any, L: Any, gemm: Any, attn: Any, recompute: Any,
                            fused: Any = False, op_sac: Any = False, op_sac_gemm: Any = 0.0,
                            rerun_share: Any = 1.0) -> Any:
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
    recomputation reruns (training.recompute_layers; 1 = all).
    """
    passes = xp.where(fused, 0.5 * 3.5, 3.0)  # the attention core's charged share of its 3 x 4sh count
    sel = (recompute >= 1.0) & (recompute < 2.0)
    titan = sel & (op_sac != 0.0)
    share = xp.where(recompute >= 2.0, rerun_share, 1.0)
    recomputed = xp.where(fused, 0.5, 1.0) * xp.where((recompute >= 1.0) & xp.logical_not(titan), share, 0.0)
    charged_attn = L * attn * (passes + recomputed)
    gemm_recompute = xp.where(recompute >= 2.0, L * gemm * rerun_share, 0.0) + xp.where(titan, L * op_sac_gemm, 0.0)
    return model - 3.0 * L * attn + charged_attn + gemm_recompute
