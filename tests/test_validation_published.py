"""The model against published runs, through the user's own path (``estimate`` on a scenario per row).

What is asserted is what the model achieves today, as regression bounds; the fidelity issue's targets
(mean <= 5%, no row over 15%, <= 8% per generation and style) are NOT met, and docs/validation.md says by
how much. A change that makes the model worse on published runs fails here.
"""

from __future__ import annotations

import pytest

from clustersim import published as P


@pytest.fixture(scope="module")
def table():
    return [r for r in P.validation_table() if r["metric"] != "gpu_hours"]


def test_the_set_covers_generations_precisions_and_styles():
    rows = P.published_rows()
    assert len(rows) >= 80
    assert {P.generation(r) for r in rows} >= {"ampere", "hopper", "blackwell"}
    assert {r["precision"] for r in rows} >= {"bf16", "fp8"}
    assert {P.style(r) for r in rows} >= {"3d", "fsdp"}
    assert all(r["source"] and r["source_detail"] for r in rows)


def test_validation_goes_through_estimate(monkeypatch):
    import importlib

    est = importlib.import_module("clustersim.estimate")

    calls = []
    real = est.estimate

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(est, "estimate", counting)
    row = P.published_rows()[0]
    P.predict(row)
    assert len(calls) == 1 and calls[0] == P.row_scenario(row)


def test_row_scenarios_use_only_scenario_keys_and_never_the_id():
    row = dict(P.published_rows()[0])
    a = P.row_scenario(row)
    row["id"], row["source"], row["model_name"] = "other", "elsewhere", "renamed"
    b = P.row_scenario(row)
    a.pop("name"), b.pop("name")
    assert a == b


def test_every_published_layout_passes_the_rule_set(table):
    """Every published layout is one a framework ran, so the rule set admits it: expert parallelism folded
    across the tensor/context ranks (MoE parallel folding, etp) and OPT's batch as its launcher ran it
    (992 sequences on 124 replicas) included. None is refused."""
    refused = [(r["id"], r["refused"]) for r in table if r["error"] is None]
    assert refused == []


def test_error_bounds_hold(table):
    overall = P.summary(table)["all"]
    # measured 8.88% over 188 rows (target 5%: missed); 9.04% before Narayanan et al.'s rows took the micro-batch
    # sizes and interleaving of the authors' script (examples/sc21/run_table_1.sh); 9.00% over 187 before Kimi K2's AutoModel row (-15.9%),
    # 8.63% before DeepSeek-V3's rows carried its multi-head latent attention, shared expert and dense layers
    # (its FLOPs 2.9x in the attention core, 37.6B active, not 34.9B), 8.84% before gpt-oss's rows carried
    # its sliding window (half its layers attend 128 keys, not all)
    assert overall["mean_abs"] <= 0.090
    assert overall["median_abs"] <= 0.067  # measured 6.59%
    by_gen = P.summary(table, "generation")
    assert by_gen["ampere"]["mean_abs"] <= 0.066  # measured 6.48% over 64 rows (target 8%: met)
    assert by_gen["hopper"]["mean_abs"] <= 0.103  # measured 10.23% over 93 rows (target 8%: missed)
    assert by_gen["blackwell"]["mean_abs"] <= 0.099  # measured 9.82% over 31 rows (target 8%: missed)
    by_arch = P.summary(table, "architecture")
    assert set(by_arch) == {"dense", "moe"}
    assert by_arch["dense"]["mean_abs"] <= 0.075  # measured 7.35% over 163 rows
    assert by_arch["moe"]["mean_abs"] <= 0.190  # measured 18.88% over 25 rows: the weakest part of the model


