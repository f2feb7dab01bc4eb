"""The catalogs: names, fields, sources, parameter counts, prices and reliability presets."""

from __future__ import annotations

import datetime as dt

import pytest

from clustersim.errors import ScenarioError
from clustersim.scenario import catalog
from clustersim.scenario.spec import FailureSourceSpec, GPUSpec

REQUIRED_GPUS = [
    "v100-sxm-32gb", "a100-sxm-40gb", "a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb",
    "b200-sxm-192gb", "gb200-nvl72", "mi300x-192gb",
]
REQUIRED_MODELS = [
    "gpt3-175b", "llama2-7b", "llama2-13b", "llama2-70b", "llama3-8b", "llama3-70b", "llama3-405b",
    "bloom-176b", "opt-175b", "mixtral-8x7b", "gpt3-125m", "gpt3-1.3b", "gpt3-6.7b", "llama3.2-1b",
    "llama3.2-3b",
]
REQUIRED_PRICES = [
    "aws-p5-on-demand-2023", "aws-p5-on-demand-2026", "aws-p5-capacity-block-2024",
    "aws-p5e-capacity-block-2024", "aws-p4d-capacity-block-2024", "gcp-a3-high-on-demand-2026",
    "gcp-a3-high-spot-2026", "azure-nc-h100-v5-2026", "lambda-h100-2026", "coreweave-h100-2026",
    "coreweave-a100-80gb", "aws-p5-spot-2026", "aws-p5-reserved-1y-2026", "mosaicml-a100-40gb-2023",
    "mosaicml-a100-80gb-2023",
]
REQUIRED_RELIABILITY = ["llama3-405b", "kokolis-rsc1", "kokolis-rsc2"]

GPU_FIGURES = {
    "peak_tflops": dict, "memory_gib": float, "hbm_gbyte_per_s": float, "scaleup_gbyte_per_s": float,
    "scaleup_domain_gpus": int, "gpus_per_node": int, "nic_gbit_per_s": float, "nics_per_node": int,
    "tdp_w": float,
}
GPU_FIELDS = {"description": str, "vendor": str, **GPU_FIGURES, "sources": dict}
MODEL_FIELDS = {
    "description": str, "layers": int, "hidden_size": int, "ffn_hidden_size": int, "attention_heads": int,
    "kv_heads": int, "vocab_size": int, "gated_mlp": bool, "experts": int, "experts_per_token": int,
    "max_seq_len": int, "tied_embeddings": bool, "dropout": bool, "params_b": float, "source": str,
}
#: Fields a model entry gives where its architecture has them (multi-head latent attention, MoE structure)
OPTIONAL_MODEL_FIELDS = {k: int for k in ("head_dim", "v_head_dim", "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim",
                                          "qk_rope_head_dim", "shared_experts", "dense_layers",
                                          "dense_ffn_hidden_size", "expert_groups", "expert_groups_per_token",
                                          "sliding_window", "sliding_window_layers")}
PRECISIONS = {"fp32", "tf32", "fp16", "bf16", "fp8"}

# Llama 3 405B snapshot (Llama Team 2024, Sec. 3.3.4): 54 days, 16,384 GPUs in 2,048 nodes.
LLAMA3_HOURS = 54 * 24
LLAMA3_UNITS = {"gpu": 16384, "node": 2048, "job": 1}


def _is(value, typ) -> bool:
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typ)


# ---- names --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "getter, required",
    [(catalog.gpus, REQUIRED_GPUS), (catalog.models, REQUIRED_MODELS), (catalog.prices, REQUIRED_PRICES),
     (catalog.reliability, REQUIRED_RELIABILITY)],
)
def test_required_names_exist(getter, required):
    missing = set(required) - set(getter())
    assert not missing


