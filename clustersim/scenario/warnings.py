"""Non-fatal remarks about a valid scenario: things that are allowed but probably not what was meant.

Printed by ``clustersim validate`` (and to stderr by ``estimate``, ``simulate`` and ``dollars``), and
returned as ``warnings`` in their JSON. Each remark says what was found and what it changes.
"""

from __future__ import annotations

from clustersim.scenario import catalog
from clustersim.scenario.model import Scenario

__all__ = ["scenario_warnings", "PARAMS_TOLERANCE", "AVAILABILITY_MARGIN"]

#: Relative disagreement between ``params_b`` and the architecture's count above which we warn: 2%
#: is above the rounding of published sizes (Llama 3 8B: 8.03B) and below DeepSeek-V3's 671 against
#: the 702 its architecture fields count (4.6%, the kind of mismatch that changes every figure).
PARAMS_TOLERANCE = 0.02
#: Warn when the nodes expected to be away (in repair) exceed the spares by this factor or more.
AVAILABILITY_MARGIN = 1.0


def _params(s: Scenario, arch: dict) -> list[str]:
    if not arch.get("params_b"):
        return []
    counted = catalog.params_from_architecture(arch) / 1e9
    if abs(counted - arch["params_b"]) <= PARAMS_TOLERANCE * arch["params_b"]:
        return []
    return [f"model.params_b = {arch['params_b']:g} but the architecture fields count {counted:.4g}B parameters "
            f"({100 * (counted / arch['params_b'] - 1):+.1f}%); FLOPs, memory and the checkpoint size use the "
            "architecture's count: fix the fields, or the declared size"]


def _seq_len(s: Scenario, arch: dict) -> list[str]:
    limit = arch.get("max_seq_len")
    if limit and s.training.seq_len > int(limit):
        return [f"training.seq_len = {s.training.seq_len:,} is above the model's released context length "
                f"(max_seq_len {int(limit):,}): a longer context needs its positional encoding extended "
                "(e.g. RoPE scaling) and long-context data; the time and memory figures assume it is done"]
    return []


def _experts(s: Scenario, arch: dict) -> list[str]:
    experts = int(arch.get("experts") or 1)
    if experts <= 1:
        return []
    usable = [d for d in range(2, min(experts, s.gpus) + 1) if experts % d == 0 and s.gpus % d == 0]
    if usable:
        return []
    return [f"{experts} experts: no expert-parallel degree above 1 divides both the experts and the "
            f"{s.gpus:,} GPUs, so expert parallelism is never tried and every GPU of a pipeline stage holds all "
            f"{experts} experts (memory and time as such); an expert count with small factors (e.g. "
            f"{_nice_experts(experts)}) allows it"]


def _nice_experts(experts: int) -> int:
    """The nearest count below ``experts`` that is a multiple of 8."""
    return max(8, experts - experts % 8)


def _nodes_unit(s: Scenario) -> list[str]:
    per = s.gpus_per_node
    if per == 8:
        return []
    name = s.gpu().get("name", "")
    text = (f"cluster.nodes counts {per}-GPU nodes on {name}: {s.cluster.nodes:,} nodes = {s.gpus:,} GPUs")
    domain = int(s.gpu().get("scaleup_domain_gpus") or 0)
    if domain > per:
        text += f" ({s.gpus / domain:.3g} NVLink domains of {domain} GPUs)"
    return [text]


def _availability(s: Scenario) -> list[str]:
    """Nodes away for repair against the spares: when too few nodes are up, repairs, not failures, stop the job.

    Each node alternates between up (mean MTBF) and in repair (mean repair time); in steady state it is
    away a fraction repair / (MTBF + repair) of the time (the availability of an alternating renewal
    process, e.g. Barlow and Proschan 1975, "Statistical Theory of Reliability", Ch. 7), so the nodes
    away number nodes x that fraction on average. Daly's closed form restarts at once after each
    failure and does not see this wait.
    """
    f = s.failures
    if f is None or f.repair_s <= 0 or f.elastic:
        return []
    from clustersim.reliability import failure_sources

    node_rate = 0.0  # failures per second per node that take the node away until it is repaired
    for src in failure_sources(s):
        if src["effect"] not in ("node", "preempt") or not src["mtbf_s"]:
            continue
        node_rate += src["units"] / src["mtbf_s"] / s.cluster.nodes
    if node_rate <= 0:
        return []
    away_fraction = node_rate * f.repair_s / (1.0 + node_rate * f.repair_s)
    away = s.cluster.nodes * away_fraction
    spares = f.spare_nodes
    if away <= AVAILABILITY_MARGIN * max(spares, 0.5):
        return []
    return [f"node availability, not the failure rate, limits this run: on average {away:,.1f} of "
            f"{s.cluster.nodes:,} nodes are away in repair (MTBF {1 / node_rate / 3600:,.3g} h per node, repair "
            f"{f.repair_s / 3600:,.3g} h) against {spares} spare node{'s' if spares != 1 else ''}, so the job "
            "often waits for a repair to start again; the closed form (estimate's expected days, Daly 2006) "
            "does not see that wait: simulate, and add spares or shorten repairs"]


def _uneven_stages(s: Scenario, arch: dict) -> list[str]:
    if s.training.parallelism == "auto":
        return []
    par = s.parallelism()
    if par is not None and arch["layers"] % par.pp:
        return [f"{arch['layers']} layers on {par.pp} stages is uneven: the heaviest stage has "
                f"{-(-arch['layers'] // par.pp)} layers and sets the pace"]
    return []


def _price(s: Scenario) -> list[str]:
    if s.usd_per_gpu_hour() is not None:
        return []
    return [f"no price: the catalog has no on-demand price for {s.gpu().get('name')}, so every dollar figure is "
            "missing; set pricing.usd_per_gpu_hour or pricing.preset (clustersim catalog prices)"]


def scenario_warnings(s: Scenario) -> list[str]:
    """Every remark about the scenario, most consequential first."""
    arch = s.model_arch()
    return [*_availability(s), *_price(s), *_params(s, arch), *_experts(s, arch), *_seq_len(s, arch),
            *_nodes_unit(s), *_uneven_stages(s, arch)]
