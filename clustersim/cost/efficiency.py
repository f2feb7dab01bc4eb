"""The few global constants of the time model; the per-GPU efficiencies are hardware data.

What differs between GPUs (the best GEMM fraction, the GEMM size curve, attention by kernel, the HBM
fraction) is measured per GPU: ``clustersim/scenario/catalog/kernel_model.yaml``, derived from the
cited microbenchmarks of ``efficiency.yaml``, read into :class:`~clustersim.cost.inputs.KernelInputs` by
the resolution. The constants here are the same for every GPU and model; each says where its value
comes from. Three (SUSTAINED_FRACTION, OVERLAP_INTERFERENCE, MOE_EXPERT_PASS_S) are fitted on the published runs
(docs/validation.md gives each fit and its leave-one-source-out range); none is per GPU, per model or per published run. The validation test (tests/test_validation_published.py) checks the whole model against
published runs; it must not be made to pass by moving these numbers per row.
"""

from __future__ import annotations

__all__ = [
    "GEMM_HALF_RIDGE",
    "NET_EFF",
    "DDP_BUCKET_BYTES",
    "MEGATRON_BUCKET_PARAMS",
    "MEGATRON_BUCKET_PARAMS_PER_DP_RANK",
    "DEEPSPEED_BUCKET_ELEMENTS",
    "ELEMENTWISE_KERNELS_PER_LAYER",
    "EAGER_KERNELS_PER_LAYER",
    "SUSTAINED_FRACTION",
    "OVERLAP_INTERFERENCE",
    "MOE_EXPERT_PASS_S",
]

#: The no-overlap roofline's operand term (Williams et al. 2009; NVIDIA "Matrix Multiplication Background
#: User's Guide", math- vs memory-limited GEMMs): a GEMM's compute time is FLOP/(peak f q) plus
#: GEMM_HALF_RIDGE x its operand bytes at the HBM bandwidth (over f), so a GEMM at the GPU's ridge point
#: (peak / bandwidth FLOP per byte) runs at half its best throughput. 1 is the plain roofline, not a
#: fitted number. (Without it the published-run error rises from 16.7% to 21.7%: the measured size
#: curves alone miss the thin tensor-parallel shards.)
GEMM_HALF_RIDGE = 1.0

#: Fraction of a link's bandwidth that NCCL collectives reach: 8 x H100 all-reduce bus bandwidth of
#: ~370 GB/s against 450 GB/s NVLink (reference.md C.2, scaling-book gpus.md): 0.82.
NET_EFF = 370.0 / 450.0

#: Memory-bound kernels launched per layer per pass (norms, bias/dropout/residual, activation, softmax,
#: rotary, casts): a round count, for the launch gaps of each layer's memory-bound work.
ELEMENTWISE_KERNELS_PER_LAYER = 12.0

#: Further kernels per layer per pass when torchtitan runs eager (no torch.compile): its two RMSNorms
#: are six ops each, the rotary embedding of q and k five each, SwiGLU one more (the ops of
#: torchtitan/models/llama/model.py and norms.py): 2 x 6 + 2 x 5 + 1 = 23, rounded to 24.
EAGER_KERNELS_PER_LAYER = 24.0

#: Gradient bucket that can only be reduced after the last backward kernel (PyTorch DDP's default
#: ``bucket_cap_mb=25``; torch.nn.parallel.DistributedDataParallel documentation).
DDP_BUCKET_BYTES = 25e6

#: Megatron-core's gradient bucket when none is set: max(40M, 1M x the data-parallel size) parameters
#: (megatron/core/distributed/distributed_data_parallel.py, ``bucket_size`` default; NeMo inherits it).
MEGATRON_BUCKET_PARAMS = 40e6
MEGATRON_BUCKET_PARAMS_PER_DP_RANK = 1e6

#: DeepSpeed's ZeRO ``reduce_bucket_size`` default: 5e8 elements (DeepSpeed configuration JSON docs,
#: zero_optimization.reduce_bucket_size).
DEEPSPEED_BUCKET_ELEMENTS = 5e8

#: Fraction of its microbenchmarked throughput a GPU's kernels sustain inside a training step: the GEMM,
#: attention and HBM fractions of kernel_model.yaml are each measured on one kernel timed back to back in
#: isolation (shape sweeps, FlashAttention's forward/backward benchmarks, STREAM-like copies), where a
#: training step interleaves hundreds of different kernels from several streams under a sustained power
#: draw (the clock is power-managed: nvidia-smi's clocks_event_reasons report sw_power_cap when a board
#: holds its clock down at its power limit, nvidia-smi(1); the datasheet peaks are at the boost clock).
#: No microbenchmark measures that step-level loss, so it is fitted on the published runs (docs/validation.md:
#: the value, what it was fitted on, and how far it moves when one source is left out); the same for every
#: GPU, precision and framework. 1 would be the microbenchmarks' throughput as it stands.
SUSTAINED_FRACTION = 0.95

#: Slowdown of compute per second of communication hidden behind it: overlapped NCCL kernels occupy SMs
#: and HBM bandwidth (Jangda et al. 2022, "Breaking the Computation and Communication Abstraction
#: Barrier", ASPLOS: overlapped collectives slow the GEMMs they overlap). Fitted on the published runs
#: together with SUSTAINED_FRACTION (see docs/validation.md: the value, what it was fitted on, and how far
#: it moves when one source is left out).
OVERLAP_INTERFERENCE = 0.6


#: Fixed time per local expert, per MoE layer and per GEMM pass (forward; the backward pays it twice, as
#: it runs two GEMMs per forward GEMM), that the FLOP and byte roofline does not see. Megatron-core's
#: token dispatcher synchronises with the host to learn the tokens per expert, after which the
#: per-expert work (input split and quantization, the expert GEMMs, activation, output quantization) is
#: dispatched while the GPU waits: NVIDIA names "small expert GEMMs + host overhead" as the compute wall
#: of fine-grained MoE (Yan et al. 2026, "Scalable Training of Mixture-of-Experts Models with Megatron
#: Core", arXiv:2603.07685, Sec. 1-2), and its fused, sync-free MoE kernels later gave +93% end to end on
#: GPT-OSS and +8% on DeepSeek-V3 (NVIDIA technical blog, "Boosting MoE Training Throughput with Advanced
#: Fusion Kernels", 2026-06-15). 0.1 ms is four to twenty host-dispatched kernels at the 5-25 us each of
#: PyTorch's eager dispatch path. Fitted on the published MoE rows (docs/validation.md: the value, the
#: rows, and how far it moves when one source is left out); the same for every GPU and model.
MOE_EXPERT_PASS_S = 1.0e-4
