"""Calibration against a published source through the real predictor (clustersim.estimate).

MegaScale's Megatron-LM baseline (Jiang et al. 2024, arXiv:2402.15627, Table 2): GPT-3 175B on 256 to
12,288 A100s, tp 8 x pp 8 (interleaved, 6 virtual stages), no recompute, no sequence parallelism, stock
Megatron-LM attention. Each row, used alone as the only measurement, calibrates the kernel; the fit then
predicts the other scales. The error on the other rows must fall against the uncalibrated kernel.
"""

import math

import pytest

from clustersim.calibrate.fit import Observation, fit
from clustersim.calibrate.predictor import calibratable, estimate_predictor
from clustersim.calibrate.run import prior_sds
from clustersim.scenario import load_scenario

# (GPUs, data-parallel size, global batch in sequences, published step time s): Table 2, Megatron-LM rows
MEGASCALE = [(256, 4, 768, 40.0), (512, 8, 768, 21.2), (768, 12, 768, 15.2), (1024, 16, 768, 11.9),
             (3072, 48, 6144, 29.02), (6144, 96, 6144, 14.78), (8192, 128, 6144, 12.24), (12288, 192, 6144, 8.57)]


def _scenario(gpus, dp, batch):
    return load_scenario({
        "name": f"megascale-megatron-{gpus}",
        "model": {"layers": 96, "hidden_size": 12288, "attention_heads": 96, "vocab_size": 64000},
        "training": {"tokens": 3e11, "seq_len": 2048, "global_batch_seqs": batch, "micro_batch_seqs": 1,
                     "precision": "bf16", "recompute": "none",
                     "parallelism": {"tp": 8, "pp": 8, "dp": dp, "vpp": 6, "zero": 0, "sequence_parallel": False}},
        "cluster": {"gpu": "a100-sxm-80gb", "nodes": gpus // 8,
                    "network": {"nic_gbit_per_s": 200, "nics_per_node": 8, "nodes_per_leaf": 32}},
        "software": {"framework": "megatron", "attention": "unfused"},
    })


def _mape(pairs):
    return sum(abs(p / m - 1) for p, m in pairs) / len(pairs)


@pytest.mark.skipif(not calibratable(), reason="the kernel exposes no calibratable parameter")
def test_one_megascale_row_calibrates_the_other_scales():
    params = calibratable()
    rows = [(_scenario(g, dp, b), st) for g, dp, b, st in MEGASCALE]
    defaults = {p.name: p.default for p in params}
    before = [estimate_predictor(s, defaults) for s, _ in rows]
    gains = []
    for i, (s_i, st_i) in enumerate(rows):
        obs = [Observation(s_i.name, s_i, st_i)]
        res = fit(params, estimate_predictor, obs, prior_sd=prior_sds(params, obs, {}))
        assert len(res.identified_directions()) <= 1  # one number fixes one direction at most
        others = [j for j in range(len(rows)) if j != i]
        after = [estimate_predictor(rows[j][0], res.values) for j in others]
        mape_before = _mape([(before[j], rows[j][1]) for j in others])
        mape_after = _mape([(a, rows[j][1]) for a, j in zip(after, others, strict=True)])
        gains.append((mape_before, mape_after))
    mean_before = sum(b for b, _ in gains) / len(gains)
    mean_after = sum(a for _, a in gains) / len(gains)
    assert mean_after < mean_before, gains
    # the example: the smallest row (256 GPUs) predicting the other seven scales
    assert gains[0][1] < gains[0][0], gains[0]
    assert all(math.isfinite(a) for _, a in gains)