# ---- GPUs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(catalog.gpus()))
def test_gpu_fields_types_and_sources(name):
    entry = catalog.gpu(name)
    assert set(entry) - {"notes"} == set(GPU_FIELDS), name
    for field, typ in GPU_FIELDS.items():
        assert _is(entry[field], typ), (name, field, entry[field])
    assert entry["vendor"] in ("nvidia", "amd")
    assert set(entry["peak_tflops"]) <= PRECISIONS
    assert all(_is(v, float) and v > 0 for v in entry["peak_tflops"].values())
    for field in GPU_FIGURES:
        if field != "peak_tflops":
            assert entry[field] > 0, (name, field)
    # every figure has a non-empty citation, and no citation names a field that does not exist
    assert set(entry["sources"]) == set(GPU_FIGURES), name
    assert all(isinstance(s, str) and len(s) > 10 for s in entry["sources"].values())
    assert entry["gpus_per_node"] <= entry["scaleup_domain_gpus"]


def test_gpu_precisions_match_the_hardware():
    g = catalog.gpus()
    assert set(g["v100-sxm-32gb"]["peak_tflops"]) == {"fp32", "fp16"}
    assert g["v100-sxm-32gb"]["peak_tflops"]["fp16"] == 125.0
    assert "fp8" not in g["a100-sxm-40gb"]["peak_tflops"]
    assert "fp8" not in g["a100-sxm-80gb"]["peak_tflops"]
    for name in ("h100-sxm-80gb", "h200-sxm-141gb", "b200-sxm-192gb", "gb200-nvl72", "mi300x-192gb"):
        assert "fp8" in g[name]["peak_tflops"], name


@pytest.mark.parametrize("name", sorted(catalog.gpus()))
def test_gpu_peaks_are_dense(name):
    """Dense tensor-core peaks keep the vendors' fixed ratios: tf32 = bf16/2 and fp8 = 2 bf16 (a sparse
    figure slipped in for one precision breaks them); bf16 equals fp16 where both exist."""
    peaks = catalog.gpu(name)["peak_tflops"]
    if "bf16" in peaks:
        assert peaks["bf16"] == pytest.approx(peaks["fp16"])
        assert peaks["tf32"] == pytest.approx(peaks["bf16"] / 2, rel=2e-3)
    if "fp8" in peaks:
        assert peaks["fp8"] == pytest.approx(2 * peaks["bf16"], rel=2e-3)
    assert peaks["fp32"] < peaks["fp16"]


def test_gpu_figures_used_by_the_papers():
    # reference.md: "Peaks used by the papers: A100 312 TFLOP/s dense BF16, H100 SXM 989"
    assert catalog.gpu("a100-sxm-80gb")["peak_tflops"]["bf16"] == 312.0
    assert catalog.gpu("h100-sxm-80gb")["peak_tflops"]["bf16"] == 989.0
    assert catalog.gpu("gb200-nvl72")["scaleup_domain_gpus"] == 72
    assert catalog.gpu("gb200-nvl72")["gpus_per_node"] == 4
    assert catalog.gpu("mi300x-192gb")["scaleup_gbyte_per_s"] == 448.0


@pytest.mark.parametrize("name", sorted(catalog.gpus()))
def test_gpu_entry_is_a_valid_inline_gpu(name):
    """The scenario format accepts the same fields inline, so every catalog entry must validate."""
    spec = GPUSpec(**catalog.gpu(name))
    assert spec.memory_gib == catalog.gpu(name)["memory_gib"]


# ---- models -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(catalog.models()))
def test_model_fields_and_types(name):
    entry = catalog.model(name)
    assert set(MODEL_FIELDS) <= set(entry) <= set(MODEL_FIELDS) | set(OPTIONAL_MODEL_FIELDS), name
    for field, typ in {**MODEL_FIELDS, **OPTIONAL_MODEL_FIELDS}.items():
        assert field not in entry or _is(entry[field], typ), (name, field, entry[field])
    assert len(entry["source"]) > 20
    assert entry["attention_heads"] % entry["kv_heads"] == 0
    assert 1 <= entry["experts_per_token"] <= entry["experts"]
    if name != "gpt3-1.3b":  # GPT-3 Table 2.1 prints 24 heads for d_model 2048 (documented in its source)
        assert entry["hidden_size"] % entry["attention_heads"] == 0


