"""The one rule set for a valid configuration: what a layout must satisfy to run.

Each :class:`Rule` is written once, as a check over a backend (numpy arrays or Python floats, see
:mod:`clustersim.cost.backend`) and a message, and blames one scenario key. Four users share it:

* the kernel (:func:`valid`, vectorized: invalid rows come back with ``valid`` False);
* the scenario's cross-field checks (:func:`problems` with the scenario paths, for located errors);
* ``estimate`` (:func:`problems`, raised as :class:`~clustersim.errors.InfeasibleError` with the reasons);
* the parallelism search (:func:`valid` over the enumerated table, so that it never returns a layout a
  framework cannot run, and :func:`excluded` says what each rule removed).

Sources of the rules: Megatron-LM's argument checks (Shoeybi et al. 2019; Narayanan et al. 2021 Sec. 2.2.2
for the interleaved schedule: micro-batches a multiple of pp); Korthikanti et al. 2022 Sec. 4.2.2 (sequence
parallelism splits the sequence by tp); Megatron-core context parallelism (2 x cp load-balanced chunks per
sequence); MoE parallel folding (Liu et al. 2025, arXiv:2504.14960 Sec. 3; Megatron-core
``expert_tensor_parallel_size``): the expert layers fold etp x ep x edp onto the same tp x cp x dp ranks of a
pipeline stage that the attention uses, so ep x etp divides tp x cp x dp; DeepSpeed's documentation
("ZeRO stages 2 and 3 are incompatible with pipeline parallelism"; Megatron-LM's distributed optimizer is
ZeRO-1 and has no stage 2/3); context parallelism is modelled for full causal attention only (its ring
passes every key block), so sliding-window models run with cp 1; Megatron-core ``TransformerConfig`` (activation CPU offloading: fewer layers
than the model, no pipeline parallelism, no recomputation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clustersim.cost import pipeline
from clustersim.cost.backend import PY, Backend

__all__ = ["Rule", "RULES", "valid", "problems", "excluded", "derived"]

X = dict[str, Any]


def _int(xp: Backend, v: Any) -> Any:
    return v == xp.floor(v)


def _divides(xp: Backend, y: Any, x: Any) -> Any:
    """y divides x, for integer-valued floats: x / y is exact when it is an integer (IEEE division is
    correctly rounded), and a non-integer quotient of numbers below 2**40 cannot round to an integer."""
    q = x / y
    return q == xp.floor(q)


def _split_units(xp: Backend, x: X, p: Any) -> Any:
    """What the pipeline split divides among the stages (:func:`clustersim.cost.pipeline.split_units`)."""
    return pipeline.split_units(xp, x["layers"], p, x["pp_split_embedding"], x["pp_split_loss"])


def derived(xp: Backend, x: X) -> X:
    """Quantities the rules share: micro-batches per step m, layers on the heaviest stage, and the expert
    tensor-parallel degree (etp, 0 = tp)."""
    p = xp.maximum(x["pp"], 1.0)
    return {"m": x["global_batch_seqs"] / xp.maximum(x["dp"] * x["micro_batch_seqs"], 1.0),
            "stage_layers": xp.ceil(_split_units(xp, x, p) / p),
            "etp": xp.where(x["etp"] >= 1.0, x["etp"], x["tp"])}


class Rule:
    """One condition a configuration must meet, the scenario key it blames, and what to tell the user.

    ``basic`` rules (positive integers, codes in range) are checked first; the others are only
    explained when every basic rule holds (their messages assume sane numbers). (A plain class with slots:
    a frozen dataclass costs a millisecond of every search's and estimate's start-up to create.)"""

    __slots__ = ("name", "path", "check", "message", "basic")

    def __init__(self, name: str, path: str, check: Callable[[Backend, X, X], Any], message: Callable[[X, X], str],
                 basic: bool = False) -> None:
        self.name, self.path, self.check, self.message, self.basic = name, path, check, message, basic

    def __repr__(self) -> str:
        return f"Rule({self.name!r}, {self.path!r}, basic={self.basic})"


def _g(v: float) -> str:
    return f"{v:g}"


_PAR = "training.parallelism"
_POSITIVE_INT = [(n, f"{_PAR}.{n}") for n in ("tp", "pp", "dp", "cp", "ep", "vpp")] + [
    ("micro_batch_seqs", "training.micro_batch_seqs")]
_MODEL_INT = [("layers", "model.layers"), ("hidden_size", "model.hidden_size"),
              ("ffn_hidden_size", "model.ffn_hidden_size"), ("attention_heads", "model.attention_heads"),
              ("kv_heads", "model.kv_heads"), ("vocab_size", "model.vocab_size"), ("experts", "model.experts"),
              ("experts_per_token", "model.experts_per_token"), ("seq_len", "training.seq_len"),
              ("global_batch_seqs", "training.global_batch_seqs")]
_CODE_RANGES = [("zero", f"{_PAR}.zero", 3.0), ("recompute", "training.recompute", 2.0),
                ("precision", "training.precision", 3.0), ("mode", "training.mode", 3.0)]
_HARDWARE = [("peak_flop_per_s", "cluster.gpu.peak_tflops"), ("hbm_bytes", "cluster.gpu.memory_gib"),
             ("hbm_bw_bytes_per_s", "cluster.gpu.hbm_gbyte_per_s"),
             ("scaleup_bw_bytes_per_s", "cluster.gpu.scaleup_gbyte_per_s"),
             ("leaf_bw_bytes_per_s", "cluster.network.nic_gbit_per_s"),
             ("spine_bw_bytes_per_s", "cluster.network.oversubscription"), ("scaleup_gpus", "cluster.gpus_per_node")]


def _positive_int(name: str, path: str) -> Rule:
    return Rule(f"{name}_positive_int", path, lambda xp, x, d: (x[name] >= 1.0) & _int(xp, x[name]),
                lambda x, d: f"{name} must be a positive integer (got {_g(x[name])})", basic=True)


def _code(name: str, path: str, hi: float) -> Rule:
    return Rule(f"{name}_code", path, lambda xp, x, d: (x[name] >= 0.0) & (x[name] <= hi) & _int(xp, x[name]),
                lambda x, d: f"{name} code {_g(x[name])} is out of range 0..{_g(hi)}", basic=True)


def _hardware(name: str, path: str) -> Rule:
    return Rule(f"{name}_positive", path, lambda xp, x, d: x[name] > 0.0,
                lambda x, d: f"{name} must be positive (got {_g(x[name])})", basic=True)


def _tp_divides(name: str) -> Rule:
    return Rule(f"tp_divides_{name}", f"{_PAR}.tp", lambda xp, x, d: _divides(xp, x["tp"], x[name]),
                lambda x, d: f"{name} ({_g(x[name])}) is not divisible by tp ({_g(x['tp'])})")


RULES: tuple[Rule, ...] = (
    *(_positive_int(n, p) for n, p in _POSITIVE_INT + _MODEL_INT),
    *(_code(n, p, hi) for n, p, hi in _CODE_RANGES),
    *(_hardware(n, p) for n, p in _HARDWARE),
    Rule("kv_heads_divide_heads", "model.kv_heads",
         lambda xp, x, d: (x["kv_heads"] <= x["attention_heads"]) & _divides(xp, x["kv_heads"], x["attention_heads"]),
         lambda x, d: f"attention_heads ({_g(x['attention_heads'])}) must divide by kv_heads ({_g(x['kv_heads'])})"),
    Rule("topk_within_experts", "model.experts_per_token",
         lambda xp, x, d: x["experts_per_token"] <= x["experts"],
         lambda x, d: f"experts_per_token ({_g(x['experts_per_token'])}) exceeds experts ({_g(x['experts'])})"),
    Rule("batch_divides", "training.global_batch_seqs",
         lambda xp, x, d: _int(xp, d["m"]) & (d["m"] >= 1.0),
         lambda x, d: (f"global batch {_g(x['global_batch_seqs'])} sequences does not divide by dp x micro-batch "
                       f"= {_g(x['dp'])} x {_g(x['micro_batch_seqs'])}")),
    _tp_divides("attention_heads"),
    _tp_divides("kv_heads"),
    _tp_divides("ffn_hidden_size"),
    Rule("pp_within_layers", f"{_PAR}.pp", lambda xp, x, d: x["pp"] <= x["layers"],
         lambda x, d: f"pp ({_g(x['pp'])}) exceeds the number of layers ({_g(x['layers'])})"),
    Rule("vpp_needs_pp", f"{_PAR}.vpp", lambda xp, x, d: (x["vpp"] == 1.0) | (x["pp"] > 1.0),
         lambda x, d: "vpp > 1 needs pipeline parallelism (pp > 1)"),
    Rule("vpp_microbatches", f"{_PAR}.vpp",
         lambda xp, x, d: (x["vpp"] == 1.0) | (x["pp"] == 1.0) | _divides(xp, x["pp"], d["m"]),
         lambda x, d: (f"the interleaved schedule needs the {_g(d['m'])} micro-batches per pipeline to divide by "
                       f"pp = {_g(x['pp'])} (Narayanan et al. 2021 Sec. 2.2.2)")),
    Rule("vpp_within_stage", f"{_PAR}.vpp", lambda xp, x, d: x["vpp"] <= d["stage_layers"],
         lambda x, d: (f"vpp ({_g(x['vpp'])}) exceeds the {_g(d['stage_layers'])} layers of a pipeline stage "
                       "(each model chunk needs at least one layer)")),
    Rule("pipeline_split_divides", "software.pipeline_split",
         lambda xp, x, d: (((x["pp_split_embedding"] == 0.0) & (x["pp_split_loss"] == 0.0)) | (x["pp"] == 1.0)
                           | _divides(xp, x["pp"] * x["vpp"], _split_units(xp, x, xp.maximum(x["pp"], 1.0)))),
         lambda x, d: (f"with the embedding and/or loss counted as layers, the {_g(_split_units(PY, x, x['pp']))} "
                       f"units must divide by pp x vpp = {_g(x['pp'] * x['vpp'])} (Megatron-core "
                       "TransformerConfig checks account_for_*_in_pipeline_split this way); change pp or vpp, or "
                       "use software.pipeline_split: layers")),
    Rule("etp_divides_ffn", f"{_PAR}.etp",
         lambda xp, x, d: (x["etp"] == 0.0) | ((x["etp"] >= 1.0) & _int(xp, x["etp"])
                                               & _divides(xp, xp.maximum(x["etp"], 1.0), x["ffn_hidden_size"])),
         lambda x, d: (f"etp ({_g(x['etp'])}) must be a positive integer dividing ffn_hidden_size "
                       f"({_g(x['ffn_hidden_size'])})")),
    Rule("ep_folds_into_tp_cp_dp", f"{_PAR}.ep",
         lambda xp, x, d: _divides(xp, x["ep"] * d["etp"], x["tp"] * x["cp"] * x["dp"]),
         lambda x, d: (f"ep x etp ({_g(x['ep'])} x {_g(d['etp'])}) must divide tp x cp x dp "
                       f"({_g(x['tp'])} x {_g(x['cp'])} x {_g(x['dp'])}): the expert layers fold onto the ranks "
                       "of a pipeline stage (MoE parallel folding, Liu et al. 2025); set training.parallelism.etp "
                       "(expert tensor parallelism, default tp) to 1 to fold tp into ep")),
    Rule("ep_divides_experts", f"{_PAR}.ep",
         lambda xp, x, d: _divides(xp, x["ep"], x["experts"]) & ((x["ep"] == 1.0) | (x["experts"] > 1.0)),
         lambda x, d: f"experts ({_g(x['experts'])}) must divide by ep ({_g(x['ep'])})"),
    Rule("cp_divides_seq", "training.seq_len", lambda xp, x, d: (x["cp"] == 1.0) | _divides(xp, 2.0 * x["cp"], x["seq_len"]),
         lambda x, d: (f"seq_len ({_g(x['seq_len'])}) must divide by 2 x cp = {_g(2 * x['cp'])} (context parallelism "
                       "splits each sequence into 2 x cp load-balanced chunks)")),
    Rule("cp_without_sliding_window", f"{_PAR}.cp",
         lambda xp, x, d: (x["cp"] == 1.0) | (x["sliding_window"] <= 0.0) | (x["sliding_window_layers"] <= 0.0),
         lambda x, d: (f"context parallelism (cp {_g(x['cp'])}) with sliding-window attention (model.sliding_window "
                       f"{_g(x['sliding_window'])}) is not modelled: the ring would skip the key blocks outside the "
                       "window, which the CP model does not know; use cp 1")),
    Rule("sp_divides_seq", f"{_PAR}.sequence_parallel",
         lambda xp, x, d: ((x["sequence_parallel"] == 0.0) | (x["tp"] == 1.0)
                           | _divides(xp, x["cp"] * x["tp"], x["seq_len"])),
         lambda x, d: (f"sequence parallelism needs seq_len / cp ({_g(x['seq_len'] / x['cp'])}) divisible by tp "
                       f"({_g(x['tp'])})")),
    Rule("sharding_with_pipeline", f"{_PAR}.zero",
         lambda xp, x, d: ((x["pp"] == 1.0) | (x["zero"] < 2.0)
                           | ((x["framework"] != 3.0) & ((x["zero"] < 3.0) | (x["framework"] >= 2.0)))),
         lambda x, d: (f"ZeRO-{_g(x['zero'])} with pipeline parallelism (pp {_g(x['pp'])}) is not supported by "
                       "this framework (DeepSpeed: stages 2-3 exclude pipeline parallelism; Megatron-LM / NeMo: "
                       "no ZeRO-3 with pipeline parallelism); use zero <= 1, pp 1, or software.framework "
                       "torchtitan / fsdp")),
    Rule("offload_layers", "training.activation_offload_layers",
         lambda xp, x, d: (x["activation_offload_layers"] == 0.0)
         | ((x["activation_offload_layers"] >= 1.0) & _int(xp, x["activation_offload_layers"])
            & (x["activation_offload_layers"] < x["layers"])),
         lambda x, d: (f"activation_offload_layers ({_g(x['activation_offload_layers'])}) must be a whole number "
                       f"below the {_g(x['layers'])} layers (Megatron-core cpu_offloading_num_layers)")),
    Rule("offload_alone", "training.activation_offload_layers",
         lambda xp, x, d: (x["activation_offload_layers"] == 0.0) | ((x["pp"] == 1.0) & (x["recompute"] == 0.0)),
         lambda x, d: ("activation CPU offloading needs pp 1 and recompute none (Megatron-core: no pipeline "
                       f"parallelism and no recomputation with cpu_offloading; got pp {_g(x['pp'])}, recompute "
                       f"code {_g(x['recompute'])})")),
    Rule("recompute_layers", "training.recompute_layers",
         lambda xp, x, d: (x["recompute_layers"] < 0.0)
         | ((x["recompute"] >= 2.0) & _int(xp, x["recompute_layers"])
            & (x["recompute_layers"] <= d["stage_layers"] / xp.maximum(x["vpp"], 1.0))),
         lambda x, d: (f"recompute_layers ({_g(x['recompute_layers'])}) needs recompute full and a whole number of "
                       f"at most the {_g(d['stage_layers'] / max(x['vpp'], 1.0))} layers of a model chunk "
                       "(Megatron-core recompute_method block, recompute_num_layers)")),
    Rule("lora_rank", "training.lora_rank", lambda xp, x, d: (x["mode"] < 2.0) | (x["lora_rank"] >= 1.0),
         lambda x, d: f"LoRA needs a rank >= 1 (got {_g(x['lora_rank'])})"),
)


def _and(conds: list[Any]) -> Any:
    """Logical AND, the Python-bool conditions first: one array operation per array condition."""
    arrays = []
    for cond in conds:
        if isinstance(cond, bool) or not hasattr(cond, "shape") or cond.shape == ():
            if not bool(cond):
                return False
        else:
            arrays.append(cond)
    if not arrays:
        return True
    out = arrays[0]
    for cond in arrays[1:]:
        out = out & cond
    return out


def valid(xp: Backend, x: X, skip: frozenset[str] = frozenset()) -> Any:
    """True where every rule (except those named in ``skip``) holds; arrays in, a bool array out."""
    checked = [r for r in RULES if r.name not in skip]
    d = derived(xp, x) if checked else {}  # nothing to check (the search guarantees every rule): no work
    return _and([r.check(xp, x, d) for r in checked])


def problems(x: X) -> list[tuple[str, str]]:
    """(scenario path, message) for every rule one configuration breaks (Python floats in); empty if valid."""
    x = {k: float(v) for k, v in x.items()}
    d = derived(PY, x)
    basic = [(r.path, r.message(x, d)) for r in RULES if r.basic and not bool(r.check(PY, x, d))]
    if basic:
        return basic
    return [(r.path, r.message(x, d)) for r in RULES if not r.basic and not bool(r.check(PY, x, d))]


def excluded(xp: Backend, x: X) -> dict[str, int]:
    """How many rows each rule rejects (rows rejected by several count for each): for the search's report."""
    import numpy as np

    d = derived(xp, x)
    out = {}
    for r in RULES:
        ok = np.asarray(r.check(xp, x, d))
        bad = int(np.size(ok) - np.count_nonzero(ok)) if ok.shape else int(not bool(ok))
        if bad:
            out[r.name] = bad
    return out