def test_fp8_speedups_of_matched_pairs(table):
    """Rows of one source that differ only in their number format (precision, FP8 recipe) test the FP8
    model apart from everything else: the predicted speed-up of the second over the first against the
    measured one. Found from the scenarios alone, so renaming rows changes nothing; at least the five
    llm-foundry BF16/FP8 pairs on H100 (350M-3B, 512-32k context) and torchtitan's 8B pair, and three
    Megatron-Bridge per-tensor/MXFP8 pairs on Blackwell, where the measured MXFP8 run is 3.6-5.6% slower and
    the estimate makes it 0.9-1.8% faster (no MXFP8 GEMM microbenchmark is stored to say why; the fidelity
    issue's note says so). Bounds are what the model gives (measured: mean 4.7%, worst 7.7% over 9 pairs)."""
    pairs = P.precision_pairs(table)
    assert sum(p["first_label"] == "bf16" and p["second_label"].startswith("fp8") for p in pairs) >= 6
    mx = [p for p in pairs if (p["first_label"], p["second_label"]) == ("fp8 current", "fp8 mxfp8")]
    assert len(mx) >= 3
    assert all(p["measured"] > 0 and p["predicted"] > 0 for p in pairs)
    errors = [abs(p["error"]) for p in pairs]
    assert sum(errors) / len(errors) <= 0.048
    assert max(errors) <= 0.08
    # the pair's error is the ratio of its rows' speed errors, so it needs nothing but the table
    errs = {t["id"]: t["error"] for t in table}
    for p in pairs:
        assert p["error"] == pytest.approx((1 + errs[p["second"]]) / (1 + errs[p["first"]]) - 1, rel=1e-12, abs=1e-12)


def test_gpu_generation_pairs(table):
    """The same llm-foundry job on 8 A100s and on 8 H100s (MPT-1B to 70B, 512 to 64k context): the estimate
    gives the H100 the larger gain in every pair, 5-17% more than was measured (mean +10.7% over 8 pairs),
    most at long context where the attention kernel dominates; the fidelity issue's note says so. Bounds
    are that measurement."""
    pairs = P.gpu_pairs(table)
    hopper = [p for p in pairs if (p["first_label"], p["second_label"]) == ("a100-sxm-80gb", "h100-sxm-80gb")]
    assert len(hopper) >= 8
    assert all(1.5 < p["measured"] < 3.2 for p in hopper)  # MFU rows compared as speeds, not MFU ratios
    errors = [p["error"] for p in pairs]
    assert sum(abs(e) for e in errors) / len(errors) <= 0.11
    assert max(abs(e) for e in errors) <= 0.17


def test_precision_pairs_ignore_ids():
    """Renamed rows give the same pairs with the same errors: nothing is paired by an id."""
    rows = P.published_rows()
    pairs = P.precision_pairs(rows=rows)
    renamed = [dict(r, id=f"row{i}") for i, r in enumerate(rows)]
    index = {r["id"]: f"row{i}" for i, r in enumerate(rows)}
    again = P.precision_pairs(rows=renamed)
    assert [(index[p["first"]], index[p["second"]], p["error"]) for p in pairs] == \
        [(p["first"], p["second"], p["error"]) for p in again]


def test_published_layouts_fit_in_memory(table):
    """A published layout ran, so it must fit in the GPU's memory less the default headroom: every one does
    (the recipes' bf16 gradients, activation offload and expert tensor parallelism are row fields,
    torchtitan's selective checkpointing is op-level, NeMo AutoModel's MoE runs keep bf16 master weights and
    Adam moments as its models are built in bf16). The tightest, AutoModel's DeepSeek-V3 on 256 H100, was
    refused at 81.1 GiB of 80 while those rows kept fp32 master weights and moments."""
    assert all(r["error"] is not None for r in table)
    refused = [(r["id"], round(r["memory_gib"], 1)) for r in table if not r["fits_in_memory"]]
    assert refused == []


def test_moe_rows_follow_the_per_expert_cost(table):
    """Fine-grained MoE (many local experts) was predicted up to 2.7x too fast before the per-expert cost
    (efficiency.MOE_EXPERT_PASS_S); the MoE rows now average under 25% (measured 20.5%)."""
    rows = {r["id"]: r for r in P.published_rows()}
    moe = [t for t in table if int(rows[t["id"]].get("experts") or 1) > 1 and t["error"] is not None]
    assert len(moe) >= 10
    assert sum(abs(t["error"]) for t in moe) / len(moe) <= 0.25


@pytest.fixture(scope="module")
def fit():
    return P.fit_interference()


