"""The kernel's inputs, one frozen typed object: :class:`KernelInputs`.

Every input of :func:`clustersim.cost.kernel.evaluate` is one field here, with its unit in its name,
its default and its documentation in one place. Callers never assemble keyword dicts by hand: they
build one :class:`KernelInputs` (the resolution of a scenario does it once, see
:mod:`clustersim.resolve`) and derive variants with :meth:`KernelInputs.replace` (a search sets the
layout fields to arrays, an elastic job sets ``dp`` to the surviving replicas, a degraded fabric sets
the fabric tiers). Each field holds a Python scalar or a numpy array; arrays broadcast together.

Adding a kernel input is one field here, its term in the kernel, and its scenario key (the resolution
reads the key into the field).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from clustersim.errors import ClustersimError

__all__ = ["KernelInputs", "attention_inputs", "window_inputs", "PRECISIONS", "RECOMPUTE", "MODES", "ATTENTION_KERNELS", "FRAMEWORKS", "PLACEMENTS",
           "placement_name", "CODES", "PIPELINE_SPLITS", "pipeline_split_inputs",
           "INPUTS", "DEFAULTS", "REQUIRED", "CALIBRATABLE", "Calibratable", "stack"]

PRECISIONS = ("fp32", "fp16", "bf16", "fp8")  # codes 0..3
RECOMPUTE = ("none", "selective", "full")  # codes 0..2
MODES = ("pretrain", "full-finetune", "lora", "qlora")  # codes 0..3
#: Attention implementations (codes 0..4): Megatron-LM's fused softmax over the materialised s x s scores,
#: then FlashAttention 1 (Dao et al. 2022), 2 (Dao 2023), 3 (Shah et al. 2024) and cuDNN's fused attention.
ATTENTION_KERNELS = ("unfused", "flash1", "flash2", "flash3", "cudnn")
#: Software stacks whose documented behaviour changes the physics (codes 0..4): see the kernel's overlap
#: and launch terms.
FRAMEWORKS = ("megatron", "nemo", "torchtitan", "deepspeed", "fsdp")

#: Orders of the parallel dimensions on the ranks, innermost first (expert parallelism sits inside data
#: parallelism, so an ``ep`` before ``dp`` in a scenario's placement is accepted and dropped). Code 0 is
#: Megatron-LM's default, tp-cp-(ep-)dp-pp.
PLACEMENTS: tuple[str, ...] = ("tp-cp-dp-pp",) + tuple(
    "-".join(p) for p in itertools.permutations(("tp", "cp", "dp", "pp")) if p != ("tp", "cp", "dp", "pp"))


@lru_cache(maxsize=512)
def placement_name(text: str) -> str:
    """A placement as the kernel's name for it (``tp-cp-ep-dp-pp`` -> ``tp-cp-dp-pp``), or ValueError
    (cached: a sweep names the same few placements for every point)."""
    dims = [d.strip() for d in str(text).lower().split("-")]
    if "ep" in dims:
        i = dims.index("ep")
        if i + 1 >= len(dims) or dims[i + 1] != "dp":
            raise ValueError("ep must come right before dp (experts are sharded inside data parallelism)")
        dims.pop(i)
    name = "-".join(dims)
    if name not in PLACEMENTS:
        raise ValueError("expected an order of tp, cp, dp and pp (with ep right before dp), e.g. tp-cp-ep-dp-pp")
    return name


#: software.pipeline_split as the kernel's two flags (pp_split_embedding, pp_split_loss): whether the input
#: embedding, and the output layer with the loss, each count as one layer when the layers are split among
#: the pipeline stages (Megatron-core account_for_embedding_in_pipeline_split,
#: account_for_loss_in_pipeline_split).
PIPELINE_SPLITS: dict[str, tuple[bool, bool]] = {"layers": (False, False), "embedding": (True, False),
                                                 "loss": (False, True), "embedding_and_loss": (True, True)}


def pipeline_split_inputs(name: str) -> dict[str, bool]:
    """The kernel inputs of one ``software.pipeline_split`` value."""
    embedding, loss = PIPELINE_SPLITS[name]
    return {"pp_split_embedding": embedding, "pp_split_loss": loss}


def attention_inputs(arch: Mapping[str, Any]) -> dict[str, float]:
    """The kernel's attention fields from the architecture: ``head_dim`` (0 = hidden / heads) and
    ``v_head_dim`` (0 = head_dim); under multi-head latent attention (``kv_lora_rank``) the queries' and
    keys' head dimension is qk_nope_head_dim + qk_rope_head_dim, the values' v_head_dim or
    qk_nope_head_dim (DeepSeek-V3 config: 128 + 64 and 128), with the two latents and the rotary part."""
    if arch.get("kv_lora_rank"):
        nope, rope = float(arch["qk_nope_head_dim"]), float(arch["qk_rope_head_dim"])
        return {"head_dim": nope + rope, "v_head_dim": float(arch.get("v_head_dim") or nope),
                "q_lora_rank": float(arch.get("q_lora_rank") or 0.0), "kv_lora_rank": float(arch["kv_lora_rank"]),
                "qk_rope_head_dim": rope}
    return {"head_dim": float(arch.get("head_dim") or 0.0), "v_head_dim": float(arch.get("v_head_dim") or 0.0),
            "q_lora_rank": 0.0, "kv_lora_rank": 0.0, "qk_rope_head_dim": 0.0}


def window_inputs(arch: Mapping[str, Any]) -> dict[str, float]:
    """The kernel's sliding-window fields: the window (0 = none) and the layers it applies to (every
    layer unless ``sliding_window_layers`` says how many)."""
    window = float(arch.get("sliding_window") or 0.0)
    n = arch.get("sliding_window_layers")
    return {"sliding_window": window,
            "sliding_window_layers": float(arch["layers"] if n is None else n) if window else 0.0}


#: Inputs given by name in a scenario, as codes in the kernel.
CODES: dict[str, tuple[str, ...]] = {"precision": PRECISIONS, "recompute": RECOMPUTE, "mode": MODES,
                                     "attention": ATTENTION_KERNELS, "framework": FRAMEWORKS,
                                     "placement": PLACEMENTS}
#: Each name's code, for a dict lookup per input.
_CODE_OF: dict[str, dict[str, int]] = {k: {v: i for i, v in enumerate(names)} for k, names in CODES.items()}


def _f(doc: str, default: Any = dataclasses.MISSING) -> Any:
    """A field with its documentation (the reference docs read it from the metadata)."""
    if default is dataclasses.MISSING:
        return field(metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, kw_only=True)
class KernelInputs:
    """Every input of the analytic kernel (SI units; names end in their unit; codes for named choices).

    Fields are Python scalars or numpy arrays that broadcast together. Build with keywords (codes may be
    given by name: ``precision="bf16"``), derive variants with :meth:`replace`.
    """

    # ---- the model architecture
    layers: Any = _f("transformer layers")
    hidden_size: Any = _f("model width h")
    ffn_hidden_size: Any = _f("MLP width (per expert for MoE)")
    attention_heads: Any = _f("query heads")
    kv_heads: Any = _f("key/value heads (grouped-query attention when fewer than the query heads)")
    head_dim: Any = _f("attention head dimension when the model sets its own (a x head_dim may differ from h: "
                       "Qwen3, gpt-oss); under MLA the queries' and keys' d_nope + d_rope; 0 = h / attention_heads",
                       0.0)
    v_head_dim: Any = _f("value head dimension where it differs from head_dim (MLA: DeepSeek-V3 128); 0 = head_dim",
                         0.0)
    q_lora_rank: Any = _f("MLA query latent width r_q (DeepSeek-V3 1536); 0 = no query compression", 0.0)
    kv_lora_rank: Any = _f("MLA key-value latent width r_kv (DeepSeek-V3 512); > 0 makes the attention "
                           "multi-head latent attention; 0 = none", 0.0)
    qk_rope_head_dim: Any = _f("MLA rotary part d_rope of head_dim, one rotary key shared by the heads "
                               "(DeepSeek-V3 64); read only under MLA", 0.0)
    vocab_size: Any = _f("vocabulary size")
    gated_mlp: Any = _f("SwiGLU-style gated MLP (3 matrices) instead of 2")
    experts: Any = _f("experts per MoE layer (1 = dense)")
    experts_per_token: Any = _f("experts each token is routed to (top-k)")
    tied_embeddings: Any = _f("input and output embeddings share one matrix", False)
    dropout: Any = _f("dropout after attention and MLP (and on unfused attention scores): masks stored and written",
                      True)
    shared_experts: Any = _f("MoE shared experts of the expert width every token passes through besides its top-k "
                             "(DeepSeek-V3 1); 0 = none", 0)
    dense_layers: Any = _f("leading layers with a dense MLP instead of the MoE layer (DeepSeek-V3 3); 0 = none", 0)
    dense_ffn_hidden_size: Any = _f("MLP width of those dense layers (DeepSeek-V3 18432)", 0.0)
    sliding_window: Any = _f("sliding-window attention: each query attends its last this-many keys (gpt-oss 128, "
                             "Mistral 7B 4096); 0 = full causal attention", 0.0)
    sliding_window_layers: Any = _f("layers whose attention is windowed (gpt-oss: 18 of 36, alternating); the rest "
                                    "attend the whole causal context", 0.0)
    expert_groups: Any = _f("MoE routing groups (contiguous blocks of experts on the expert-parallel ranks)", 1)
    expert_groups_per_token: Any = _f("routing groups a token's experts may come from (group-limited routing)", 1)
    # ---- the recipe
    seq_len: Any = _f("tokens per sequence")
    global_batch_seqs: Any = _f("sequences per optimizer step")
    micro_batch_seqs: Any = _f("sequences per micro-batch")
    tokens: Any = _f("tokens to train (for days, GPU-hours and dollars)", 0.0)
    # ---- the parallel layout
    tp: Any = _f("tensor-parallel degree")
    pp: Any = _f("pipeline-parallel degree")
    dp: Any = _f("data-parallel degree")
    cp: Any = _f("context-parallel degree", 1)
    ep: Any = _f("expert-parallel degree (over the stage's tp x cp x dp ranks: MoE parallel folding)", 1)
    etp: Any = _f("expert tensor-parallel degree (Megatron-core expert_tensor_parallel_size); 0 = tp", 0)
    vpp: Any = _f("virtual pipeline stages per GPU (interleaved 1F1B)", 1)
    pp_split_embedding: Any = _f(
        "the input embedding counts as one layer in the pipeline split, so the first stage holds one transformer "
        "layer fewer (Megatron-core account_for_embedding_in_pipeline_split)", False)
    pp_split_loss: Any = _f(
        "the output layer and loss count as one layer in the pipeline split, so the last stage holds one "
        "transformer layer fewer (Megatron-core account_for_loss_in_pipeline_split)", False)
    zero: Any = _f("ZeRO stage 0-3 (FSDP full shard = 3)", 1)
    recompute: Any = _f("activation recomputation code: none, selective, full", 1)
    recompute_core_attn: Any = _f("selective recomputation reruns the attention core (Megatron-core recompute_modules "
                                  "core_attn, its default)", True)
    recompute_mla_up_proj: Any = _f("selective recomputation reruns MLA's two up projections and the rotary "
                                    "embedding (recompute_modules mla_up_proj)", False)
    recompute_layernorm: Any = _f("selective recomputation reruns the two norms (recompute_modules layernorm)", False)
    recompute_mlp: Any = _f("selective recomputation reruns the dense MLPs (recompute_modules mlp)", False)
    recompute_moe_act: Any = _f("selective recomputation reruns the experts' activation function (recompute_modules "
                                "moe_act)", False)
    recompute_layers: Any = _f(
        "with full recomputation, the layers of each model chunk that rerun their forward (Megatron-core "
        "recompute_method block, recompute_num_layers); the others keep their activations; -1: all", -1)
    activation_offload_layers: Any = _f(
        "transformer layers whose stored activations are offloaded to host memory (Megatron-core "
        "cpu_offloading_num_layers; pp 1, no recomputation)", 0)
    grad_reduce_in_fp32: Any = _f("bf16/fp8 gradients accumulated and reduced in an fp32 buffer (else bf16)", True)
    optimizer_state_bytes: Any = _f(
        "optimizer bytes per trained parameter: master weights and Adam moments (memory.optimizer_state_bytes); "
        "0: the precision's default (memory.STATE_BYTES)", 0.0)
    sequence_parallel: Any = _f("Megatron sequence parallelism (with tp > 1)", True)
    precision: Any = _f("training precision code: fp32, fp16, bf16, fp8", 2)
    mode: Any = _f("training mode code: pretrain, full-finetune, lora, qlora", 0)
    lora_rank: Any = _f("LoRA rank", 16)
    tp_comm_overlap: Any = _f("tensor-parallel communication overlapped with GEMMs", False)
    ep_comm_overlap: Any = _f("expert-parallel all-to-all overlapped with another micro-batch's compute", False)
    moe_dedup_dispatch: Any = _f(
        "MoE dispatch sends each token once per destination node and forwards it there (DeepEP); False = one "
        "copy per routed expert", False)
    torch_compile: Any = _f("torchtitan compiled (torch.compile); False = eager PyTorch ops for its norms, rotary "
                            "and SwiGLU (only torchtitan reads it)", False)
    placement: Any = _f("order of the parallel dimensions on the ranks, innermost first (code into PLACEMENTS)", 0)
    flash_attention: Any = _f("fused (Flash) attention; False = unfused softmax attention", True)
    attention: Any = _f("attention kernel code: unfused, flash1, flash2, flash3, cudnn", 4)
    framework: Any = _f("software stack code: megatron, nemo, torchtitan, deepspeed, fsdp", 0)
    fp8_cast_bytes_per_element: Any = _f(
        "HBM bytes moved per element cast to FP8 before an FP8 GEMM (the recipe's quantization work)", 3.0)
    # ---- the GPU
    peak_flop_per_s: Any = _f("dense tensor-core peak for the precision, FLOP/s")
    bf16_peak_flop_per_s: Any = _f(
        "dense 16-bit peak, FLOP/s: what stays in BF16 under FP8 (attention) runs at it; 0 = peak_flop_per_s", 0.0)
    gemm_peak_fraction: Any = _f("best measured fraction of the peak a large GEMM reaches on this GPU", 0.8)
    gemm_half_size: Any = _f("GEMM size (cube root of M N K) at which a GEMM reaches half its best throughput",
                             1200.0)
    gemm_sm_count: Any = _f("streaming multiprocessors (compute units) of the GPU", 132)
    gemm_tile_m: Any = _f("rows of one GEMM output tile (CTA tile) for tile padding", 128)
    gemm_tile_n: Any = _f("columns of one GEMM output tile (CTA tile) for tile padding", 128)
    attention_fwd_fraction: Any = _f("fraction of the 16-bit peak the attention kernel reaches forward (causal)", 0.5)
    attention_bwd_fraction: Any = _f("fraction of the 16-bit peak the attention kernel reaches backward", 0.45)
    attention_half_seq: Any = _f("sequence length at which the attention kernel reaches half its fraction", 512.0)
    hbm_fraction: Any = _f("fraction of the HBM bandwidth memory-bound kernels reach (STREAM-like)", 0.85)
    kernel_gap_s: Any = _f("GPU idle time between two kernels of a layer (launch latency), added per kernel, s",
                           2.5e-6)
    hbm_bytes: Any = _f("usable HBM per GPU, bytes (the capacity less the headroom)")
    hbm_bw_bytes_per_s: Any = _f("HBM bandwidth, bytes/s")
    # ---- the fabric tiers (per GPU, per direction), from clustersim.topology
    scaleup_gpus: Any = _f("GPUs in one NVLink / scale-up domain")
    scaleup_bw_bytes_per_s: Any = _f("scale-up bandwidth per GPU per direction, bytes/s")
    scaleup_latency_s: Any = _f("latency of one collective step inside the scale-up domain, s")
    leaf_gpus: Any = _f("GPUs below one leaf (full-bisection) tier")
    leaf_bw_bytes_per_s: Any = _f("scale-out bandwidth per GPU inside a leaf tier, bytes/s")
    spine_bw_bytes_per_s: Any = _f("scale-out bandwidth per GPU across leaf tiers, bytes/s")
    scaleout_latency_s: Any = _f("latency of one collective step across the scale-out fabric, s")
    gpus_per_node: Any = _f("GPUs per node (the fabric tiers already carry the node)", 8)
    # ---- money
    usd_per_gpu_hour: Any = _f("price per GPU-hour, USD", 0.0)
    # ---- calibration (a profile from `clustersim calibrate` sets these; 1 / 0 = the public model)
    gemm_efficiency_scale: Any = _f("multiplies the GEMM throughput of the model", 1.0)
    attention_efficiency_scale: Any = _f("multiplies the attention kernel throughput", 1.0)
    hbm_efficiency_scale: Any = _f("multiplies the bandwidth of memory-bound kernels", 1.0)
    network_efficiency_scale: Any = _f("multiplies the bandwidth collectives reach on every tier", 1.0)
    step_overhead_s: Any = _f("fixed time added to every step (data loading, logging, host sync), s", 0.0)

    def __post_init__(self) -> None:
        for name, codes in _CODE_OF.items():
            value = getattr(self, name, None)
            if isinstance(value, str):
                if name == "placement":
                    try:
                        value = placement_name(value)
                    except ValueError as exc:
                        raise ClustersimError(f"placement: {exc}") from None
                code = codes.get(value)
                if code is None:
                    raise ClustersimError(f"{name}: unknown value {value!r}; expected one of {', '.join(CODES[name])}")
                object.__setattr__(self, name, code)

    @classmethod
    def of(cls, mapping: dict[str, Any] | None = None, /, **values: Any) -> KernelInputs:
        """From a mapping and/or keywords, with a clear error for unknown or missing names."""
        given = {**(mapping or {}), **values}
        unknown = sorted(set(given) - set(INPUTS))
        if unknown:
            raise ClustersimError(f"unknown kernel input(s): {', '.join(unknown)}; expected: {', '.join(INPUTS)}")
        missing = [n for n in REQUIRED if n not in given]
        if missing:
            raise ClustersimError(f"missing kernel input(s): {', '.join(missing)}")
        return cls(**given)

    def replace(self, **changes: Any) -> KernelInputs:
        """A copy with some fields changed (codes by name allowed)."""
        unknown = sorted(set(changes) - set(INPUTS))
        if unknown:
            raise ClustersimError(f"unknown kernel input(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Every field by name (the values themselves, not copies)."""
        return {name: getattr(self, name) for name in INPUTS}

    def scalars(self) -> dict[str, float]:
        """Every field as a Python float (for one configuration); raises if a field is an array."""
        out = {}
        for name in INPUTS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) and _ndim(value):
                raise ClustersimError(f"{name} holds an array; expected one configuration")
            out[name] = float(value)
        return out