@pytest.mark.parametrize("name", sorted(catalog.models()))
def test_params_from_architecture_matches_published_count(name):
    entry = catalog.model(name)
    counted_b = catalog.params_from_architecture(entry) / 1e9
    assert counted_b == pytest.approx(entry["params_b"], rel=0.03)


def test_published_architectures():
    m = catalog.models()
    assert (m["gpt3-175b"]["layers"], m["gpt3-175b"]["hidden_size"], m["gpt3-175b"]["attention_heads"],
            m["gpt3-175b"]["ffn_hidden_size"], m["gpt3-175b"]["vocab_size"]) == (96, 12288, 96, 49152, 50257)
    l405 = m["llama3-405b"]
    assert (l405["layers"], l405["hidden_size"], l405["attention_heads"], l405["kv_heads"],
            l405["ffn_hidden_size"], l405["vocab_size"]) == (126, 16384, 128, 8, 53248, 128256)
    l70 = m["llama2-70b"]
    assert (l70["kv_heads"], l70["ffn_hidden_size"], l70["vocab_size"]) == (8, 28672, 32000)
    bloom = m["bloom-176b"]
    assert (bloom["layers"], bloom["hidden_size"], bloom["attention_heads"], bloom["ffn_hidden_size"],
            bloom["vocab_size"], bloom["gated_mlp"]) == (70, 14336, 112, 57344, 250880, False)
    mix = m["mixtral-8x7b"]
    assert (mix["layers"], mix["hidden_size"], mix["attention_heads"], mix["kv_heads"], mix["ffn_hidden_size"],
            mix["vocab_size"], mix["experts"], mix["experts_per_token"]) == (32, 4096, 32, 8, 14336, 32000, 8, 2)


def test_params_formula_reduces_to_narayanan_eq2():
    """Narayanan et al. 2021 Eq. 2: P = 12 l h^2 + 13 l h + (V + s) h (tied embeddings, dense MLP 4h, MHA).
    Our count leaves out the biases (11 l h of the 13 l h) and the position embeddings (s h) and adds
    the final norm (h)."""
    layers, h, V, s = 96, 12288, 50257, 2048
    narayanan = 12 * layers * h**2 + 13 * layers * h + (V + s) * h
    ours = catalog.params_from_architecture(catalog.model("gpt3-175b"))
    assert ours == narayanan - 11 * layers * h - s * h + h


def test_params_hand_count_gqa_gated_moe_untied():
    arch = {"layers": 2, "hidden_size": 8, "ffn_hidden_size": 16, "attention_heads": 4, "kv_heads": 2,
            "vocab_size": 10, "gated_mlp": True, "experts": 4, "experts_per_token": 2, "tied_embeddings": False}
    # per layer: Q,O 2*64 = 128; K,V 2*8*4 = 64 (head_dim 2, 2 kv heads); MLP 3*8*16*4 = 1536;
    # router 8*4 = 32; norms 16  -> 1776; x2 layers = 3552; embedding 80 + head 80 + final norm 8
    assert catalog.params_from_architecture(arch) == 3552 + 80 + 80 + 8
    # active: 2 of 4 experts -> MLP 768 per layer -> 1008 per layer
    assert catalog.active_params_from_architecture(arch) == 2 * 1008 + 80 + 80 + 8
    tied = dict(arch, tied_embeddings=True, gated_mlp=False, experts=1, experts_per_token=1)
    # per layer: 192 attention + 2*8*16 = 256 MLP + 16 norms = 464
    assert catalog.params_from_architecture(tied) == 2 * 464 + 80 + 8


