"""The analytic kernel: step time with its parts, FLOPs, MFU/HFU, memory per GPU, days and dollars.

:func:`evaluate` takes numpy arrays (or scalars) for every input, broadcasts them together and returns
arrays; :func:`evaluate_one` is the same formulas on plain Python floats (``math`` only), one
configuration at a time. Both run :func:`_kernel` with a different backend
(:mod:`clustersim.cost.backend`), so there is one source of truth for every formula. Invalid rows
(tp x pp x dp x cp inconsistent with the batch, heads not divisible by tp, ...) never raise inside
:func:`evaluate`: they come back with ``valid`` False (and their other figures are meaningless).
:func:`invalid_reasons` says why, for one configuration.

The step time is the heaviest pipeline stage's m micro-batches (compute and exposed TP/EP/CP
communication per micro-batch), the pipeline bubble, the point-to-point transfers, the exposed
data-parallel communication and the optimizer step; see the modules for each formula and its source:
:mod:`~clustersim.cost.flops`, :mod:`~clustersim.cost.memory`, :mod:`~clustersim.cost.compute`,
:mod:`~clustersim.cost.comm`, :mod:`~clustersim.cost.pipeline`, :mod:`~clustersim.cost.efficiency`.

Memory: large :func:`evaluate` results share one block per dtype; keep a copy of an output
(``out["step_time_s"].copy()``) if you drop the rest and want the block freed.

Inputs (SI units): the model architecture; the recipe (sequence length, batch and micro-batch in
sequences, tokens to train); the parallel layout (tp, pp, dp, cp, ep, vpp, ZeRO stage, recompute code,
sequence parallelism, precision code, training mode code, LoRA rank, TP overlap); the GPU's dense peak
for the precision, HBM bytes and bandwidth; the fabric tiers per GPU per direction (from
:mod:`clustersim.topology`); the price per GPU-hour. ``flash_attention`` (default True) selects fused
attention kernels; False models Megatron-LM's unfused softmax attention of 2021-2022.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from clustersim import units
from clustersim.cost import backend, comm, compute, efficiency, flops, memory, pipeline, rules
from clustersim.cost.backend import PY, Backend
from clustersim.cost.inputs import DEFAULTS, INPUTS, MODES, PLACEMENTS, PRECISIONS, RECOMPUTE, KernelInputs
from clustersim.errors import ClustersimError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["KernelInputs", "PRECISIONS", "RECOMPUTE", "MODES", "INPUTS", "DEFAULTS", "OUTPUTS", "BOOL_OUTPUTS", "BREAKDOWN",
           "evaluate", "evaluate_one", "invalid_reasons"]

#: Parts of ``step_time_s`` (exposed times); they add up to it exactly.
BREAKDOWN = ("compute_s", "tp_comm_s", "pp_comm_s", "dp_comm_s", "ep_comm_s", "cp_comm_s", "bubble_s",
             "optimizer_s")
_MEMORY_PARTS = ("weights_bytes", "grads_bytes", "optimizer_bytes", "activations_bytes", "overhead_bytes")

#: Every output key. All float64 except BOOL_OUTPUTS.
OUTPUTS = (("step_time_s",) + BREAKDOWN + (
    "model_flop_per_step", "hardware_flop_per_step", "mfu", "mfu_bf16_peak", "hfu", "tokens_per_s", "model_tflops_per_gpu",
    "hardware_tflops_per_gpu") + _MEMORY_PARTS + (
    "memory_bytes", "fits_in_memory", "memory_excess_bytes", "params", "active_params", "trainable_params",
    "checkpoint_bytes", "train_s", "gpu_hours", "cost_usd", "valid"))
BOOL_OUTPUTS = ("fits_in_memory", "valid")
_FLOAT_OUTPUTS = tuple(k for k in OUTPUTS if k not in BOOL_OUTPUTS)

_ACT_BYTES = (4.0, 2.0, 2.0, 2.0)  # stored activations: fp32, else 16-bit (fp8 keeps bf16 activations)
_GEMM_BYTES = (4.0, 2.0, 2.0, 1.0)  # GEMM operands
_CHUNK = 16384  # rows per vectorized pass: keeps temporaries in cache
#: Position of each parallel dimension in each placement (innermost = 0), by placement code.
_POSITION = {dim: tuple(float(order.split("-").index(dim)) for order in PLACEMENTS) for dim in ("tp", "cp", "dp", "pp")}


def _strides(xp: Backend, code: Any, degrees: dict[str, Any]) -> dict[str, Any]:
    """Rank stride of each parallel dimension under a placement: the product of the degrees of the
    dimensions placed inside it (Megatron-LM's rank order, Narayanan et al. 2021 Sec. 3: tensor
    parallelism innermost so that it stays on NVLink; Llama 3, Dubey et al. 2024 Sec. 3.3.2: [TP, CP, PP, DP])."""
    pos = {dim: xp.take(_POSITION[dim], code) for dim in _POSITION}
    out = {}
    for dim in _POSITION:
        stride: Any = 1.0
        for other in _POSITION:
            if other != dim:
                inner = xp.where(pos[other] < pos[dim], degrees[other], 1.0)
                # a factor of exactly 1 (a dimension placed outside this one) needs no array operation
                stride = inner if _is_one(stride) else (stride if _is_one(inner) else stride * inner)
        out[dim] = stride
    return out


def _is_one(x: Any) -> bool:
    return isinstance(x, float) and x == 1.0


def _clip(xp: Backend, x: Any, hi: float) -> Any:
    return xp.minimum(xp.maximum(xp.floor(x), 0.0), hi)


def _op_sac_s(xp: Backend, framework: Any, on: Any, elementwise_fwd_s: Any, **shape: Any) -> Any:
    """What op-level selective checkpointing reruns of a layer where ``on``: its every second matmul
    (:func:`clustersim.cost.compute.op_sac_recompute_gemm_s`) and the forward's memory-bound work. Only
    torchtitan (``framework``) runs it: computed only when some configuration may."""
    return xp.select(framework, lambda: xp.where(on, compute.op_sac_recompute_gemm_s(xp, **shape) + elementwise_fwd_s,
                                                 0.0), lambda: 0.0)


def _kept_bytes(xp: Backend, partial: Any, stored: Any, *args: Any, **kwargs: Any) -> Any:
    """Stored bytes per layer without recomputation (memory.activation_bytes_per_layer, recompute none)
    where only some layers recompute (``partial``), else ``stored``: computed only when needed."""
    return xp.select(partial, lambda: memory.activation_bytes_per_layer(xp, *args, **kwargs)[0], lambda: stored)


def _mixed(xp: Backend, dense_share: Any, moe: Any, dense: Any) -> Any:
    """A per-layer figure over all the layers: the MoE layer's ``moe``, averaged with the leading dense
    layers' (``dense()``, computed only where the model has some) by their share of the layers."""
    if xp.is_scalar(dense_share) and dense_share <= 0.0:
        return moe
    return moe + dense_share * (dense() - moe)


