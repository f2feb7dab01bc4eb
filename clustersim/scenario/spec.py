"""The scenario format as frozen pydantic models (the contract is ../shared/SCENARIO.md).

Key names carry their units (``node_mtbf_hours``, ``write_gbyte_per_s``) because users type them;
properties ending in ``_s``, ``_bytes``, ``_bytes_per_s`` give the SI values used everywhere inside.
Every model forbids unknown keys, so a typo is an error, never silently ignored.

Defaults (a minimal file gives only ``model``, ``training.tokens``, ``cluster.gpu``, ``cluster.nodes``)
are documented on each field; where a default is a figure, its source is in the field description.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from clustersim import units

__all__ = [
    "Strict",
    "ModelSpec",
    "ParallelismSpec",
    "TrainingSpec",
    "GPUSpec",
    "NetworkSpec",
    "ClusterSpec",
    "FailureSourceSpec",
    "StragglerSpec",
    "MaintenanceSpec",
    "FailuresSpec",
    "CheckpointSpec",
    "MemoryTierSpec",
    "FaultToleranceSpec",
    "NodeHealthSpec",
    "SilentCorruptionSpec",
    "SpotSpec",
    "EnergySpec",
    "PricingSpec",
    "SimulationSpec",
    "ResilienceSpec",
    "ValidationCheck",
]

PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]

# -- Physically meaningful ranges. Every number of a scenario has one, so that an absurd value (a typo,
# a unit slip, a fuzzer's 1e300) is refused at validation with its file:line instead of overflowing,
# hanging or exhausting memory later. The bounds are generous: each is far beyond any system built or
# announced (2026), and far inside what the models compute without overflow or unbounded work.
#: Cluster size: 10^6 nodes, and at most 2^23 = 8,388,608 GPUs and as many NICs in all (10^6 8-GPU nodes;
#: checked with the network, clustersim.scenario.loader.network_checks): some forty times the largest
#: cluster announced (2026), xAI's ~200,000-GPU Colossus. The healthy and the spine-degraded fabric are
#: closed forms (clustersim.topology.closed_form), so no graph is built for a run; the networkx graph
#: (~3.4 KB per GPU or NIC) is built only for exact group bandwidths, and refused above MAX_GRAPH_ELEMENTS
#: (clustersim.topology.graph).
MAX_NODES = 1_000_000
MAX_GPUS = 8_388_608
MAX_NICS = 8_388_608
#: Token budget: 1e16 (about 600 times Llama 3 405B's 15.6e12).
MAX_TOKENS = 1e16
#: Architecture sizes: layers, widths, heads, experts, vocabulary.
Layers = Annotated[int, Field(gt=0, le=10_000)]
Width = Annotated[int, Field(gt=0, le=1_048_576)]
Heads = Annotated[int, Field(gt=0, le=65_536)]
Vocab = Annotated[int, Field(gt=0, le=16_777_216)]
Experts = Annotated[int, Field(gt=0, le=65_536)]
ParamsB = Annotated[float, Field(gt=0, le=1e6)]
#: A degree of parallelism (tp, cp, ep, vpp, ...); GPUs or NICs per node; a cluster's node count.
Degree = Annotated[int, Field(gt=0, le=1_048_576)]
PerNode = Annotated[int, Field(gt=0, le=128)]
Nodes = Annotated[int, Field(gt=0, le=MAX_NODES)]
NodeCount = Annotated[int, Field(ge=0, le=MAX_NODES)]
#: Sequence length up to 2**24 tokens (16.8M; the longest contexts trained are ~10M).
SeqLen = Annotated[int, Field(gt=0, le=16_777_216)]
BatchSeqs = Annotated[int, Field(gt=0, le=1_073_741_824)]
BatchTokens = Annotated[float, Field(ge=1.0, le=1e12)]
Tokens = Annotated[float, Field(ge=1.0, le=MAX_TOKENS)]
#: Rates and sizes: from 1 MB/s, 1 Mbit/s, 1 GFLOP/s or 1 MiB up to 1 PB/s, 1 Pbit/s, 1 EFLOP/s or 1 PiB.
TFlops = Annotated[float, Field(ge=1e-3, le=1e6)]
GBytePerS = Annotated[float, Field(ge=1e-3, le=1e6)]
GbitPerS = Annotated[float, Field(ge=1e-3, le=1e6)]
MemoryGiB = Annotated[float, Field(ge=1e-3, le=1e6)]
Watts = Annotated[float, Field(ge=1e-3, le=1e6)]
#: Mean time between failures of one unit: from one second to 11,000 years (1e8 hours).
MtbfHours = Annotated[float, Field(ge=1 / 3600, le=1e8)]
#: Weibull shape: 0.1 (heavily front-loaded) to 20 (nearly fixed lifetimes).
WeibullShape = Annotated[float, Field(ge=0.1, le=20.0)]
#: Downtime: detection and restart up to a week (in minutes), repair up to ten years (in hours).
DownMinutes = Annotated[float, Field(ge=0.0, le=10_080.0)]
RepairHours = Annotated[float, Field(ge=0.0, le=87_600.0)]
#: Checkpoint interval: one minute to one year of compute.
IntervalMinutes = Annotated[float, Field(ge=1.0, le=525_600.0)]
Usd = Annotated[float, Field(ge=0.0, le=1e6)]
#: A cost factor (>= 1: no cost) up to 10.
CostFactor = Annotated[float, Field(ge=1.0, le=10.0)]


def _count(value: object) -> object:
    """``15T``, ``500M``, ``2B`` as numbers (clustersim.units.parse_count); other values unchanged."""
    if isinstance(value, str) and value.strip()[:1].isdigit():
        try:
            return units.parse_count(value)
        except ValueError:
            return value
    return value


_COUNT_PATTERN = "^[0-9][0-9_.,]*([eE][+-]?[0-9]+)?[kKmMbBgGtT]?$"
#: A positive count that may be written with a suffix: ``15T``, ``1.5e12``, ``500M``, ``2B``.
PosCount = Annotated[float, BeforeValidator(_count), Field(gt=0), WithJsonSchema(
    {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "pattern": _COUNT_PATTERN}]})]
#: Tokens to train, with a suffix allowed, in the range of ``Tokens``.
TokenCount = Annotated[float, BeforeValidator(_count), Field(ge=1.0, le=MAX_TOKENS), WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 1.0, "maximum": MAX_TOKENS},
               {"type": "string", "pattern": _COUNT_PATTERN}]})]
#: Tokens per step, with a suffix allowed, in the range of ``BatchTokens``.
BatchTokenCount = Annotated[float, BeforeValidator(_count), Field(ge=1.0, le=1e12), WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 1.0, "maximum": 1e12}, {"type": "string", "pattern": _COUNT_PATTERN}]})]


class Strict(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are frozen, no NaN/inf."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True)


class ModelSpec(Strict):
    """A model architecture given inline, optionally on top of a catalog preset."""

    preset: str | None = Field(None, description="catalog model to start from; fields below override it")
    layers: Layers | None = None
    hidden_size: Width | None = None
    ffn_hidden_size: Width | None = Field(None, description="default 4 * hidden_size")
    attention_heads: Heads | None = None
    kv_heads: Heads | None = Field(None, description="grouped-query attention; default attention_heads")
    head_dim: Width | None = Field(None, description=(
        "attention head dimension, when the model sets its own (HF config head_dim, Megatron kv_channels): "
        "queries and the attention output are attention_heads x head_dim wide, keys and values kv_heads x "
        "head_dim (Qwen3: 128 with hidden 4096 and 64 heads; gpt-oss: 64); default hidden_size / "
        "attention_heads"))
    v_head_dim: Width | None = Field(None, description=(
        "value head dimension, where it differs from the queries' and keys' (HF config v_head_dim): the "
        "attention output is attention_heads x v_head_dim wide (DeepSeek-V3: 128 against 192); default the "
        "query head dimension (qk_nope_head_dim under multi-head latent attention)"))
    kv_lora_rank: Width | None = Field(None, description=(
        "multi-head latent attention (DeepSeek-V2/V3, HF config kv_lora_rank, Megatron-core kv_lora_rank): "
        "keys and values are projected through a latent of this width (DeepSeek-V3: 512); needs "
        "qk_nope_head_dim and qk_rope_head_dim, and every head has its own key and value (kv_heads = "
        "attention_heads); default none (grouped-query or multi-head attention)"))
    q_lora_rank: Width | None = Field(None, description=(
        "multi-head latent attention's query latent width (DeepSeek-V3: 1536); only with kv_lora_rank; "
        "default none (a full-rank query projection, as DeepSeek-V2-Lite)"))
    qk_nope_head_dim: Width | None = Field(None, description=(
        "multi-head latent attention: the non-rotary part of each query and key head (DeepSeek-V3: 128); "
        "only with kv_lora_rank; the head dimension the queries and keys attend at is qk_nope_head_dim + "
        "qk_rope_head_dim"))
    qk_rope_head_dim: Width | None = Field(None, description=(
        "multi-head latent attention: the rotary part of each query head, with one rotary key of this width "
        "shared by all heads (DeepSeek-V3: 64); only with kv_lora_rank"))
    attention_head_dim: Width | None = Field(None, description=(
        "the head dimension the attention kernel's measured throughput is read at (the GPU's "
        "attention_head_dim_scale), where it should differ from the queries' and keys' head dimension; "
        "default that dimension (head_dim, or qk_nope_head_dim + qk_rope_head_dim under multi-head latent "
        "attention)"))
    vocab_size: Vocab | None = None
    gated_mlp: bool | None = Field(None, description="SwiGLU-style MLP with three matrices; default false")
    experts: Experts | None = Field(None, description="experts per MoE layer; 1 = dense")
    experts_per_token: Experts | None = Field(None, description="top-k routing; default 1")
    tied_embeddings: bool | None = None
    shared_experts: int | None = Field(None, ge=0, le=1024, description=(
        "MoE shared experts: experts of the routed experts' width (ffn_hidden_size) that every token passes "
        "through besides its experts_per_token routed ones (DeepSeekMoE; DeepSeek-V3 and Kimi K2: 1; HF "
        "n_shared_experts; Megatron-core moe_shared_expert_intermediate_size = shared_experts x "
        "ffn_hidden_size); default 0"))
    dense_layers: int | None = Field(None, ge=0, le=100_000, description=(
        "MoE models whose first layers are dense: that many leading layers have one MLP of "
        "dense_ffn_hidden_size instead of the MoE layer (DeepSeek-V3: 3, Kimi K2: 1; HF first_k_dense_replace; "
        "Megatron-core moe_layer_freq); default 0"))
    dense_ffn_hidden_size: Width | None = Field(None, description=(
        "the MLP width of the leading dense layers (DeepSeek-V3: 18432, HF intermediate_size); needed with "
        "dense_layers"))
    sliding_window: Width | None = Field(None, description=(
        "sliding-window attention: each query attends only its last this-many keys (HF config sliding_window; "
        "Mistral 7B: 4096, gpt-oss: 128); fused kernels compute only the band, unfused attention the whole score "
        "matrix; not with context parallelism (cp 1); default none (full causal attention)"))
    sliding_window_layers: int | None = Field(None, ge=0, le=100_000, description=(
        "how many of the layers attend through the window, the rest attending the whole causal context "
        "(gpt-oss: 18 of 36, alternating; HF layer_types); only with sliding_window; default all layers"))
    expert_groups: Experts | None = Field(None, description=(
        "MoE routing groups: the experts split into this many equal groups, contiguous on the expert-parallel "
        "ranks (DeepSeek-V3 n_group 8; Megatron-core --moe-router-num-groups); default 1"))
    expert_groups_per_token: Experts | None = Field(None, description=(
        "groups a token's experts may come from (group-limited routing: DeepSeek-V3 topk_group 4, each "
        "group one node, so a token reaches at most 4 nodes); default all groups"))
    dropout: bool | None = Field(None, description=(
        "dropout after attention and MLP (and on the scores when attention is unfused): its masks are stored "
        "and written; default true (Megatron-LM's default 0.1); Llama, Mixtral, Qwen3, DeepSeek, MPT and "
        "Nemotron-4 train without"))
    params_b: ParamsB | None = Field(None, description="optional check: warns if it disagrees with the architecture")


class ParallelismSpec(Strict):
    tp: Degree = Field(1, description="tensor parallel")
    pp: Degree = Field(1, description="pipeline stages")
    dp: Degree | None = Field(None, description="data parallel; default: GPUs / (tp*pp*cp)")
    cp: Degree = Field(1, description="context parallel")
    ep: Degree = Field(1, description=(
        "expert parallel: the expert layers' ranks fold onto the stage's tp x cp x dp ranks (MoE parallel "
        "folding, Liu et al. 2025), so ep x etp must divide tp x cp x dp"))
    etp: Degree | None = Field(None, description=(
        "expert tensor parallel (Megatron-core expert_tensor_parallel_size): how many ways each expert's "
        "matrices are split; default tp; 1 folds the attention's tp ranks into ep"))
    vpp: Degree = Field(1, description="virtual (interleaved) pipeline stages per GPU")
    zero: Literal[0, 1, 2, 3] = Field(1, description="ZeRO stage (1 = distributed optimizer)")
    sequence_parallel: bool = Field(True, description="Megatron sequence parallelism (with tp > 1)")
    tp_comm_overlap: bool = Field(False, description="TP communication overlapped with compute")
    ep_comm_overlap: bool = Field(False, description=(
        "MoE all-to-all overlapped with another micro-batch's compute (Megatron-core "
        "--overlap-moe-expert-parallel-comm; DeepSeek-V3's DualPipe)"))
    placement: str = Field("tp-cp-ep-dp-pp", description=(
        "order of the parallel dimensions on the ranks, innermost (neighbouring GPUs) first; Megatron-LM's "
        "default tp-cp-ep-dp-pp"))

    @field_validator("placement")
    @classmethod
    def _placement(cls, value: str) -> str:
        from clustersim.cost.inputs import placement_name

        placement_name(value)  # a ValueError names what is expected
        return value


class TrainingSpec(Strict):
    mode: Literal["pretrain", "full-finetune", "lora", "qlora"] = "pretrain"
    tokens: TokenCount | Literal["chinchilla"] = Field(
        description='tokens to train on (a number, or with a suffix: 15T, 500B, 2.5e12), or "chinchilla" = '
        "20 per parameter (Hoffmann et al. 2022, Table 3)"
    )
    seq_len: SeqLen = Field(4096, description="sequence length in tokens")
    global_batch_seqs: BatchSeqs | None = Field(None, description="sequences per step")
    global_batch_tokens: BatchTokenCount | None = Field(
        None,
        description="tokens per step (alternative to global_batch_seqs); default 4,194,304 "
        "(Llama 3 405B's initial batch, Llama Team 2024 Sec. 3.4.1)",
    )
    micro_batch_seqs: BatchSeqs = 1
    precision: Literal["fp32", "fp16", "bf16", "fp8"] = "bf16"
    recompute: Literal["none", "selective", "full"] = "selective"
    recompute_layers: Annotated[int, Field(ge=0, le=100_000)] | None = Field(None, description=(
        "with recompute full, how many layers of each model chunk rerun their forward in the backward "
        "(Megatron-core recompute_method block, recompute_num_layers); the others keep all their "
        "activations. torchtitan's selective layer checkpointing every k-th block: a chunk's layers / k. "
        "Default: every layer"))
    recompute_modules: list[Literal["core_attn", "mla_up_proj", "layernorm", "mlp", "moe_act"]] | None = Field(
        None, max_length=5, description=(
            "with recompute selective, what Megatron-core's selective recomputation reruns in the backward "
            "(recompute_modules): core_attn the attention core, mla_up_proj multi-head latent attention's up "
            "projections and rotary embedding (not storing Q, K, V), layernorm the two norms, mlp the dense "
            "MLPs, moe_act the experts' activation function; [] reruns nothing. Default [core_attn] "
            "(Megatron-core's default, Korthikanti et al. 2022's selective recomputation)"))
    activation_offload_layers: Annotated[int, Field(ge=0, le=100_000)] = Field(0, description=(
        "transformer layers whose stored activations are offloaded to host memory between their forward and "
        "backward (Megatron-core cpu_offloading_num_layers; needs pp 1 and recompute none); 0 = none"))
    grad_reduce_in_fp32: bool = Field(True, description=(
        "bf16/fp8 runs keep and reduce gradients in an fp32 buffer (4 bytes per parameter; Megatron-core's "
        "default); false = bf16 gradients (2 bytes, half the reduction traffic; Megatron-Bridge's "
        "performance recipes, NeMo's grad_sync_dtype bf16)"))
    master_weights_dtype: Literal["fp32", "bf16", "fp16"] = Field("fp32", description=(
        "dtype of the optimizer's copy of the weights in fp16/bf16/fp8 runs (fp32 by default, 4 bytes per "
        "parameter; Megatron-core --main-params-dtype with --use-precision-aware-optimizer; Apex's "
        "DistributedFusedAdam, NeMo's distributed_fused_adam, keeps it in its optim dtype). An fp32 run's "
        "weights are their own master copy: fp32 only"))
    optimizer_moments_dtype: Literal["fp32", "bf16", "fp16", "fp8"] = Field("fp32", description=(
        "dtype of Adam's first and second moments (fp32 by default, 8 bytes per parameter; Megatron-core "
        "--exp-avg-dtype / --exp-avg-sq-dtype with --use-precision-aware-optimizer; NeMo's "
        "distributed_fused_adam optim dtype; DeepSeek-V3 keeps them in bf16, arXiv:2412.19437 Sec. 3.3.3)"))
    parallelism: ParallelismSpec | Literal["auto"] = "auto"
    lora_rank: Width = Field(16, description="LoRA / QLoRA adapter rank")

    @model_validator(mode="after")
    def _batch(self) -> "TrainingSpec":
        if self.global_batch_seqs is not None and self.global_batch_tokens is not None:
            raise ValueError("give global_batch_seqs or global_batch_tokens, not both")
        if self.precision == "fp32" and self.master_weights_dtype != "fp32":
            raise ValueError(f"master_weights_dtype {self.master_weights_dtype} with precision fp32: an fp32 run's "
                             "weights are their own master copy (expected master_weights_dtype fp32)")
        return self

    @property
    def batch_seqs(self) -> int:
        """Global batch in sequences (the default is 2**22 tokens rounded to whole sequences)."""
        if self.global_batch_seqs is not None:
            return self.global_batch_seqs
        tokens = self.global_batch_tokens if self.global_batch_tokens is not None else 4_194_304.0
        return max(1, round(tokens / self.seq_len))


class SoftwareSpec(Strict):
    """The software stack, where it changes the physics (attention kernel, FP8 recipe, framework)."""

    framework: Literal["megatron", "nemo", "torchtitan", "deepspeed", "fsdp"] = Field(
        "megatron", description="training framework (Megatron-LM by default; nemo runs Megatron-core)")
    attention: Literal["auto", "unfused", "flash1", "flash2", "flash3", "cudnn"] = Field(
        "auto", description=("attention kernel; auto: the framework's default for the GPU (cuDNN fused "
                             "attention via Transformer Engine for megatron/nemo, FlashAttention-2 otherwise)"))
    fp8_recipe: Literal["delayed", "current", "blockwise", "mxfp8"] | None = Field(
        None, description="Transformer Engine FP8 scaling recipe (precision fp8); default delayed, mxfp8 on Blackwell")
    moe_dispatcher: Literal["alltoall", "deepep"] = Field("alltoall", description=(
        "MoE token dispatch: alltoall sends one copy per routed expert (Megatron-core's default dispatcher); "
        "deepep sends each token once per destination node over the scale-out network and forwards it over "
        "NVLink there, and combines the same way (DeepEP; DeepSeek-V3 Sec. 3.2.2)"))
    pipeline_split: Literal["layers", "embedding", "loss", "embedding_and_loss"] = Field("layers", description=(
        "how the layers are split among the pipeline stages: layers (default) splits the transformer layers "
        "alone, the first stage also holding the embedding and the last the output layer and loss; "
        "embedding_and_loss counts each of those as one layer, so the first and last stages hold one layer "
        "fewer (Megatron-core account_for_embedding_in_pipeline_split and account_for_loss_in_pipeline_split, "
        "set by the Megatron-Bridge Llama 3.1 405B and Qwen3-235B recipes; the Llama 3 405B run, Llama Team "
        "2024 Sec. 3.3.2); embedding or loss sets one of the two. Layers plus those units must divide by pp x vpp"))
    torch_compile: bool = Field(False, description=(
        "torchtitan's training.compile (default false): compiled, each layer's norms, rotary embedding and "
        "SwiGLU run as fused kernels; eager, torchtitan runs them as separate PyTorch ops with fp32 upcasts. "
        "The other frameworks run fused kernels either way"))


class GPUSpec(Strict):
    """A GPU given inline, optionally on top of a catalog preset (same fields as the catalog)."""

    preset: str | None = None
    description: str | None = None
    vendor: str | None = None
    peak_tflops: dict[Literal["fp32", "tf32", "fp16", "bf16", "fp8"], TFlops] | None = Field(
        None, description="dense peak TFLOP/s per precision"
    )
    memory_gib: MemoryGiB | None = None
    hbm_gbyte_per_s: GBytePerS | None = None
    scaleup_gbyte_per_s: GBytePerS | None = Field(None, description="NVLink bandwidth per GPU per direction")
    scaleup_domain_gpus: Degree | None = None
    gpus_per_node: PerNode | None = None
    nic_gbit_per_s: GbitPerS | None = None
    nics_per_node: PerNode | None = None
    tdp_w: Watts | None = None
    sources: dict[str, str] | None = None
    notes: str | None = None


class NetworkSpec(Strict):
    topology: Literal["fat-tree", "rail-optimized", "nvl72"] | None = Field(
        None, description="default fat-tree (nvl72 for a gb200-nvl72 GPU)"
    )
    nic_gbit_per_s: GbitPerS | None = Field(None, description="per NIC; default from the GPU catalog")
    nics_per_node: PerNode | None = Field(None, description="default from the GPU catalog")
    oversubscription: Annotated[float, Field(ge=1.0, le=1_000.0)] = Field(1.0, description="above the leaf tier; 7.0 = 1:7")
    nodes_per_leaf: Nodes = 16
    spine_switches: Nodes | None = Field(None, description="default: enough for the oversubscription")


class ClusterSpec(Strict):
    gpu: str | GPUSpec
    nodes: Nodes
    gpus_per_node: PerNode | None = Field(None, description="default from the GPU catalog (8)")
    network: NetworkSpec = NetworkSpec()
    gpu_memory_headroom_gib: Annotated[float, Field(ge=0.0, le=64.0)] = Field(
        1.0, description=("GPU memory kept free (allocator slack, NCCL and CUDA context beyond the model's "
                          "own overhead): a layout fits if it needs at most memory_gib minus this"))


class FailureSourceSpec(Strict):
    component: str = Field(description="gpu, hbm, host, nic, leaf-switch, spine-switch, software, ...")
    per: Literal["gpu", "node", "switch", "job"]
    mtbf_hours: MtbfHours = Field(description="mean time between failures of ONE unit (the distribution's mean)")
    distribution: Literal["exponential", "weibull"] = "exponential"
    shape: WeibullShape = Field(1.0, description="Weibull shape (1 = exponential)")


class StragglerSpec(Strict):
    fraction: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.005, description="fraction of slow nodes; default 0.5% (MegaScale Sec. 6)"
    )
    slowdown: Annotated[float, Field(ge=1.0, le=100.0)] = Field(
        1.1, description="step-time factor of a slow node; default 1.1 (MegaScale Sec. 6: ~10% slower)"
    )


class MaintenanceSpec(Strict):
    period_hours: Annotated[float, Field(ge=0.1, le=87_600.0)]
    duration_minutes: Annotated[float, Field(gt=0.0, le=10_080.0)]


class FaultToleranceSpec(Strict):
    """Per-replica fault tolerance (torchft / FT-HSDP style): a failed data-parallel replica drops out and
    rejoins after recovery while the others continue; no whole-job restart. Distinct from ``elastic``
    (the job restarts, then runs on fewer replicas). Simulated by the strategy engine."""

    mode: Literal["per_replica", "restart"] = Field(
        "per_replica", description="per_replica, or restart (the whole-job restart, to compare against)")
    replicas: Annotated[int, Field(gt=0, le=MAX_NODES)] | None = Field(
        None, description="fault-tolerance replica groups; default: the layout's data-parallel replicas that "
        "span whole nodes (nodes / ceil(tp*pp*cp / gpus_per_node)); must divide the nodes")
    stall_seconds: Annotated[float, Field(ge=0.0, le=86_400.0)] = Field(
        60.0, description="every replica pauses this long per failure while the quorum re-forms")
    rejoin_minutes: DownMinutes = Field(
        10.0, description="after detection and a replacement node, the replica reloads and rejoins")
    step_time_factor: CostFactor = Field(
        1.0, description="step time of fault-tolerant training over plain training (per-step quorum, "
        "replicated state): the healthy job runs 1/this as fast")
    convergence_factor: CostFactor = Field(
        1.0, description="extra work to reach the same loss (dropped replicas' batches): work x this")


class NodeHealthSpec(Strict):
    """Heterogeneous node reliability: a few lemon nodes fail again and again (Kokolis et al. 2024 Sec. V.A
    found 40 lemons; the 504-GPU B200 report of Lablup 2026 has 3 of 63 nodes behind over half the
    exclusions), retired after k failures, misdiagnosed repairs and repair escalation. Strategy engine."""

    lemon_nodes: NodeCount = Field(0, description="nodes of the job that fail repeatedly")
    lemon_mtbf_hours: MtbfHours | None = Field(None, description="MTBF of one lemon node")
    retire_after: Annotated[int, Field(ge=0, le=1_000)] = Field(
        0, description="retire a lemon after this many failures; a fresh node replaces it (0: never)")
    escalate_after: Annotated[int, Field(ge=0, le=1_000)] = Field(
        0, description="after this many failures a lemon gets a thorough repair (twice as long) that fixes it "
        "(0: never)")
    misdiagnosis: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0, description="probability that a repaired node comes back still broken (it then fails as a lemon)")

    @model_validator(mode="after")
    def _rate(self) -> "NodeHealthSpec":
        if (self.lemon_nodes or self.misdiagnosis) and self.lemon_mtbf_hours is None:
            raise ValueError("lemon_mtbf_hours is needed with lemon_nodes or misdiagnosis")
        return self


class SilentCorruptionSpec(Strict):
    """Silent data corruption found late: the job rolls back to the newest retained storage checkpoint
    written before it (``checkpoint.retention``). Strategy engine, whole-job restart mode."""

    mtbf_hours: MtbfHours = Field(description="mean time between corruptions of the whole job")
    detect_hours: Annotated[float, Field(ge=0.0, le=8_760.0)] = Field(
        0.0, description="how long after it happens a corruption is found")


class FailuresSpec(Strict):
    node_mtbf_hours: MtbfHours | None = Field(None, description="shorthand: one exponential source per node")
    preset: str | None = Field(None, description="a reliability preset from the catalog (e.g. llama3-405b)")
    sources: Annotated[list[FailureSourceSpec], Field(max_length=1_000)] | None = None
    trace: str | None = Field(None, description="CSV of observed failures: time_hours, component, node")
    detect_minutes: DownMinutes = Field(5.0, description="default 5 (health checks every 5 min, Kokolis 2024)")
    restart_minutes: DownMinutes = Field(
        10.0, description="default 10 (MegaScale: < 10 min to detect and diagnose; Kokolis u0 = 5-20 min)"
    )
    repair_hours: RepairHours = Field(24.0, description="mean time to repair or replace a node")
    repair_distribution: Literal["exponential", "fixed", "lognormal"] = "exponential"
    max_concurrent_repairs: Nodes | None = None
    spare_nodes: NodeCount = 0
    elastic: bool = Field(False, description="continue on fewer data-parallel replicas instead of waiting")
    cold_provision_minutes: DownMinutes | None = Field(
        None, description="with no spare node free, a replacement from the provider after this many minutes, "
        "paid from then on (cold spares; omit: wait for a repair). Strategy engine")
    fault_tolerance: FaultToleranceSpec | None = Field(
        None, description="per-replica fault tolerance instead of whole-job restarts. Strategy engine")
    node_health: NodeHealthSpec | None = Field(None, description="lemon nodes, retirement, misdiagnosis. Strategy engine")
    silent_corruption: SilentCorruptionSpec | None = Field(
        None, description="silent data corruption found late, rolled back. Strategy engine")
    stragglers: StragglerSpec | None = None
    maintenance: MaintenanceSpec | None = None

    @model_validator(mode="after")
    def _one_source_kind(self) -> "FailuresSpec":
        given = [k for k in ("node_mtbf_hours", "preset", "sources") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of node_mtbf_hours, preset, sources (got {', '.join(given)})")
        if self.elastic and self.fault_tolerance is not None and self.fault_tolerance.mode == "per_replica":
            raise ValueError("give elastic or fault_tolerance (per-replica), not both: they are distinct ways "
                             "of continuing after a failure")
        return self

    @property
    def detect_s(self) -> float:
        return self.detect_minutes * units.MINUTE_S

    @property
    def restart_s(self) -> float:
        return self.restart_minutes * units.MINUTE_S

    @property
    def repair_s(self) -> float:
        return self.repair_hours * units.HOUR_S


class MemoryTierSpec(Strict):
    """In-memory checkpoints: host memory of each node (lost when that node fails, kept over a software
    failure) or peer-replicated (a copy on another node: survives the loss of one node). Gemini
    (Wang et al., SOSP 2023) and MegaScale Sec. 4.4 (host copy in seconds) describe both."""

    holder: Literal["host", "peer"] = Field(
        "peer", description="host: own host memory; peer: replicated to another node's memory")
    interval_minutes: IntervalMinutes = Field(description="compute time between in-memory checkpoints")
    write_seconds: Annotated[float, Field(ge=0.0, le=86_400.0)] | None = Field(
        None, description="blocking time of one in-memory checkpoint; default: the per-GPU checkpoint over "
        "checkpoint.host_copy_gbyte_per_s")
    load_seconds: Annotated[float, Field(ge=0.0, le=86_400.0)] | None = Field(
        None, description="restore from memory; default: as write_seconds")
    gib_per_node: Annotated[float, Field(ge=0.0, le=1e6)] | None = Field(
        None, description="host memory the tier holds per node (priced); default: the checkpoint over the "
        "nodes, twice for peer")
    usd_per_gib_hour: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.0, description="price of that host memory (in simulate's and resilience's dollars, and dollars' "
        "memory_tier_usd)")


class CheckpointSpec(Strict):
    interval_minutes: IntervalMinutes | Literal["auto"] = Field(
        "auto", description="compute time between checkpoints (Daly's tau), or auto = Daly's optimum"
    )
    write_gbyte_per_s: GBytePerS = Field(
        273.0, description="aggregate write bandwidth; default 273 GB/s (Narayanan et al. 2021 Sec. 5.10)"
    )
    read_gbyte_per_s: GBytePerS = Field(
        1000.0, description="aggregate read bandwidth; default 1 TB/s (Narayanan et al. 2021 Sec. 5.10)"
    )
    host_copy_gbyte_per_s: GBytePerS = Field(
        25.0,
        description="async only: per-GPU device-to-host copy bandwidth; default 25 GB/s (PCIe Gen4 x16, "
        "the blocking 'several seconds' snapshot of MegaScale Sec. 4.4)",
    )
    async_: bool = Field(False, alias="async", description="true: only the copy to host memory blocks")
    write_efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1.0, description="achieved write bandwidth as a fraction of write_gbyte_per_s (e.g. 0.16 measured on "
        "a 504-GPU B200 cluster's NFS, Lablup 2026)")
    read_efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        1.0, description="achieved read bandwidth as a fraction of read_gbyte_per_s (0.215 in Lablup 2026)")
    retention: Annotated[int, Field(ge=1, le=1_000_000)] | None = Field(
        None, description="storage checkpoints kept (what a late-found corruption can roll back to; priced "
        "with pricing.storage_usd_per_tb_month by simulate, resilience and dollars); omit: all (dollars: 2 "
        "when the whole-job engines simulate the run)")
    memory_tier: MemoryTierSpec | None = Field(
        None, description="a fast in-memory checkpoint tier at its own interval; the storage checkpoint "
        "(this section's interval) is every round(interval_minutes / memory_tier.interval_minutes)-th. "
        "Strategy engine")

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _tiers(self) -> "CheckpointSpec":
        if self.memory_tier is not None and self.async_:
            raise ValueError("give async or memory_tier, not both (the memory tier is the asynchronous copy; "
                             "its storage write is modelled as blocking)")
        if (self.memory_tier is not None and self.interval_minutes != "auto"
                and self.memory_tier.interval_minutes > self.interval_minutes):
            raise ValueError("memory_tier.interval_minutes must not exceed interval_minutes (the storage interval)")
        return self

    @property
    def write_bytes_per_s(self) -> float:
        """Achieved write bandwidth: nominal x ``write_efficiency``."""
        return self.write_gbyte_per_s * units.GB * self.write_efficiency

    @property
    def read_bytes_per_s(self) -> float:
        """Achieved read bandwidth: nominal x ``read_efficiency``."""
        return self.read_gbyte_per_s * units.GB * self.read_efficiency


class SpotSpec(Strict):
    discount: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(description="fraction off the on-demand price")
    preemptions_per_node_day: Annotated[float, Field(ge=0.0, le=1_440.0)]
    return_hours: RepairHours | None = Field(
        1.0, description="mean hours until a preempted node's capacity comes back (null: failures.repair_hours); "
        "default 1 h, the mean spot-unavailable period of AWS p3.16xlarge (8x V100) in us-west-2 in 2022 "
        "(Wu et al. NSDI 2024 spot traces; catalog spot.yaml): set it for your provider and GPU"
    )


class EnergySpec(Strict):
    usd_per_kwh: Annotated[float, Field(ge=0.0, le=100.0)]
    pue: Annotated[float, Field(ge=1.0, le=10.0)] = 1.2
    node_overhead_w: Annotated[float, Field(ge=0.0, le=1e6)] = Field(
        0.0, description="CPUs, NICs, fans per node beyond the GPUs' power"
    )


class PricingSpec(Strict):
    usd_per_gpu_hour: Annotated[float, Field(ge=0.0, le=10_000.0)] | None = None
    preset: str | None = None
    spot: SpotSpec | None = None
    energy: EnergySpec | None = None
    storage_usd_per_tb_month: Usd | None = None

    @model_validator(mode="after")
    def _one_price(self) -> "PricingSpec":
        if self.usd_per_gpu_hour is not None and self.preset is not None:
            raise ValueError("give usd_per_gpu_hour or preset, not both")
        return self


class SimulationSpec(Strict):
    replicas: Annotated[int, Field(gt=0, le=1_000_000)] = 100
    seed: Annotated[int, Field(ge=0, le=2**64 - 1)] = 0
    horizon_factor: Annotated[float, Field(ge=1.0, le=1_000.0)] = Field(
        20.0, description="a replica stops at this many times (the failure-free time + one node repair time), "
        "so that a run that cannot progress never hangs; a replica stopped there did not finish, and the "
        "commands say so"
    )



class ValidationCheck(Strict):
    """One published figure a run is checked against (the files under scenarios/validation/; docs/validation.md
    part 3): the strategy, the metric over its replicas, the figure, a named tolerance."""

    strategy: str = Field("base", description="the strategy checked (base: the file as written)")
    metric: Literal["goodput", "interruptions_per_day", "wall_days"] = Field(description="what is compared")
    published: Annotated[float, Field(ge=0.0, le=1e9)] = Field(description="the source's figure")
    tolerance: Annotated[float, Field(ge=0.0, le=1e9)] = Field(description="absolute tolerance")
    kind: Literal["within", "at_least"] = Field("within", description="|sim - published| <= tol, or sim >= published - tol")
    source: str = Field(description="where the figure is printed")
    note: str = Field("", description="what the figure rests on")


class ResilienceSpec(Strict):
    """Named resilience strategies of this scenario for ``clustersim resilience``: each is a set of
    dotted overrides of the scenario (``failures.spare_nodes: 32``, ``checkpoint.memory_tier.interval_minutes:
    5``); all run on the same failures (common random numbers). ``simulate`` ignores this section."""

    strategies: Annotated[dict[str, dict[str, Any]], Field(max_length=64)] = Field(
        default_factory=dict, description="name -> dotted overrides of the scenario")
    deadline_days: Annotated[float, Field(gt=0.0, le=36_500.0)] | None = Field(
        None, description="pick the cheapest strategy whose P90 wall time meets it")
    validation: Annotated[list[ValidationCheck], Field(max_length=64)] = Field(
        default_factory=list, description="published figures the run is checked against (scenarios/validation/: "
        "clustersim.resilience.validation runs them through clustersim resilience)")