def test_active_params_mixtral():
    # Mistral AI: 46.7B total, 12.9B used per token
    assert catalog.active_params_from_architecture(catalog.model("mixtral-8x7b")) / 1e9 == pytest.approx(12.9, rel=0.01)
    dense = catalog.model("llama3-8b")
    assert catalog.active_params_from_architecture(dense) == catalog.params_from_architecture(dense)


def test_params_defaults_for_inline_models():
    base = {"layers": 2, "hidden_size": 8, "attention_heads": 2, "vocab_size": 10}
    explicit = dict(base, ffn_hidden_size=32, kv_heads=2, gated_mlp=False, experts=1, tied_embeddings=False)
    assert catalog.params_from_architecture(base) == catalog.params_from_architecture(explicit)


@pytest.mark.parametrize("bad", [{"layers": None}, {"hidden_size": 0}, {"attention_heads": -4}, {"layers": 2.5}])
def test_params_rejects_bad_architectures(bad):
    arch = dict({"layers": 2, "hidden_size": 8, "attention_heads": 2, "vocab_size": 10}, **bad)
    with pytest.raises(ScenarioError):
        catalog.params_from_architecture(arch)


# ---- prices -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(catalog.prices()))
def test_price_entries(name):
    entry = catalog.price(name)
    assert set(entry) == {"gpu", "usd_per_gpu_hour", "kind", "date", "source", "notes"}
    catalog.gpu(entry["gpu"])  # the GPU exists (raises otherwise)
    assert _is(entry["usd_per_gpu_hour"], float) and 0.5 < entry["usd_per_gpu_hour"] < 20
    assert entry["kind"] in ("on-demand", "reserved", "spot")
    assert isinstance(entry["date"], str)
    date = dt.datetime.strptime(entry["date"], "%Y-%m")
    assert 2020 <= date.year <= 2026
    assert entry["source"] and entry["notes"]


@pytest.mark.parametrize(
    "name, instance_usd_per_hour",
    [("aws-p5-on-demand-2023", 98.32), ("aws-p5-capacity-block-2024", 39.33),
     ("aws-p5e-capacity-block-2024", 43.26), ("aws-p4d-capacity-block-2024", 14.75),
     ("aws-p5-reserved-1y-2026", 52.0)],
)
def test_per_gpu_prices_derived_from_8_gpu_instances(name, instance_usd_per_hour):
    """reference.md C.3 instance prices, divided by the 8 GPUs of the instance."""
    entry = catalog.price(name)
    assert entry["usd_per_gpu_hour"] * 8 == pytest.approx(instance_usd_per_hour, rel=1e-3)
    assert "/ 8" in entry["notes"]


# ---- reliability --------------------------------------------------------------------------------

def test_reliability_presets_have_derivation_source_and_valid_sources():
    for name, preset in catalog.reliability().items():
        assert isinstance(preset["derivation"], str) and len(preset["derivation"]) > 50, name
        assert isinstance(preset["source"], str) and preset["source"], name
        assert preset["sources"], name
        for src in preset["sources"]:
            assert set(src) == {"component", "per", "mtbf_hours", "count_in_study"}
            assert src["count_in_study"] is None or _is(src["count_in_study"], int)
            # the scenario's failure-source format accepts it without the study count
            FailureSourceSpec(**{k: v for k, v in src.items() if k != "count_in_study"})
        for key in ("detect_minutes", "restart_minutes", "repair_hours"):
            if key in preset:
                assert _is(preset[key], float) and preset[key] > 0
                assert preset["suggestion_sources"][key], (name, key)