def _kernel(xp: Backend, x: dict[str, Any], skip_rules: frozenset[str] = frozenset(),
            outputs: tuple[str, ...] = OUTPUTS) -> dict[str, Any]:
    """The ``outputs`` (default: every output) for inputs ``x`` (floats, or numpy arrays that broadcast
    together), with backend ``xp``. The outputs derived from the step time and the memory (utilisation,
    throughput, days, dollars, the memory check) are computed only when asked for: the search ranks a
    large space on two of them; everything they derive from is computed either way."""
    pos = xp.maximum
    L, h, f = pos(x["layers"], 1.0), pos(x["hidden_size"], 1.0), pos(x["ffn_hidden_size"], 1.0)
    a, kv, V = pos(x["attention_heads"], 1.0), pos(x["kv_heads"], 1.0), pos(x["vocab_size"], 1.0)
    # the attention's widths: the model's own head_dim (Qwen3, gpt-oss) or h/a, MLA's latents (flops.attention_shape)
    at = flops.attention_shape(h, a, kv, x["head_dim"], x["v_head_dim"], pos(x["q_lora_rank"], 0.0),
                               pos(x["kv_lora_rank"], 0.0), pos(x["qk_rope_head_dim"], 0.0))
    gated, tied = x["gated_mlp"], x["tied_embeddings"]
    E, k = pos(x["experts"], 1.0), pos(x["experts_per_token"], 1.0)
    # shared experts on every MoE layer and the leading dense layers (DeepSeekMoE; DeepSeek-V3): MoE models only
    S = (E > 1.0) * pos(x["shared_experts"], 0.0)
    n_d = (E > 1.0) * xp.minimum(pos(x["dense_layers"], 0.0), L - 1.0)
    f_d = pos(x["dense_ffn_hidden_size"], 1.0)
    has_dense = not (xp.is_scalar(n_d) and n_d <= 0.0)
    # what Megatron-core's selective recomputation reruns (training.recompute_modules; memory.SelectiveModules)
    mods = memory.SelectiveModules(x["recompute_core_attn"], x["recompute_mla_up_proj"], x["recompute_layernorm"],
                                   x["recompute_mlp"], x["recompute_moe_act"])
    s, B, b = pos(x["seq_len"], 1.0), pos(x["global_batch_seqs"], 1.0), pos(x["micro_batch_seqs"], 1.0)
    # sliding-window attention on a share of the layers (model.sliding_window; flops.window_mask_share)
    win = pos(x["sliding_window"], 0.0)
    win_share = xp.where(win > 0.0, xp.minimum(pos(x["sliding_window_layers"], 0.0), L) / L, 0.0)
    t, p, d = pos(x["tp"], 1.0), pos(x["pp"], 1.0), pos(x["dp"], 1.0)
    c, e, v = pos(x["cp"], 1.0), pos(x["ep"], 1.0), pos(x["vpp"], 1.0)
    z, r, mode = x["zero"], x["recompute"], x["mode"]  # out-of-range codes are flagged invalid
    prec = _clip(xp, x["precision"], 3.0)  # indexes tables
    sp, tpo, flash = x["sequence_parallel"], x["tp_comm_overlap"], x["flash_attention"]
    rank = pos(x["lora_rank"], 1.0)
    peak, hbm = pos(x["peak_flop_per_s"], 1.0), x["hbm_bytes"]
    bw = pos(x["hbm_bw_bytes_per_s"], 1.0) * pos(x["hbm_efficiency_scale"], 1e-6)
    peak16 = xp.where(x["bf16_peak_flop_per_s"] > 0.0, x["bf16_peak_flop_per_s"], peak)
    # the microbenchmarked fractions, at the share of them a training step sustains (efficiency.SUSTAINED_FRACTION)
    held = efficiency.SUSTAINED_FRACTION
    hw = compute.Hardware(
        peak=peak, peak16=peak16, bw=bw,
        gemm_frac=xp.minimum(pos(x["gemm_peak_fraction"] * x["gemm_efficiency_scale"], 1e-6), 1.0) * held,
        half_size=pos(x["gemm_half_size"], 0.0),
        sms=pos(x["gemm_sm_count"], 1.0), tile_m=pos(x["gemm_tile_m"], 1.0), tile_n=pos(x["gemm_tile_n"], 1.0),
        hbm_frac=xp.minimum(pos(x["hbm_fraction"], 1e-6), 1.0) * held, gap_s=pos(x["kernel_gap_s"], 0.0),
        attn_fwd=pos(x["attention_fwd_fraction"], 1e-6) * held, attn_bwd=pos(x["attention_bwd_fraction"], 1e-6) * held,
        attn_half_seq=pos(x["attention_half_seq"], 0.0), attn_scale=pos(x["attention_efficiency_scale"], 1e-6))
    net = pos(x["network_efficiency_scale"], 1e-6)
    fab = comm.Fabric(pos(x["scaleup_gpus"], 1.0), pos(x["scaleup_bw_bytes_per_s"], 1.0) * net,
                      x["scaleup_latency_s"], x["leaf_gpus"], pos(x["leaf_bw_bytes_per_s"], 1.0) * net,
                      pos(x["spine_bw_bytes_per_s"], 1.0) * net, x["scaleout_latency_s"])

    m = B / (d * b)
    # FSDP with pipeline parallelism (the only ZeRO-3 + PP the rules admit: torchtitan / PyTorch FSDP) keeps
    # the gathered weights through the step and reduces the gradients once, after the last micro-batch
    # (torchtitan models/llama3/parallelize.py: reshard_after_forward = not pp_enabled, "to avoid
    # per-microbatch all-gathers"; torch.distributed.pipelining syncs FSDP gradients on the last backward
    # only): in memory and traffic the distributed optimizer, ZeRO-1
    z = xp.where((z >= 3.0) & (p > 1.0), 1.0, z)
    n_gpus = t * p * d * c
    # layers on the first, the heaviest middle and the last stage (software.pipeline_split)
    L_first, Ls, L_last = pipeline.stage_split(xp, L, p, x["pp_split_embedding"], x["pp_split_loss"])
    valid = rules.valid(xp, x, skip_rules)
    lora, qlora = mode >= 2.0, mode >= 3.0
    full, sel = r >= 2.0, (r >= 1.0) & (r < 2.0)
    # full recomputation of the first n layers of each model chunk only (training.recompute_layers;
    # Megatron-core recompute_method "block", recompute_num_layers); -1: every layer
    n_rc = x["recompute_layers"]
    chunk_rc = xp.where(n_rc < 0.0, Ls / v, xp.minimum(xp.maximum(n_rc, 0.0), Ls / v))
    rerun = full * chunk_rc / (Ls / v)  # the share of the layers whose forward runs again
    act_b, gemm_b = xp.take(_ACT_BYTES, prec), xp.take(_GEMM_BYTES, prec)
    w_b = xp.take(memory.STATE_BYTES[0], prec)
    g_b = memory.grad_bytes(xp, prec, x["grad_reduce_in_fp32"])
    # the optimizer's master weights and moments at the run's dtypes (memory.optimizer_state_bytes)
    k_b = memory.optimizer_bytes(xp, prec, x["optimizer_state_bytes"])
    tokens = b * s / c  # this GPU's tokens of one micro-batch
    tok_step = B * s

    # ---- parameters and FLOPs
    params, active = flops.model_params(L, h, f, at, V, gated, E, k, tied, S, n_d, f_d)
    # per-layer figures are the MoE layer's, averaged with the dense layers' where the model has them
    dense_share = n_d / L
    lora_layer = _mixed(xp, dense_share, flops.lora_layer_params(h, f, at, gated, E + S, rank),
                        lambda: flops.lora_layer_params(h, f_d, at, gated, 1.0, rank))
    trainable = xp.where(lora, L * lora_layer, params)
    gemm_tok = _mixed(xp, dense_share, flops.gemm_flop_per_token(h, f, at, gated, E, k + S),
                      lambda: flops.gemm_flop_per_token(h, f_d, at, gated, 1.0, 1.0))
    attn_tok = flops.attention_flop_per_token(s, at)
    logit_tok = flops.logits_flop_per_token(h, V)
    active_lora = L * _mixed(xp, dense_share, flops.lora_layer_params(h, f, at, gated, k + S, rank),
                             lambda: flops.lora_layer_params(h, f_d, at, gated, 1.0, rank))
    model_attn = attn_tok * flops.model_attention_share(xp, s, win, win_share)
    model_tok = flops.model_flop_per_token(xp, L, gemm_tok, model_attn, logit_tok, lora, active_lora)
    # torchtitan's selective checkpointing is op-level: it reruns every second matmul, not the attention
    op_sac = x["framework"] == 2.0
    # the forward GEMM FLOPs per token and layer Megatron's selective recomputation reruns besides attention
    up_mats = flops.attention_matrices(h, at)
    up_flop = mods.mla_up_proj * 2.0 * (up_mats[1][0] * up_mats[1][1] + up_mats[3][0] * up_mats[3][1]) * at.mla
    sel_gemm = _mixed(xp, dense_share, up_flop + mods.mlp * (E <= 1.0) * 2.0 * h * f * (2.0 + gated),
                      lambda: up_flop + mods.mlp * 2.0 * h * f_d * (2.0 + gated))
    hw_tok = flops.hardware_flop_per_token(xp, model_tok, L, gemm_tok, attn_tok, r, x["flash_attention"], op_sac,
                                           _mixed(xp, dense_share, flops.op_sac_recompute_flop_per_token(h, f, gated, at, k),
                                                  lambda: flops.op_sac_recompute_flop_per_token(h, f_d, gated, at, 1.0)),
                                           chunk_rc / (Ls / v), mods.core_attn, sel_gemm,
                                           flops.attention_mask_share(xp, s, win, win_share), model_attn)

    # ---- this GPU's parameters on the heaviest stage
    # MoE parallel folding (Liu et al. 2025, arXiv:2504.14960 Sec. 3; Megatron-core
    # expert_tensor_parallel_size): the experts are split etp-way (default tp) and ep-way over the
    # stage's tp x cp x dp ranks; the rest of those ranks form the expert-data-parallel group
    et = xp.where(x["etp"] >= 1.0, x["etp"], t)
    # (MLA's down projections and latent norms are whole on every tensor-parallel rank; shared experts are
    # split by tensor parallelism and replicated over data parallelism as a dense MLP is)
    att_layer = flops.attention_params(h, at, True) / t + flops.attention_params(h, at, False)
    dense_layer = att_layer + (flops.router_params(h, E) + S * flops.mlp_params(h, f, gated)) / t
    expert_layer = flops.mlp_params(h, f, gated) * E / (e * et)
    mlp_layer = (att_layer + flops.mlp_params(h, f_d, gated) / t) if has_dense else 0.0  # a leading dense layer
    emb = V * h / t
    # the stage holding the most weights: an end stage (its layers and an embedding matrix) or, where the
    # split gives the ends fewer layers, a middle one
    lora_stage = Ls * lora_layer / t
    dp_dense, dp_expert = d * c, t * d * c / (e * et)
    nd_first, nd_last = pipeline.dense_layers_on(xp, n_d, L, L_first, L_last)
    if not has_dense:
        dense_stage = xp.where(p > 1.0, xp.maximum(xp.maximum(L_first, L_last) * dense_layer + emb, Ls * dense_layer),
                               Ls * dense_layer + emb * (2.0 - tied)) + 2.0 * h / t
        expert_stage = Ls * expert_layer
        weights, grads, optim = memory.model_state_bytes(xp, dense_stage, expert_stage, lora_stage, lora, qlora, z,
                                                         dp_dense, dp_expert, prec, g_b, k_b)
    else:
        # the leading dense layers sit on the first stage(s) (pipeline.dense_layers_on): each end stage's
        # dense and MoE layers, a middle one's MoE layers only, and the model state of the heaviest
        def stage(layers: Any, dense_layers: Any, embedding: Any) -> tuple[Any, Any]:
            return (layers * dense_layer + dense_layers * (mlp_layer - dense_layer) + embedding + 2.0 * h / t,
                    (layers - dense_layers) * expert_layer)

        one = stage(L, n_d, emb * (2.0 - tied))
        ends = (stage(L_first, nd_first, emb), stage(L_last, nd_last, emb), stage(Ls, 0.0, 0.0))
        candidates = [tuple(xp.where(p > 1.0, end[i], one[i]) for i in range(2)) for end in ends[:2]]
        candidates.append(tuple(xp.where(p > 2.0, ends[2][i], candidates[0][i]) for i in range(2)))
        states = [memory.model_state_bytes(xp, dn, ex, lora_stage, lora, qlora, z, dp_dense, dp_expert, prec, g_b, k_b)
                  for dn, ex in candidates]
        totals = [sum(state) for state in states]
        pick = [totals[0] >= xp.maximum(totals[1], totals[2]), totals[1] >= totals[2]]

        def chosen(i: int, values: list[Any]) -> Any:
            return xp.where(pick[0], values[0][i], xp.where(pick[1], values[1][i], values[2][i]))

        dense_stage, expert_stage = chosen(0, candidates), chosen(1, candidates)
        weights, grads, optim = chosen(0, states), chosen(1, states), chosen(2, states)

    # ---- memory
    layer_params = dense_layer + expert_layer  # the largest layer
    if has_dense:
        layer_params = xp.maximum(layer_params, (n_d > 0.0) * mlp_layer)
    weights = weights + (z >= 3.0) * 2.0 * layer_params * w_b  # ZeRO-3 gather buffers
    fw = x["framework"]
    # FSDP2's root parameters and one layer's pre-reduce-scatter gradients (memory.fsdp2_buffer_bytes)
    fsdp_held, fsdp_bwd = memory.fsdp2_buffer_bytes(xp, layer_params, emb * (2.0 - tied), z >= 3.0, fw, w_b)
    drop = x["dropout"]
    # torchao's Float8Linear (torchtitan) saves the bf16 GEMM inputs, not FP8 copies
    # (torchao float8/float8_linear.py, matmul_with_hp_or_float8_args: save_for_backward(input_hp, weight_hp_t))
    fp8_kept = (prec >= 3.0) & (fw != 2.0)
    # (a MoE layer's shared experts store what its routed ones do, per token: top-k + shared MLPs)
    stored, working = memory.activation_bytes_per_layer(xp, tokens, s, h, f, at, gated, k + S, t, sp, r, flash,
                                                        act_b, fp8=fp8_kept, dropout=drop, gathered_inputs=fw == 2.0,
                                                        modules=mods, dense_mlp=E <= 1.0)
    # torchtitan's selective checkpointing is op-level (memory.op_sac_bytes_per_layer)
    stored = xp.where(sel & (fw == 2.0),
                      memory.op_sac_bytes_per_layer(xp, tokens, h, f, at, gated, k + S, t, sp, act_b), stored)
    # the layers a partial full recomputation leaves alone keep all their activations
    kept = _kept_bytes(xp, n_rc >= 0.0, stored, tokens, s, h, f, at, gated, k + S, t, sp, 0.0, flash, act_b,
                       fp8=fp8_kept, dropout=drop, gathered_inputs=fw == 2.0)
    # a leading dense layer's stored bytes and working set, in place of a MoE layer's on the first stage
    if has_dense:
        stored_d, working_d = memory.activation_bytes_per_layer(xp, tokens, s, h, f_d, at, gated, 1.0, t, sp, r, flash,
                                                                act_b, fp8=fp8_kept, dropout=drop,
                                                                gathered_inputs=fw == 2.0, modules=mods)
        stored_d = xp.where(sel & (fw == 2.0),
                            memory.op_sac_bytes_per_layer(xp, tokens, h, f_d, at, gated, 1.0, t, sp, act_b), stored_d)
    else:
        stored_d, working_d = stored, working
    sp_div = xp.where(sp, t, 1.0)
    offloaded = memory.offloaded_layers(xp, x["activation_offload_layers"], Ls)
    chunk_first, chunk_last = L_first / v - offloaded, L_last / v - offloaded
    stored_first = (memory.chunk_bytes(xp, chunk_first, stored, kept, full, n_rc)
                    + xp.minimum(nd_first, chunk_first) * (stored_d - stored))
    stored_last = memory.chunk_bytes(xp, chunk_last, stored, kept, full, n_rc)
    logits_act = memory.logits_bytes(xp, tokens, V, h, t, sp_div, act_b, fw)  # loss-time logits, norm input
    emb_act = drop * tokens * h / sp_div  # input-embedding dropout mask (Korthikanti 2022 Sec. 4.3)
    # a layer's backward: its recomputed working set, ring-attention buffers, FSDP2 pre-reduce-scatter grads
    peak_layer = (full * (chunk_rc > 0.0) * xp.where(n_d > 0.0, xp.maximum(working, working_d), working)
                  + memory.cp_ring_bytes(xp, tokens, at, t, c, act_b) + fsdp_bwd)
    # the loss runs before the first layer backward, so its logits and that layer's peak do not coincide
    act_first = (memory.in_flight_chunks(xp, p, v, m, True) * (stored_first + emb_act)
                 + xp.maximum((p == 1.0) * logits_act, peak_layer))
    act_last = (memory.in_flight_chunks(xp, p, v, m, False) * stored_last
                + xp.maximum(logits_act, peak_layer))
    acts = xp.maximum(act_first, act_last) + fsdp_held
    # PyTorch-native stacks report (and run out of) reserved memory: GMLake's measured fragmentation
    frag = xp.where(fw == 2.0, memory.ALLOCATOR_FRAGMENTATION / (1.0 - memory.ALLOCATOR_FRAGMENTATION),
                    memory.OVERHEAD_FRAGMENTATION)
    overhead = memory.OVERHEAD_FIXED_BYTES + frag * acts
    mem = weights + grads + optim + acts + overhead
    # each part ends by freeing the intermediates no later line reads (names a lambda reads stay bound):
    # a chunk's live arrays drop from ~116 to ~72 of 128 KiB, so more operands stay in cache
    del act_first, act_last, active_lora, attn_tok, B, bw, chunk_first, chunk_last, emb, emb_act, frag, \
        fsdp_bwd, fsdp_held, gemm_tok, kept, L, logit_tok, logits_act, mode, net, peak_layer, r, stored, \
        stored_first, stored_last, tied, working, stored_d, working_d

    # ---- compute per micro-batch on the heaviest stage
    shape = {"tokens": tokens, "s_q": s / c, "s_kv": s, "b": b, "h": h, "at": at, "gated": gated, "t": t, "ep": e,
             "sp": sp, "flash": flash, "hw": hw, "gemm_bytes": gemm_b, "act_bytes": act_b,
             "cast_bytes": x["fp8_cast_bytes_per_element"], "dropout": drop,
             "eager": (fw == 2.0) & xp.logical_not(x["torch_compile"]), "window": win, "window_share": win_share}
    g_fwd, a_fwd, a_bwd, el_fwd, el_bwd = compute.layer_times(xp, f=f, experts=E, topk=k, shared=S, **shape)
    bwd_gemm_passes = xp.where(lora, 1.0, 2.0)
    adapters = xp.select(lora, lambda: compute.elementwise_s(xp, act_b * tokens * lora_layer / (rank * t), hw, 8.0),
                         lambda: 0.0)
    dequant = xp.select(qlora, lambda: compute.elementwise_s(
        xp, (dense_layer + expert_layer) * (memory.QLORA_BYTES_PER_PARAM + 2.0), hw, 8.0), lambda: 0.0)
    # fine-grained MoE: a fixed cost per local expert and pass (efficiency.MOE_EXPERT_PASS_S)
    experts_fwd = (E > 1.0) * (E / e) * efficiency.MOE_EXPERT_PASS_S
    # selective recomputation: Megatron-core reruns the attention core (Korthikanti 2022 Sec. 5);
    # torchtitan's op-level policy reruns every second matmul and the memory-bound work between them
    sel_titan = sel & op_sac
    sel_attn = sel & xp.logical_not(sel_titan)  # selective recomputation that reruns the attention core

    def layer_of(g: Any, el_f: Any, el_b: Any, experts_pass: Any, sac: Any, sel_extra: Any) -> tuple[Any, Any]:
        """(forward, whole) time of one layer on this GPU from its GEMM and memory-bound passes."""
        fwd = g + a_fwd + el_f + adapters + dequant + experts_pass
        bwd = bwd_gemm_passes * g + a_bwd + el_b + 2.0 * adapters + dequant + bwd_gemm_passes * experts_pass
        return fwd, fwd + bwd + rerun * fwd + sel_attn * (mods.core_attn * a_fwd + sel_extra) + sac

    def sel_rerun(f_: Any, experts: Any, topk: Any, dense_mlp: Any) -> Any:
        """What selective recomputation's modules beyond the attention core rerun (compute.selective_rerun_s)."""
        if mods.default:
            return 0.0
        return compute.selective_rerun_s(xp, modules=mods, tokens=tokens, h=h, f=f_, at=at, gated=gated,
                                         experts=experts, topk=topk, t=t, ep=e, sp=sp, hw=hw, gemm_bytes=gemm_b,
                                         act_bytes=act_b, dense_mlp=dense_mlp)

    sac_s = _op_sac_s(xp, op_sac, sel_titan, el_fwd, tokens=tokens, h=h, f=f, at=at, gated=gated, experts=E, topk=k,
                      t=t, ep=e, hw=hw, gemm_bytes=gemm_b)
    layer_fwd, layer_s = layer_of(g_fwd, el_fwd, el_bwd, experts_fwd, sac_s, sel_rerun(f, E, k + S, E <= 1.0))
    # a leading dense layer: one MLP of the dense width, no routing (MoE models with model.dense_layers)
    if has_dense:
        gd_fwd, _, _, eld_fwd, eld_bwd = compute.layer_times(xp, f=f_d, experts=1.0, topk=1.0, **shape)
        dlayer_fwd, dlayer_s = layer_of(gd_fwd, eld_fwd, eld_bwd, 0.0, _op_sac_s(
            xp, op_sac, sel_titan, eld_fwd, tokens=tokens, h=h, f=f_d, at=at, gated=gated, experts=1.0, topk=1.0,
            t=t, ep=e, hw=hw, gemm_bytes=gemm_b), sel_rerun(f_d, 1.0, 1.0, True))
    else:
        gd_fwd, dlayer_fwd, dlayer_s = g_fwd, layer_fwd, layer_s
    logits_s = compute.logits_time_s(xp, tokens, h, V, t, hw, act_b, 1.0 + bwd_gemm_passes)
    del b, drop, el_bwd, el_fwd, experts_fwd, f, flash, shape, s, V

    # ---- communication per micro-batch (per layer x layers on the stage)
    # TP (Megatron-LM, Shoeybi 2019; Korthikanti 2022 Sec. 4.2.2): 2 all-reduces forward and 2 backward per
    # layer, or with SP 4 all-gather/reduce-scatter pairs of the same volume; full recompute reruns the
    # forward's 2. Message: the layer's activation, b s h / cp elements.
    code = _clip(xp, x["placement"], float(len(PLACEMENTS) - 1))
    stride = _strides(xp, code, {"tp": t, "cp": c, "dp": d, "pp": p})
    # Megatron-core lays the expert layers' ranks out as etp, ep, edp in the placement's order without cp
    # (parallel_state's expert RankGenerator): the EP group is spaced etp apart (times pp when pp sits
    # inside dp), the expert-data-parallel group ep x that
    ep_stride = et * xp.where(xp.take(_POSITION["pp"], code) < xp.take(_POSITION["dp"], code), p, 1.0)
    tp_bw, tp_lat = comm.ring_bw(xp, fab, t, stride["tp"])
    tp_raw = (4.0 + 2.0 * rerun) * comm.all_reduce_s(xp, t, tokens * h * act_b, tp_bw, tp_lat,
                                                        comm.all_reduce_steps(xp, fab, t, stride["tp"]))
    # overlapped TP communication (Megatron-core / Transformer Engine userbuffers) still slows the GEMMs it
    # hides behind, as every overlap here does (efficiency.OVERLAP_INTERFERENCE)
    tp_layer = xp.select(tpo, lambda: comm.overlap_s(xp, tp_raw, g_fwd * (1.0 + bwd_gemm_passes + rerun)),
                         lambda: tp_raw)
    tp_dense = tp_layer if not has_dense else xp.select(
        tpo, lambda: comm.overlap_s(xp, tp_raw, gd_fwd * (1.0 + bwd_gemm_passes + rerun)), lambda: tp_raw)
    # EP (GShard, Lepikhin 2020; DeepSpeed-MoE): all-to-all dispatch and combine per MoE layer in the
    # forward, again in the backward (4; 6 with full recompute), top-k copies of each token.
    # With node-deduplicated dispatch (software.moe_dispatcher deepep) a token crosses the scale-out
    # network once per distinct node its experts sit on (comm.dedup_all_to_all_s), fewer with
    # group-limited routing (model.expert_groups_per_token).
    copy_b = tokens * h * act_b / sp_div
    a2a = xp.select(x["moe_dedup_dispatch"],
                    lambda: comm.dedup_all_to_all_s(xp, fab, e, ep_stride, copy_b, k, x["expert_groups"],
                                                    x["expert_groups_per_token"]),
                    lambda: comm.all_to_all_s(xp, fab, e, ep_stride, copy_b * k))
    ep_layer = (E > 1.0) * (4.0 + 2.0 * rerun) * a2a
    # overlapped all-to-all (Megatron-core's batch-level overlap of one micro-batch's dispatch and combine
    # with another's compute; DeepSeek-V3's DualPipe, Sec. 3.2.1) hides behind the layer's compute and
    # slows it as every overlap here does
    ep_layer = xp.select(x["ep_comm_overlap"], lambda: comm.overlap_s(xp, ep_layer, layer_s), lambda: ep_layer)
    # CP (ring attention, Liu et al. 2023): Megatron-core's p2p ring, or PyTorch's all-gather ring on K,V
    # repeated to the query heads as torchtitan runs it (comm.context_parallel_s)
    kv_chunk = tokens * xp.where(fw == 2.0, at.q + at.o, at.k + at.v) / t * act_b
    cp_layer = comm.context_parallel_s(xp, fab, stride["cp"] * c, c, kv_chunk, a_fwd, a_bwd,
                                       1.0 + rerun + sel_attn,
                                       fw == 2.0, act_b)
    # the stage that sets the pace: the last (its layers, the output layer and the loss) unless the split
    # gives it a layer fewer and a middle stage's layers take longer (pipeline.stage_split)
    layer_busy = layer_s + tp_layer + ep_layer + cp_layer
    if not has_dense:
        last_paces = (L_last * layer_busy + logits_s >= Ls * layer_busy) | (p == 1.0)
        Lp = xp.where(last_paces, L_last, Ls)
        logits_s = last_paces * logits_s
        mb_compute = Lp * layer_s + logits_s
        mb_fwd = Lp * layer_fwd + logits_s / (1.0 + bwd_gemm_passes)
        mb_tp, mb_ep, mb_cp = Lp * tp_layer, Lp * ep_layer, Lp * cp_layer
    else:
        # with leading dense layers the first stage (which holds them) may set the pace too: each candidate
        # stage's MoE and dense layers, the middle one (p > 2) holding MoE layers only
        dense_busy = dlayer_s + tp_dense + cp_layer
        t_last = (L_last - nd_last) * layer_busy + nd_last * dense_busy + logits_s
        t_mid = (p > 2.0) * Ls * layer_busy
        t_first = (p > 1.0) * ((L_first - nd_first) * layer_busy + nd_first * dense_busy)
        last_paces = (t_last >= xp.maximum(t_mid, t_first)) | (p == 1.0)
        mid_paces = xp.logical_not(last_paces) & (t_mid >= t_first)
        n_moe = xp.where(last_paces, L_last - nd_last, xp.where(mid_paces, Ls, L_first - nd_first))
        n_dense = xp.where(last_paces, nd_last, xp.where(mid_paces, 0.0, nd_first))
        logits_s = last_paces * logits_s
        mb_compute = n_moe * layer_s + n_dense * dlayer_s + logits_s
        mb_fwd = n_moe * layer_fwd + n_dense * dlayer_fwd + logits_s / (1.0 + bwd_gemm_passes)
        mb_tp, mb_ep, mb_cp = n_moe * tp_layer + n_dense * tp_dense, n_moe * ep_layer, (n_moe + n_dense) * cp_layer
    # the ZeRO / gradient group is dp x cp: the inner of the two dimensions' groups (the smaller stride),
    # repeated at the outer one's stride; its span sets the tier (comm.ring_bw)
    cp_inner = stride["cp"] <= stride["dp"]
    zg = (xp.where(cp_inner, c, d), xp.minimum(stride["dp"], stride["cp"]), xp.where(cp_inner, d, c),
          xp.maximum(stride["dp"], stride["cp"]))
    del a, a2a, c, code, cp_layer, d, et, L_first, L_last, last_paces, layer_busy, layer_fwd, logits_s, \
        full, kv, kv_chunk, sac_s, sel, sel_titan, tp_bw, tp_lat, tpo

    compute_s = m * mb_compute
    tp_s, ep_s, cp_s = m * mb_tp, m * mb_ep, m * mb_cp
    bubble = pipeline.bubble_s(p, v, mb_compute + mb_tp + mb_ep + mb_cp)
    # neighbouring stages are stride["pp"] ranks apart: the transfer uses the tier that pair spans
    pp_span = xp.minimum(2.0 * stride["pp"], n_gpus)
    pp_s = pipeline.p2p_transfers(p, v, m) * comm.p2p_s(xp, fab, pp_span, tokens * h * act_b / sp_div)
    del pp_span, sp_div

    # ---- data parallelism: gradient reduction, parameter all-gathers (ZeRO), overlap
    train_dense = xp.where(lora, lora_stage, dense_stage)
    train_expert = xp.where(lora, 0.0, expert_stage)
    bw_d, lat_d = comm.ring_bw(xp, fab, *zg)
    # (a dense model's MLP, "one expert", keeps the spacing it had before expert folding: stride["dp"])
    edp_stride = xp.where(E > 1.0, ep_stride * e, stride["dp"] * e)
    bw_e, lat_e = comm.ring_bw(xp, fab, dp_expert, edp_stride)
    gd, ge = g_b * train_dense, g_b * train_expert
    steps_d = comm.all_reduce_steps(xp, fab, *zg)
    steps_e = comm.all_reduce_steps(xp, fab, dp_expert, edp_stride)
    reduce_s = xp.where(z >= 1.0, comm.reduce_scatter_s(dp_dense, gd, bw_d, lat_d)
                        + comm.reduce_scatter_s(dp_expert, ge, bw_e, lat_e),
                        comm.all_reduce_s(xp, dp_dense, gd, bw_d, lat_d, steps_d)
                        + comm.all_reduce_s(xp, dp_expert, ge, bw_e, lat_e, steps_e))
    frozen_b = xp.where(qlora, memory.QLORA_BYTES_PER_PARAM, w_b)
    wd = xp.select(lora, lambda: frozen_b * dense_stage + w_b * lora_stage, lambda: w_b * dense_stage)
    we = xp.where(lora, frozen_b, w_b) * expert_stage
    gather_s = comm.reduce_scatter_s(dp_dense, wd, bw_d, lat_d) + comm.reduce_scatter_s(dp_expert, we, bw_e, lat_e)
    # Each collective pays its latency: gradients go in buckets of the framework's size (Megatron-core /
    # NeMo: max(40M, 1M x dp) parameters; DeepSpeed: 5e8 elements; PyTorch DDP: 25 MB), ZeRO-3 gathers
    # and reduces layer by layer (FSDP's unit is a transformer block; Rajbhandari 2020 Sec. 7.2.2), so the
    # volume above counts one latency and the other collectives add theirs
    bucket_b = g_b * xp.where(fw <= 1.0, xp.maximum(efficiency.MEGATRON_BUCKET_PARAMS,
                                                     efficiency.MEGATRON_BUCKET_PARAMS_PER_DP_RANK * dp_dense),
                              xp.where(fw == 3.0, efficiency.DEEPSPEED_BUCKET_ELEMENTS,
                                       efficiency.DDP_BUCKET_BYTES / g_b))
    rs_lat = (dp_dense - 1.0) * lat_d + (dp_expert - 1.0) * lat_e
    ar_lat = 2.0 * (steps_d * lat_d + steps_e * lat_e)
    buckets = xp.maximum(xp.ceil((gd + ge) / bucket_b), 1.0)
    reduce_s = reduce_s + xp.where(z >= 3.0, (Ls - 1.0) * rs_lat,
                                   (buckets - 1.0) * xp.where(z >= 1.0, rs_lat, ar_lat))
    gather_s = gather_s + xp.where(z >= 3.0, Ls - 1.0, 0.0) * rs_lat
    # Overlap windows (exposed communication inside them counts: a link busy with TP traffic does not
    # idle). ZeRO-0/1 keep whole gradients and reduce once, hidden behind the last micro-batch's
    # backward only; ZeRO-2/3 keep gradient shards, so they reduce-scatter every micro-batch behind its
    # own backward (Rajbhandari 2020 Sec. 5.2), and ZeRO-3 also gathers the weights for every forward and
    # backward (Sec. 7.2.2: 1.5x the traffic at m = 1). The ZeRO-1/2 parameter all-gather after the
    # optimizer hides behind the next step's first forward.
    mb_busy = mb_compute + mb_tp + mb_ep + mb_cp
    mb_bwd_busy = mb_busy - mb_fwd
    # with pipeline parallelism a stage accumulates its gradients over the step's micro-batches and
    # reduce-scatters them once (Llama 3, Dubey et al. 2024 Sec. 3.3.2: FSDP shards gradients with PP;
    # DeepSpeed does not combine ZeRO-2 with PP at all)
    reduces = xp.where((z >= 2.0) & (p == 1.0), m, 1.0)
    # with interleaving the reduction of each model chunk starts once that chunk's gradients are final,
    # and the all-gather of each chunk is needed only at its first forward (pipeline.chunk_window)
    window = pipeline.chunk_window(p, v)
    reduce_exposed = reduces * pipeline.overlapped_s(xp, reduce_s, window * mb_bwd_busy, gd + ge, bucket_b)
    dp_s = xp.where(z >= 3.0,
                    m * pipeline.overlapped_s(xp, reduce_s + 2.0 * gather_s, mb_busy, gd + ge + 2.0 * (wd + we)),
                    reduce_exposed + (z >= 1.0) * pipeline.overlapped_s(xp, gather_s, window * mb_fwd, wd + we))
    opt_params = train_dense / xp.where(z >= 1.0, dp_dense, 1.0) + train_expert / xp.where(z >= 1.0, dp_expert, 1.0)
    # the optimizer step, plus a calibration profile's fixed per-step overhead (0 in the public model)
    opt_s = compute.optimizer_s(xp, opt_params, w_b, g_b, k_b, hw) + pos(x["step_overhead_s"], 0.0)
    # checkpointed bytes per trained parameter: weights + the optimizer's master copy and moments (fp32
    # training: no separate master); with the default dtypes 14 for bf16, BLOOM's measured 14 (reference.md
    # B.4, D.4)
    ckpt_b = w_b + k_b
    del ar_lat, bucket_b, buckets, bw_d, bw_e, zg, dp_dense, dp_expert, E, edp_stride, expert_stage, fw, g_b, \
        gather_s, gd, ge, k_b, lat_d, lat_e, lora, Ls, m, mb_busy, mb_bwd_busy, mb_compute, mb_cp, mb_ep, \
        mb_fwd, mb_tp, opt_params, p, qlora, reduce_exposed, reduce_s, reduces, rs_lat, steps_d, steps_e, \
        stride, train_dense, train_expert, v, wd, we, window, z

    step = compute_s + tp_s + pp_s + dp_s + ep_s + cp_s + bubble + opt_s

    # ---- throughput, utilisation, days and dollars
    out = {
        "step_time_s": step, "compute_s": compute_s, "tp_comm_s": tp_s, "pp_comm_s": pp_s, "dp_comm_s": dp_s,
        "ep_comm_s": ep_s, "cp_comm_s": cp_s, "bubble_s": bubble, "optimizer_s": opt_s,
        "weights_bytes": weights, "grads_bytes": grads, "optimizer_bytes": optim, "activations_bytes": acts,
        "overhead_bytes": overhead, "memory_bytes": mem,
        "params": params, "active_params": active, "trainable_params": trainable, "valid": valid,
    }
    want = frozenset(outputs)
    model_step = model_tok * tok_step
    hw_step = hw_tok * tok_step
    out["model_flop_per_step"], out["hardware_flop_per_step"] = model_step, hw_step
    if want & _UTILISATION:
        gpu_s = step * n_gpus
        out.update({"mfu": model_step / (gpu_s * peak), "mfu_bf16_peak": model_step / (gpu_s * peak16),
                    "hfu": hw_step / (gpu_s * peak), "model_tflops_per_gpu": model_step / gpu_s / units.TFLOP,
                    "hardware_tflops_per_gpu": hw_step / gpu_s / units.TFLOP})
    if want & _DURATION:
        tps = tok_step / step
        train_s = x["tokens"] / tps
        gpu_hours = train_s * n_gpus / units.HOUR_S
        out.update({"tokens_per_s": tps, "train_s": train_s, "gpu_hours": gpu_hours,
                    "cost_usd": gpu_hours * x["usd_per_gpu_hour"]})
    if "fits_in_memory" in want:
        out["fits_in_memory"] = mem <= hbm
    if "memory_excess_bytes" in want:
        out["memory_excess_bytes"] = xp.maximum(mem - hbm, 0.0)
    if "checkpoint_bytes" in want:
        out["checkpoint_bytes"] = trainable * ckpt_b
    return out