@pytest.fixture(scope="module")
def moe_fit():
    return P.fit_constant("MOE_EXPERT_PASS_S")


def test_the_fitted_constant_is_what_the_documented_fit_gives(fit):
    """OVERLAP_INTERFERENCE must be the grid fit on the published rows (a change of the model that moves
    the fit fails here until the constant is refitted and the docs regenerated)."""
    assert fit["best"] == fit["current"]


def test_leave_one_source_out_is_stable(fit):
    """Refitted without any one source, the constant stays within one grid step or two of the fit, and the
    held-out sources' mean error stays bounded (measured 10.1%; the issue's 8% target is missed)."""
    assert all(abs(p["refit"] - fit["best"]) <= 0.2 + 1e-9 for p in fit["per_source"])
    held = [p["held_out_mean_abs"] for p in fit["per_source"]]
    assert sum(held) / len(held) <= 0.114


def test_the_moe_constant_is_its_fit_and_moves_only_moe_rows(moe_fit):
    """MOE_EXPERT_PASS_S is the grid fit over the rows it moves, which are the MoE rows only (0.1 ms over 24
    rows from 4 sources). The sources disagree: without Megatron-Bridge (11 rows) the refit falls to 0 and
    predicts that source's rows 54% off, without NeMo AutoModel's PyTorch-native rows it rises to 0.15 ms:
    the docs say so."""
    assert moe_fit["best"] == moe_fit["current"]
    rows = {r["id"]: r for r in P.published_rows()}
    moe_rows = [r for r in rows.values() if int(r.get("experts") or 1) > 1 and r["metric"] != "gpu_hours"]
    assert moe_fit["rows"] <= len(moe_rows)
    assert all(abs(p["refit"] - moe_fit["best"]) <= 1.5e-4 + 1e-12 for p in moe_fit["per_source"])


def test_searched_optima_are_plausible_but_on_the_h200():
    """Searched optima (parallelism: auto) within 7 points of the best published MFU for their GPU and
    precision on A100, H100, B200 and GB200: measured worst +6.2 (A100 80 GB, Llama 3 8B; the issue's
    5-point target is missed by 1.2 there, and by 0.7 on the A100 40 GB), H100 BF16 +0.5 against the DGX
    Cloud recipe's 59.4%. The H200's only published multi-node runs are torchtitan FSDP ones (67.5%), so its
    optima, an H100's with more memory and bandwidth, stand up to ~26 points above: docs/validation.md lists
    them."""
    rows = [r for r in P.plausibility_table() if r["mfu"] is not None]
    assert rows
    for r in rows:
        assert r["mfu"] > 0.2, r
        if not r["gpu"].startswith("h200"):
            assert r["excess"] <= 0.07, r


def test_older_megatron_runs_stay_close(table):
    """The 2021 Megatron-LM rows (Narayanan et al. 2021 Table 1: A100, fp16, 3D layouts) within 14% each:
    measured worst 13.9%, the 3.6B row, whose micro-batch is not published (the smallest models are predicted
    11-14% slow since SUSTAINED_FRACTION, 7-10% before; 76B-1T within 4.2%)."""
    rows = [r for r in table if r["generation"] == "ampere" and r["style"] == "3d" and r["precision"] == "fp16"]
    assert rows and max(abs(r["error"]) for r in rows) <= 0.14


def test_the_committed_residuals_are_the_models_current_ones():
    """estimate's prediction intervals read validation/residuals.csv: it must hold today's residuals
    (regenerate with `python -m clustersim.docsgen` after a model change)."""
    from clustersim.calibrate.intervals import read_residuals

    fresh = P.residuals()
    stored = read_residuals()
    assert [r.id for r in stored] == [r.id for r in fresh]
    for a, b in zip(stored, fresh, strict=True):
        assert a.log_error == pytest.approx(b.log_error, rel=1e-9, abs=1e-12), a.id
        assert (a.generation, a.style, a.source) == (b.generation, b.style, b.source)