def test_llama3_405b_recombines_to_419_interruptions():
    preset = catalog.reliability_preset("llama3-405b")
    sources = preset["sources"]
    expected = sum(LLAMA3_UNITS[s["per"]] * LLAMA3_HOURS / s["mtbf_hours"] for s in sources)
    assert expected == pytest.approx(419, rel=0.01)
    assert sum(s["count_in_study"] for s in sources) == 419
    for s in sources:  # each source reproduces its own Table 5 count
        assert LLAMA3_UNITS[s["per"]] * LLAMA3_HOURS / s["mtbf_hours"] == pytest.approx(s["count_in_study"], rel=1e-3)
    job_mtbf_hours = LLAMA3_HOURS / expected
    assert job_mtbf_hours == pytest.approx(3.09, abs=0.01)
    # Table 5's GPU-category rows: 268 of 419 (the printed 58.7% is inconsistent; counts were used)
    assert sum(s["count_in_study"] for s in sources if s["per"] == "gpu") == 268
    study = preset["study"]
    assert (study["days"], study["gpus"], study["nodes"], study["unexpected_interruptions"]) == (54, 16384, 2048, 419)
    # faulty GPU: 54*24*16384/148 hours per GPU
    faulty = next(s for s in sources if s["count_in_study"] == 148)
    assert faulty["per"] == "gpu"
    assert faulty["mtbf_hours"] == pytest.approx(54 * 24 * 16384 / 148, rel=1e-6)


@pytest.mark.parametrize("name, per_1000_node_days", [("kokolis-rsc1", 6.50), ("kokolis-rsc2", 2.34)])
def test_kokolis_rates(name, per_1000_node_days):
    (src,) = catalog.reliability_preset(name)["sources"]
    assert src["per"] == "node"
    rate_per_node_day = 24.0 / src["mtbf_hours"]
    assert rate_per_node_day * 1000 == pytest.approx(per_1000_node_days, rel=1e-4)


def test_kokolis_rsc1_projects_the_papers_16k_gpu_mttf():
    # Kokolis et al.: MTTF = (N_nodes r_f)^-1, projected 1.8 h for 16,384 GPUs (2,048 nodes)
    (src,) = catalog.reliability_preset("kokolis-rsc1")["sources"]
    assert src["mtbf_hours"] / 2048 == pytest.approx(1.8, rel=0.02)


# ---- lookups ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "lookup, typo, meant",
    [(catalog.gpu, "h100-sxm-80", "h100-sxm-80gb"), (catalog.gpu, "a100-80gb", "a100-sxm-80gb"),
     (catalog.model, "llama3-7b", "llama3-8b"), (catalog.price, "aws-p5-on-demand-2025", "aws-p5-on-demand-2026"),
     (catalog.reliability_preset, "llama3-405", "llama3-405b")],
)
def test_unknown_name_suggests(lookup, typo, meant):
    with pytest.raises(ScenarioError) as info:
        lookup(typo)
    item = info.value.items[0]
    assert item.given == typo
    assert item.hint and f"'{meant}'" in item.hint
    assert "did you mean" in str(info.value)
    assert meant in (item.expected or "")


def test_unknown_name_without_close_match_lists_names():
    with pytest.raises(ScenarioError) as info:
        catalog.gpu("zzzz")
    item = info.value.items[0]
    assert item.hint is None
    assert "h100-sxm-80gb" in (item.expected or "")


def test_accessors_return_copies():
    first = catalog.gpu("h100-sxm-80gb")
    first["peak_tflops"]["bf16"] = 1.0
    catalog.gpus()["h100-sxm-80gb"]["memory_gib"] = 1.0
    assert catalog.gpu("h100-sxm-80gb")["peak_tflops"]["bf16"] == 989.0
    assert catalog.gpus()["h100-sxm-80gb"]["memory_gib"] == 80.0