#: Outputs computed together (:func:`_kernel` computes a group only when one of them is asked for)
_UTILISATION = frozenset(("mfu", "mfu_bf16_peak", "hfu", "model_tflops_per_gpu", "hardware_tflops_per_gpu"))
_DURATION = frozenset(("tokens_per_s", "train_s", "gpu_hours", "cost_usd"))


def _inputs(inputs: KernelInputs | None, given: dict[str, Any]) -> KernelInputs:
    if inputs is None:
        return KernelInputs.of(given)
    if not isinstance(inputs, KernelInputs):
        raise ClustersimError(f"expected KernelInputs, got {type(inputs).__name__}")
    return inputs.replace(**given) if given else inputs


def evaluate_one(inputs: KernelInputs | None = None, /, **scalars: Any) -> dict[str, Any]:
    """One configuration, plain Python (``math`` only): the same formulas as :func:`evaluate`.

    Takes a :class:`~clustersim.cost.inputs.KernelInputs` of scalars (or its fields as keywords;
    named codes allowed, e.g. ``precision="bf16"``) and returns a dict of floats (bools for
    ``fits_in_memory`` and ``valid``).
    """
    x = _inputs(inputs, scalars).scalars()
    out = _kernel(PY, x)
    return {key: (bool(out[key]) if key in BOOL_OUTPUTS else float(out[key])) for key in OUTPUTS}


