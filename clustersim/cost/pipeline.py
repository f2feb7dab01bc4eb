"""Pipeline schedule: layers per stage, micro-batches, bubble, point-to-point and data-parallel overlap.

* Micro-batches per pipeline per step m = B / (dp x b) (Narayanan et al. 2021 Sec. 2.2: b' = B/d).
* Layers need not divide evenly by pp (BLOOM: 70 layers on 12 stages): the heaviest stage has
  ceil(L / pp) layers and sets the pace; it is taken to also carry the output layer. Where the embedding
  and the loss count as one layer each in the split (Megatron-core ``account_for_embedding_in_pipeline_split``
  / ``account_for_loss_in_pipeline_split``, megatron/core/transformer/transformer_block.py; the Llama 3
  405B run, Llama Team 2024 Sec. 3.3.2: "we reduce one Transformer layer each from the first and the last
  stages"), L + 2 units split evenly: the first stage holds one layer fewer beside the embedding, the last
  one fewer beside the output layer and loss (:func:`stage_split`).
* Bubble (Narayanan 2021 Sec. 2.2.1-2.2.2; reference.md D.5): (p-1)/m of the ideal time for 1F1B,
  (p-1)/(v m) interleaved, i.e. (p-1)/v extra micro-batch times.
* Point-to-point: each micro-batch crosses every stage boundary forward and backward, v times with
  interleaving (Narayanan 2021 Sec. 2.2.2: "v times more communication"); with Megatron's blocking
  send/recv the transfers sit on the critical path: 2 (v m + p - 1) transfers of the activation at a
  stage boundary, b s h / cp elements per GPU, or b s h / (cp t) with sequence parallelism (already
  split by tp). Megatron-LM's earlier scatter/gather across tensor ranks (Narayanan 2021 Sec. 4.1) is
  not assumed; current Megatron-core sends the tensor each rank holds.
* Data-parallel overlap (see the kernel): whole gradients are final only in the last micro-batch's
  backward, so their reduction can hide behind that backward only, and the last bucket never hides; the
  parameter all-gather after the optimizer hides behind the next step's first forward.
"""

from __future__ import annotations

from typing import Any

from clustersim.cost import efficiency as eff

__all__ = ["split_units", "stage_split", "dense_layers_on", "bubble_s", "p2p_transfers", "chunk_window", "overlapped_s"]


def split_units(xp: Any, L: Any, p: Any, embedding: Any, loss: Any) -> Any:
    """What the pipeline split divides among the p stages: the L layers, plus one unit each for the
    embedding and for the output layer and loss where they count as layers (software.pipeline_split),
    only with more than one stage (Megatron-core get_num_layers_to_build: num_layers += 1 for each)."""
    return L + (p > 1.0) * ((embedding != 0.0) * 1.0 + (loss != 0.0) * 1.0)


def stage_split(xp: Any, L: Any, p: Any, embedding: Any, loss: Any) -> tuple[Any, Any, Any]:
    """Transformer layers on the (first, heaviest middle, last) pipeline stage (with two stages, the
    middle figure is the heavier end's).

    The split divides L layers, plus one unit for the embedding where ``embedding`` and one for the output
    layer and loss where ``loss`` (only with more than one stage), into ceil(units / p) per stage; the
    first stage holds one layer fewer where the embedding counts, the last one fewer where the loss
    does (Megatron-core get_transformer_layer_offset / get_num_layers_to_build: num_layers += 1 for each).
    Without either it is ceil(L / p) on every stage."""
    units = xp.ceil(split_units(xp, L, p, embedding, loss) / p)
    # the end stages give up one layer each for the unit they count (1 where it counts, else 0)
    first = units - split_units(xp, 0.0, p, embedding, 0.0)
    last = units - split_units(xp, 0.0, p, 0.0, loss)
    # two stages have no middle one: the heavier of the two ends stands in for it
    return first, xp.where(p > 2.0, units, xp.maximum(first, last)), last


def dense_layers_on(xp: Any, dense_layers: Any, L: Any, first: Any, last: Any) -> tuple[Any, Any]:
    """(on the first stage, on the last stage): how many of a MoE model's leading ``dense_layers`` dense
    layers (DeepSeek-V3's first three) the first and the last pipeline stage hold, the layers being
    assigned to the stages in order (Megatron-core get_transformer_layer_offset); ``first`` and ``last``
    the stages' layer counts (:func:`stage_split`). Without pipeline parallelism the one stage holds them
    all. Dense layers beyond the first stage fall on the next, a middle stage, which the kernel takes as
    holding MoE layers only (an upper bound on its weights and time where the dense layer is lighter)."""
    return xp.minimum(dense_layers, first), xp.maximum(dense_layers - (L - last), 0.0)


def bubble_s(p: Any, v: Any, per_microbatch_s: Any) -> Any:
    """Pipeline bubble: (p-1)/v micro-batch times, i.e. (p-1)/(v m) of the m micro-batches' time."""
    return (p - 1.0) / v * per_microbatch_s


def p2p_transfers(p: Any, v: Any, m: Any) -> Any:
    """Point-to-point transfers on the critical path per step: 2 (v m + p - 1) when p > 1, else 0."""
    return (p > 1.0) * 2.0 * (v * m + p - 1.0)


def chunk_window(p: Any, v: Any) -> Any:
    """How many of one micro-batch's backward (or forward) passes the data-parallel reduction (or the
    parameter all-gather) can hide behind, with v model chunks per GPU.

    The interleaved schedule runs micro-batches in groups of p, chunk by chunk (Narayanan et al. 2021
    Sec. 2.2.2, Fig. 4), so the last group's backward takes p micro-batch backwards and chunk v-1's
    gradients are final p (v-1)/v of them before the end, chunk v-2's p (v-2)/v, ... Each chunk's
    buckets are reduced once its gradients are final (Megatron-core ``overlap_grad_reduce`` per model
    chunk), so the reduction has (p (v-1) + 1)/v backwards to hide behind; the parameter all-gather of
    the next step mirrors it in the warm-up forwards (``overlap_param_gather``). Without interleaving
    (v = 1) it is the last micro-batch's backward (or the first one's forward)."""
    return (p * (v - 1.0) + 1.0) / v


def overlapped_s(xp: Any, comm_s: Any, window_s: Any, total_bytes: Any, bucket_bytes: Any = None) -> Any:
    """Exposed part of a communication that may overlap ``window_s`` of compute: what exceeds the
    window, never less than its last bucket (``bucket_bytes`` of ``total_bytes``; PyTorch DDP's
    DDP_BUCKET_BYTES when not given), plus the slowdown the
    hidden part inflicts on the compute it hides behind (OVERLAP_INTERFERENCE of the hidden time:
    collectives take SMs and HBM bandwidth from the kernels they overlap)."""
    bucket = eff.DDP_BUCKET_BYTES if bucket_bytes is None else bucket_bytes
    last_bucket = comm_s * xp.minimum(1.0, bucket / xp.maximum(total_bytes, 1.0))
    exposed = xp.maximum(comm_s - window_s, last_bucket)
    return exposed + eff.OVERLAP_INTERFERENCE * (comm_s - exposed)
