"""The scaling rule, Chinchilla's tokens and loss, and the compute-optimal sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim.errors import ClustersimError
from clustersim.money import scaling
from clustersim.scenario import catalog


@pytest.mark.parametrize("target", [1e9, 3e9, 7e9, 30e9, 70e9, 175e9, 405e9, 1e12, 2e12, 1e13])
def test_rule_hits_the_parameter_count(target: float) -> None:
    arch = scaling.arch_for_params(target)
    assert catalog.params_from_architecture(arch) == arch["params"]
    # within half a layer of the target: 2.5% at 1B (where a layer is 5% of the model), 1.2% from 3B up
    tol = 0.025 if target < 3e9 else 0.012
    assert arch["params"] == pytest.approx(target, rel=tol)
    assert arch["hidden_size"] % 1024 == 0
    assert arch["attention_heads"] * 128 == arch["hidden_size"]
    assert arch["attention_heads"] % arch["kv_heads"] == 0
    assert arch["ffn_hidden_size"] % 256 == 0
    assert arch["ffn_hidden_size"] == pytest.approx(3.5 * arch["hidden_size"], abs=128)


@pytest.mark.parametrize("target, hidden, layers, tol_layers", [
    (6.7e9, 4096, 32, 0.2),     # GPT-3 6.7B (Brown et al. 2020, Table 2.1)
    (8.0e9, 4096, 32, 0.0),     # Llama 3 8B (Llama Team 2024, Table 3): exactly
    (13e9, 5120, 40, 0.15),     # GPT-3 13B
    (175e9, 12288, 96, 0.07),   # GPT-3 175B
    (405e9, 16384, 126, 0.07),  # Llama 3 405B
])
def test_rule_reproduces_published_shapes(target: float, hidden: int, layers: int, tol_layers: float) -> None:
    arch = scaling.arch_for_params(target)
    assert arch["hidden_size"] == hidden
    assert arch["layers"] == pytest.approx(layers, rel=tol_layers)


def test_rule_at_70b_is_near_llama3_70b() -> None:
    # Llama 3 70B is deeper than the rule's 128 width per layer (8192 / 80 = 102): the rule picks the
    # next width up, within 13% of the published hidden size, with the same parameter count.
    arch = scaling.arch_for_params(70e9)
    assert arch["hidden_size"] == pytest.approx(8192, rel=0.13)
    assert arch["params"] == pytest.approx(70e9, rel=0.01)


def test_rule_aspect_ratio_stays_near_128_for_large_models() -> None:
    for target in (30e9, 175e9, 405e9, 1e12, 5e12):
        arch = scaling.arch_for_params(target)
        assert 90 <= arch["hidden_size"] / arch["layers"] <= 180


def test_parse_size() -> None:
    assert scaling.parse_size("70B") == 70e9
    assert scaling.parse_size("1.5T") == 1.5e12
    assert scaling.parse_size("350m") == 350e6
    assert scaling.parse_size("7e9") == 7e9
    assert scaling.parse_size(3e9) == 3e9
    for bad in ("", "B", "seventy", "-1B", "0"):
        with pytest.raises(ClustersimError):
            scaling.parse_size(bad)


def test_chinchilla_tokens_and_flop() -> None:
    assert scaling.chinchilla_tokens(70e9) == 1.4e12  # Chinchilla itself: 70B on 1.4T tokens
    assert scaling.training_flop(175e9, 300e9) == pytest.approx(3.15e23)  # GPT-3 Table D.1: 3.14e23
    # Hoffmann Table 3 row 67B / 5.76e23 FLOPs: sqrt(C / 120) with D = 20 N
    assert scaling.chinchilla_params_for_flop(5.76e23) == pytest.approx(69.3e9, rel=0.01)
    n = np.array([1e9, 1e10])
    np.testing.assert_allclose(scaling.chinchilla_tokens(n), 20 * n)


def test_chinchilla_loss_values() -> None:
    # By hand: 1.69 + 406.4 / 70e9^0.34 + 410.7 / 1.4e12^0.28
    expected = 1.69 + 406.4 / 70e9 ** 0.34 + 410.7 / 1.4e12 ** 0.28
    assert scaling.chinchilla_loss(70e9, 1.4e12) == pytest.approx(expected, rel=1e-12)
    assert 1.9 < expected < 2.0
    # more parameters or more data never raise the loss, and it tends to E
    assert scaling.chinchilla_loss(1e12, 1.4e12) < scaling.chinchilla_loss(70e9, 1.4e12)
    assert scaling.chinchilla_loss(70e9, 1e13) < scaling.chinchilla_loss(70e9, 1.4e12)
    assert scaling.chinchilla_loss(1e20, 1e22) == pytest.approx(scaling.E_LOSS, abs=1e-3)
    with pytest.raises(ClustersimError):
        scaling.chinchilla_loss(0.0, 1e9)


def test_loss_optimal_params_minimises_the_loss_at_fixed_compute() -> None:
    c = 5.76e23
    n_opt = scaling.loss_optimal_params(c)

    def loss(n: float) -> float:
        return scaling.chinchilla_loss(n, c / (6 * n))

    assert loss(n_opt) < loss(n_opt * 1.05)
    assert loss(n_opt) < loss(n_opt / 1.05)
    # the exponent beta / (alpha + beta) = 0.45 (Hoffmann et al. Eq. 4 with Sec. 3.3's fit)
    ratio = scaling.loss_optimal_params(100 * c) / n_opt
    assert math.log(ratio, 100) == pytest.approx(0.28 / 0.62, rel=1e-9)