def test_estimate_carries_an_interval_from_the_published_residuals():
    from clustersim import estimate

    d = estimate("scenarios/quickstart.yaml").to_dict()
    iv = d["prediction_interval"]
    assert iv["method"] == "validation-residuals" and "hopper" in iv["source"]
    lo, hi = iv["step_time_s"]
    assert 0 < lo < hi  # factors of the estimate: not centred on it where the model is biased
    assert iv["train_days"][0] == pytest.approx(lo / d["step_time_s"] * d["train_days"], rel=1e-9)
    assert iv["train_days"][1] == pytest.approx(hi / d["step_time_s"] * d["train_days"], rel=1e-9)


def test_the_headroom_is_the_margin_a_published_layout_must_leave():
    """A layout fits when it needs at most the GPU's memory less cluster.gpu_memory_headroom_gib: the
    Nemotron-4 340B layout on H100 fits with the default 1 GiB and is refused, with the headroom named, once
    the headroom leaves less than it needs."""
    from clustersim.errors import InfeasibleError
    from clustersim.estimate import estimate

    row = next(r for r in P.published_rows() if r["id"] == "nemo2407-nemotron4-340b-128")
    got = P.predict(row)
    assert got["fits_in_memory"] and got["memory_gib"] <= 80.0 - 1.0
    scenario = P.row_scenario(row)
    scenario["cluster"]["gpu_memory_headroom_gib"] = 80.0 - got["memory_gib"] + 0.1
    with pytest.raises(InfeasibleError, match="headroom"):
        estimate(scenario, with_theory=False, with_interval=False)


def test_memory_against_published_peaks():
    """Predicted memory per GPU against the peaks the sources publish (torchtitan's Memory(GiB): peak
    reserved bytes): every row fits, and the mean absolute error stays at the measured 9.1% (32.6%, all
    under-predicted, before the FSDP2 / fp32-loss / allocator terms; 13.7% before the 405B pipeline rows
    got the micro-batch of 4 that torchtitan's default of pp micro-batches gives; 8.7% before the compiled
    8B row joined: the model does not see that eager autograd saves more, 67.0 against 62.0 GiB).
    Bounds are the measured figures, not targets."""
    table = P.memory_table()
    assert len(table) == 10
    assert all(r["fits_in_memory"] for r in table)
    m = P.memory_summary(table)
    assert m["mean_abs"] <= 0.092
    assert m["max_abs"] <= 0.165
    assert abs(m["bias"]) <= 0.05
    # the FSDP-only and context-parallel 8B rows, the layouts the memory physics covers, are within 15%
    eight_b = [r for r in table if "-8b-" in r["id"]]
    assert len(eight_b) == 5 and all(abs(r["error"]) <= 0.15 for r in eight_b)


def test_a_layout_the_source_says_ran_out_of_memory_is_refused():
    """torchtitan docs/performance.md @ 041336434916, footnote 1: Llama 2 70B on 64 A100 80GB with FSDP2
    and selective activation checkpointing ran out of memory at local batch 2, so the table reports local
    batch 1. The memory model admits the batch-1 layout and refuses the batch-2 one."""
    base = {r["id"]: r for r in P.published_rows()}["torchtitan-a100-llama2-70b-full"]

    def layout(mb: int) -> dict[str, str]:
        return {**base, "recompute": "selective", "micro_batch_seqs": str(mb), "global_batch_seqs": str(64 * mb)}

    assert P.predict(layout(1))["fits_in_memory"]
    assert not P.predict(layout(2))["fits_in_memory"]


