"""From a Scenario to the kernel's arrays: the cluster graph's tiers, the GPU's figures, the recipe.

This is the one place that knows both the scenario format and the array-level kernel's inputs, so the
kernel (clustersim.cost) stays numpy-only and the scenario layer stays free of physics.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from clustersim import units
from clustersim.cost.kernel import MODES, PRECISIONS, RECOMPUTE
from clustersim.scenario.model import Scenario
from clustersim.scenario.spec import ParallelismSpec
from clustersim.topology import Cluster, NetworkParams, build_cluster

__all__ = ["network_params", "cluster_of", "fabric_of", "model_inputs", "gpu_inputs", "recipe_inputs",
           "kernel_inputs", "parallelism_inputs"]


def network_params(s: Scenario) -> NetworkParams:
    """The network as the scenario gives it, with the GPU catalog's defaults for what it omits."""
    gpu = s.gpu()
    net = s.cluster.network
    domain = int(gpu.get("scaleup_domain_gpus") or s.gpus_per_node)
    topology = net.topology or ("nvl72" if domain > s.gpus_per_node else "fat-tree")
    if topology != "nvl72":
        domain = min(domain, s.gpus_per_node)  # an NVLink domain beyond one node needs the nvl72 topology
    return NetworkParams(
        nodes=s.cluster.nodes,
        gpus_per_node=s.gpus_per_node,
        topology=topology,
        nic_gbit_per_s=float(net.nic_gbit_per_s or gpu.get("nic_gbit_per_s") or 400.0),
        nics_per_node=int(net.nics_per_node or gpu.get("nics_per_node") or s.gpus_per_node),
        oversubscription=net.oversubscription,
        nodes_per_leaf=net.nodes_per_leaf,
        scaleup_bw_bytes_per_s=float(gpu["scaleup_gbyte_per_s"]) * units.GB,
        scaleup_domain_gpus=domain,
        spine_switches=net.spine_switches,
    )


@lru_cache(maxsize=64)
def _cluster(params: NetworkParams) -> Cluster:
    return build_cluster(params)


def cluster_of(s: Scenario) -> Cluster:
    """The cluster graph (cached per network: building a 16k-GPU graph once is enough)."""
    return _cluster(network_params(s))


def fabric_of(s: Scenario, failed_spines: int = 0) -> dict[str, float]:
    """Per-tier bandwidths and latencies from the cluster graph (optionally with spines removed)."""
    cluster = cluster_of(s)
    if failed_spines:
        spines = cluster.spines()
        cluster = cluster.degrade(spines[: min(failed_spines, len(spines))])
    return dict(cluster.fabric())


def model_inputs(arch: dict[str, Any]) -> dict[str, Any]:
    keys = ("layers", "hidden_size", "ffn_hidden_size", "attention_heads", "kv_heads", "vocab_size",
            "gated_mlp", "experts", "experts_per_token", "tied_embeddings")
    return {k: arch[k] for k in keys}


def gpu_inputs(gpu: dict[str, Any], precision: str) -> dict[str, float]:
    return {
        "peak_flop_per_s": float(gpu["peak_tflops"][precision]) * units.TFLOP,
        "hbm_bytes": float(gpu["memory_gib"]) * units.GIB,
        "hbm_bw_bytes_per_s": float(gpu["hbm_gbyte_per_s"]) * units.GB,
    }


def recipe_inputs(s: Scenario) -> dict[str, Any]:
    t = s.training
    return {
        "seq_len": t.seq_len,
        "global_batch_seqs": t.batch_seqs,
        "micro_batch_seqs": t.micro_batch_seqs,
        "tokens": s.tokens(),
        "precision": PRECISIONS.index(t.precision),
        "recompute": RECOMPUTE.index(t.recompute),
        "mode": MODES.index(t.mode),
        "lora_rank": t.lora_rank,
    }


def parallelism_inputs(par: ParallelismSpec) -> dict[str, Any]:
    return {"tp": par.tp, "pp": par.pp, "dp": par.dp, "cp": par.cp, "ep": par.ep, "vpp": par.vpp,
            "zero": par.zero, "sequence_parallel": par.sequence_parallel, "tp_comm_overlap": par.tp_comm_overlap}


def kernel_inputs(s: Scenario, par: ParallelismSpec | None = None, failed_spines: int = 0) -> dict[str, Any]:
    """Every keyword of :func:`clustersim.cost.kernel.evaluate` for this scenario (and parallelism)."""
    par = par or s.parallelism()
    out: dict[str, Any] = {}
    out.update(model_inputs(s.model_arch()))
    out.update(recipe_inputs(s))
    out.update(gpu_inputs(s.gpu(), s.training.precision))
    out.update(fabric_of(s, failed_spines))
    out["gpus_per_node"] = s.gpus_per_node
    out["usd_per_gpu_hour"] = s.usd_per_gpu_hour() or 0.0
    if par is not None:
        out.update(parallelism_inputs(par))
    return out
