"""FLOPs and parameter counts against the published closed forms (reference.md D.1, D.2)."""

from __future__ import annotations

import math

import pytest

from clustersim.cost import flops
from clustersim.cost.backend import PY
from clustersim.cost.kernel import evaluate_one

A100 = {"peak_flop_per_s": 312e12, "hbm_bytes": 80 * 2**30, "hbm_bw_bytes_per_s": 2039e9}
FABRIC = {"scaleup_gpus": 8, "scaleup_bw_bytes_per_s": 300e9, "scaleup_latency_s": 2e-6, "leaf_gpus": 256,
          "leaf_bw_bytes_per_s": 25e9, "spine_bw_bytes_per_s": 25e9, "scaleout_latency_s": 5e-6}
GPT3 = {"layers": 96, "hidden_size": 12288, "ffn_hidden_size": 4 * 12288, "attention_heads": 96, "kv_heads": 96,
        "vocab_size": 51200, "gated_mlp": False, "experts": 1, "experts_per_token": 1, "tied_embeddings": True}


def gpt3(**kw):
    """GPT-3 175B as Narayanan 2021 / Korthikanti 2022 ran it: Megatron-LM's unfused attention."""
    base = {**GPT3, "seq_len": 2048, "global_batch_seqs": 1536, "micro_batch_seqs": 1, "tp": 8, "pp": 8,
            "dp": 24, "flash_attention": False, "attention": "unfused", **A100, **FABRIC}
    return evaluate_one(**{**base, **kw})


def test_model_flops_match_korthikanti_eq7():
    B, s, L, h, V = 1536, 2048, 96, 12288, 51200
    eq7 = 72 * B * s * L * h**2 * (1 + s / (6 * h) + V / (12 * h * L))
    assert gpt3(recompute="none")["model_flop_per_step"] == pytest.approx(eq7, rel=1e-12)
    assert gpt3(recompute="none")["hardware_flop_per_step"] == pytest.approx(eq7, rel=1e-12)


def test_full_recompute_matches_narayanan_eq3():
    B, s, L, h, V = 1536, 2048, 96, 12288, 51200
    eq3 = 96 * B * s * L * h**2 * (1 + s / (6 * h) + V / (16 * L * h))
    out = gpt3(recompute="full")
    assert out["hardware_flop_per_step"] == pytest.approx(eq3, rel=1e-12)
    assert out["hfu"] / out["mfu"] == pytest.approx(eq3 / out["model_flop_per_step"], rel=1e-12)


def test_selective_recompute_charges_one_more_attention_forward():
    """Selective recomputation reruns the attention core's forward once: 4 B L s^2 h more than Eq. 7
    (Korthikanti 2022 Eq. 8 counts 12 B L s^2 h; the time model charges what the kernels rerun)."""
    B, s, L, h, V = 1536, 2048, 96, 12288, 51200
    eq7 = 72 * B * s * L * h**2 * (1 + s / (6 * h) + V / (12 * h * L))
    got = gpt3(recompute="selective")["hardware_flop_per_step"]
    assert got == pytest.approx(eq7 + 4 * B * L * s**2 * h, rel=1e-12)


def test_fused_causal_attention_is_charged_half_the_scores():
    """FlashAttention under causal masking runs half the s x s blocks, forward once and backward 2.5
    times (FlashAttention-2 Sec. 3.1): its hardware FLOPs are the GEMMs' plus 0.5 x 3.5 x 4 B L s^2 h."""
    B, s, L, h = 1536, 2048, 96, 12288
    unfused = gpt3(recompute="none")
    fused = gpt3(recompute="none", flash_attention=True, attention="flash2")
    attention_3x = 3 * 4 * B * L * s**2 * h
    assert fused["model_flop_per_step"] == unfused["model_flop_per_step"]  # MFU keeps the convention
    assert fused["hardware_flop_per_step"] == pytest.approx(
        unfused["hardware_flop_per_step"] - attention_3x + attention_3x * 0.5 * 3.5 / 3, rel=1e-12)
    assert fused["hfu"] < 1.0


