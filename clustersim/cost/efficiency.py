"""The few hardware-efficiency constants of the time model: one set for every GPU and every model.

They describe how close real kernels and collectives come to a datasheet's peaks. None is per GPU,
per model or per published run; the GPU enters only through its own peak FLOP/s, HBM bandwidth and
fabric bandwidths. Each constant says where its value comes from. The validation test
(tests/test_validation_published.py) checks the whole model against published runs; it must not be
made to pass by moving these numbers per row.
"""

from __future__ import annotations

__all__ = [
    "GEMM_EFF_MAX",
    "GEMM_HALF_RIDGE",
    "FLASH_ATTN_EFF",
    "HBM_EFF",
    "NET_EFF",
    "KERNEL_LAUNCH_S",
    "DDP_BUCKET_BYTES",
    "ELEMENTWISE_KERNELS_PER_LAYER",
]

#: Best fraction of the dense tensor-core peak a large GEMM reaches. cuBLAS reaches about 80-90% of
#: peak on large bf16 GEMMs on A100 (NVIDIA A100 whitepaper / cuBLAS benchmarks, ~250-280 of 312
#: TFLOP/s) and less on H100 under power limits; 0.8 is the round figure used.
GEMM_EFF_MAX = 0.852

#: Shape dependence of GEMM efficiency, as the arithmetic intensity I = FLOP / bytes moved at which a GEMM
#: reaches half of GEMM_EFF_MAX, in units of the GPU's ridge point (peak FLOP/s / HBM bytes/s):
#: eff(I) = GEMM_EFF_MAX * I / (I + GEMM_HALF_RIDGE * ridge). Equivalently time = (FLOP/peak +
#: GEMM_HALF_RIDGE * bytes/HBM_bandwidth) / GEMM_EFF_MAX: the part of the operand traffic that tiling does
#: not hide. One curve, scaled by each GPU's own ridge point (roofline model, Williams et al. 2009).
GEMM_HALF_RIDGE = 1.0

#: Fraction of the dense peak reached by fused (Flash) attention kernels, forward and backward. Dao 2023
#: (FlashAttention-2, arXiv:2307.08691, abstract and Sec. 4.1) reports 50-73% of the A100's peak.
FLASH_ATTN_EFF = 0.50

#: Fraction of the HBM bandwidth that memory-bound kernels (norms, activations, softmax, optimizer) reach.
#: STREAM-like copies reach ~80-90% of the datasheet bandwidth on A100/H100 (NVIDIA CUDA samples
#: bandwidthTest; scaling-book gpus.md).
HBM_EFF = 0.634

#: Fraction of a link's bandwidth that NCCL collectives reach: 8 x H100 all-reduce bus bandwidth of
#: ~370 GB/s against 450 GB/s NVLink (reference.md C.2, scaling-book gpus.md): 0.82.
NET_EFF = 370.0 / 450.0

#: Floor on a kernel's time: launch plus framework dispatch, a few microseconds (CUDA C++ Best Practices
#: Guide, "kernel launch overhead"; PyTorch eager dispatch is of the same order).
KERNEL_LAUNCH_S = 5e-6

#: Memory-bound kernels launched per layer per pass (norms, bias/dropout/residual, activation, softmax,
#: rotary, casts): a round count, used only for the launch floor of tiny shards.
ELEMENTWISE_KERNELS_PER_LAYER = 12.0

#: Gradient bucket that can only be reduced after the last backward kernel (PyTorch DDP's default
#: ``bucket_cap_mb=25``; torch.nn.parallel.DistributedDataParallel documentation).
DDP_BUCKET_BYTES = 25e6
