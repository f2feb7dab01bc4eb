"""The top-level :class:`Scenario`, catalog resolution, and the cross-field checks.

The cross-field checks (tp*pp*dp*cp equals the GPU count, batch divisibility, heads by tp, ...) live in
:func:`cross_checks`, which returns *every* problem with its dotted path, so ``clustersim validate``
reports all of them at once and the loader can attach file:line marks to each.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import Field, ValidationInfo, model_validator

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.scenario import catalog
from clustersim.scenario.spec import (
    CheckpointSpec,
    ClusterSpec,
    FailuresSpec,
    GPUSpec,
    ModelSpec,
    ParallelismSpec,
    PricingSpec,
    ResilienceSpec,
    SimulationSpec,
    SoftwareSpec,
    Strict,
    TrainingSpec,
)

__all__ = ["Scenario", "gpus_per_node_of", "cross_checks", "resolve_model", "resolve_gpu", "CHINCHILLA_TOKENS_PER_PARAM"]

#: Hoffmann et al. 2022 (Chinchilla), Table 3: compute-optimal tokens are about 20 per parameter.
CHINCHILLA_TOKENS_PER_PARAM = 20.0

_MODEL_REQUIRED = ("layers", "hidden_size", "attention_heads", "vocab_size")
_GPU_REQUIRED = ("peak_tflops", "memory_gib", "hbm_gbyte_per_s", "scaleup_gbyte_per_s")


class Scenario(Strict):
    """One training run: model, training recipe, cluster, failures, checkpoints, prices, simulation."""

    name: str = Field("", description="free text, used in reports")
    model: str | ModelSpec
    training: TrainingSpec
    cluster: ClusterSpec
    failures: FailuresSpec | None = Field(None, description="omit for a failure-free run")
    checkpoint: CheckpointSpec = CheckpointSpec()
    pricing: PricingSpec = PricingSpec()
    simulation: SimulationSpec = SimulationSpec()
    software: SoftwareSpec = SoftwareSpec()
    calibration: str | None = Field(None, description="a calibration profile (YAML) from `clustersim calibrate`")
    resilience: ResilienceSpec | None = Field(
        None, description="named strategies (dotted overrides) for `clustersim resilience`")

    @model_validator(mode="after")
    def _cross(self, info: ValidationInfo) -> Scenario:
        if info.context and info.context.get("defer_cross_checks"):
            return self
        problems = cross_checks(self)
        if problems:
            raise ValueError("; ".join(f"{p.path}: {p.message}" for p in problems))
        return self

    # ---- resolved views (catalog presets merged with inline fields) ----
    def model_arch(self) -> dict[str, Any]:
        return resolve_model(self.model)

    def gpu(self) -> dict[str, Any]:
        return resolve_gpu(self.cluster.gpu)

    @property
    def gpus_per_node(self) -> int:
        """GPUs per node: the cluster's, else the GPU catalog's (runs read it from their ResolvedRun)."""
        if self.cluster.gpus_per_node is not None:
            return self.cluster.gpus_per_node
        return gpus_per_node_of(self.cluster.gpus_per_node, self.gpu())

    @property
    def gpus(self) -> int:
        return self.cluster.nodes * self.gpus_per_node

    def tokens(self) -> float:
        if self.training.tokens == "chinchilla":
            return CHINCHILLA_TOKENS_PER_PARAM * catalog.params_from_architecture(self.model_arch())
        return float(self.training.tokens)

    def parallelism(self, gpus: int | None = None) -> ParallelismSpec | None:
        """The given parallelism with dp filled in (from ``gpus``, by default this scenario's GPU count),
        or None for ``auto``."""
        par = self.training.parallelism
        if par == "auto":
            return None
        if par.dp is None:
            denom = par.tp * par.pp * par.cp
            return par.model_copy(update={"dp": max(1, (gpus if gpus is not None else self.gpus) // denom)})
        return par

    def with_parallelism(self, par: ParallelismSpec) -> Scenario:
        training = self.training.model_copy(update={"parallelism": par})
        return self.model_copy(update={"training": training})

    def price(self) -> tuple[float | None, str]:
        """(price per GPU-hour, where it comes from), one catalog look-up: inline, a preset (its name and
        date), else the catalog's newest on-demand price for the GPU; (None, what to give) if none."""
        pr = self.pricing
        if pr.usd_per_gpu_hour is not None:
            return pr.usd_per_gpu_hour, "inline"
        if pr.preset is not None:
            entry = catalog.price(pr.preset)
            return float(entry["usd_per_gpu_hour"]), f"{pr.preset} ({entry.get('date')})"
        found = catalog.default_price(str(self.gpu().get("name")))
        if found is None:
            return None, "none: give pricing.usd_per_gpu_hour or pricing.preset"
        return (float(found[1]["usd_per_gpu_hour"]),
                f"{found[0]} ({found[1].get('date')}), the catalog's newest on-demand price for this GPU")

    def usd_per_gpu_hour(self) -> float | None:
        """Price per GPU-hour: inline, a preset, else the catalog's default for the GPU (None if it has none)."""
        return self.price()[0]

    def price_source(self) -> str:
        """Where the price comes from, for the output (the preset name and date, or 'inline')."""
        return self.price()[1]

    def checkpoint_read_s(self, size_bytes: float) -> float:
        return size_bytes / self.checkpoint.read_bytes_per_s


def gpus_per_node_of(given: int | None, gpu: Mapping[str, Any]) -> int:
    """GPUs per node: the cluster's value, else the GPU entry's, else 8 (an HGX/DGX node)."""
    return int(given) if given is not None else int(gpu.get("gpus_per_node") or 8)


def _merge(base: dict[str, Any], spec: Strict) -> dict[str, Any]:
    out = dict(base)
    for key, value in spec.model_dump(exclude={"preset"}, exclude_none=True).items():
        out[key] = value
    return out


@lru_cache(maxsize=256)
def _catalog_model(name: str) -> dict[str, Any]:
    """A catalog model with its defaults filled (cached: sweeps resolve the same names many times;
    callers get a shallow copy and must not mutate nested values)."""
    return _arch_defaults({**catalog.model(name), "name": name})


@lru_cache(maxsize=256)
def _catalog_gpu(name: str) -> dict[str, Any]:
    """A catalog GPU entry (cached like :func:`_catalog_model`)."""
    return {**catalog.gpu(name), "name": name}


def _arch_defaults(arch: dict[str, Any]) -> dict[str, Any]:
    hidden = arch.get("hidden_size")
    arch.setdefault("ffn_hidden_size", 4 * hidden if hidden else None)
    arch.setdefault("kv_heads", arch.get("attention_heads"))
    arch.setdefault("gated_mlp", False)
    arch.setdefault("experts", 1)
    arch.setdefault("experts_per_token", 1)
    arch.setdefault("tied_embeddings", False)
    arch.setdefault("dropout", True)
    if arch.get("expert_groups") is None:
        arch["expert_groups"] = 1
    if arch.get("expert_groups_per_token") is None:
        arch["expert_groups_per_token"] = arch["expert_groups"]
    return arch


def resolve_model(spec: str | ModelSpec) -> dict[str, Any]:
    """The full architecture: a catalog preset, an inline mapping, or a preset with overrides.

    Defaults for an inline model: ffn_hidden_size = 4 * hidden_size (Vaswani et al. 2017; GPT-3),
    kv_heads = attention_heads (multi-head attention), dense (one expert), untied embeddings, dropout
    (Megatron-LM's default hidden and attention dropout of 0.1).
    """
    if isinstance(spec, str):
        return dict(_catalog_model(spec))
    base = dict(catalog.model(spec.preset)) if spec.preset else {}
    arch = _merge(base, spec)
    arch["name"] = spec.preset or "custom"
    if spec.preset and spec.params_b is None and any(
        getattr(spec, k) is not None for k in ("layers", "hidden_size", "ffn_hidden_size", "experts")
    ):
        arch.pop("params_b", None)  # the preset's published count no longer applies
    return _arch_defaults(arch)


def resolve_gpu(spec: str | GPUSpec) -> dict[str, Any]:
    """The GPU's figures: a catalog entry, or an inline mapping (optionally on top of a preset)."""
    if isinstance(spec, str):
        return dict(_catalog_gpu(spec))
    base = dict(catalog.gpu(spec.preset)) if spec.preset else {}
    gpu = _merge(base, spec)
    if spec.peak_tflops is not None and spec.preset:
        gpu["peak_tflops"] = {**base.get("peak_tflops", {}), **spec.peak_tflops}
    gpu["name"] = spec.preset or "custom"
    gpu.setdefault("gpus_per_node", 8)
    gpu.setdefault("scaleup_domain_gpus", gpu["gpus_per_node"])
    gpu.setdefault("nics_per_node", gpu["gpus_per_node"])
    gpu.setdefault("nic_gbit_per_s", 400.0)
    return gpu


def _catalog_problem(path: str, exc: ScenarioError) -> ErrorItem:
    item = exc.items[0]
    return ErrorItem(item.message, path=path, given=item.given, expected=item.expected, hint=item.hint)


def cross_checks(s: Scenario) -> list[ErrorItem]:
    """Every cross-field problem of a scenario, each with the dotted path it belongs to."""
    problems: list[ErrorItem] = []
    # -- catalog names --
    arch: dict[str, Any] | None = None
    gpu: dict[str, Any] | None = None
    try:
        arch = s.model_arch()
    except ScenarioError as exc:
        problems.append(_catalog_problem("model" if isinstance(s.model, str) else "model.preset", exc))
    try:
        gpu = s.gpu()
    except ScenarioError as exc:
        problems.append(_catalog_problem("cluster.gpu" if isinstance(s.cluster.gpu, str) else "cluster.gpu.preset", exc))
    if s.pricing.preset is not None:
        try:
            preset_gpu = catalog.price(s.pricing.preset).get("gpu")
        except ScenarioError as exc:
            problems.append(_catalog_problem("pricing.preset", exc))
        else:
            if gpu is not None and preset_gpu and gpu.get("name") not in (preset_gpu, "custom"):
                problems.append(ErrorItem(
                    f"the price preset {s.pricing.preset} is for {preset_gpu}, but the cluster's GPU is "
                    f"{gpu.get('name')}", path="pricing.preset", given=s.pricing.preset,
                    expected=f"a preset for {gpu.get('name')} (clustersim catalog prices), or pricing.usd_per_gpu_hour"))
    if s.failures is not None and s.failures.preset is not None:
        try:
            catalog.reliability_preset(s.failures.preset)
        except ScenarioError as exc:
            problems.append(_catalog_problem("failures.preset", exc))
    if arch is not None:
        missing = [k for k in _MODEL_REQUIRED if arch.get(k) is None]
        for key in missing:
            problems.append(ErrorItem("missing for an inline model (no preset gives it)", path=f"model.{key}",
                                      expected="a positive integer"))
        if not missing:
            heads, kv = arch["attention_heads"], arch["kv_heads"]
            if heads % kv:
                problems.append(ErrorItem(f"attention_heads ({heads}) must divide by kv_heads ({kv})",
                                          path="model.kv_heads", given=str(kv)))
            problems += _mla_checks(arch)
            problems += _moe_layer_checks(arch)
            problems += _window_checks(arch)
            if arch["experts_per_token"] > arch["experts"]:
                problems.append(ErrorItem(
                    f"experts_per_token ({arch['experts_per_token']}) exceeds experts ({arch['experts']})",
                    path="model.experts_per_token"))
            groups, per_token = arch["expert_groups"], arch["expert_groups_per_token"]
            if arch["experts"] % groups:
                problems.append(ErrorItem(f"expert_groups ({groups}) must divide experts ({arch['experts']}) into "
                                          "equal groups", path="model.expert_groups", given=str(groups)))
            if per_token > groups:
                problems.append(ErrorItem(f"expert_groups_per_token ({per_token}) must not exceed expert_groups "
                                          f"({groups})", path="model.expert_groups_per_token", given=str(per_token)))
    if gpu is not None:
        for key in _GPU_REQUIRED:
            if gpu.get(key) is None:
                problems.append(ErrorItem("missing for an inline GPU (no preset gives it)", path=f"cluster.gpu.{key}"))
        peaks = gpu.get("peak_tflops") or {}
        if peaks and s.training.precision not in peaks:
            problems.append(ErrorItem(
                f"the GPU {gpu.get('name')} has no dense {s.training.precision} peak",
                path="training.precision", given=s.training.precision,
                expected="one of " + ", ".join(sorted(peaks))))
    if problems or arch is None:
        return problems
    problems += _recompute_module_checks(s, arch)
    problems += _parallel_checks(s, arch)
    return problems


def _recompute_module_checks(s: Scenario, arch: dict[str, Any]) -> list[ErrorItem]:
    """training.recompute_modules is Megatron-core's selective recomputation: it needs recompute selective
    and a Megatron-core stack, and mla_up_proj needs multi-head latent attention."""
    t = s.training
    modules = t.recompute_modules
    if modules is None:
        return []
    path = "training.recompute_modules"
    problems: list[ErrorItem] = []
    if t.recompute != "selective":
        problems.append(ErrorItem(f"recompute_modules chooses what selective recomputation reruns, but recompute is "
                                  f"{t.recompute}", path=path, expected="training.recompute: selective, or no "
                                  "recompute_modules"))
    if s.software.framework in ("torchtitan", "deepspeed", "fsdp"):
        problems.append(ErrorItem(f"recompute_modules is Megatron-core's; software.framework {s.software.framework} "
                                  "checkpoints otherwise", path=path, expected="software.framework megatron or nemo"))
    if "mla_up_proj" in modules and not arch.get("kv_lora_rank"):
        problems.append(ErrorItem("mla_up_proj reruns multi-head latent attention's up projections, but the model "
                                  "has none (model.kv_lora_rank)", path=path, given=", ".join(modules),
                                  expected="a model with multi-head latent attention, or no mla_up_proj"))
    if len(set(modules)) != len(modules):
        problems.append(ErrorItem("a module is named twice", path=path, given=", ".join(modules)))
    return problems


def _moe_layer_checks(arch: dict[str, Any]) -> list[ErrorItem]:
    """Shared experts and leading dense layers belong to MoE models; dense layers need their width and
    must leave at least one MoE layer."""
    problems: list[ErrorItem] = []
    shared, dense = arch.get("shared_experts") or 0, arch.get("dense_layers") or 0
    if arch["experts"] <= 1:
        for key, value in (("shared_experts", shared), ("dense_layers", dense)):
            if value:
                problems.append(ErrorItem(f"{key} describes a mixture-of-experts model, but experts is "
                                          f"{arch['experts']}", path=f"model.{key}", given=str(value),
                                          expected="model.experts > 1, or no " + key))
        return problems
    if dense:
        if dense >= arch["layers"]:
            problems.append(ErrorItem(f"dense_layers ({dense}) leaves no MoE layer of the {arch['layers']}",
                                      path="model.dense_layers", given=str(dense),
                                      expected=f"fewer than layers ({arch['layers']})"))
        if arch.get("dense_ffn_hidden_size") is None:
            problems.append(ErrorItem("missing: the MLP width of the leading dense layers (model.dense_layers is set)",
                                      path="model.dense_ffn_hidden_size",
                                      expected="a positive integer (DeepSeek-V3: 18432)"))
    return problems


def _window_checks(arch: dict[str, Any]) -> list[ErrorItem]:
    """A count of windowed layers needs a window, and cannot exceed the layers."""
    n = arch.get("sliding_window_layers")
    if n is None:
        return []
    if not arch.get("sliding_window"):
        return [ErrorItem("sliding_window_layers is set, but the model has no sliding window",
                          path="model.sliding_window_layers", given=str(n),
                          expected="model.sliding_window (keys each query attends), or no sliding_window_layers")]
    if n > arch["layers"]:
        return [ErrorItem(f"sliding_window_layers ({n}) exceeds the model's {arch['layers']} layers",
                          path="model.sliding_window_layers", given=str(n),
                          expected=f"at most layers ({arch['layers']})")]
    return []


_MLA_ONLY = ("q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim")


def _mla_checks(arch: dict[str, Any]) -> list[ErrorItem]:
    """Multi-head latent attention's keys: all or nothing, and not mixed with grouped-query attention or
    a head_dim of its own (the queries' head dimension is qk_nope_head_dim + qk_rope_head_dim)."""
    problems: list[ErrorItem] = []
    if arch.get("kv_lora_rank") is None:
        for key in _MLA_ONLY:
            if arch.get(key) is not None:
                problems.append(ErrorItem(f"{key} describes multi-head latent attention, which model.kv_lora_rank "
                                          "turns on", path=f"model.{key}", given=str(arch[key]),
                                          expected="model.kv_lora_rank as well (DeepSeek-V3: 512), or no " + key))
        return problems
    for key in ("qk_nope_head_dim", "qk_rope_head_dim"):
        if arch.get(key) is None:
            problems.append(ErrorItem("missing for multi-head latent attention (model.kv_lora_rank is set)",
                                      path=f"model.{key}", expected="a positive integer (DeepSeek-V3: "
                                      + ("128)" if key == "qk_nope_head_dim" else "64)")))
    if arch.get("head_dim") is not None:
        problems.append(ErrorItem("head_dim does not apply to multi-head latent attention: its queries and keys "
                                  "are qk_nope_head_dim + qk_rope_head_dim wide, its values v_head_dim",
                                  path="model.head_dim", given=str(arch["head_dim"]),
                                  expected="no head_dim with model.kv_lora_rank"))
    if arch["kv_heads"] != arch["attention_heads"]:
        problems.append(ErrorItem(f"multi-head latent attention gives every head its own key and value, so "
                                  f"kv_heads ({arch['kv_heads']}) must equal attention_heads ({arch['attention_heads']})",
                                  path="model.kv_heads", given=str(arch["kv_heads"]),
                                  expected=f"{arch['attention_heads']}, or no kv_heads"))
    return problems


def _parallel_checks(s: Scenario, arch: dict[str, Any]) -> list[ErrorItem]:
    problems: list[ErrorItem] = []
    t = s.training
    gpus = s.gpus
    if t.parallelism == "auto":
        return problems
    par = t.parallelism
    p = "training.parallelism"
    if par.dp is None:
        if gpus % (par.tp * par.pp * par.cp):
            problems.append(ErrorItem(
                f"{gpus} GPUs do not divide by tp*pp*cp = {par.tp}*{par.pp}*{par.cp} = {par.tp * par.pp * par.cp}",
                path=p, expected="tp*pp*cp to divide the GPU count (dp is inferred)"))
            return problems
        dp = gpus // (par.tp * par.pp * par.cp)
    else:
        dp = par.dp
        prod = par.tp * par.pp * dp * par.cp
        if prod != gpus:
            problems.append(ErrorItem(
                f"tp*pp*dp*cp = {par.tp}*{par.pp}*{dp}*{par.cp} = {prod}, but the cluster has "
                f"{s.cluster.nodes} nodes x {s.gpus_per_node} GPUs = {gpus}",
                path=p, expected=f"tp*pp*dp*cp == {gpus}"))
    problems += _layout_rule_problems(s, arch, par.model_copy(update={"dp": dp}))
    return problems


#: Positive placeholders for the hardware fields when the layout rules run on a scenario (those rules
#: concern the catalog's figures, checked above; only the layout is judged here).
_HARDWARE_PLACEHOLDERS = {"peak_flop_per_s": 1.0, "hbm_bytes": 1.0, "hbm_bw_bytes_per_s": 1.0, "scaleup_gpus": 1.0,
                          "scaleup_bw_bytes_per_s": 1.0, "scaleup_latency_s": 0.0, "leaf_gpus": 1.0,
                          "leaf_bw_bytes_per_s": 1.0, "spine_bw_bytes_per_s": 1.0, "scaleout_latency_s": 0.0}


def _layout_rule_problems(s: Scenario, arch: dict[str, Any], par: ParallelismSpec) -> list[ErrorItem]:
    """The layout checked by the one rule set the kernel and the search use (clustersim.cost.rules)."""
    from clustersim.cost import rules
    from clustersim.cost.inputs import (
        FRAMEWORKS,
        MODES,
        PRECISIONS,
        RECOMPUTE,
        pipeline_split_inputs,
        window_inputs,
    )

    t = s.training
    x: dict[str, Any] = {k: arch[k] for k in ("layers", "hidden_size", "ffn_hidden_size", "attention_heads",
                                               "kv_heads", "vocab_size", "experts", "experts_per_token")}
    x.update(seq_len=t.seq_len, global_batch_seqs=t.batch_seqs, micro_batch_seqs=t.micro_batch_seqs,
             tp=par.tp, pp=par.pp, dp=par.dp, cp=par.cp, ep=par.ep, etp=par.etp or 0, vpp=par.vpp, zero=par.zero,
             activation_offload_layers=t.activation_offload_layers,
             recompute_layers=-1 if t.recompute_layers is None else t.recompute_layers,
             sequence_parallel=par.sequence_parallel, recompute=RECOMPUTE.index(t.recompute),
             precision=PRECISIONS.index(t.precision), mode=MODES.index(t.mode), lora_rank=t.lora_rank,
             framework=FRAMEWORKS.index(s.software.framework), **pipeline_split_inputs(s.software.pipeline_split),
             **window_inputs(arch), **_HARDWARE_PLACEHOLDERS)
    out = []
    for path, message in rules.problems(x):
        if path == "training.global_batch_seqs" and not t.global_batch_seqs:
            path = "training.global_batch_tokens"
        out.append(ErrorItem(message, path=path))
    return out