def test_palm_6n_plus_attention_cross_check_for_gqa_gated_model():
    # Llama 3 405B-like: PaLM App. B, model FLOPs per token = 6N + 12 L H Q T with N the matrices that
    # multiply (not the input-embedding lookup, biases or norms)
    L, h, a, kv, f, V, s = 126, 16384, 128, 8, 53248, 128256, 8192
    hkv = kv * h // a
    n_matrix = L * (h * (h + 2 * hkv) + h * h + 3 * h * f) + h * V
    palm = 6 * n_matrix + 12 * L * a * (h // a) * s
    at = flops.attention_shape(h, a, kv)
    gemm = flops.gemm_flop_per_token(h, f, at, 1.0, 1.0, 1.0)
    attn = flops.attention_flop_per_token(s, at)
    logits = flops.logits_flop_per_token(h, V)
    per_token = flops.model_flop_per_token(PY, L, gemm, attn, logits, False, 0.0)
    assert per_token == pytest.approx(palm, rel=1e-12)


def test_params_match_narayanan_eq2_for_gpt():
    # Eq. 2 counts learned position embeddings (s h) that this count leaves out, and no final norm (2h)
    L, h, V, s = 96, 12288, 51200, 2048
    eq2 = 12 * L * h**2 * (1 + 13 / (12 * h) + (V + s) / (12 * L * h))
    total, active = flops.model_params(L, h, 4 * h, flops.attention_shape(h, 96, 96), V, 0.0, 1.0, 1.0, 1.0)
    assert total == pytest.approx(eq2 - s * h + 2 * h, rel=1e-12)
    assert active == total


def test_llama3_405b_and_mixtral_published_counts():
    total, _ = flops.model_params(126, 16384, 53248, flops.attention_shape(16384, 128, 8), 128256, 1.0, 1.0, 1.0, 0.0)
    assert total / 1e9 == pytest.approx(405.9, rel=0.005)  # Meta: 405B
    total, active = flops.model_params(32, 4096, 14336, flops.attention_shape(4096, 32, 8), 32000, 1.0, 8.0, 2.0, 0.0)
    assert total / 1e9 == pytest.approx(46.7, rel=0.01)  # Mistral AI: 46.7B total
    assert active / 1e9 == pytest.approx(12.9, rel=0.01)  # 12.9B active


def test_gqa_moe_and_lora_change_flops_the_right_way():
    base = {"layers": 32, "hidden_size": 4096, "ffn_hidden_size": 14336, "attention_heads": 32, "kv_heads": 32,
            "vocab_size": 32000, "gated_mlp": True, "experts": 1, "experts_per_token": 1, "seq_len": 4096,
            "global_batch_seqs": 64, "micro_batch_seqs": 1, "tp": 1, "pp": 1, "dp": 8, **A100, **FABRIC}
    mha = evaluate_one(**base)
    gqa = evaluate_one(**{**base, "kv_heads": 8})
    assert gqa["model_flop_per_step"] < mha["model_flop_per_step"]
    moe = evaluate_one(**{**base, "kv_heads": 8, "experts": 8, "experts_per_token": 2})
    # top-2 of 8: one more expert MLP (3 matrices h x f) and the router (h x E) per token and layer,
    # 3 x (2 FLOPs per weight) for forward and backward
    tokens, L, h, f = 64 * 4096, 32, 4096, 14336
    extra = 3 * tokens * L * (2 * 3 * h * f + 2 * h * 8)
    assert moe["model_flop_per_step"] - gqa["model_flop_per_step"] == pytest.approx(extra, rel=1e-12)
    assert moe["active_params"] < moe["params"]
    lora = evaluate_one(**{**base, "mode": "lora"})
    # frozen base: no weight gradients, so about 2/3 of the full FLOPs
    assert 0.6 < lora["model_flop_per_step"] / mha["model_flop_per_step"] < 0.75
    assert lora["trainable_params"] < 0.01 * lora["params"]
    assert math.isclose(lora["trainable_params"],
                        32 * flops.lora_layer_params(4096, 14336, flops.attention_shape(4096, 32, 32), 1.0, 1.0, 16), rel_tol=1e-12)


def test_a_models_own_head_dim_sets_the_attention_widths():
    """Qwen3-30B-A3B (hidden 2048, 32 query heads of 128, 4 KV heads, 128 experts of 768, top 8, vocab
    151,936, 48 layers, untied): the released 30.5B total and 3.3B active parameters come out with
    queries 32 x 128 = 4096 wide (flops.attention_shape); with hidden_size wide queries the active count is 13% short."""
    from clustersim.cost import flops
    wide = flops.attention_shape(2048, 32, 4, 128)
    total, active = flops.model_params(48, 2048, 768, wide, 151936, True, 128, 8, False)
    assert total == pytest.approx(30.5e9, rel=0.01) and active == pytest.approx(3.3e9, rel=0.03)
    narrow = flops.attention_shape(2048, 32, 4)  # head_dim h/a: the attention blocks too small
    narrow_total, narrow_active = flops.model_params(48, 2048, 768, narrow, 151936, True, 128, 8, False)
    assert narrow_total < total and narrow_active < 0.9 * active
    # the GEMM FLOPs and the attention core follow the query width; h/a is the default
    assert flops.gemm_flop_per_token(2048, 768, flops.attention_shape(2048, 32, 4, 64), True, 128, 8) == \
        flops.gemm_flop_per_token(2048, 768, narrow, True, 128, 8)
    assert (wide.q, wide.k, wide.v, wide.o) == (4096, 512, 512, 4096)


#: DeepSeek-V3's attention (config.json: hidden 7168, 128 heads, q_lora_rank 1536, kv_lora_rank 512,
#: qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128)
def _deepseek_v3_attention():
    return flops.attention_shape(7168, 128, 128, 128 + 64, 128, 1536, 512, 64)


def test_multi_head_latent_attention_has_deepseek_v3s_matrices():
    """MLA's five matrices, counted by hand from the config: q_a 7168 x 1536, q_b 1536 x 128 x 192, kv_a
    7168 x (512 + 64), kv_b 512 x 128 x (128 + 128), o 128 x 128 x 7168 = 187,105,280 weights a layer
    (DeepSeek-V2 Sec. 2.1; the HF checkpoint's q_a_proj, q_b_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj)."""
    at = _deepseek_v3_attention()
    by_hand = 7168 * 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 * 128 * 256 + 128 * 128 * 7168
    assert flops.attention_weights(7168, at) == by_hand == 187_105_280
    # the down projections run whole on every tensor-parallel rank, the rest is split
    assert flops.attention_weights(7168, at, False) == 7168 * 1536 + 7168 * 576
    # parameters add the biases (one per output), the latent norms and the layer norms
    biases = 1536 + 128 * 192 + 576 + 128 * 256 + 7168
    assert flops.attention_params(7168, at) == by_hand + biases + 1536 + 512 + 4 * 7168
    # the attention core: QK^T at 192 and attention x V at 128 per head, 2s x 128 x (192 + 128)
    assert flops.attention_flop_per_token(4096, at) == 2 * 4096 * 128 * (192 + 128)
    # the same model written as multi-head attention over hidden / heads (56-dim heads) undercounts it 2.9x
    mha = flops.attention_shape(7168, 128, 128)
    assert flops.attention_flop_per_token(4096, at) / flops.attention_flop_per_token(4096, mha) == pytest.approx(
        40960 / 14336)
    # without query compression (DeepSeek-V2-Lite) the queries come straight from h
    lite = flops.attention_shape(7168, 128, 128, 192, 128, 0, 512, 64)
    assert flops.attention_weights(7168, lite) == 7168 * 128 * 192 + 7168 * 576 + 512 * 128 * 256 + 128 * 128 * 7168


def test_mla_lora_and_op_level_checkpointing_follow_its_matrices():
    at = _deepseek_v3_attention()
    mats = [m for m in flops.attention_matrices(7168, at) if m[1] > 0]
    assert flops.lora_layer_params(7168, 2048, at, 1.0, 1, 8) == pytest.approx(
        8 * sum(d_in + d_out for d_in, d_out, _ in mats) + 8 * (3 * 2048 + 3 * 7168))
    # torchtitan's "every second matmul": wq_b and wkv_b of wq_a, wq_b, wkv_a, wkv_b, wo; then the MLP's
    # W1 and W2 (the 6th and 8th matmuls)
    rerun = flops.op_sac_recompute_flop_per_token(7168, 2048, 1.0, at, 1)
    assert rerun == 2 * (1536 * 128 * 192 + 512 * 128 * 256 + 2 * 7168 * 2048)
    # a Llama layer: K, the output projection and W3
    llama = flops.attention_shape(4096, 32, 8)
    assert flops.op_sac_recompute_flop_per_token(4096, 14336, 1.0, llama, 1) == 2 * (4096 * 1024 + 4096 * 4096
                                                                                      + 4096 * 14336)
