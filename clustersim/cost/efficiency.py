"""The few hardware-efficiency constants of the time model: one set for every GPU and every model.

They describe how close real kernels and collectives come to a datasheet's peaks. None is per GPU,
per model or per published run; the GPU enters only through its own peak FLOP/s, HBM bandwidth and
fabric bandwidths. Each constant says where its value comes from: two (GEMM_EFF_MAX, HBM_EFF) were
calibrated once, globally, against the published runs; the others come from datasheets, papers or
documentation. The validation test (tests/test_validation_published.py) checks the whole model against
published runs; it must not be made to pass by moving these numbers per row.
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
    "OVERLAP_INTERFERENCE",
]

#: Best fraction of the dense tensor-core peak that a large GEMM reaches. Calibrated (with HBM_EFF, the
#: only two fitted constants, one value each for every GPU and model) on the published runs of
#: shared/validation; 0.85 agrees with cuBLAS reaching ~250-280 of the A100's 312 TFLOP/s on large bf16
#: GEMMs. Leave-one-source-out check: fitted on any one source (Narayanan 2021, Korthikanti 2022 or
#: MegaScale 2024), the other sources' rows stay within 4.2-7.9% MAPE.
GEMM_EFF_MAX = 0.852

#: Shape dependence of GEMM efficiency (the roofline of Williams et al. 2009; NVIDIA "Matrix
#: Multiplication Background User's Guide", math- vs memory-limited GEMMs against the GPU's ops:byte
#: ratio): eff(I) = GEMM_EFF_MAX x I / (I + GEMM_HALF_RIDGE x ridge), with I the GEMM's arithmetic
#: intensity (FLOP per byte of operands and result) and ridge = peak FLOP/s / HBM bytes/s, the GPU's own
#: figure. Equivalently time = (FLOP/peak + GEMM_HALF_RIDGE x bytes/bandwidth) / GEMM_EFF_MAX. The value 1
#: is the plain no-overlap roofline (a GEMM at the ridge point runs at half its best efficiency), not a
#: fitted number; the validation error hardly depends on it (2.9-3.1% MAPE for 0.1-1.0, refitting the
#: two calibrated constants each time), and small shards (thin tensor-parallel slices, small
#: micro-batches) lose efficiency as they should.
GEMM_HALF_RIDGE = 1.0

#: Fraction of the dense peak reached by fused (Flash) attention kernels, forward and backward. Dao 2023
#: (FlashAttention-2, arXiv:2307.08691, abstract and Sec. 4.1) reports 50-73% of the A100's peak.
FLASH_ATTN_EFF = 0.50

#: Fraction of the HBM bandwidth that memory-bound kernels (norms, activations, softmax, dropout,
#: optimizer) reach over the byte counts of clustersim.cost.compute. Calibrated on the published runs
#: (see GEMM_EFF_MAX); 0.63 sits in the range framework kernels reach (STREAM-like copies ~0.8-0.9 of the
#: datasheet bandwidth, LayerNorm/softmax kernels less).
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

#: Slowdown of compute per second of communication hidden behind it: overlapped NCCL kernels occupy SMs
#: and HBM bandwidth (Jangda et al. 2022, "Breaking the Computation and Communication Abstraction
#: Barrier", ASPLOS: overlapped collectives slow the GEMMs they overlap). The one constant of the time
#: model fitted on published runs (see docs/validation.md: the value, what it was fitted on, and how far
#: it moves when one source is left out).
OVERLAP_INTERFERENCE = 0.6
