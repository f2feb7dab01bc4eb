"""Memory per GPU: ZeRO model states (reference.md D.4), Korthikanti Table 2 activations (D.3), pipeline
in-flight micro-batches, LoRA/QLoRA, feasibility."""

from __future__ import annotations

import pytest

from clustersim.cost import memory
from clustersim.cost.backend import PY
from clustersim.cost.flops import attention_shape
from clustersim.cost.kernel import PRECISIONS, evaluate_one

GB = 1e9
FP16 = PRECISIONS.index("fp16")
A100 = {"peak_flop_per_s": 312e12, "hbm_bytes": 80 * 2**30, "hbm_bw_bytes_per_s": 2039e9}
FABRIC = {"scaleup_gpus": 8, "scaleup_bw_bytes_per_s": 300e9, "scaleup_latency_s": 2e-6, "leaf_gpus": 256,
          "leaf_bw_bytes_per_s": 25e9, "spine_bw_bytes_per_s": 25e9, "scaleout_latency_s": 5e-6}


@pytest.mark.parametrize("zero,expected_gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_stages_reproduce_rajbhandari_7_5b_on_64_way_dp(zero, expected_gb):
    # Rajbhandari et al. 2020 Fig. 1 / reference.md D.4: Psi = 7.5B, N_d = 64, K = 12 (fp16 mixed precision)
    w, g, o = memory.model_state_bytes(PY, 7.5e9, 0.0, 0.0, False, False, float(zero), 64.0, 64.0, FP16)
    assert (w + g + o) / GB == pytest.approx(expected_gb, abs=0.05)


def test_state_bytes_per_precision():
    # fp16 16 B (Rajbhandari), bf16 18 B (fp32 main grads), fp32 16 B (no master copy), fp8 as bf16
    for prec, per_param in (("fp16", 16.0), ("bf16", 18.0), ("fp32", 16.0), ("fp8", 18.0)):
        w, g, o = memory.model_state_bytes(PY, 1.0, 0.0, 0.0, False, False, 0.0, 8.0, 8.0,
                                           PRECISIONS.index(prec))
        assert w + g + o == per_param


# reference.md D.3 (Korthikanti et al. 2022 Table 2), GPT-3 175B shapes: s=2048, b=1, h=12288, a=96, t=8
S, B, H, A, T = 2048.0, 1.0, 12288.0, 96.0, 8.0
SBH = S * B * H


def table2(tp, sp, recompute):
    stored, _ = memory.activation_bytes_per_layer(PY, S * B, S, H, 4 * H, attention_shape(H, A, A), 0.0, 1.0, tp, sp, recompute,
                                                  False, 2.0)
    return stored


def test_korthikanti_table2_no_parallelism():
    assert table2(1.0, False, 0.0) == pytest.approx(SBH * (34 + 5 * A * S / H), rel=1e-12)


def test_korthikanti_table2_tensor_parallel():
    assert table2(T, False, 0.0) == pytest.approx(SBH * (10 + 24 / T + 5 * A * S / (H * T)), rel=1e-12)


def test_korthikanti_table2_tensor_and_sequence_parallel():
    assert table2(T, True, 0.0) == pytest.approx(SBH * (34 / T + 5 * A * S / (H * T)), rel=1e-12)


def test_korthikanti_table2_selective_recompute():
    assert table2(T, False, 1.0) == pytest.approx(SBH * (10 + 24 / T), rel=1e-12)
    assert table2(T, True, 1.0) == pytest.approx(SBH * 34 / T, rel=1e-12)


def test_korthikanti_table2_full_recompute():
    assert table2(T, False, 2.0) == pytest.approx(2 * SBH, rel=1e-12)


def test_without_dropout_the_masks_are_not_stored():
    """A model trained without dropout stores no masks: 2sbh less in the replicated part (split by t
    with SP), and unfused attention keeps only the softmax output (2as^2b of 5as^2b)."""
    def stored(dropout, tp=T, sp=False, recompute=0.0):
        return memory.activation_bytes_per_layer(PY, S * B, S, H, 4 * H, attention_shape(H, A, A), 0.0, 1.0, tp, sp, recompute,
                                                 False, 2.0, dropout=dropout)[0]

    assert stored(False) == pytest.approx(SBH * (8 + 24 / T + 2 * A * S / (H * T)), rel=1e-12)
    assert stored(True) - stored(False) == pytest.approx(SBH * (2 + 3 * A * S / (H * T)), rel=1e-12)
    assert stored(False, sp=True, recompute=1.0) == pytest.approx(SBH * 32 / T, rel=1e-12)


def test_selective_recompute_saves_about_70_percent_on_gpt3():
    # Korthikanti Sec. 5: selective recomputation cuts activation memory by 70% for GPT-3 (t=8, SP)
    saving = 1 - table2(T, True, 1.0) / table2(T, True, 0.0)
    assert saving == pytest.approx(0.70, abs=0.02)


def test_in_flight_micro_batches():
    assert memory.in_flight_chunks(PY, 8.0, 1.0, 64.0, True) == 8.0  # 1F1B: first stage holds p
    assert memory.in_flight_chunks(PY, 8.0, 1.0, 4.0, True) == 4.0  # fewer micro-batches than stages
    assert memory.in_flight_chunks(PY, 8.0, 1.0, 64.0, False) == 1.0  # last stage holds one
    # interleaved: v p + p - 1 chunks of L/(p v) layers = L (1 + (p-1)/(p v)) layers (Korthikanti 4.2.3)
    p, v = 8.0, 4.0
    chunks = memory.in_flight_chunks(PY, p, v, 64.0, True)
    assert chunks * (1.0 / (p * v)) == pytest.approx(1 + (p - 1) / (p * v), rel=1e-12)


GPT3 = {"layers": 96, "hidden_size": 12288, "ffn_hidden_size": 4 * 12288, "attention_heads": 96, "kv_heads": 96,
        "vocab_size": 51200, "gated_mlp": False, "experts": 1, "experts_per_token": 1, "tied_embeddings": True,
        "seq_len": 2048, "global_batch_seqs": 1536, "micro_batch_seqs": 1, "tp": 8, "pp": 8, "dp": 24,
        **A100, **FABRIC}


def test_memory_parts_add_up_and_excess_is_reported():
    out = evaluate_one(**{**GPT3, "recompute": "none", "sequence_parallel": False, "zero": 0,
                          "flash_attention": False, "micro_batch_seqs": 4})
    parts = sum(out[k] for k in ("weights_bytes", "grads_bytes", "optimizer_bytes", "activations_bytes",
                                 "overhead_bytes"))
    assert out["memory_bytes"] == pytest.approx(parts, rel=1e-12)
    assert not out["fits_in_memory"]
    assert out["memory_excess_bytes"] == pytest.approx(out["memory_bytes"] - 80 * 2**30, rel=1e-12)
    ok = evaluate_one(**{**GPT3, "recompute": "full", "zero": 1})
    assert ok["fits_in_memory"] and ok["memory_excess_bytes"] == 0.0


def test_first_stage_activations_cover_all_layers_with_1f1b():
    # p micro-batches of L/p layers = L layers' activations on the first stage (Korthikanti Sec. 4.2.3)
    out = evaluate_one(**{**GPT3, "recompute": "selective", "sequence_parallel": True})
    per_layer, _ = memory.activation_bytes_per_layer(PY, 2048.0, 2048.0, 12288.0, 4 * 12288.0, attention_shape(12288.0, 96.0, 96.0), 0.0,
                                                     1.0, 8.0, True, 1.0, True, 2.0)
    layers = out["activations_bytes"] / per_layer
    assert 96.0 < layers < 96.0 * 1.02  # plus the embedding's dropout mask


def test_lora_and_qlora_shrink_model_states():
    llama70 = {"layers": 80, "hidden_size": 8192, "ffn_hidden_size": 28672, "attention_heads": 64, "kv_heads": 8,
               "vocab_size": 32000, "gated_mlp": True, "experts": 1, "experts_per_token": 1, "seq_len": 4096,
               "global_batch_seqs": 16, "micro_batch_seqs": 1, "tp": 8, "pp": 1, "dp": 2, **A100, **FABRIC}
    full = evaluate_one(**{**llama70, "mode": "full-finetune"})
    lora = evaluate_one(**{**llama70, "mode": "lora"})
    qlora = evaluate_one(**{**llama70, "mode": "qlora"})
    params_per_gpu = full["params"] / 8
    # frozen bf16 base at 2 B/param; QLoRA's NF4 + double-quantised constants at 4.127 bits
    assert lora["weights_bytes"] == pytest.approx(2 * params_per_gpu, rel=0.01)
    assert qlora["weights_bytes"] == pytest.approx(4.127 / 8 * params_per_gpu, rel=0.02)
    assert lora["grads_bytes"] < 0.01 * full["grads_bytes"]
    assert qlora["memory_bytes"] < lora["memory_bytes"] < full["memory_bytes"]
    assert lora["checkpoint_bytes"] == pytest.approx(14 * lora["trainable_params"], rel=1e-12)
    assert full["checkpoint_bytes"] == pytest.approx(14 * full["params"], rel=1e-12)  # BLOOM: 14 B/param


# ---- recipe settings that change memory: bf16 gradients, activation offload, expert folding, op-level SAC

LLAMA70 = {"layers": 80, "hidden_size": 8192, "ffn_hidden_size": 28672, "attention_heads": 64, "kv_heads": 8,
           "vocab_size": 128256, "gated_mlp": True, "experts": 1, "experts_per_token": 1, "seq_len": 8192,
           "global_batch_seqs": 128, "micro_batch_seqs": 2, "tp": 1, "pp": 1, "dp": 64, "zero": 3,
           "recompute": "none", "dropout": False, **A100, **FABRIC}


def test_bf16_gradient_reduction_halves_the_gradient_buffer():
    """Megatron-core's grad buffer has the parameters' dtype when grad_reduce_in_fp32 is off: 2 bytes per
    bf16/fp8 gradient instead of 4; fp16 (2) and fp32 (4) do not change."""
    for prec, on, off in (("fp32", 4.0, 4.0), ("fp16", 2.0, 2.0), ("bf16", 4.0, 2.0), ("fp8", 4.0, 2.0)):
        code = float(PRECISIONS.index(prec))
        assert memory.grad_bytes(PY, code, 1.0) == on and memory.grad_bytes(PY, code, 0.0) == off
    fp32 = evaluate_one(**LLAMA70)
    bf16 = evaluate_one(**{**LLAMA70, "grad_reduce_in_fp32": False})
    assert bf16["grads_bytes"] == pytest.approx(fp32["grads_bytes"] / 2, rel=1e-12)
    assert bf16["weights_bytes"] == fp32["weights_bytes"] and bf16["optimizer_bytes"] == fp32["optimizer_bytes"]
    assert bf16["dp_comm_s"] < fp32["dp_comm_s"]  # half the reduce-scatter volume


def test_optimizer_state_dtypes_set_the_optimizer_bytes():
    """K = master copy + two Adam moments at the run's dtypes: 12 by default (Rajbhandari 2020), 8 with bf16
    moments over an fp32 master (DeepSeek-V3), 6 with all three in bf16 (Apex DistributedFusedAdam with
    dtype bf16), moments only in fp32 training; the memory, the optimizer step's traffic and the
    checkpoint follow it, nothing else does."""
    assert [memory.optimizer_state_bytes(p) for p in PRECISIONS] == list(memory.STATE_BYTES[2])
    assert memory.optimizer_state_bytes("bf16", "fp32", "bf16") == 8.0
    assert memory.optimizer_state_bytes("bf16", "bf16", "bf16") == 6.0
    assert memory.optimizer_state_bytes("fp8", "fp16", "fp8") == 4.0
    assert memory.optimizer_state_bytes("fp32", "fp32", "bf16") == 4.0
    base = evaluate_one(**LLAMA70)
    assert evaluate_one(**{**LLAMA70, "optimizer_state_bytes": 12.0}) == base  # the default, stated
    six = evaluate_one(**{**LLAMA70, "optimizer_state_bytes": 6.0})
    assert six["optimizer_bytes"] == pytest.approx(base["optimizer_bytes"] / 2, rel=1e-12)
    assert six["memory_bytes"] == pytest.approx(base["memory_bytes"] - base["optimizer_bytes"] / 2, rel=1e-12)
    assert six["checkpoint_bytes"] == pytest.approx(base["checkpoint_bytes"] * 8.0 / 14.0, rel=1e-12)
    assert six["optimizer_s"] < base["optimizer_s"]
    for key in ("weights_bytes", "grads_bytes", "activations_bytes", "compute_s", "dp_comm_s"):
        assert six[key] == base[key], key


def test_activation_offload_keeps_one_offloaded_layer_on_the_gpu():
    """n offloaded layers free n - 1 layers' stored activations (one is in transit, double-buffered)."""
    base = evaluate_one(**LLAMA70)
    off = evaluate_one(**{**LLAMA70, "activation_offload_layers": 40})
    stored, _ = memory.activation_bytes_per_layer(PY, 2 * 8192.0, 8192.0, 8192.0, 28672.0, attention_shape(8192.0, 64.0, 8.0), 1.0, 1.0, 1.0,
                                                  True, 0.0, True, 2.0, dropout=False)
    assert base["activations_bytes"] - off["activations_bytes"] == pytest.approx(39 * stored, rel=1e-9)
    assert memory.offloaded_layers(PY, 0.0, 80.0) == 0.0 and memory.offloaded_layers(PY, 1.0, 80.0) == 0.0


@pytest.mark.parametrize("change,rule", [({"pp": 2, "dp": 32}, "offload"), ({"recompute": "full"}, "offload"),
                                         ({"activation_offload_layers": 80}, "below the 80 layers")])
def test_activation_offload_is_refused_where_megatron_refuses_it(change, rule):
    # Megatron-core TransformerConfig: fewer layers than the model, no pipeline parallelism, no recomputation
    from clustersim.cost.kernel import invalid_reasons

    cfg = {**LLAMA70, "activation_offload_layers": 40, **change}
    assert not evaluate_one(**cfg)["valid"]
    assert any(rule in m for m in invalid_reasons(**cfg))


QWEN235 = {"layers": 94, "hidden_size": 4096, "ffn_hidden_size": 1536, "attention_heads": 64, "kv_heads": 4,
           "vocab_size": 151936, "gated_mlp": True, "experts": 128, "experts_per_token": 8, "seq_len": 4096,
           "global_batch_seqs": 2048, "micro_batch_seqs": 1, "tp": 2, "pp": 8, "dp": 16, "ep": 32, "vpp": 4,
           "recompute": "none", "dropout": False, **A100, **FABRIC}


def test_expert_parallelism_folds_over_tensor_ranks_with_etp_1():
    """MoE parallel folding (Liu et al. 2025): ep x etp divides tp x cp x dp. Qwen3-235B's H100 recipe (tp 2,
    dp 16, ep 32) runs with etp 1 and is refused with etp = tp; each GPU then holds E / ep whole experts,
    their optimizer state sharded over tp x cp x dp / (ep x etp) = 1 rank."""
    from clustersim.cost.kernel import invalid_reasons

    assert any("ep x etp" in m for m in invalid_reasons(**QWEN235))
    folded = evaluate_one(**{**QWEN235, "etp": 1})
    assert folded["valid"]
    half = evaluate_one(**{**QWEN235, "ep": 16, "etp": 2})  # 16 x 2 = 32: also folds
    assert half["valid"]
    # same experts per GPU (128 / 32 whole vs 128 / 16 halves): the same weight bytes
    assert folded["weights_bytes"] == pytest.approx(half["weights_bytes"], rel=1e-12)
    # the default etp (= tp) with ep dividing dp is today's layout, unchanged by the new field
    plain = {**QWEN235, "ep": 8}
    assert evaluate_one(**plain)["step_time_s"] == evaluate_one(**{**plain, "etp": 2})["step_time_s"]


def test_torchtitan_selective_checkpointing_is_op_level():
    """torchtitan's selective AC keeps every other matmul's output (Q, V, W1, W2 of a Llama layer), the
    attention output with its softmax statistics and the layer input; other stacks' selective recompute is
    Korthikanti's (the attention core)."""
    cfg = {**LLAMA70, "recompute": "selective", "flash_attention": True}
    megatron = evaluate_one(**cfg)
    titan = evaluate_one(**{**cfg, "framework": "torchtitan"})
    tokens, h, f, a, kv = 2 * 8192.0, 8192.0, 28672.0, 64.0, 8.0
    per_layer = memory.op_sac_bytes_per_layer(PY, tokens, h, f, attention_shape(h, a, kv), 1.0, 1.0, 1.0, True, 2.0)
    assert per_layer == pytest.approx(2 * tokens * (4 * h + kv * h / a + f) + 4 * a * tokens, rel=1e-12)
    kor, _ = memory.activation_bytes_per_layer(PY, tokens, 8192.0, h, f, attention_shape(h, a, kv), 1.0, 1.0, 1.0, True, 1.0, True,
                                               2.0, dropout=False)
    # torchtitan's loss upcasts the logits (memory.logits_bytes) and FSDP2 holds the root's parameters
    v = 128256.0
    loss_extra = (memory.logits_bytes(PY, tokens, v, h, 1.0, 1.0, 2.0, 2.0)
                  - memory.logits_bytes(PY, tokens, v, h, 1.0, 1.0, 2.0, 0.0))
    assert loss_extra == pytest.approx((memory.CE_FP32_BYTES_PER_LOGIT - memory.LOGITS_FP32_BYTES_PER_LOGIT)
                                       * tokens * v, rel=1e-12)
    root_held, _ = memory.fsdp2_buffer_bytes(PY, 1.0, 2.0 * v * h, True, 2.0, 2.0)
    assert root_held == pytest.approx(2.0 * 2.0 * v * h, rel=1e-12)
    assert megatron["activations_bytes"] - titan["activations_bytes"] == pytest.approx(
        80 * (kor - per_layer) - loss_extra - root_held, rel=1e-9)


def test_optimizer_dtypes_reach_the_estimate_through_the_scenario():
    """The scenario keys a user writes (training.master_weights_dtype, training.optimizer_moments_dtype)
    set the estimate's optimizer bytes: 12 -> 8 -> 6 per parameter, the rest of the memory unchanged."""
    from clustersim.estimate import estimate

    def run(*keys):
        return estimate("scenarios/quickstart.yaml", set=keys, with_theory=False, with_interval=False).kernel

    base = run()
    moments = run("training.optimizer_moments_dtype=bf16")
    both = run("training.optimizer_moments_dtype=bf16", "training.master_weights_dtype=bf16")
    assert moments["optimizer_bytes"] == pytest.approx(base["optimizer_bytes"] * 8.0 / 12.0, rel=1e-12)
    assert both["optimizer_bytes"] == pytest.approx(base["optimizer_bytes"] * 6.0 / 12.0, rel=1e-12)
    assert both["weights_bytes"] == base["weights_bytes"] and both["grads_bytes"] == base["grads_bytes"]
    assert both["checkpoint_bytes"] < moments["checkpoint_bytes"] < base["checkpoint_bytes"]


def test_selective_recompute_modules_trade_stored_bytes_for_forward_work():
    """Megatron-core's recompute_modules (memory.SelectiveModules): each module frees what only it needs in
    the backward and reruns its forward there. On DeepSeek-V3's attention (MLA): mla_up_proj frees Q, K and
    V (2 bytes each: 2(q + k + v) per token, split by tp) and reruns the two up projections; layernorm frees
    the QKV and FC1 inputs (2 x 2 bytes per token and hidden unit); [] (nothing) keeps the attention
    statistics core_attn would drop and reruns nothing; the default is the attention core alone."""
    from clustersim.cost.memory import SelectiveModules

    at = attention_shape(7168.0, 128.0, 128.0, 192.0, 128.0, 1536.0, 512.0, 64.0)
    tokens, f = 4096.0, 2048.0

    def stored(**mods):
        return memory.activation_bytes_per_layer(PY, tokens, 4096.0, 7168.0, f, at, 1.0, 9.0, 1.0, False, 1.0, True,
                                                 2.0, dropout=False, modules=SelectiveModules(**mods),
                                                 dense_mlp=False)[0]

    base = stored()
    assert base == memory.activation_bytes_per_layer(PY, tokens, 4096.0, 7168.0, f, at, 1.0, 9.0, 1.0, False, 1.0, True,
                                                     2.0, dropout=False)[0]
    assert base - stored(mla_up_proj=1.0) == pytest.approx(tokens * 2 * (at.q + at.k + at.v), rel=1e-12)
    assert base - stored(layernorm=1.0) == pytest.approx(tokens * 4 * 7168.0, rel=1e-12)
    assert stored(core_attn=0.0) - base == pytest.approx(4 * 128 * tokens, rel=1e-12)  # fp32 softmax statistics
    assert base - stored(moe_act=1.0) == pytest.approx(tokens * 9 * f * 2, rel=1e-12)

    def run(**mods):
        return evaluate_one(**{**_DEEPSEEK_LIKE, **{f"recompute_{k}": v for k, v in mods.items()}})

    default, up, none = run(), run(mla_up_proj=True), run(core_attn=False)
    assert up["activations_bytes"] < default["activations_bytes"]
    assert up["step_time_s"] > default["step_time_s"] > none["step_time_s"]
    # HFU counts what the time model charges: the reruns' FLOPs move it, MFU stays
    assert up["hardware_flop_per_step"] > default["hardware_flop_per_step"] > none["hardware_flop_per_step"]
    assert up["model_flop_per_step"] == default["model_flop_per_step"] == none["model_flop_per_step"]


_DEEPSEEK_LIKE = {
    "layers": 8, "hidden_size": 7168, "ffn_hidden_size": 2048, "attention_heads": 128, "kv_heads": 128,
    "head_dim": 192, "v_head_dim": 128, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
    "vocab_size": 129280, "gated_mlp": True, "experts": 64, "experts_per_token": 8, "shared_experts": 1,
    "dense_layers": 1, "dense_ffn_hidden_size": 18432, "seq_len": 4096, "global_batch_seqs": 64,
    "micro_batch_seqs": 1, "tp": 1, "pp": 1, "dp": 8, "ep": 8, "recompute": "selective", "precision": "bf16",
    "peak_flop_per_s": 989e12, "hbm_bytes": 80 * 2**30, "hbm_bw_bytes_per_s": 3.35e12, "scaleup_gpus": 8,
    "scaleup_bw_bytes_per_s": 450e9, "scaleup_latency_s": 3e-6, "leaf_gpus": 256, "leaf_bw_bytes_per_s": 50e9,
    "spine_bw_bytes_per_s": 50e9, "scaleout_latency_s": 10e-6, "gemm_peak_fraction": 0.75, "gemm_half_size": 1024,
    "attention_fwd_fraction": 0.6, "attention_bwd_fraction": 0.45, "hbm_fraction": 0.85,
}
