"""The kernel as a whole: vectorized == scalar, parts add up, validity, monotonicity (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clustersim.cost.backend import PY as PY_MATH
from clustersim.cost.kernel import BOOL_OUTPUTS, BREAKDOWN, OUTPUTS, evaluate, evaluate_one, invalid_reasons
from clustersim.errors import ClustersimError

H100 = {"peak_flop_per_s": 989e12, "hbm_bytes": 80 * 2**30, "hbm_bw_bytes_per_s": 3350e9}
FABRIC = {"scaleup_gpus": 8, "scaleup_bw_bytes_per_s": 450e9, "scaleup_latency_s": 2e-6, "leaf_gpus": 256,
          "leaf_bw_bytes_per_s": 50e9, "spine_bw_bytes_per_s": 50e9 / 4, "scaleout_latency_s": 5e-6}
MODELS = [
    # llama3-8b, llama2-70b-like (GQA, gated), gpt3-6.7b (MHA, tied), a small MoE (mixtral-like)
    {"layers": 32, "hidden_size": 4096, "ffn_hidden_size": 14336, "attention_heads": 32, "kv_heads": 8,
     "vocab_size": 128256, "gated_mlp": True, "experts": 1, "experts_per_token": 1, "tied_embeddings": False},
    {"layers": 80, "hidden_size": 8192, "ffn_hidden_size": 28672, "attention_heads": 64, "kv_heads": 8,
     "vocab_size": 32000, "gated_mlp": True, "experts": 1, "experts_per_token": 1, "tied_embeddings": False},
    {"layers": 32, "hidden_size": 4096, "ffn_hidden_size": 16384, "attention_heads": 32, "kv_heads": 32,
     "vocab_size": 50257, "gated_mlp": False, "experts": 1, "experts_per_token": 1, "tied_embeddings": True},
    {"layers": 32, "hidden_size": 4096, "ffn_hidden_size": 14336, "attention_heads": 32, "kv_heads": 8,
     "vocab_size": 32000, "gated_mlp": True, "experts": 8, "experts_per_token": 2, "tied_embeddings": False},
]
BASE = {**MODELS[0], "seq_len": 4096, "global_batch_seqs": 256, "micro_batch_seqs": 1, "tokens": 1e11,
        "tp": 2, "pp": 2, "dp": 8, **H100, **FABRIC, "usd_per_gpu_hour": 2.5}

#: Attention variants: the model's own (with the drawn head_dim), and multi-head latent attention with
#: and without query compression (DeepSeek-V3's shape scaled down: d_qk 96 = 64 + 32, d_v 64)
ATTENTIONS = [{"v_head_dim": 0.0, "q_lora_rank": 0.0, "kv_lora_rank": 0.0, "qk_rope_head_dim": 0.0}, {"head_dim": 96.0, "v_head_dim": 64.0, "q_lora_rank": 384.0, "kv_lora_rank": 128.0,
                   "qk_rope_head_dim": 32.0},
              {"head_dim": 96.0, "v_head_dim": 64.0, "q_lora_rank": 0.0, "kv_lora_rank": 128.0,
               "qk_rope_head_dim": 32.0}]
#: MoE layer structures (read only for the MoE model): plain top-k, shared experts with leading dense layers
#: (DeepSeek-V3's kind), leading dense layers alone, more dense layers than the first stage holds
MOE_LAYERS = [{"shared_experts": 0, "dense_layers": 0, "dense_ffn_hidden_size": 0.0},
              {"shared_experts": 1, "dense_layers": 3, "dense_ffn_hidden_size": 28672.0},
              {"shared_experts": 0, "dense_layers": 1, "dense_ffn_hidden_size": 4096.0},
              {"shared_experts": 2, "dense_layers": 20, "dense_ffn_hidden_size": 14336.0}]
#: Sliding windows: none, gpt-oss's (128 keys on half the layers), one wider than the sequence (no effect)
WINDOWS = [{"sliding_window": 0.0, "sliding_window_layers": 0.0}, {"sliding_window": 128.0, "sliding_window_layers": 16.0},
           {"sliding_window": 8192.0, "sliding_window_layers": 32.0}]
pow2 = st.sampled_from([1, 2, 4, 8])
configs = st.fixed_dictionaries({
    "model": st.integers(0, len(MODELS) - 1),
    "tp": pow2, "pp": st.sampled_from([1, 2, 4]), "dp": st.sampled_from([1, 2, 4, 8, 16]), "cp": st.sampled_from([1, 2]),
    "ep": st.sampled_from([1, 2]), "vpp": st.sampled_from([1, 2]), "micro_batch_seqs": st.sampled_from([1, 2, 4]),
    "zero": st.integers(0, 3), "recompute": st.integers(0, 2), "sequence_parallel": st.booleans(),
    "precision": st.integers(0, 3), "mode": st.integers(0, 3), "tp_comm_overlap": st.booleans(), "ep_comm_overlap": st.booleans(),
    "moe_dedup_dispatch": st.booleans(), "expert_groups": st.sampled_from([1, 2, 4]),
    "expert_groups_per_token": st.sampled_from([1, 2]),
    "flash_attention": st.booleans(), "seq_len": st.sampled_from([2048, 4096]),
    "global_batch_seqs": st.sampled_from([64, 128, 256]),
    "etp": st.sampled_from([0, 1, 2]), "activation_offload_layers": st.sampled_from([0, 4]),
    "grad_reduce_in_fp32": st.booleans(), "head_dim": st.sampled_from([0.0, 64.0, 256.0]), "framework": st.sampled_from([0, 2]),
    "recompute_layers": st.sampled_from([-1, 0, 3]), "optimizer_state_bytes": st.sampled_from([0.0, 6.0, 8.0]),
    "mla": st.integers(0, len(ATTENTIONS) - 1), "moe_layers": st.integers(0, len(MOE_LAYERS) - 1),
    "recompute_core_attn": st.booleans(), "recompute_mla_up_proj": st.booleans(), "recompute_layernorm": st.booleans(),
    "recompute_mlp": st.booleans(), "recompute_moe_act": st.booleans(), "window": st.integers(0, len(WINDOWS) - 1),
})


def inputs(cfg):
    cfg = dict(cfg)
    model = MODELS[cfg.pop("model")]
    attention = ATTENTIONS[cfg.pop("mla")]
    moe = MOE_LAYERS[cfg.pop("moe_layers")]
    window = WINDOWS[cfg.pop("window")]
    return {**BASE, **model, **cfg, **attention, **moe, **window}


def test_parts_add_up_to_the_step_time():
    out = evaluate_one(**BASE)
    assert out["valid"]
    assert out["step_time_s"] == pytest.approx(sum(out[k] for k in BREAKDOWN), rel=1e-12)
    assert out["tokens_per_s"] == pytest.approx(256 * 4096 / out["step_time_s"])
    assert out["gpu_hours"] == pytest.approx(out["train_s"] * 32 / 3600)
    assert out["cost_usd"] == pytest.approx(2.5 * out["gpu_hours"])
    assert 0.0 < out["mfu"] < 1.0 and 0.0 < out["hfu"] < 1.0  # HFU charges causal attention at half the scores


def test_outputs_have_the_broadcast_shape_and_types():
    out = evaluate(**{**BASE, "tp": np.array([[1], [2], [4]]), "micro_batch_seqs": np.array([1, 2, 4, 8])})
    assert set(out) == set(OUTPUTS)
    for key, arr in out.items():
        assert arr.shape == (3, 4)
        assert arr.dtype == (bool if key in BOOL_OUTPUTS else np.float64)
    scalar = evaluate(**BASE)
    assert scalar["step_time_s"].shape == ()


def test_invalid_rows_are_marked_not_raised():
    tp = np.array([2, 3, 2, 2, 2])  # 3 does not divide 32 heads
    dp = np.array([8, 8, 7, 8, 8])  # 7 does not divide the batch of 256
    ep = np.array([1, 1, 1, 3, 1])  # ep on a dense model, and 3 does not divide dp
    vpp = np.array([1, 1, 1, 1, 2])  # fine: pp 2, m = 32 a multiple of 2
    out = evaluate(**{**BASE, "tp": tp, "dp": dp, "ep": ep, "vpp": vpp})
    assert out["valid"].tolist() == [True, False, False, False, True]
    assert np.isfinite(out["step_time_s"]).all()
    assert invalid_reasons(**{**BASE, "tp": 3})
    assert invalid_reasons(**BASE) == []


def test_bad_inputs_raise_clustersim_errors():
    with pytest.raises(ClustersimError, match="unknown kernel input"):
        evaluate_one(**BASE, gpus=64)
    with pytest.raises(ClustersimError, match="precision"):
        evaluate_one(**{**BASE, "precision": "int4"})
    missing = dict(BASE)
    del missing["layers"]
    with pytest.raises(ClustersimError, match="missing"):
        evaluate_one(**missing)
    assert evaluate_one(**{**BASE, "precision": "fp8", "recompute": "full", "mode": "lora"})["valid"]


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(configs, min_size=1, max_size=12))
def test_vectorized_equals_a_loop_of_scalar_calls(cfgs):
    rows = [inputs(c) for c in cfgs]
    arrays = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    vec = evaluate(**arrays)
    for i, row in enumerate(rows):
        one = evaluate_one(**row)
        for key in OUTPUTS:
            if key in BOOL_OUTPUTS:
                assert bool(vec[key][i]) == one[key], key
            else:
                np.testing.assert_allclose(vec[key][i], one[key], rtol=1e-12, atol=0, err_msg=key)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(configs)
def test_parts_always_add_up(cfg):
    out = evaluate_one(**inputs(cfg))
    assume(out["valid"])
    assert out["step_time_s"] == pytest.approx(sum(out[k] for k in BREAKDOWN), rel=1e-12)
    assert all(out[k] >= 0.0 for k in BREAKDOWN)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(configs, st.sampled_from(["hbm_bw_bytes_per_s", "scaleup_bw_bytes_per_s", "leaf_bw_bytes_per_s",
                                 "spine_bw_bytes_per_s", "peak_flop_per_s"]), st.floats(1.01, 8.0))
def test_more_bandwidth_or_flops_never_makes_a_step_slower(cfg, key, factor):
    row = inputs(cfg)
    slow = evaluate_one(**row)
    assume(slow["valid"])
    fast = evaluate_one(**{**row, key: row[key] * factor})
    assert fast["step_time_s"] <= slow["step_time_s"] * (1 + 1e-12)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(configs)
def test_memory_never_decreases_with_micro_batch(cfg):
    row = inputs(cfg)
    small = evaluate_one(**row)
    big = evaluate_one(**{**row, "micro_batch_seqs": 2 * row["micro_batch_seqs"]})
    assume(small["valid"] and big["valid"])
    assert big["memory_bytes"] >= small["memory_bytes"] * (1 - 1e-12)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(configs)
def test_doubling_dp_at_fixed_global_batch_never_increases_memory(cfg):
    row = inputs(cfg)
    narrow = evaluate_one(**row)
    wide = evaluate_one(**{**row, "dp": 2 * row["dp"]})
    assume(narrow["valid"] and wide["valid"])
    assert wide["memory_bytes"] <= narrow["memory_bytes"] * (1 + 1e-12)


def test_placement_puts_neighbouring_stages_on_the_tier_they_span():
    """With pipeline stages placed inside a node (tp-pp-cp-dp, tp x pp = 8), the stage-to-stage transfers
    ride NVLink; with pp outermost (Megatron's default) they cross the scale-out fabric."""
    base = {**BASE, "tp": 4, "pp": 2, "dp": 4, "micro_batch_seqs": 1}
    outer = evaluate_one(**base)
    inner = evaluate_one(**base, placement="tp-pp-cp-dp")
    assert inner["pp_comm_s"] < outer["pp_comm_s"]
    assert evaluate_one(**base, placement="tp-cp-ep-dp-pp")["pp_comm_s"] == outer["pp_comm_s"]  # the default
    # tensor parallelism placed outermost leaves the NVLink domain: slower all-reduces
    assert evaluate_one(**base, placement="dp-pp-cp-tp")["tp_comm_s"] > outer["tp_comm_s"]


def _moe(**over):
    return {**BASE, **MODELS[-1], "tp": 1, "pp": 1, "dp": 8, "ep": 1, **over}


def test_moe_pays_a_fixed_cost_per_local_expert_and_pass():
    """efficiency.MOE_EXPERT_PASS_S per local expert per MoE layer: forward once, backward twice; a dense
    model pays nothing."""
    from clustersim.cost import efficiency

    base = evaluate_one(**_moe())
    saved = efficiency.MOE_EXPERT_PASS_S
    try:
        efficiency.MOE_EXPERT_PASS_S = saved + 1e-3
        more = evaluate_one(**_moe())
        dense = evaluate_one(**{**BASE, "experts": 1})
        efficiency.MOE_EXPERT_PASS_S = saved
        dense0 = evaluate_one(**{**BASE, "experts": 1})
    finally:
        efficiency.MOE_EXPERT_PASS_S = saved
    m = BASE["global_batch_seqs"] / (8 * BASE["micro_batch_seqs"])
    layers, local = MODELS[-1]["layers"], MODELS[-1]["experts"]
    assert more["compute_s"] - base["compute_s"] == pytest.approx(1e-3 * 3 * local * layers * m, rel=1e-9)
    assert dense["compute_s"] == dense0["compute_s"]


def test_overlapped_all_to_all_hides_behind_compute_but_still_costs():
    plain = evaluate_one(**_moe(ep=8))
    over = evaluate_one(**_moe(ep=8, ep_comm_overlap=True))
    assert plain["ep_comm_s"] > 0.0
    assert 0.0 < over["ep_comm_s"] < plain["ep_comm_s"]
    # what is hidden still slows the compute it hides behind (efficiency.OVERLAP_INTERFERENCE)
    from clustersim.cost import efficiency
    assert over["ep_comm_s"] >= efficiency.OVERLAP_INTERFERENCE * plain["ep_comm_s"] - 1e-12
    assert over["compute_s"] == plain["compute_s"]


def test_node_deduplicated_dispatch_cuts_the_all_to_all_across_nodes_only():
    """software.moe_dispatcher deepep: fewer scale-out copies when the expert-parallel group spans nodes
    (ep 16 over two 8-GPU nodes), fewer still with group-limited routing; inside one node it changes
    nothing."""
    across = _moe(dp=16, ep=16, experts=16)
    plain = evaluate_one(**across)
    dedup = evaluate_one(**{**across, "moe_dedup_dispatch": True})
    limited = evaluate_one(**{**across, "moe_dedup_dispatch": True, "expert_groups": 2,
                              "expert_groups_per_token": 1})
    assert 0.0 < limited["ep_comm_s"] < dedup["ep_comm_s"] < plain["ep_comm_s"]
    inside = _moe(ep=8)
    assert evaluate_one(**{**inside, "moe_dedup_dispatch": True})["ep_comm_s"] == pytest.approx(
        evaluate_one(**inside)["ep_comm_s"], rel=1e-12)
    # group-limited routing alone (one copy per expert) moves no fewer bytes
    assert evaluate_one(**{**across, "expert_groups": 2, "expert_groups_per_token": 1})["ep_comm_s"] == \
        plain["ep_comm_s"]


def test_gradients_reduced_in_16_bits_halve_the_reduction():
    """training.grad_reduce_in_fp32 false: the reduce-scatter moves half the fp32 default's bytes (the
    buffer itself: tests/test_cost_memory.py); fp32 precision keeps its 4-byte gradients."""
    base = {**BASE, "tp": 1, "pp": 1, "dp": 32, "precision": 2}
    fp32_reduce = evaluate_one(**base)
    bf16_reduce = evaluate_one(**{**base, "grad_reduce_in_fp32": False})
    assert bf16_reduce["grads_bytes"] == pytest.approx(fp32_reduce["grads_bytes"] / 2.0, rel=1e-12)
    assert bf16_reduce["dp_comm_s"] < fp32_reduce["dp_comm_s"]
    full = {**base, "precision": 0}
    assert evaluate_one(**{**full, "grad_reduce_in_fp32": False})["grads_bytes"] == evaluate_one(**full)["grads_bytes"]


def test_interleaving_widens_the_data_parallel_overlap_window():
    """pipeline.chunk_window: (p (v-1) + 1) / v micro-batch passes; 1 without interleaving."""
    from clustersim.cost import pipeline
    assert pipeline.chunk_window(4.0, 1.0) == 1.0
    assert pipeline.chunk_window(4.0, 12.0) == pytest.approx(45.0 / 12.0, rel=1e-12)
    slow_dp = {**BASE, "tp": 1, "pp": 4, "dp": 8, "global_batch_seqs": 64, "scaleup_gpus": 1,
               "leaf_bw_bytes_per_s": 2e9, "spine_bw_bytes_per_s": 2e9}
    plain, interleaved = evaluate_one(**slow_dp), evaluate_one(**{**slow_dp, "vpp": 4})
    assert interleaved["dp_comm_s"] < plain["dp_comm_s"]


def test_the_pipeline_split_counts_the_embedding_and_loss_as_layers():
    """software.pipeline_split (Megatron-core account_for_embedding/loss_in_pipeline_split): L + 2 units
    split evenly, the end stages one layer short. 126 layers on 16 stages: 7 on the first and last, 8 on
    the middle ones, which then set the pace (the output layer costs less than a layer): the compute per
    micro-batch is 8 layers, where the plain split's heaviest stage runs 8 layers and the output layer.
    The per-layer and output-layer times come from the plain split at 112 and 128 layers (7 and 8 per
    stage): the compute time depends on the layer count only through the stage's layers."""
    from clustersim.cost import pipeline
    assert pipeline.stage_split(PY_MATH, 126.0, 16.0, True, True) == (7.0, 8.0, 7.0)
    assert pipeline.stage_split(PY_MATH, 126.0, 16.0, False, False) == (8.0, 8.0, 8.0)
    assert pipeline.stage_split(PY_MATH, 14.0, 2.0, True, True) == (7.0, 7.0, 7.0)  # no middle stage
    assert pipeline.stage_split(PY_MATH, 32.0, 1.0, True, True) == (32.0, 32.0, 32.0)  # one stage: all of it
    big = {**BASE, "layers": 126, "hidden_size": 16384, "ffn_hidden_size": 53248, "attention_heads": 128,
           "kv_heads": 8, "tp": 8, "pp": 16, "dp": 1, "vpp": 8, "global_batch_seqs": 32, "seq_len": 8192,
           "hbm_bytes": 1e15}
    split = evaluate_one(**{**big, "pp_split_embedding": True, "pp_split_loss": True})
    plain = evaluate_one(**big)
    c112, c128 = (evaluate_one(**{**big, "layers": n, "vpp": 1})["compute_s"] for n in (112, 128))
    assert split["valid"] and plain["valid"]
    assert plain["compute_s"] == pytest.approx(evaluate_one(**{**big, "vpp": 1})["compute_s"], rel=1e-12)
    assert split["compute_s"] == pytest.approx(max(8.0 * (c128 - c112), c112), rel=1e-9)
    assert split["compute_s"] == pytest.approx(8.0 * (c128 - c112), rel=1e-9)
    assert split["compute_s"] < plain["compute_s"]
    # the first stage holds one layer's activations fewer; no stage holds more weights
    assert split["activations_bytes"] < plain["activations_bytes"]
    assert split["weights_bytes"] <= plain["weights_bytes"]
    # two stages have no middle: 14 layers split 7 + 7 either way, so nothing changes
    two = {**BASE, "layers": 14, "pp": 2}
    assert evaluate_one(**{**two, "pp_split_embedding": True, "pp_split_loss": True})["step_time_s"] == \
        pytest.approx(evaluate_one(**two)["step_time_s"], rel=1e-12)
    # 126 + 2 units do not divide by pp x vpp = 8 x 3: Megatron-core refuses the layout, and so does the kernel
    bad = {**big, "pp": 8, "dp": 2, "vpp": 3, "pp_split_embedding": True, "pp_split_loss": True}
    assert not evaluate_one(**bad)["valid"]
    assert any("128 units must divide by pp x vpp = 24" in r for r in invalid_reasons(**bad))
    assert evaluate_one(**{**bad, "pp_split_embedding": False, "pp_split_loss": False})["valid"]


def test_torchtitans_selective_checkpointing_reruns_every_second_matmul_not_the_attention():
    """torchtitan's op-level policy (framework 2) reruns the K and output projections and one MLP matmul
    of each layer and keeps the attention output; Megatron-core's selective reruns the attention core."""
    cfg = {**BASE, "tp": 1, "pp": 1, "dp": 32, "zero": 3, "sequence_parallel": False}
    L, h, f, tok = cfg["layers"], cfg["hidden_size"], cfg["ffn_hidden_size"], cfg["global_batch_seqs"] * cfg["seq_len"]
    hkv = h * cfg["kv_heads"] / cfg["attention_heads"]
    for fw in (0, 2):
        none, sel = (evaluate_one(**{**cfg, "framework": fw, "recompute": r}) for r in (0, 1))
        extra = sel["hardware_flop_per_step"] - none["hardware_flop_per_step"]
        attn_fwd = 0.5 * 4.0 * cfg["seq_len"] * h * L * tok  # the causal half of the attention forward
        want = 2.0 * (h * hkv + h * h + h * f) * L * tok if fw == 2 else attn_fwd
        assert extra == pytest.approx(want, rel=1e-12)
        assert sel["compute_s"] > none["compute_s"]
    # the matmuls it reruns are more work than the attention forward here (4k context)
    titan = [evaluate_one(**{**cfg, "framework": 2, "recompute": r})["compute_s"] for r in (0, 1)]
    mega = [evaluate_one(**{**cfg, "framework": 0, "recompute": r})["compute_s"] for r in (0, 1)]
    assert titan[1] - titan[0] > mega[1] - mega[0]


def test_full_recomputation_of_some_layers_interpolates_between_none_and_all():
    """recompute_layers n (Megatron-core block method): n of a chunk's layers rerun their forward and keep
    only their input; the others keep everything. n = 0 is recompute none; n = the chunk's layers is full."""
    cfg = {**BASE, "tp": 2, "pp": 2, "dp": 8, "recompute": 2}
    chunk = cfg["layers"] / cfg["pp"]  # 16 layers a stage, one chunk
    none = evaluate_one(**{**cfg, "recompute": 0})
    full = evaluate_one(**cfg)
    assert evaluate_one(**{**cfg, "recompute_layers": chunk}) == full
    zero = evaluate_one(**{**cfg, "recompute_layers": 0})
    for key in ("step_time_s", "compute_s", "tp_comm_s", "hardware_flop_per_step", "memory_bytes"):
        assert zero[key] == pytest.approx(none[key], rel=1e-12), key
    half = evaluate_one(**{**cfg, "recompute_layers": 4})
    for key in ("compute_s", "hardware_flop_per_step"):
        assert half[key] == pytest.approx(none[key] + 4 / chunk * (full[key] - none[key]), rel=1e-12), key
    assert full["memory_bytes"] < half["memory_bytes"] < none["memory_bytes"]
    # the rule set: only with full recomputation, a whole number, at most a chunk's layers
    assert invalid_reasons(**{**cfg, "recompute_layers": 4, "recompute": 1})
    assert invalid_reasons(**{**cfg, "recompute_layers": chunk + 1})
    assert invalid_reasons(**{**cfg, "recompute_layers": 2.5})
    assert not invalid_reasons(**{**cfg, "recompute_layers": 4})
    assert invalid_reasons(**{**cfg, "recompute_layers": 9, "vpp": 2})  # 8 layers a chunk


def test_fsdp_with_pipeline_stages_runs_as_the_distributed_optimizer():
    """torchtitan's FSDP with PP keeps the gathered weights through the step and reduces once after the
    last micro-batch: the same traffic and memory as ZeRO-1; without PP, ZeRO-3 is its own."""
    pp = {**BASE, "tp": 1, "pp": 4, "dp": 8, "framework": 2}
    z3, z1 = evaluate_one(**{**pp, "zero": 3}), evaluate_one(**{**pp, "zero": 1})
    assert z3["valid"] and z3["step_time_s"] == z1["step_time_s"] and z3["memory_bytes"] == z1["memory_bytes"]
    flat = {**pp, "pp": 1, "dp": 32}
    assert evaluate_one(**{**flat, "zero": 3})["memory_bytes"] < evaluate_one(**{**flat, "zero": 1})["memory_bytes"]


def test_each_gradient_bucket_and_zero3_layer_pays_its_collective_latency():
    """With a slow network latency, a 25 MB-bucket framework (torchtitan / PyTorch DDP) pays more
    reductions than Megatron-core's max(40M, 1M x dp)-parameter buckets; ZeRO-3 pays per layer."""
    slow = {**BASE, "tp": 1, "pp": 1, "dp": 32, "scaleout_latency_s": 1e-3, "zero": 1}
    megatron = evaluate_one(**{**slow, "framework": 0})
    titan = evaluate_one(**{**slow, "framework": 2})
    assert titan["dp_comm_s"] > megatron["dp_comm_s"] > 0.0
    fast = evaluate_one(**{**slow, "framework": 2, "scaleout_latency_s": 0.0})
    assert titan["dp_comm_s"] > fast["dp_comm_s"]
    z3 = {**slow, "zero": 3, "framework": 2}
    few = evaluate_one(**{**z3, "layers": 8})
    many = evaluate_one(**{**z3, "layers": 32})
    few0 = evaluate_one(**{**z3, "layers": 8, "scaleout_latency_s": 0.0})
    many0 = evaluate_one(**{**z3, "layers": 32, "scaleout_latency_s": 0.0})
    # the latency share of the ZeRO-3 traffic grows with the number of layers
    assert many["dp_comm_s"] - many0["dp_comm_s"] > few["dp_comm_s"] - few0["dp_comm_s"] > 0.0


def test_outputs_selects_the_keys_with_the_same_values():
    """evaluate(outputs=...) returns just those keys, equal to the full evaluation's (long enough for
    several chunks and numpy's vectorized loops), and refuses a key it does not compute."""
    n = 40_000
    rows = {"tp": np.tile([1.0, 2.0, 4.0, 8.0], n // 4), "dp": np.tile([8.0, 4.0, 2.0, 1.0], n // 4) * 4,
            "micro_batch_seqs": np.repeat([1.0, 2.0], n // 2)}
    full = evaluate(**BASE | rows)
    keys = ("fits_in_memory", "step_time_s", "cost_usd")
    some = evaluate(**BASE | rows, outputs=keys)
    assert tuple(some) == keys
    for key in keys:
        assert some[key].dtype == full[key].dtype
        np.testing.assert_array_equal(some[key], full[key])
    with pytest.raises(ClustersimError, match="unknown kernel outputs: no_such_output"):
        evaluate(**BASE, outputs=("step_time_s", "no_such_output"))


@pytest.mark.parametrize("model", range(len(MODELS)))
@pytest.mark.parametrize(("framework", "mode", "precision"), [(0, 0, 2), (2, 0, 3), (3, 2, 2), (1, 3, 1), (4, 0, 0)])
def test_keep_shapes_equals_the_kernel_on_the_broadcast_table(model, framework, mode, precision):
    """evaluate(keep_shapes=True) on (layouts x ZeRO x recompute x SP) axes, each term at the shape of its own
    operands, gives the flat evaluation's values to the bit (every operation is elementwise), at the full
    shape, for every output and for a subset."""
    rng = np.random.default_rng(model * 10 + framework)
    n = 300
    layout = {"tp": rng.choice([1, 2, 4, 8], n), "pp": rng.choice([1, 2, 4], n), "dp": rng.choice([1, 2, 4, 8], n),
              "cp": rng.choice([1, 2], n), "ep": rng.choice([1, 2], n), "vpp": rng.choice([1, 2], n),
              "micro_batch_seqs": rng.choice([1, 2, 4], n)}
    grid = {**{k: v.astype(np.float64).reshape(-1, 1, 1, 1) for k, v in layout.items()},
            "zero": np.array([0.0, 1.0, 3.0]).reshape(1, -1, 1, 1), "recompute": np.array([0.0, 1.0, 2.0]).reshape(1, 1, -1, 1),
            "sequence_parallel": np.array([0.0, 1.0]).reshape(1, 1, 1, -1)}
    base = {**BASE, **MODELS[model], "framework": framework, "mode": mode, "precision": precision, "lora_rank": 16,
            "tp_comm_overlap": True, "moe_dedup_dispatch": model == 3, "bf16_peak_flop_per_s": 989e12}
    shape = (n, 3, 3, 2)
    flat = evaluate(**base | {k: np.broadcast_to(v, shape) for k, v in grid.items()})
    kept = evaluate(**base | grid, keep_shapes=True)
    assert tuple(kept) == OUTPUTS
    for key in OUTPUTS:
        assert kept[key].shape == shape and kept[key].dtype == flat[key].dtype, key
        np.testing.assert_array_equal(kept[key], flat[key], err_msg=key)
    some = evaluate(**base | grid, keep_shapes=True, outputs=("fits_in_memory", "step_time_s"))
    assert tuple(some) == ("fits_in_memory", "step_time_s")
    np.testing.assert_array_equal(some["step_time_s"], flat["step_time_s"])
    np.testing.assert_array_equal(some["fits_in_memory"], flat["fits_in_memory"])


def test_window_mask_share_counts_the_band():
    """The closed form s W - W^2 / 2 of the entries a causal band of W keys covers, against the count
    sum_i min(i + 1, W) over the s queries; it differs only by the diagonal's W / 2 (the continuous
    causal half likewise omits s / 2)."""
    from clustersim.cost.flops import attention_mask_share, window_mask_share
    for s, w in ((4096, 128), (8192, 4096), (1000, 999), (2048, 1)):
        counted = sum(min(i + 1, w) for i in range(s)) / s**2
        assert window_mask_share(PY_MATH, float(s), float(w)) == pytest.approx(counted - w / (2 * s**2), rel=1e-12)
    assert window_mask_share(PY_MATH, 4096.0, 0.0) == 0.5  # no window: the causal half
    assert window_mask_share(PY_MATH, 4096.0, 9000.0) == 0.5  # a window past the sequence changes nothing
    assert attention_mask_share(PY_MATH, 4096.0, 128.0, 0.5) == pytest.approx(0.25 + 0.5 * (1 / 32 - 0.5 / 32**2))


def test_sliding_window_charges_only_the_band():
    """A window cuts the fused attention's time and HFU FLOPs by exactly the band's share, and the model
    FLOPs of MFU by the window's share of the span each query is counted over; a window as long as the
    sequence changes nothing, and unfused attention (which materialises every score whatever the mask) runs
    as long as without it."""
    base = {**BASE, "recompute": 0, "flash_attention": True, "attention": 4, "cp": 1, "seq_len": 4096}
    full = evaluate_one(**base)
    win = evaluate_one(**base, sliding_window=128.0, sliding_window_layers=16.0)
    assert full["valid"] and win["valid"]
    assert win["compute_s"] < full["compute_s"] and win["step_time_s"] < full["step_time_s"]
    L, s, tokens = base["layers"], 4096.0, base["global_batch_seqs"] * 4096.0
    attn_tok = 2.0 * s * 2.0 * base["hidden_size"]  # 2s(q + o), q = o = hidden
    share = 16.0 / L * (0.5 - (128.0 / s - 0.5 * (128.0 / s) ** 2))  # the causal half minus the band, on 16 layers
    cut = tokens * L * attn_tok * 3.5 * share
    assert full["hardware_flop_per_step"] - win["hardware_flop_per_step"] == pytest.approx(cut, rel=1e-9)
    counted = tokens * 16.0 * attn_tok * 3.0 * (1.0 - 128.0 / s)  # 16 layers counted over 128 keys, not s
    assert full["model_flop_per_step"] - win["model_flop_per_step"] == pytest.approx(counted, rel=1e-9)
    same = evaluate_one(**base, sliding_window=4096.0, sliding_window_layers=32.0)
    for key in ("step_time_s", "hardware_flop_per_step", "memory_bytes"):
        assert same[key] == pytest.approx(full[key], rel=1e-12)
    unfused = {**base, "flash_attention": False, "attention": 0}
    a, b = evaluate_one(**unfused), evaluate_one(**unfused, sliding_window=128.0, sliding_window_layers=32.0)
    for key in ("step_time_s", "hardware_flop_per_step"):
        assert b[key] == pytest.approx(a[key], rel=1e-12)
    assert b["hfu"] == pytest.approx(a["hfu"], rel=1e-12) and b["mfu"] < a["mfu"]


def test_context_parallelism_with_a_sliding_window_is_refused():
    out = evaluate_one(**{**BASE, "cp": 2, "dp": 4, "sliding_window": 128.0, "sliding_window_layers": 16.0})
    assert not out["valid"]
    reasons = invalid_reasons(**{**BASE, "cp": 2, "dp": 4, "sliding_window": 128.0, "sliding_window_layers": 16.0})
    assert any("sliding-window" in r for r in reasons)
