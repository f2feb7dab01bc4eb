"""A scenario resolved once: :class:`ResolvedRun`, the one object every layer below the CLI receives.

:func:`resolve_run` does every catalog look-up and every derivation a run needs, once: the
architecture, the GPU's figures, the network and its per-tier bandwidths (from the cluster graph,
cached per network), the price and its source, the failure sources and the job's MTBF, the kernel's
inputs (:class:`~clustersim.cost.inputs.KernelInputs`) and the layout, given or chosen by the
parallelism search. ``estimate``, ``simulate``, the money commands, sweeps and reports take the
ResolvedRun (or its KernelInputs) and never go back to the Scenario's catalog accessors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clustersim import units
from clustersim.cost.inputs import KernelInputs, attention_inputs, pipeline_split_inputs, window_inputs
from clustersim.cost.memory import optimizer_state_bytes
from clustersim.errors import InfeasibleError
from clustersim.planning import cluster_for, fabric_for, network_params
from clustersim.scenario import Scenario, load_scenario
from clustersim.scenario.spec import ParallelismSpec

__all__ = ["ResolvedRun", "resolve_run", "load", "base_inputs", "base_kernel_inputs", "kernel_inputs"]

_LAYOUT = ("tp", "pp", "dp", "cp", "ep", "vpp", "zero", "sequence_parallel", "tp_comm_overlap", "ep_comm_overlap", "placement")


@dataclass(frozen=True)
class ResolvedRun:
    """Everything a run needs, resolved once from a Scenario (catalog look-ups happen only here)."""

    scenario: Scenario
    arch: Mapping[str, Any]
    gpu: Mapping[str, Any]
    network: Any  # clustersim.topology.NetworkParams
    fabric: Mapping[str, float]
    usd_per_gpu_hour: float | None
    price_source: str
    tokens: float
    sources: tuple[Mapping[str, Any], ...]
    job_mtbf_s: float | None
    inputs: KernelInputs
    parallelism: ParallelismSpec
    searched: bool
    gpus_per_node: int
    search: Any = None  # the SearchResult when the layout was searched

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def gpus(self) -> int:
        return self.scenario.cluster.nodes * self.gpus_per_node

    @property
    def model_name(self) -> str:
        return str(self.arch.get("name"))

    @property
    def gpu_name(self) -> str:
        return str(self.gpu.get("name"))

    @property
    def gpu_memory_gib(self) -> float:
        return float(self.gpu["memory_gib"])

    def spines(self) -> int:
        """Spine switches of the cluster graph (built only when asked: failure sources of spines)."""
        return len(cluster_for(self.network).spines())


def load(source: Scenario | str | os.PathLike[str] | Mapping[str, Any], set_: Iterable[str] = (),
         overrides: Mapping[str, Any] | None = None) -> Scenario:
    """A Scenario from a path/mapping/Scenario plus ``--set`` strings and keyword overrides.

    Keyword overrides use ``__`` for dots: ``cluster__nodes=256`` is ``--set cluster.nodes=256``.
    """
    sets = list(set_)
    for key, value in (overrides or {}).items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        sets.append(f"{key.replace('__', '.')}={text}")
    return load_scenario(source, sets)


def _peak_flop_per_s(gpu: Mapping[str, Any], precision: str) -> float:
    value = (gpu.get("peak_tflops") or {}).get(precision)
    if not value:
        raise InfeasibleError(f"{gpu.get('name', 'this GPU')} has no {precision} peak in the catalog")
    return float(value) * units.TFLOP


#: Attention kernel of ``software.attention: auto``: Megatron-core / NeMo use Transformer Engine, whose
#: default fused attention backend on Hopper and Blackwell is cuDNN's (TE documentation, "attention
#: backends"); PyTorch-native stacks (torchtitan, FSDP, DeepSpeed) use scaled_dot_product_attention, whose
#: flash backend is FlashAttention-2 (PyTorch 2.2+ release notes).
_AUTO_ATTENTION = {"megatron": "cudnn", "nemo": "cudnn", "torchtitan": "flash2", "deepspeed": "flash2",
                   "fsdp": "flash2"}
#: HBM bytes per element cast to FP8 by recipe (Transformer Engine documentation, FP8 recipes): delayed
#: scaling reads the BF16 tensor and writes FP8 (2 + 1 B) with the amax taken in the same pass; current
#: scaling first reads the tensor once more for its amax (+2 B); block-wise and MXFP8 add one scale per
#: block (1 per 128 elements, 1 per 32) and the per-block amax in the cast pass.
_FP8_CAST_BYTES = {"delayed": 3.0, "current": 5.0, "blockwise": 3.5, "mxfp8": 3.25}


def head_dim_scale(scale: Mapping[Any, Any], head_dim: float) -> float:
    """A fused attention kernel's throughput at ``head_dim`` relative to head dim 128, from the GPU's
    measured points (kernel_model.yaml ``attention_head_dim_scale``: FlashAttention-3's H100 causal forward
    by head dim, Shah et al. 2024 Fig. 5; FlashAttention-4's B200 head-dim-64 point), linear in
    log2(head dim) between them and clamped beyond the outer ones."""
    # (numpy's interp by hand: the scalar estimate path imports no numpy, tests/test_startup.py)
    points = sorted((math.log2(float(k)), float(v)) for k, v in scale.items())
    x = math.log2(max(float(head_dim), 1.0))
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def software_inputs(s: Scenario, gpu: Mapping[str, Any], head_dim: float = 128.0) -> dict[str, Any]:
    """The software stack's fields: the attention kernel (auto resolved), framework, FP8 recipe, pipeline
    split, and the GPU's measured efficiencies for that kernel and precision (catalog kernel_model.yaml),
    the attention ones at the model's ``head_dim`` (:func:`head_dim_scale`)."""
    from clustersim.scenario import catalog

    sw = s.software
    attention = sw.attention if sw.attention != "auto" else _AUTO_ATTENTION[sw.framework]
    hw = catalog.kernel_model(str(gpu.get("name")))
    att = hw["attention"][attention]
    per_head = head_dim_scale(hw["attention_head_dim_scale"], head_dim)
    gemm = hw["gemm_peak_fraction"]
    recipe = sw.fp8_recipe or ("mxfp8" if str(gpu.get("name", "")).startswith(("b200", "gb200")) else "delayed")
    bf16 = (gpu.get("peak_tflops") or {}).get("bf16") or (gpu.get("peak_tflops") or {}).get("fp16") or 0.0
    return {
        "attention": attention, "framework": sw.framework, "flash_attention": attention != "unfused",
        "moe_dedup_dispatch": sw.moe_dispatcher == "deepep", "torch_compile": sw.torch_compile,
        **pipeline_split_inputs(sw.pipeline_split),
        "fp8_cast_bytes_per_element": _FP8_CAST_BYTES[recipe],
        "bf16_peak_flop_per_s": float(bf16) * units.TFLOP,
        "gemm_peak_fraction": float(gemm.get(s.training.precision, gemm.get("bf16", 0.8))),
        "gemm_half_size": float(hw["gemm_half_size"].get(s.training.precision, hw["gemm_half_size"]["bf16"])),
        "gemm_sm_count": int(hw["sm_count"]), "gemm_tile_m": int(hw["tile_m"]), "gemm_tile_n": int(hw["tile_n"]),
        "attention_fwd_fraction": float(att["fwd"]) * per_head, "attention_bwd_fraction": float(att["bwd"]) * per_head,
        "attention_half_seq": float(hw["attention_half_seq"]), "hbm_fraction": float(hw["hbm_fraction"]),
    }


#: training.recompute_modules' names as the kernel's fields (Megatron-core recompute_modules)
_RECOMPUTE_MODULES = ("core_attn", "mla_up_proj", "layernorm", "mlp", "moe_act")


def recompute_module_inputs(modules: Iterable[str] | None) -> dict[str, bool]:
    """The kernel's ``recompute_<module>`` fields for ``training.recompute_modules`` (None: Megatron-core's
    default, the attention core alone)."""
    chosen = {"core_attn"} if modules is None else set(modules)
    return {f"recompute_{name}": name in chosen for name in _RECOMPUTE_MODULES}


def base_inputs(s: Scenario, arch: Mapping[str, Any], gpu: Mapping[str, Any], fabric: Mapping[str, float],
                tokens: float, price: float | None, par: ParallelismSpec | None, gpus_per_node: int) -> KernelInputs:
    """The kernel's inputs for a scenario: each scenario key read into its field, in this one place.

    Without a layout (``parallelism: auto``) the layout fields hold 1s until the search replaces them.
    """
    t = s.training
    layout: dict[str, Any] = {k: 1 for k in ("tp", "pp", "dp", "cp", "ep", "vpp")}
    if par is not None:
        layout = {k: getattr(par, k) for k in _LAYOUT}
        layout["etp"] = par.etp or 0  # 0 = tp (Megatron-core's default expert tensor parallelism)
    return KernelInputs(
        layers=arch["layers"], hidden_size=arch["hidden_size"], ffn_hidden_size=arch["ffn_hidden_size"],
        attention_heads=arch["attention_heads"], kv_heads=arch["kv_heads"], vocab_size=arch["vocab_size"],
        gated_mlp=arch["gated_mlp"], experts=arch["experts"], experts_per_token=arch["experts_per_token"],
        tied_embeddings=arch["tied_embeddings"], dropout=arch["dropout"],
        expert_groups=arch["expert_groups"], expert_groups_per_token=arch["expert_groups_per_token"],
        shared_experts=arch.get("shared_experts") or 0, dense_layers=arch.get("dense_layers") or 0,
        dense_ffn_hidden_size=arch.get("dense_ffn_hidden_size") or 0.0,
        **window_inputs(arch),
        **attention_inputs(arch),
        seq_len=t.seq_len, global_batch_seqs=t.batch_seqs, micro_batch_seqs=t.micro_batch_seqs, tokens=tokens,
        precision=t.precision, recompute=t.recompute, mode=t.mode, lora_rank=t.lora_rank,
        activation_offload_layers=t.activation_offload_layers,
        recompute_layers=-1 if t.recompute_layers is None else t.recompute_layers,
        **recompute_module_inputs(t.recompute_modules),
        grad_reduce_in_fp32=t.grad_reduce_in_fp32,
        optimizer_state_bytes=optimizer_state_bytes(t.precision, t.master_weights_dtype, t.optimizer_moments_dtype),
        peak_flop_per_s=_peak_flop_per_s(gpu, t.precision),
        hbm_bytes=(float(gpu["memory_gib"]) - s.cluster.gpu_memory_headroom_gib) * units.GIB,
        **software_inputs(s, gpu, arch.get("attention_head_dim") or attention_inputs(arch)["head_dim"]
                          or arch["hidden_size"] / arch["attention_heads"]),
        hbm_bw_bytes_per_s=float(gpu["hbm_gbyte_per_s"]) * units.GB,
        usd_per_gpu_hour=price or 0.0, **{"gpus_per_node": gpus_per_node, **fabric}, **layout,
    )


def resolve_run(source: Scenario | str | os.PathLike[str] | Mapping[str, Any], *, set_: Iterable[str] = (),
                overrides: Mapping[str, Any] | None = None, objective: str = "time", top: int = 1,
                search: bool | None = None) -> ResolvedRun:
    """Resolve a scenario once. ``parallelism: auto`` (or ``search=True``) runs the parallelism search
    and takes its best layout (by ``objective``; ``top`` rows are kept in ``run.search``)."""
    from clustersim.reliability import failure_sources, job_mtbf_s

    s = load(source, set_, overrides)
    arch = s.model_arch()
    gpu = s.gpu()
    price, price_source = s.price()
    tokens = s.tokens()
    network = network_params(s, gpu)
    per_node = network.gpus_per_node
    gpus = s.cluster.nodes * per_node
    fabric = fabric_for(network)
    sources = tuple(failure_sources(s, spines=lambda: len(cluster_for(network).spines()), gpus=gpus))
    mtbf = job_mtbf_s(sources)
    given = s.parallelism(gpus)
    inputs = base_inputs(s, arch, gpu, fabric, tokens, price, given, per_node)
    if s.calibration is not None:  # a profile from `clustersim calibrate` replaces efficiency fields
        from clustersim.calibrate.profile import kernel_overrides

        inputs = inputs.replace(**kernel_overrides(s.calibration))
    result = None
    if given is None or search:
        from clustersim.cost.search import search as run_search

        result = run_search(inputs, gpus=gpus, objective=objective, top=top)
        if not result.configs_evaluated:
            raise InfeasibleError(
                f"{s.name}: no parallel layout exists for {gpus:,} GPUs and a global batch of "
                f"{s.training.batch_seqs:,} sequences (tp x pp x dp x cp must equal the GPU count, with dp "
                "dividing the batch and tp the heads); use a GPU count with more divisors (a power of two) "
                "or another batch")
        if not result.rows:
            raise InfeasibleError(
                f"{s.name}: none of the {result.configs_evaluated:,} configurations fits in "
                f"{gpu['memory_gib']} GiB per GPU on {gpus:,} GPUs; add GPUs, use a GPU with more memory, "
                f"or shorten the sequence{result.excluded_text()}")
    searched = given is None
    if result is not None and given is None:
        s, given, inputs = _apply_row(s, inputs, result.rows[0])
    if given is None:  # pragma: no cover - the search either found a row or raised
        raise InfeasibleError(f"{s.name}: no layout")
    return ResolvedRun(scenario=s, arch=arch, gpu=gpu, network=network, fabric=fabric, usd_per_gpu_hour=price,
                       price_source=price_source, tokens=tokens, sources=sources, job_mtbf_s=mtbf, inputs=inputs,
                       parallelism=given, searched=searched, gpus_per_node=per_node, search=result)


def _apply_row(s: Scenario, inputs: KernelInputs, row: Mapping[str, Any]
               ) -> tuple[Scenario, ParallelismSpec, KernelInputs]:
    """The scenario and inputs with a search row's layout; micro-batch and recompute are training fields,
    written into the scenario so that what is reported is what was evaluated."""
    from clustersim.cost.inputs import RECOMPUTE

    par = ParallelismSpec(**{k: (bool(row[k]) if k == "sequence_parallel" else int(row[k]))
                             for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "zero", "sequence_parallel")})
    training = s.training.model_copy(update={
        "parallelism": par, "micro_batch_seqs": int(row["micro_batch_seqs"]),
        "recompute": RECOMPUTE[int(row["recompute"])]})
    s = s.model_copy(update={"training": training})
    inputs = inputs.replace(**{k: getattr(par, k) for k in _LAYOUT},
                            micro_batch_seqs=int(row["micro_batch_seqs"]), recompute=int(row["recompute"]))
    return s, par, inputs


def base_kernel_inputs(s: Scenario, par: ParallelismSpec | None = None) -> KernelInputs:
    """A scenario's KernelInputs without running a search (the money layer's batched search replaces the
    layout fields); the layout fields hold 1s when the scenario has ``parallelism: auto`` and no ``par``."""
    arch, gpu = s.model_arch(), s.gpu()
    network = network_params(s, gpu)
    fabric = fabric_for(network)
    return base_inputs(s, arch, gpu, fabric, s.tokens(), s.usd_per_gpu_hour(), par or s.parallelism(),
                       network.gpus_per_node)


def kernel_inputs(s: Scenario, par: ParallelismSpec | None = None) -> dict[str, Any]:
    """:func:`base_kernel_inputs` as a mapping by field name (for scripts and tests)."""
    return base_kernel_inputs(s, par).as_dict()