def test_attention_throughput_by_head_dim_follows_the_measured_points():
    """kernel_model.yaml attention_head_dim_scale: the FA3 paper's H100 causal forward at 16k by head dim
    (475 / 616 / 642 TFLOP/s), FA4's B200 head-dim-64 point (852.4 / 1276.4), no change on the A100 (its
    FA2 head-dim-64 point is at the head-dim-128 level); between the points linear in log2(head dim)."""
    from clustersim.resolve import head_dim_scale

    h100 = catalog.kernel_model("h100-sxm-80gb")["attention_head_dim_scale"]
    assert h100[64] == pytest.approx(475 / 616, abs=5e-4) and h100[256] == pytest.approx(642 / 616, abs=5e-4)
    assert catalog.kernel_model("b200-sxm-192gb")["attention_head_dim_scale"][64] == pytest.approx(852.4 / 1276.4, abs=5e-4)
    assert set(catalog.kernel_model("a100-sxm-80gb")["attention_head_dim_scale"].values()) == {1.0}
    assert head_dim_scale(h100, 128) == 1.0
    assert head_dim_scale(h100, 64) == h100[64] and head_dim_scale(h100, 32) == h100[64]  # clamped
    assert head_dim_scale(h100, 512) == h100[256]
    mid = head_dim_scale(h100, 2 ** 6.5)  # halfway between 64 and 128 in log2
    assert mid == pytest.approx((h100[64] + 1.0) / 2, rel=1e-12)


def test_deepseek_v3_and_kimi_k2_counts_match_their_reports():
    """Multi-head latent attention, the shared expert and the leading dense layers together give the
    published totals and, above all, the active counts the FLOPs follow: DeepSeek-V3 671B / 37B
    (arXiv:2412.19437 Sec. 4.2), Kimi K2 1.04T / 32.6B (arXiv:2507.20534 Table 2). Without the shared
    expert and the dense layers DeepSeek-V3 comes out at 701B with 34.9B active; written, as the
    validation rows were, as multi-head attention over hidden / heads as well, 36.0B active."""
    v3, k2 = catalog.model("deepseek-v3"), catalog.model("kimi-k2")
    assert catalog.params_from_architecture(v3) / 1e9 == pytest.approx(671, rel=0.005)
    assert catalog.active_params_from_architecture(v3) / 1e9 == pytest.approx(37, rel=0.02)
    assert catalog.params_from_architecture(k2) / 1e9 == pytest.approx(1040, rel=0.02)
    assert catalog.active_params_from_architecture(k2) / 1e9 == pytest.approx(32.6, rel=0.02)
    all_moe = {k: v for k, v in v3.items() if k not in ("shared_experts", "dense_layers", "dense_ffn_hidden_size")}
    assert catalog.params_from_architecture(all_moe) / 1e9 == pytest.approx(701, rel=0.005)
    assert catalog.active_params_from_architecture(all_moe) / 1e9 == pytest.approx(34.9, rel=0.005)
    mha = {k: v for k, v in all_moe.items() if k not in ("kv_lora_rank", "q_lora_rank", "qk_nope_head_dim",
                                                         "qk_rope_head_dim", "v_head_dim")}
    assert catalog.active_params_from_architecture(mha) / 1e9 == pytest.approx(36.0, rel=0.005)


def test_deepseek_v3_flops_match_megatron_bridges_own_figure():
    """Megatron-Bridge's DeepSeek-V3 row (25.11, 256 GB200, BF16; docs/performance-summary-archive.md @
    0a25f911b2ed) reports 3,139 tokens/s and 782 model TFLOP/s per GPU, i.e. 249.1 GFLOP per token, from
    its own FLOP formula (causal attention counted at half the score matrix). The estimate of that row's
    scenario, with its attention core halved to the same convention, gives that figure within 1%: MLA's
    matrices and attention core, the shared expert and the dense layers are counted as Megatron counts them."""
    from clustersim import published as P
    from clustersim.cost import flops
    from clustersim.estimate import estimate

    row = next(r for r in P.published_rows() if r["id"] == "mb2511-gb200-deepseekv3-256-bf16")
    k = estimate(P.row_scenario(row), with_theory=False, with_interval=False).kernel
    per_token = k["model_flop_per_step"] / (k["tokens_per_s"] * k["step_time_s"])
    at = flops.attention_shape(7168, 128, 128, 192, 128, 1536, 512, 64)
    causal = per_token - 0.5 * 3 * 61 * flops.attention_flop_per_token(4096, at)
    assert causal / 1e9 == pytest.approx(782e12 / 3139 / 1e9, rel=0.01)