def test_the_torch_compile_speedup_matches_torchtitans_published_pair():
    """torchtitan benchmarks/llama3_h100_202412_torchtitan.md Table 3 ran the same 128-GPU Llama 3.1 8B
    job eager (5,605 TPS/GPU) and compiled (6,514): 1.16x. Through the user path, the two scenarios that
    differ only in ``software.torch_compile`` give a ratio within 5% of it (measured 1.14); nothing is
    fitted to this pair. Other frameworks do not read the key."""
    rows = {r["id"]: r for r in P.published_rows()}
    eager, compiled = rows["torchtitan-h100-llama31-8b-128-bf16"], rows["torchtitan-h100-llama31-8b-128-bf16-compile"]
    assert {k: v for k, v in eager.items() if k not in ("id", "desc", "value", "notes", "torch_compile",
                                                        "published_memory_gib")} == \
        {k: v for k, v in compiled.items() if k not in ("id", "desc", "value", "notes", "torch_compile",
                                                        "published_memory_gib")}
    ratio = P.predict(compiled)["predicted"] / P.predict(eager)["predicted"]
    published = float(compiled["value"]) / float(eager["value"])
    assert ratio == pytest.approx(published, rel=0.05)
    assert ratio > 1.05
    megatron = {**eager, "framework": "megatron"}
    assert P.predict({**megatron, "torch_compile": "true"})["predicted"] == P.predict(megatron)["predicted"]


def test_published_band_reads_the_ranges_by_size():
    """The published range for a size is the mfu_ranges.csv row whose [min, max) band holds it (dense rows
    only); no row, no band."""
    assert P.published_band("h100-sxm-80gb", "fp8", 8.03) == (0.542, 0.793)
    assert P.published_band("h100-sxm-80gb", "bf16", 405.0) == (0.38, 0.4667)
    assert P.published_band("h200-sxm-141gb", "fp8", 70.0) is None
    assert P.published_band("h100-sxm-80gb", "bf16", 2000.0) is None


def test_searched_optima_against_their_size_band():
    """The plausibility suite's second check: a searched optimum within 5 points of the published range for
    its GPU, precision and size. Measured: 8 of the 18 optima a source covers are inside; the A100 and H100
    BF16 8B/70B optima sit above their ranges (the best published runs there are Composer/FSDP and
    torchtitan, not the Megatron layouts the search finds), the H100 FP8 and B200 405B ones below."""
    rows = [r for r in P.plausibility_table() if r["inside_band"] is not None]
    assert len(rows) == 18
    assert sum(r["inside_band"] for r in rows) >= 8
    inside = {(r["gpu"], r["precision"], r["model"]) for r in rows if r["inside_band"]}
    assert {("gb200-nvl72", "fp8", m) for m in ("llama3-8b", "llama3-70b", "llama3-405b")} <= inside
    for r in rows:
        lo, hi = r["band"]
        assert r["inside_band"] == (lo - P.BAND_TOLERANCE <= r["mfu"] <= hi + P.BAND_TOLERANCE)


def test_repeatability_pairs_link_to_the_validation_rows(table):
    """validation/repeatability.csv: one layout in two releases of one source. Each pair's change is its
    two figures' ratio, and a pair that names a validation row holds that row's published figure, so the
    page can set the estimate beside both releases."""
    pairs = P.repeatability_pairs()
    assert {p["architecture"] for p in pairs} == {"dense", "moe"}
    published = {r["id"]: r["published"] for r in table}
    for p in pairs:
        assert p["change"] == pytest.approx(p["tokens_per_s_per_gpu_b"] / p["tokens_per_s_per_gpu_a"] - 1, rel=1e-12)
        assert p["release_a"] != p["release_b"] and p["source"]
        if p["validation_id"]:
            assert published[p["validation_id"]] in (p["tokens_per_s_per_gpu_a"], p["tokens_per_s_per_gpu_b"])
    assert sum(bool(p["validation_id"]) for p in pairs) >= 8


def test_check_data_accepts_the_repository_files_and_reports_a_broken_copy(tmp_path, capsys):
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("check_data", P.data_path().with_name("check_data.py"))
    assert spec is not None and spec.loader is not None
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check.main(P.data_path().parent) == 0
    for name in ("published_runs.csv", "mfu_ranges.csv", "repeatability.csv"):
        shutil.copy(P.data_path().with_name(name), tmp_path / name)
    text = (tmp_path / "repeatability.csv").read_text(encoding="utf-8")
    (tmp_path / "repeatability.csv").write_text(text.replace(",dense,", ",densest,", 1), encoding="utf-8")
    capsys.readouterr()
    assert check.main(tmp_path) == 1
    assert "architecture 'densest' not in dense|moe" in capsys.readouterr().out
