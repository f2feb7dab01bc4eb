"""Parallelism search: the enumerated space equals a brute-force enumeration; ranking and explanation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from clustersim.cost.inputs import KernelInputs
from clustersim.cost.kernel import evaluate
from clustersim.cost.search import CONFIG_KEYS, enumerate_configs
from clustersim.cost.search import search as search_inputs
from clustersim.errors import ClustersimError

MODEL = {"layers": 12, "hidden_size": 2048, "ffn_hidden_size": 8192, "attention_heads": 16, "kv_heads": 4,
         "vocab_size": 32000, "gated_mlp": True, "experts": 1, "experts_per_token": 1, "tied_embeddings": False}
MOE = {**MODEL, "experts": 4, "experts_per_token": 2}
GPU = {"name": "h100-sxm-80gb", "peak_tflops": {"bf16": 989.0, "fp8": 1979.0}, "memory_gib": 80.0,
       "hbm_gbyte_per_s": 3350.0, "gpus_per_node": 8}
A100 = {"name": "a100-sxm-80gb", "peak_tflops": {"bf16": 312.0}, "memory_gib": 80.0, "hbm_gbyte_per_s": 2039.0}
FABRIC = {"scaleup_gpus": 8, "scaleup_bw_bytes_per_s": 450e9, "scaleup_latency_s": 2e-6, "leaf_gpus": 256,
          "leaf_bw_bytes_per_s": 50e9, "spine_bw_bytes_per_s": 50e9, "scaleout_latency_s": 5e-6}
RUN = {"gpus": 16, "seq_len": 2048, "global_batch_seqs": 32, "precision": "bf16", "mode": "pretrain",
       "lora_rank": 16, "tokens": 1e10, "usd_per_gpu_hour": 2.0}


def search(model, gpu, fabric, *, gpus, seq_len, global_batch_seqs, precision, mode, lora_rank, tokens,
           usd_per_gpu_hour, **options):
    """The search over the base inputs these dicts describe (layout fields are placeholders)."""
    base = KernelInputs(**model, **fabric, seq_len=seq_len, global_batch_seqs=global_batch_seqs, micro_batch_seqs=1,
                        precision=precision, mode=mode, lora_rank=lora_rank, tokens=tokens,
                        usd_per_gpu_hour=usd_per_gpu_hour, tp=1, pp=1, dp=1,
                        peak_flop_per_s=gpu["peak_tflops"]["bf16"] * 1e12, hbm_bytes=gpu["memory_gib"] * 2**30,
                        hbm_bw_bytes_per_s=gpu["hbm_gbyte_per_s"] * 1e9)
    return search_inputs(base, gpus=gpus, **options)


def brute_force(model, gpus, seq_len, batch):
    """Every layout by nested loops (tests only), filtered by the kernel's own validity rules."""
    rows = []
    divisors = [d for d in range(1, gpus + 1) if gpus % d == 0]
    for tp, cp, pp in itertools.product(divisors, repeat=3):
        if gpus % (tp * cp * pp):
            continue
        dp = gpus // (tp * cp * pp)
        for ep, b, v, z, r, sp in itertools.product(range(1, 9), range(1, batch + 1), range(1, 13), range(4),
                                                    range(3), (False, True)):
            if sp and tp == 1:
                continue
            if v > 1 and -(-model["layers"] // pp) % v:
                continue
            rows.append((tp, pp, dp, cp, ep, v, b, z, r, sp))
    cols = dict(zip(CONFIG_KEYS, (np.array(c) for c in zip(*rows, strict=True)), strict=True))
    # framework torchtitan (code 2): its FSDP runs every ZeRO stage with pipelines, so only the
    # divisibility rules the enumeration builds in remain (the framework rule is the search's mask)
    out = evaluate(**{**model, **cols, "seq_len": seq_len, "global_batch_seqs": batch, **FABRIC,
                      "peak_flop_per_s": 989e12, "hbm_bytes": 80 * 2**30, "hbm_bw_bytes_per_s": 3350e9,
                      "framework": 2})
    return {tuple(int(cols[k][i]) for k in CONFIG_KEYS) for i in np.flatnonzero(out["valid"])}


@pytest.mark.parametrize("model", [MODEL, MOE])
def test_enumeration_equals_brute_force(model):
    space = enumerate_configs(gpus=16, gpus_per_node=8, layers=model["layers"], attention_heads=16, kv_heads=4,
                              experts=model["experts"], seq_len=2048, global_batch_seqs=32,
                              ffn_hidden_size=model["ffn_hidden_size"])
    got = {tuple(int(space[k][i]) for k in CONFIG_KEYS) for i in range(len(space["tp"]))}
    assert len(got) == len(space["tp"])  # no duplicates
    assert got == brute_force(model, 16, 2048, 32)
    assert space["tp"].dtype.kind == "i" and space["sequence_parallel"].dtype == bool


def test_the_enumeration_splits_the_pipeline_as_the_rules_count_it():
    """With the embedding and the loss counted as layers (software.pipeline_split), a stage holds
    ceil((layers + 2) / pp) units and vpp divides those: 30 layers on 2 stages are 16 units a stage, not 15."""
    kw = {"gpus": 2, "gpus_per_node": 8, "layers": 30, "attention_heads": 16, "kv_heads": 4, "experts": 1,
          "seq_len": 2048, "global_batch_seqs": 32}
    plain = enumerate_configs(**kw)
    split = enumerate_configs(**kw, split_embedding=True, split_loss=True)
    assert set(plain["vpp"][plain["pp"] == 2].tolist()) == {1, 3, 5, 15}
    vpp = split["vpp"][split["pp"] == 2]
    assert set(vpp.tolist()) == {1, 2, 4, 8, 16}
    cols = {k: v[split["pp"] == 2] for k, v in split.items()}
    out = evaluate(**{**MODEL, "layers": 30, **cols, "seq_len": 2048, "global_batch_seqs": 32, **FABRIC,
                      "peak_flop_per_s": 989e12, "hbm_bytes": 80 * 2**30, "hbm_bw_bytes_per_s": 3350e9,
                      "framework": 2, "pp_split_embedding": 1.0, "pp_split_loss": 1.0})
    # the kernel's rule (32 units divide by pp x vpp) admits every one of them
    assert np.asarray(out["valid"]).all()


def test_max_tp_limits_tensor_parallelism():
    space = enumerate_configs(gpus=64, gpus_per_node=8, layers=32, attention_heads=32, kv_heads=32, experts=1,
                              seq_len=4096, global_batch_seqs=64, max_tp=8)
    assert space["tp"].max() == 8
    assert (space["tp"] * space["pp"] * space["dp"] * space["cp"] == 64).all()


def test_search_ranks_feasible_layouts_and_explains_the_winner():
    res = search(MODEL, GPU, FABRIC, **RUN, top=5)
    assert res.configs_evaluated == len(enumerate_configs(
        gpus=16, gpus_per_node=8, layers=12, attention_heads=16, kv_heads=4, experts=1, seq_len=2048,
        global_batch_seqs=32, ffn_hidden_size=8192)["tp"])
    assert 0 < res.feasible <= res.configs_evaluated
    times = [r["step_time_s"] for r in res.rows]
    assert times == sorted(times) and len(times) == 5
    assert all(r["fits_in_memory"] and r["valid"] for r in res.rows)
    assert res.why_best.startswith("Best: tp")
    assert "Next: tp" in res.why_best or "take the same step time" in res.why_best
    # the same answer in small chunks (bounded memory)
    chunked = search(MODEL, GPU, FABRIC, **RUN, top=5, chunk=97)
    assert [r["step_time_s"] for r in chunked.rows] == times
    assert chunked.feasible == res.feasible
    # kept to its best row, the search still says how many fit rather than calling it the only one
    one = search(MODEL, GPU, FABRIC, **RUN, top=1)
    assert one.feasible > 1 and "only configuration" not in one.why_best
    assert f"fastest of the {one.feasible:,} configurations" in one.why_best


def test_search_drops_layouts_that_do_not_fit():
    small = {**GPU, "memory_gib": 6.0}
    res = search(MODEL, small, FABRIC, **RUN, top=3)
    assert res.feasible < search(MODEL, GPU, FABRIC, **RUN, top=3).feasible
    assert all(r["memory_bytes"] <= 6.0 * 2**30 for r in res.rows)
    none = search(MODEL, {**GPU, "memory_gib": 0.5}, FABRIC, **RUN)
    assert none.rows == [] and none.feasible == 0 and "None of the" in none.why_best


def test_cost_objective_and_errors():
    res = search(MOE, GPU, FABRIC, **RUN, objective="cost", top=3)
    assert res.objective == "cost" and res.rows[0]["cost_usd"] > 0
    with pytest.raises(ClustersimError):
        search(MODEL, GPU, FABRIC, **RUN, objective="speed")


def test_search_excludes_what_the_framework_cannot_run_and_says_so():
    megatron = search(MODEL, GPU, FABRIC, **RUN, top=1000)
    assert megatron.excluded.get("sharding_with_pipeline", 0) > 0
    assert not any(r["zero"] == 3 and r["pp"] > 1 for r in megatron.rows)
    assert "excluded as unrunnable" in megatron.excluded_text()


def test_divisors_and_sorted_unique_equal_numpys_unique():
    """The search's own unique (no numpy.ma import) gives np.unique's values and dtype."""
    import numpy as np

    from clustersim.cost.search import _divisors, _sorted_unique

    for n in [*range(1, 400), 16384, 2**20, 3**10, 999_983, 10**6]:
        small = np.arange(1, int(n**0.5) + 1, dtype=np.int64)
        small = small[n % small == 0]
        expected = np.unique(np.concatenate([small, n // small]))
        got = _divisors(n)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), n
    rng = np.random.default_rng(7)
    for size in [0, 1, 2, 5, 30, 200]:
        x = rng.integers(0, 40, size)
        assert np.array_equal(_sorted_unique(x), np.unique(x))


@pytest.mark.parametrize("model", [MODEL, MOE])
def test_enumeration_order_is_layouts_outer_then_zero_recompute_sp(model):
    """The documented order (the ranking's ties depend on it): tp, cp, pp outer (a meshgrid of ascending
    divisors), then ep, micro-batch, vpp, and ZeRO, recompute, SP innermost."""
    space = enumerate_configs(gpus=16, gpus_per_node=8, layers=model["layers"], attention_heads=16, kv_heads=4,
                              experts=model["experts"], seq_len=2048, global_batch_seqs=32, zero_stages=(0, 2, 3),
                              recompute=(2, 0))
    order = ("tp", "cp", "pp", "ep", "micro_batch_seqs", "vpp")
    keys = [tuple(int(space[k][i]) for k in order) + (int(space["zero"][i]), (2, 0).index(int(space["recompute"][i])),
                                                      int(space["sequence_parallel"][i]))
            for i in range(len(space["tp"]))]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert set(space["zero"].tolist()) == {0, 2, 3} and set(space["recompute"].tolist()) == {0, 2}


@pytest.mark.parametrize(("model", "framework", "offload"), [(MODEL, 0, 0), (MODEL, 3, 0), (MOE, 3, 2), (MOE, 1, 0)])
def test_rules_checked_per_layout_equal_the_rules_on_every_configuration(model, framework, offload):
    """The search checks the rules that read no per-configuration field once per layout: the same
    booleans as clustersim.cost.rules.valid on the whole table."""
    from clustersim.cost import rules
    from clustersim.cost.backend import NP
    from clustersim.cost.search import _space, _Table, _valid_rows

    base = KernelInputs(**model, **FABRIC, seq_len=2048, global_batch_seqs=32, micro_batch_seqs=1, tp=1, pp=1, dp=1,
                        tokens=1e10, peak_flop_per_s=989e12, hbm_bytes=80 * 2**30, hbm_bw_bytes_per_s=3350e9,
                        framework=framework, activation_offload_layers=offload)
    x = base.scalars()
    space = _space(gpus=16, gpus_per_node=8, layers=model["layers"], attention_heads=16, kv_heads=4,
                   experts=model["experts"], seq_len=2048, global_batch_seqs=32, max_tp=None, ffn_hidden_size=None,
                   max_micro_batch=None, zero_stages=(0, 1, 2, 3), recompute=(0, 1, 2), etp=0)
    small = {k: v.astype(np.float64) for k, v in space.layouts.items()}
    full = {**x, **{k: v.astype(np.float64) for k, v in space.columns().items()}}
    want = np.broadcast_to(np.asarray(rules.valid(NP, full)), (len(space.rows),))
    got = _valid_rows(space, x, small)
    assert np.array_equal(got, want)
    if framework == 3 or offload:
        assert not want.all()  # a case where per-configuration rules remove layouts
    table = _Table(x, space, small, np.flatnonzero(~got))
    assert np.array_equal(table["zero"], full["zero"][~got]) and np.array_equal(table["vpp"], full["vpp"][~got])


def _space_and_rules(model, framework, offload):
    from clustersim.cost.search import _space, _valid_rows

    base = KernelInputs(**model, **FABRIC, seq_len=2048, global_batch_seqs=32, micro_batch_seqs=1, tp=1, pp=1, dp=1,
                        tokens=1e10, peak_flop_per_s=989e12, hbm_bytes=80 * 2**30, hbm_bw_bytes_per_s=3350e9,
                        framework=framework, activation_offload_layers=offload, usd_per_gpu_hour=2.0)
    x = base.scalars()
    space = _space(gpus=16, gpus_per_node=8, layers=model["layers"], attention_heads=16, kv_heads=4,
                   experts=model["experts"], seq_len=2048, global_batch_seqs=32, max_tp=None, ffn_hidden_size=None,
                   max_micro_batch=None, zero_stages=(0, 1, 2, 3), recompute=(0, 1, 2), etp=0)
    small = {k: v.astype(np.float64) for k, v in space.layouts.items()}
    excluded: dict[str, int] = {}
    ok = _valid_rows(space, x, small, excluded)
    return base, x, space, small, ok, excluded


@pytest.mark.parametrize(("model", "framework", "offload"), [(MODEL, 0, 0), (MODEL, 3, 0), (MOE, 3, 2), (MOE, 1, 0),
                                                             (MOE, 2, 0)])
def test_excluded_counts_equal_the_rules_on_the_rejected_configurations(model, framework, offload):
    from clustersim.cost import rules
    from clustersim.cost.backend import NP
    from clustersim.cost.search import _Table

    _, x, space, small, ok, excluded = _space_and_rules(model, framework, offload)
    want = rules.excluded(NP, _Table(x, space, small, np.flatnonzero(~ok))) if not ok.all() else {}
    assert excluded == want and list(excluded) == list(want)  # (the same counts, in rule order)
    if framework == 3 or offload:
        assert excluded


@pytest.mark.parametrize(("model", "framework", "offload"), [(MODEL, 0, 0), (MODEL, 3, 0), (MOE, 3, 2), (MOE, 1, 0),
                                                             (MOE, 2, 0)])
@pytest.mark.parametrize("group_configs", [16384, 7])
def test_layout_grids_give_the_kernel_on_the_flat_table_to_the_bit(model, framework, offload, group_configs,
                                                                    monkeypatch):
    """The search evaluates each group of layouts crossed with the same settings as one (layouts x ZeRO x
    recompute x SP) grid: the values equal the kernel's on the flat table of configurations, to the bit,
    on a whole space and on runs of it that cut layouts in two (the search's chunks), in pieces too."""
    from clustersim.cost import rules
    from clustersim.cost import search as search_module

    monkeypatch.setattr(search_module, "_GROUP_CONFIGS", group_configs)
    base, _, space, small, ok, _ = _space_and_rules(model, framework, offload)
    kept = np.flatnonzero(ok)
    settings = {k: v.astype(np.float64) for k, v in space.settings.items()}
    skip = frozenset(r.name for r in rules.RULES)
    outputs = search_module._RANKING_OUTPUTS["cost"]
    for lo, hi in [(0, len(kept)), (5, 222), (len(kept) // 3, len(kept) - 1)]:
        rows, slots = space.rows[kept[lo:hi]], space.slots[kept[lo:hi]]
        got = search_module._evaluate_configs(base, space, small, settings, rows, slots, skip, outputs)
        flat = {**{k: v[rows] for k, v in small.items()}, **{k: v[slots] for k, v in settings.items()}}
        want = evaluate(base.replace(**flat), outputs=outputs)
        for key in outputs:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_search_ranks_as_a_sort_of_every_configuration():
    """The top rows are the feasible configurations with the smallest step times, ties by memory, with all
    of the kernel's outputs attached, as a flat evaluation of the whole space sorted says. (Among rows tied
    with the last row's step time, which ones make the cut is not specified.)"""
    res = search(MOE, GPU, FABRIC, **RUN, top=25)
    space = enumerate_configs(gpus=16, gpus_per_node=8, layers=12, attention_heads=16, kv_heads=4, experts=4,
                              seq_len=2048, global_batch_seqs=32, ffn_hidden_size=8192)
    out = evaluate(**MOE, **FABRIC, **{k: v.astype(np.float64) for k, v in space.items()}, seq_len=2048,
                   global_batch_seqs=32, precision="bf16", tokens=1e10, usd_per_gpu_hour=2.0, lora_rank=16,
                   peak_flop_per_s=989e12, hbm_bytes=80 * 2**30, hbm_bw_bytes_per_s=3350e9)
    good = np.flatnonzero(out["valid"] & out["fits_in_memory"])
    order = good[np.lexsort((out["memory_bytes"][good], out["step_time_s"][good]))]
    assert res.feasible == len(good)
    assert [r["step_time_s"] for r in res.rows] == out["step_time_s"][order[:25]].tolist()
    last = res.rows[-1]["step_time_s"]
    settled = [i for i in order[:25] if out["step_time_s"][i] < last]
    assert len(settled) > 10
    assert [(r["step_time_s"], r["memory_bytes"]) for r in res.rows[:len(settled)]] == [
        (float(out["step_time_s"][i]), float(out["memory_bytes"][i])) for i in settled]
    for row in res.rows:
        i = next(i for i in order if all(int(space[k][i]) == row[k] for k in CONFIG_KEYS))
        assert all(row[k] == (bool(out[k][i]) if out[k].dtype == bool else float(out[k][i])) for k in out)