def test_multi_head_latent_attention_reaches_the_kernel_from_the_scenario():
    """model.kv_lora_rank and its dimensions (DeepSeek-V3's) become the kernel's attention fields: the
    queries' and keys' head dim 128 + 64 (which the attention kernel's throughput is also read at), the
    values' 128, the two latents; the estimate's FLOPs follow MLA's matrices and attention core."""
    from clustersim.cost import flops
    from clustersim.estimate import estimate
    from clustersim.resolve import resolve_run

    mla = {"layers": 4, "hidden_size": 7168, "attention_heads": 128, "vocab_size": 129280, "ffn_hidden_size": 18432,
           "gated_mlp": True, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_nope_head_dim": 128,
           "qk_rope_head_dim": 64, "v_head_dim": 128}
    base = {"name": "mla", "model": mla, "cluster": {"gpu": "h100-sxm-80gb", "nodes": 1},
            "training": {"parallelism": {"tp": 8, "pp": 1}, "seq_len": 4096, "global_batch_seqs": 8,
                         "tokens": 1e9, "recompute": "full"}}
    x = resolve_run(base).inputs
    assert (x.head_dim, x.v_head_dim, x.q_lora_rank, x.kv_lora_rank, x.qk_rope_head_dim) == (192, 128, 1536, 512, 64)
    at192 = resolve_run({**base, "model": {**mla, "attention_head_dim": 192}}).inputs
    assert at192.attention_fwd_fraction == x.attention_fwd_fraction
    out = estimate(base, with_theory=False, with_interval=False).kernel
    mha = {k: v for k, v in mla.items() if k not in ("kv_lora_rank", "q_lora_rank", "qk_nope_head_dim",
                                                        "qk_rope_head_dim", "v_head_dim")}
    plain = estimate({**base, "model": mha}, with_theory=False, with_interval=False).kernel
    at, at_mha = flops.attention_shape(7168, 128, 128, 192, 128, 1536, 512, 64), flops.attention_shape(7168, 128, 128)
    per_token = 3 * 4 * (2 * (flops.attention_weights(7168, at) - flops.attention_weights(7168, at_mha))
                         + flops.attention_flop_per_token(4096, at) - flops.attention_flop_per_token(4096, at_mha))
    assert out["model_flop_per_step"] - plain["model_flop_per_step"] == pytest.approx(per_token * 8 * 4096, rel=1e-9)
    assert out["step_time_s"] > plain["step_time_s"]  # 2.9x the attention core's FLOPs


def test_the_attention_kernel_runs_at_the_models_head_dim():
    """The estimate's attention fractions are the head-dim-128 ones times the GPU's scale at the model's
    head dim; model.attention_head_dim (MLA) overrides head_dim for it and for nothing else."""
    from clustersim.resolve import resolve_run

    base = {"name": "hd", "model": {"preset": "llama3-8b"}, "cluster": {"gpu": "h100-sxm-80gb", "nodes": 1},
            "training": {"parallelism": {"tp": 1, "pp": 1}, "seq_len": 8192, "global_batch_seqs": 8,
                         "tokens": 1e9}}
    x = resolve_run(base).inputs
    mla = resolve_run({**base, "model": {"preset": "llama3-8b", "attention_head_dim": 64}}).inputs
    assert mla.attention_fwd_fraction == pytest.approx(x.attention_fwd_fraction * 475 / 616, abs=1e-3)
    assert mla.attention_bwd_fraction == pytest.approx(x.attention_bwd_fraction * 475 / 616, abs=1e-3)
    assert (mla.hidden_size, mla.head_dim, mla.attention_heads) == (x.hidden_size, x.head_dim, x.attention_heads)