#: Every input, in declaration order.
INPUTS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(KernelInputs))
#: Defaults of the optional inputs.
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(KernelInputs)
                            if f.default is not dataclasses.MISSING}
#: Inputs without a default.
REQUIRED: tuple[str, ...] = tuple(n for n in INPUTS if n not in DEFAULTS)


@dataclass(frozen=True)
class Calibratable:
    """An efficiency parameter a calibration profile may set: its field, prior value and bounds."""

    name: str
    default: float
    lower: float
    upper: float
    description: str


#: The efficiency parameters a calibration fits (fields of KernelInputs), with their prior and bounds.
CALIBRATABLE: tuple[Calibratable, ...] = (
    Calibratable("gemm_efficiency_scale", 1.0, 0.3, 1.5, "GEMM throughput relative to the public model"),
    Calibratable("attention_efficiency_scale", 1.0, 0.3, 2.0, "attention kernel throughput relative to the model"),
    Calibratable("hbm_efficiency_scale", 1.0, 0.3, 1.3, "memory-bound kernel bandwidth relative to the model"),
    Calibratable("network_efficiency_scale", 1.0, 0.1, 1.3, "collective bandwidth relative to the model"),
    Calibratable("step_overhead_s", 0.0, 0.0, 60.0, "fixed per-step overhead, s"),
)


def stack(items: list[KernelInputs]) -> KernelInputs:
    """Many configurations as one: each field an array over the items (for one vectorized kernel call)."""
    if not items:
        raise ClustersimError("stack: no kernel inputs")
    import numpy as np

    return KernelInputs(**{name: np.asarray([getattr(it, name) for it in items]) for name in INPUTS})


def _ndim(value: Any) -> int:
    """``numpy.ndim`` of a field that is not a plain Python number (numpy imported only then)."""
    import numpy as np

    return int(np.ndim(value))
