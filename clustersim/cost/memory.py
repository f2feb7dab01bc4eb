"""Memory per GPU: model states under ZeRO 0-3 and the precision, activations, pipeline in-flight, overhead.

Model states follow Rajbhandari et al. 2020 (ZeRO, arXiv:1910.02054, Sec. 3.1 and Fig. 1): with Psi
parameters on a GPU and N_d-way data parallelism, weights + gradients + K x Psi optimizer bytes, of
which ZeRO-1 shards the optimizer states, ZeRO-2 also the gradients and ZeRO-3 also the weights
(reference.md D.4). Bytes per parameter per precision (:data:`STATE_BYTES`):

* fp16: 2 + 2 + K=12 (fp32 master weights, Adam m and v), Rajbhandari's mixed-precision Adam (16 B).
* bf16: 2 + 4 + 12: Megatron-LM accumulates and reduces bf16 gradients in an fp32 buffer
  (``accumulate_allreduce_grads_in_fp32``; Megatron-LM docs, distributed optimizer: 18 B/param).
* fp8: as bf16. Assumption: FP8 training (Transformer Engine) keeps bf16 weights, fp32 main gradients,
  fp32 master weights and Adam states, casting to fp8 per GEMM; its transient fp8 copies are ignored.
* fp32: 4 + 4 + K=8 (Adam m and v; the weights are their own master copy).

The optimizer's K follows the run's optimizer dtypes (:func:`optimizer_state_bytes`): a master copy of the
weights in ``training.master_weights_dtype`` (none in fp32 training) plus Adam's two moments in
``training.optimizer_moments_dtype``, fp32 by default (K = 12). Megatron-core's precision-aware optimizer
(``--main-params-dtype``, ``--exp-avg-dtype``, ``--exp-avg-sq-dtype``) and Apex's DistributedFusedAdam
(NeMo's ``distributed_fused_adam``: its ``dtype`` holds the parameter shard and both moments, Apex
``apex/contrib/optimizers/distributed_fused_adam.py`` ``StateBucket``) store them narrower: bf16 moments
with an fp32 master give K = 8 (DeepSeek-V3, arXiv:2412.19437 Sec. 3.3.3, "Low-Precision Optimizer
States"), all three in bf16 K = 6.

Gradients of bf16/fp8 runs are 2 bytes instead of 4 when the run reduces them in bf16
(``grad_reduce_in_fp32`` false: Megatron-core's ``DistributedDataParallelConfig.grad_reduce_in_fp32``,
whose gradient buffer then takes the parameters' dtype; NeMo 1's ``optim.grad_sync_dtype: bf16``), see
:func:`grad_bytes`.

Activations per layer follow Korthikanti et al. 2022 (arXiv:2205.05198) Table 2 and Sec. 4
(reference.md D.3), generalised in :func:`activation_bytes_per_layer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clustersim import units
from clustersim.cost.flops import AttentionShape, op_sac_matmuls

__all__ = [
    "STATE_BYTES",
    "QLORA_BYTES_PER_PARAM",
    "OVERHEAD_FIXED_BYTES",
    "OVERHEAD_FRAGMENTATION",
    "ALLOCATOR_FRAGMENTATION",
    "CE_FP32_BYTES_PER_LOGIT",
    "LOGITS_FP32_BYTES_PER_LOGIT",
    "activation_bytes_per_layer",
    "SelectiveModules",
    "cp_ring_bytes",
    "fsdp2_buffer_bytes",
    "logits_bytes",
    "grad_bytes",
    "optimizer_state_bytes",
    "optimizer_bytes",
    "OPTIMIZER_DTYPE_BYTES",
    "in_flight_chunks",
    "model_state_bytes",
    "offloaded_layers",
    "op_sac_bytes_per_layer",
]

#: (weight, gradient, optimizer) bytes per parameter for fp32, fp16, bf16, fp8 (precision codes 0..3).
STATE_BYTES: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]] = (
    (4.0, 2.0, 2.0, 2.0),
    (4.0, 2.0, 4.0, 4.0),
    (8.0, 12.0, 12.0, 12.0),
)

#: QLoRA's frozen base: 4-bit NormalFloat plus double-quantised constants, 4.127 bits per parameter
#: (Dettmers et al. 2023, arXiv:2305.14314, Sec. 3 "Double Quantization": 0.127 bits of constants).
QLORA_BYTES_PER_PARAM = 4.127 / 8.0

#: Fixed per-GPU overhead: CUDA context with lazily loaded kernels (~0.5 GiB), NCCL communicator
#: buffers for the TP/PP/DP groups and cuBLAS workspaces (~0.5 GiB), PyTorch allocator reserve.
#: A documented round figure (1.5 GiB), not fitted to any run.
OVERHEAD_FIXED_BYTES = 1.5 * units.GIB
#: Caching-allocator fragmentation on the transient (activation) memory: 5% (a documented allowance;
#: PyTorch's caching allocator rounds and splits blocks, see the PyTorch "CUDA semantics" notes).
OVERHEAD_FRAGMENTATION = 0.05
#: The share of the caching allocator's *reserved* memory that is not allocated (fragmentation,
#: 1 - allocated / reserved) under recomputation and sharded data parallelism: Guo et al. 2024, GMLake
#: (ASPLOS 2024, arXiv:2401.08156), abstract and Sec. 6: virtual-memory stitching removes 15% (up to 33%)
#: fragmentation of PyTorch's splitting caching allocator on eight LLMs on A100 80GB, i.e. the caching
#: allocator reserves transient blocks it cannot reuse (PyTorch "CUDA semantics", memory management:
#: ``memory_reserved`` counts cached blocks; ``expandable_segments`` exists to reduce this fragmentation).
#: Applied to the transient memory of PyTorch-native stacks (torchtitan), whose published peak is the
#: reserved figure (torchtitan ``components/metrics.py``: ``reserved_bytes.all.peak``).
ALLOCATOR_FRAGMENTATION = 0.15
#: Bytes per logit element at the start of the backward pass when the loss upcasts bf16 logits and calls
#: ``cross_entropy`` (torchtitan ``components/loss.py``: ``cross_entropy(pred.flatten(0, 1).float(), ...)``;
#: PyTorch ``nn.CrossEntropyLoss``: log_softmax then nll_loss): the fp32 log-softmax output saved for the
#: backward (4), the dense fp32 gradient nll_loss's backward writes (4) and log_softmax's fp32 input
#: gradient (4); torchtitan frees the bf16 logits before the backward (``del pred`` in ``train.py``).
CE_FP32_BYTES_PER_LOGIT = 12.0
#: Megatron-style fused vocab-parallel cross entropy: the fp32 logits, softmax computed and its gradient
#: written in place (Megatron-core ``tensor_parallel/cross_entropy.py``, ``_VocabParallelCrossEntropy``).
LOGITS_FP32_BYTES_PER_LOGIT = 4.0


def activation_bytes_per_layer(xp: Any, tokens: Any, s_kv: Any, h: Any, f: Any, at: AttentionShape, gated: Any,
                               topk: Any, t: Any, sp: Any, recompute: Any, flash: Any,
                               act_bytes: Any, fp8: Any = False, dropout: Any = True,
                               gathered_inputs: Any = False, modules: SelectiveModules | None = None,
                               dense_mlp: Any = True) -> tuple[Any, Any]:
    """(stored, working) activation bytes of one transformer layer for one micro-batch on one GPU.

    ``tokens`` = b x s / cp is the GPU's share of the micro-batch; each query attends ``s_kv`` = s keys.
    Korthikanti 2022 Table 2 (16-bit, s b h units): attention 11sbh + 5as^2b, MLP 19sbh, LayerNorms
    4sbh, i.e. sbh(34 + 5as/h) without parallelism. Of these, 10 sbh (LayerNorm inputs, QKV and MLP
    inputs, two dropout masks) are replicated across tensor-parallel ranks unless sequence parallelism
    splits them; the rest (Q, K, V, projection input 8sbh; GeLU input and output 16sbh; the s^2 terms)
    is split by t. Generalised here: K and V are k_v/a as wide (GQA); the MLP keeps 4sbf (GeLU in and
    out) or 6sbf when gated (gate, up and product); MoE keeps it per active expert. With FlashAttention
    (Dao et al. 2022) the s^2 scores are never stored, only fp32 softmax statistics (4 bytes per head
    per token). Selective recomputation drops the s^2 terms (Table 2: sbh(10 + 24/t) or 34sbh/t);
    full recomputation keeps only the layer input, 2sbh (split by t with SP). ``working`` is a whole
    layer's activations without recomputation: the transient peak while one layer is recomputed.

    Without dropout (``dropout`` false: Llama, Mixtral, MPT, Nemotron-4 and most current LLMs train
    without) the two 1-byte dropout masks (2sbh of the replicated part) are not stored, and unfused
    attention keeps only the softmax output (2as^2b of the 5as^2b: no mask, no dropout output).

    FP8 (``fp8``): Transformer Engine keeps the FP8 copy of each FP8 GEMM's input for the backward pass
    instead of the 16-bit tensor (TE documentation, "FP8 primer": the quantized input is saved for the
    weight-gradient GEMM), 1 byte instead of 2 for the QKV and FC1 inputs (2 x 2sbh of the replicated
    part), the projection input (2sbh) and the FC2 input (the f-wide activation output, 2sbf).

    ``gathered_inputs``: sequence parallelism by DTensor redistribution (torchtitan ``apply_tp``:
    ``PrepareModuleInput`` turns the attention and feed-forward inputs from ``Shard(1)`` into
    ``Replicate()`` before the column-parallel linears) saves the all-gathered QKV and FC1 inputs for the
    backward (autograd keeps a matmul's input), so those 4sbh stay unsplit; Megatron-LM saves them split
    and all-gathers again in the backward (Korthikanti 2022 Sec. 4.2.2).

    ``at``: the attention's widths (:class:`~clustersim.cost.flops.AttentionShape`): Q is ``q`` wide, K
    ``k``, V ``v`` and the projection input ``o`` (a x head_dim when the model sets its head_dim: Qwen3,
    gpt-oss). MLA also keeps, on every tensor-parallel rank (its down projections are not split), the
    query and key-value latents before their RMSNorm (the norms' inputs, r_q and r_kv + d_rope) and after
    it (the up projections' inputs, r_q and r_kv; FP8 copies under FP8), and its K is a x d_qk wide
    (the shared rotary key broadcast to the heads, as the attention kernel reads it).

    ``modules``: what Megatron-core's selective recomputation reruns (``training.recompute_modules``;
    default: the attention core only, Korthikanti's selective recomputation). Each module it reruns
    frees the tensors only it needs in the backward (Megatron-core ``CheckpointWithoutOutput``):
    core_attn the s^2 terms (or the softmax statistics), mla_up_proj MLA's Q, K and V (recomputed from
    the latents), layernorm the two norms' outputs (the QKV and FC1 inputs), mlp a dense MLP's
    activations but its input (``dense_mlp``: this layer's MLP is dense), moe_act the experts'
    activation outputs (the FC2 inputs).
    """
    a = at.heads
    scale = act_bytes / 2.0
    saved = xp.where(fp8, 0.5, 0.0)  # the share of the GEMM inputs' bytes FP8 storage saves
    masks = xp.where(dropout, 2.0, 0.0)  # the attention and MLP dropout masks (1 byte per element)
    sp_div = xp.where(sp, t, 1.0)
    gathered = xp.select(gathered_inputs, lambda: (4.0 - 2.0 * saved) * (1.0 - 1.0 / sp_div), lambda: 0.0)
    replicated = ((8.0 + masks - 4.0 * saved) / sp_div + gathered) * tokens * h * scale
    split = tokens * (2.0 * at.q + (2.0 - 2.0 * saved) * at.o + 2.0 * (at.k + at.v)
                      + topk * f * (4.0 + 2.0 * gated - 2.0 * saved)) * scale / t
    split = split + xp.select(at.mla, lambda: tokens * scale * (
        (4.0 - 2.0 * saved) * ((at.q_rank > 0.0) * at.q_rank + at.kv_rank) + 2.0 * at.rope), lambda: 0.0)
    s2_units = xp.where(dropout, 5.0, 2.0)
    s2 = xp.select(flash, lambda: 4.0 * a * tokens, lambda: s2_units * a * tokens * s_kv * scale) / t
    working = replicated + split + s2
    layer_input = 2.0 * tokens * h * scale / xp.where(sp, t, 1.0)
    selective = replicated + split
    if modules is not None and not modules.default:
        mlp_units = topk * f * (4.0 + 2.0 * gated - 2.0 * saved)
        freed = (modules.mla_up_proj * at.mla * 2.0 * (at.q + at.k + at.v) / t
                 + modules.layernorm * (4.0 - 4.0 * saved) * h / sp_div
                 + modules.mlp * dense_mlp * mlp_units / t
                 + modules.moe_act * (1 - dense_mlp) * topk * f * (2.0 - 2.0 * saved) / t)
        selective = selective + (1.0 - modules.core_attn) * s2 - tokens * scale * freed
    stored = xp.where(recompute >= 2.0, layer_input, xp.where(recompute >= 1.0, selective, working))
    return stored, working


@dataclass(frozen=True)
class SelectiveModules:
    """What Megatron-core's selective recomputation reruns (``recompute_granularity`` selective with
    ``recompute_modules``, megatron/core/transformer/transformer_config.py): 1 (or True) per module it
    reruns, floats or arrays. The default, the attention core alone, is Korthikanti et al. 2022's."""

    core_attn: Any = 1.0
    mla_up_proj: Any = 0.0
    layernorm: Any = 0.0
    mlp: Any = 0.0
    moe_act: Any = 0.0

    @property
    def default(self) -> bool:
        """True when these are the plain-Python default (nothing to add to the default formulas)."""
        return all(isinstance(v, (bool, int, float)) for v in (self.core_attn, self.mla_up_proj, self.layernorm,
                                                               self.mlp, self.moe_act)) and \
            (bool(self.core_attn), bool(self.mla_up_proj), bool(self.layernorm), bool(self.mlp),
             bool(self.moe_act)) == (True, False, False, False, False)


#: Bytes per element of the optimizer-state dtypes a scenario may name.
OPTIMIZER_DTYPE_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0}


def optimizer_state_bytes(precision: str, master_weights_dtype: str = "fp32",
                          optimizer_moments_dtype: str = "fp32") -> float:
    """K: optimizer bytes per trained parameter (Rajbhandari et al. 2020 Sec. 3.1, K = 12 for mixed-precision
    Adam): Adam's first and second moments in ``optimizer_moments_dtype``, plus, in fp16/bf16/fp8 training,
    the master copy of the weights in ``master_weights_dtype`` (fp32 training updates its weights in place,
    so it has none). The defaults give :data:`STATE_BYTES`."""
    moments = 2.0 * OPTIMIZER_DTYPE_BYTES[optimizer_moments_dtype]
    return moments if precision == "fp32" else OPTIMIZER_DTYPE_BYTES[master_weights_dtype] + moments


def optimizer_bytes(xp: Any, precision: Any, optimizer_state_bytes: Any = 0.0) -> Any:
    """K per trained parameter as the kernel reads it: ``optimizer_state_bytes`` (the scenario's dtypes,
    :func:`optimizer_state_bytes`) where given (> 0), else the precision's :data:`STATE_BYTES` default."""
    return xp.where(optimizer_state_bytes > 0.0, optimizer_state_bytes, xp.take(STATE_BYTES[2], precision))


def grad_bytes(xp: Any, precision: Any, grad_reduce_in_fp32: Any) -> Any:
    """Bytes per gradient element: :data:`STATE_BYTES` (bf16 and fp8 keep an fp32 gradient buffer), or 2
    for bf16/fp8 runs that reduce gradients in bf16 (Megatron-core ``grad_reduce_in_fp32`` false: the
    buffer has the parameters' dtype, Megatron-core ``distributed/param_and_grad_buffer.py``)."""
    g_b = xp.take(STATE_BYTES[1], precision)
    return xp.where((precision >= 2.0) & (grad_reduce_in_fp32 == 0.0), 2.0, g_b)


def op_sac_bytes_per_layer(xp: Any, tokens: Any, h: Any, f: Any, at: AttentionShape, gated: Any, topk: Any,
                           t: Any, sp: Any, act_bytes: Any) -> Any:
    """Stored bytes of one layer under op-level selective activation checkpointing (torchtitan's
    ``selective_ac_option = "op"``, PyTorch ``torch.utils.checkpoint`` selective checkpoint policies).

    The policy saves the outputs of every *other* matmul, of the fused attention (with its fp32 softmax
    statistics, 4 bytes per head per token) and of reduce-scatters; every other op is recomputed from
    them and from the checkpointed layer input (torchtitan ``parallelize_llama.py``, ``_save_list`` and
    "save every second mm"). A Llama layer's matmuls run Q, K, V, output projection, then W1, (W3,) W2:
    the 1st, 3rd, 5th and 7th are kept, i.e. Q (q), V (v), W1 (f per active expert) and, for a
    gated MLP, W2 (h); plus the attention output (o) and the layer input (h); MLA's kept matmuls are
    those of :func:`clustersim.cost.flops.op_sac_matmuls`. Tensor parallelism splits all but the input
    (which sequence parallelism splits too) and MLA's latents (its down projections run whole).
    """
    layer_input = tokens * h * act_bytes / xp.where(sp, t, 1.0)
    kept: Any = 0.0
    for _, d_out, split, expert, rerun in op_sac_matmuls(h, f, gated, at):
        kept = kept + (1.0 - rerun) * (topk if expert else 1.0) * d_out / (t if split else 1.0)
    saved = tokens * (kept + at.o / t) * act_bytes
    return layer_input + saved + 4.0 * at.heads * tokens / t


def chunk_bytes(xp: Any, layers: Any, stored: Any, kept: Any, full: Any, recompute_layers: Any) -> Any:
    """Stored activation bytes of a model chunk of ``layers`` layers: ``stored`` per layer, except that
    under full recomputation of only the first ``recompute_layers`` of them (Megatron-core recompute_method
    "block", recompute_num_layers: the rest of the chunk "will not be recomputed") the other layers keep
    ``kept``, their activations without recomputation; ``recompute_layers`` -1: every layer."""
    rc = xp.where(full & (recompute_layers >= 0.0), xp.minimum(xp.maximum(recompute_layers, 0.0), layers), layers)
    return rc * stored + (layers - rc) * kept


def offloaded_layers(xp: Any, offload: Any, stage_layers: Any) -> Any:
    """Layers of a stage whose stored activations live in host memory under Megatron-core's activation
    CPU offloading (``cpu_offloading_num_layers``; Transformer Engine ``get_cpu_offload_context``): the
    offloaded layers' tensors are copied to the host after their forward and back before their backward,
    double-buffered, so one layer's worth stays on the GPU in transit (TE CPU-offload documentation:
    the next layer's copy overlaps the current layer's compute). Megatron-core allows it only without
    pipeline parallelism and without recomputation (``transformer_config.py``; the rule set says so)."""
    n = xp.minimum(xp.maximum(offload, 0.0), stage_layers)
    return xp.maximum(n - 1.0, 0.0)


def in_flight_chunks(xp: Any, p: Any, v: Any, m: Any, first: bool) -> Any:
    """Micro-batch chunks whose activations the first (or last) pipeline stage holds at its peak.

    1F1B (Narayanan et al. 2021 Sec. 2.2.1; Korthikanti 2022 Sec. 4.2.3): stage i holds p - i
    micro-batches, so the first holds p (m if there are fewer). Interleaved with v chunks per GPU:
    Megatron-LM's schedule warms up 2(p - 1 - i) + (v - 1)p chunks, so the first stage holds
    vp + p - 1 chunks of L/(pv) layers, i.e. L(1 + (p-1)/(pv)) layers' worth, Korthikanti's factor
    (reference.md D.3 writes it with m; it is the number of model chunks v); capped at v x m.
    """
    if first:
        plain = xp.minimum(p, m)
        interleaved = xp.minimum(v * p + p - 1.0, v * m)
    else:
        plain = xp.minimum(1.0, m)
        interleaved = xp.minimum((v - 1.0) * p + 1.0, v * m)
    return xp.where(v > 1.0, interleaved, plain)


def model_state_bytes(xp: Any, dense_params: Any, expert_params: Any, lora_params: Any, lora: Any, qlora: Any,
                      zero: Any, dp_dense: Any, dp_expert: Any, precision: Any,
                      grad_b: Any = None, optim_b: Any = None) -> tuple[Any, Any, Any]:
    """(weights, gradients, optimizer) bytes on one GPU under ZeRO ``zero`` (Rajbhandari 2020 Fig. 1).

    ``dense_params`` and ``expert_params`` are this GPU's shares after tensor, pipeline and expert
    parallelism; ZeRO shards them over ``dp_dense`` (= dp x cp, Megatron's distributed-optimizer group)
    and ``dp_expert`` (= tp x cp x dp / (ep x etp), the expert-data-parallel group of MoE parallel folding,
    Liu et al. 2025, arXiv:2504.14960 Sec. 3). LoRA/QLoRA: the base is frozen (no gradient, no optimizer
    state) at the weight precision, or at :data:`QLORA_BYTES_PER_PARAM` for QLoRA; the adapters train.
    ``grad_b``: bytes per gradient element (:func:`grad_bytes`; default :data:`STATE_BYTES`); ``optim_b``:
    optimizer bytes per trained parameter (:func:`optimizer_state_bytes`; default :data:`STATE_BYTES`).
    """
    w_b = xp.take(STATE_BYTES[0], precision)
    g_b = xp.take(STATE_BYTES[1], precision) if grad_b is None else grad_b
    k_b = optimizer_bytes(xp, precision) if optim_b is None else optim_b
    one = 1.0
    d3 = xp.where(zero >= 3.0, dp_dense, one)
    e3 = xp.where(zero >= 3.0, dp_expert, one)
    d2 = xp.where(zero >= 2.0, dp_dense, one)
    e2 = xp.where(zero >= 2.0, dp_expert, one)
    d1 = xp.where(zero >= 1.0, dp_dense, one)
    e1 = xp.where(zero >= 1.0, dp_expert, one)
    base_share = dense_params / d3 + expert_params / e3
    frozen_b = xp.where(qlora, QLORA_BYTES_PER_PARAM, w_b)
    weights = xp.select(lora, lambda: frozen_b * base_share + w_b * lora_params / d3, lambda: w_b * base_share)
    grads = xp.select(lora, lambda: g_b * lora_params / d2, lambda: g_b * (dense_params / d2 + expert_params / e2))
    optimizer = xp.select(lora, lambda: k_b * lora_params / d1,
                          lambda: k_b * (dense_params / d1 + expert_params / e1))
    return weights, grads, optimizer


def logits_bytes(xp: Any, tokens: Any, vocab: Any, h: Any, t: Any, sp_div: Any, act_bytes: Any,
                 framework: Any) -> Any:
    """Loss-time bytes on the last stage: the logits (vocabulary split by ``t``: Megatron's vocab-parallel
    loss, torchtitan's ``loss_parallel``) at :data:`CE_FP32_BYTES_PER_LOGIT` for torchtitan (framework
    code 2) or :data:`LOGITS_FP32_BYTES_PER_LOGIT` otherwise, plus the output projection's input, split
    by sequence parallelism in Megatron-LM but all-gathered and saved whole by torchtitan's DTensor
    plan (``apply_tp``: ``"output": ColwiseParallel(input_layouts=Shard(1), ...)``)."""
    torchtitan = framework == 2.0
    per_logit = xp.where(torchtitan, CE_FP32_BYTES_PER_LOGIT, LOGITS_FP32_BYTES_PER_LOGIT)
    return per_logit * tokens * vocab / t + tokens * h * act_bytes / xp.where(torchtitan, 1.0, sp_div)


def fsdp2_buffer_bytes(xp: Any, layer_params: Any, root_params: Any, fsdp: Any, framework: Any,
                       w_bytes: Any) -> tuple[Any, Any]:
    """(held, backward) transient FSDP2 (PyTorch ``fully_shard``) bytes beyond the two gathered layers the
    kernel counts for every ZeRO-3 stack, for torchtitan (framework 2) with ``fsdp`` (ZeRO-3 without
    pipeline parallelism):

    * held from the forward through the backward: the root module's parameters (embedding, final norm,
      output projection: ``root_params``) stay unsharded (FSDP2 ``fully_shard`` docs: the root's
      ``reshard_after_forward`` is False, "since the parameters would be immediately all-gathered for
      backward"), in the parameter dtype ``w_bytes``;
    * during a layer's backward: that layer's gradients before the reduce-scatter, the unsharded
      gradients in the parameter dtype and their fp32 copy, the reduce-scatter input, under torchtitan's
      ``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)`` (torchtitan ``parallelize_llama.py``;
      FSDP2 casts gradients to ``reduce_dtype`` before ``reduce_scatter_tensor``): ``(w_bytes + 4)`` bytes
      per parameter.
    """
    on = fsdp & (framework == 2.0)
    return on * root_params * w_bytes, on * layer_params * (w_bytes + 4.0)


def cp_ring_bytes(xp: Any, tokens: Any, at: AttentionShape, t: Any, cp: Any, act_bytes: Any) -> Any:
    """Ring-attention buffers under context parallelism: each rank holds the key/value block it computes
    with and the one it receives, double-buffered so that the transfer overlaps the attention (Liu et al.
    2023, Ring Attention, arXiv:2310.01889 Sec. 3; the same rotation in the backward carries the fp32
    key/value gradients): 2 x K, V in ``act_bytes`` plus 2 x dK, dV in fp32 for this GPU's ``tokens``,
    the heads split by ``t``: K and V ``at.k`` + ``at.v`` wide. Zero without CP."""
    return (cp > 1.0) * 2.0 * tokens * (at.k + at.v) * (act_bytes + 4.0) / t