def evaluate(inputs: KernelInputs | None = None, /, *, skip_rules: frozenset[str] = frozenset(),
             outputs: tuple[str, ...] | None = None, keep_shapes: bool = False, **arrays: Any) -> dict[str, np.ndarray]:
    """The kernel over arrays: a :class:`~clustersim.cost.inputs.KernelInputs` whose fields are scalars or
    numpy arrays (or its fields as keywords), all broadcast together.

    Returns a dict of arrays of the broadcast shape (float64, bool for ``fits_in_memory`` and
    ``valid``): ``step_time_s`` and its parts (:data:`BREAKDOWN`, exposed times that add up to it),
    FLOPs per step, MFU, HFU, tokens/s, TFLOP/s per GPU, memory per GPU on the heaviest pipeline stage
    with its parts, ``fits_in_memory`` and ``memory_excess_bytes``, parameter counts, checkpoint bytes,
    training time, GPU-hours and dollars, and ``valid`` (:mod:`clustersim.cost.rules`). Rows that break a
    rule get ``valid`` False; nothing raises for them. ``skip_rules`` names rules the caller already
    guarantees (the search's enumeration), so they are not checked again. ``outputs`` names the keys to
    return (None: all of :data:`OUTPUTS`): a caller that ranks a large space on a few of them (the search)
    saves writing the rest.

    ``keep_shapes``: the inputs are not broadcast to one shape first (nor split into chunks): each formula
    runs at the broadcast shape of its own operands, so a term that depends on a few inputs is computed
    at their shape and broadcast by numpy where it meets the others. A search that lays its space out as
    (layouts x ZeRO x recompute x SP) axes computes every layout-only term once per layout, not once per
    configuration. The values are the same to the bit (every operation is elementwise: the same IEEE
    operation on the same operands); the outputs are then of the broadcast shape but may be read-only
    broadcast views (a layout-only output such as ``params``), and the caller bounds the sizes (no chunks).
    """
    import numpy as np  # here, not at the top: evaluate_one (one estimate) never imports numpy

    outputs = OUTPUTS if outputs is None else tuple(outputs)
    unknown = [key for key in outputs if key not in OUTPUTS]
    if unknown:
        raise ClustersimError(f"unknown kernel outputs: {', '.join(unknown)} (expected some of {', '.join(OUTPUTS)})")
    x = _inputs(inputs, arrays).as_dict()
    values: dict[str, Any] = {}
    shapes = []
    for name, value in x.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ClustersimError(f"{name}: expected numbers, got {arr.dtype}")
        if arr.ndim == 0:
            values[name] = float(arr)
        else:
            values[name] = arr.astype(np.float64, copy=False)
            shapes.append(arr.shape)
    shape = np.broadcast_shapes(*shapes) if shapes else ()
    if keep_shapes:
        with np.errstate(all="ignore"):
            res = _kernel(backend.NP, values, skip_rules, outputs)
        return {key: _at_shape(np, res[key], shape, key in BOOL_OUTPUTS) for key in outputs}
    size = math.prod(shape)
    flat = {n: (np.broadcast_to(v, shape).reshape(-1) if isinstance(v, np.ndarray) else v)
            for n, v in values.items()}
    # one block for the float outputs (one mapping, huge pages where the OS gives them), one for the bools
    float_keys = [key for key in outputs if key not in BOOL_OUTPUTS]
    bool_keys = [key for key in outputs if key in BOOL_OUTPUTS]
    floats = np.empty((len(float_keys), size), dtype=np.float64)
    bools = np.empty((len(bool_keys), size), dtype=bool)
    out = {key: floats[i] for i, key in enumerate(float_keys)}
    out.update({key: bools[i] for i, key in enumerate(bool_keys)})
    with np.errstate(all="ignore"):
        for start in range(0, max(size, 1), _CHUNK):
            stop = min(start + _CHUNK, size) if size else 1
            part = {n: (v[start:stop] if isinstance(v, np.ndarray) else v) for n, v in flat.items()}
            res = _kernel(backend.NP, part, skip_rules, outputs)
            for key in outputs:
                out[key][start:stop] = res[key]
    return {key: out[key].reshape(shape) for key in outputs}


def _at_shape(np: Any, value: Any, shape: tuple[int, ...], boolean: bool) -> Any:
    """An output of :func:`_kernel` (an array of a shape that broadcasts to ``shape``, or a scalar) as an
    array of ``shape``: itself when it has that shape, else a broadcast view."""
    arr = np.asarray(value, dtype=bool if boolean else np.float64)
    return arr if arr.shape == shape else np.broadcast_to(arr, shape)


def invalid_reasons(inputs: KernelInputs | None = None, /, **scalars: Any) -> list[str]:
    """Why one configuration is not valid (empty when it is): the messages of :mod:`clustersim.cost.rules`."""
    return [message for _, message in rules.problems(_inputs(inputs, scalars).scalars())]
