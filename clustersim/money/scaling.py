"""Model sizes: the architecture of a parameter count, Chinchilla's tokens, loss and compute-optimal size.

Two published results and one documented rule:

* **The scaling rule** (:func:`arch_for_params`): a Llama-3-style decoder for any size, so that the
  ``costs`` table can run "a 30B" or "a 2T" model nobody has published. Head dimension 128, the width
  over the depth ``hidden / layers = 128`` (GPT-3, Brown et al. 2020, Table 2.1: 6.7B is 4096/32, 13B is
  5120/40, 175B is 12288/96), a gated (SwiGLU) MLP of ``3.5 x hidden`` rounded to 256 (Llama 3 8B and
  70B: 14336 = 3.5 x 4096, 28672 = 3.5 x 8192; Llama Team 2024, Table 3), grouped-query attention with
  8 KV heads and the 128,256-token vocabulary (Llama 3, Table 3), untied embeddings.
* **Chinchilla's tokens** (Hoffmann et al. 2022, Table 3, Approach 1): about 20 tokens per parameter.
* **Chinchilla's fitted loss** (Hoffmann et al. 2022, Eq. 10 / Sec. 3.3, Approach 3):
  ``L(N, D) = E + A / N^alpha + B / D^beta`` with E = 1.69, A = 406.4, B = 410.7, alpha = 0.34,
  beta = 0.28; training compute ``C = 6 N D`` (Kaplan et al. 2020, Sec. 2.1; reference.md D.1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from clustersim import units
from clustersim.errors import ClustersimError
from clustersim.scenario import catalog
from clustersim.scenario.model import CHINCHILLA_TOKENS_PER_PARAM

__all__ = [
    "CHINCHILLA_TOKENS_PER_PARAM",
    "ScalingRule",
    "LLAMA3_RULE",
    "arch_for_params",
    "parse_size",
    "chinchilla_tokens",
    "chinchilla_loss",
    "loss_optimal_params",
    "chinchilla_params_for_flop",
    "training_flop",
    "E_LOSS",
    "A_LOSS",
    "B_LOSS",
    "ALPHA_LOSS",
    "BETA_LOSS",
    "FLOP_PER_PARAM_TOKEN",
]

#: Hoffmann et al. 2022 (arXiv:2203.15556), Eq. 10 and Sec. 3.3 (Approach 3, the parametric fit).
E_LOSS = 1.69
A_LOSS = 406.4
B_LOSS = 410.7
ALPHA_LOSS = 0.34
BETA_LOSS = 0.28
#: Training FLOPs per parameter per token: 2 forward + 4 backward (Kaplan et al. 2020; reference.md D.1).
FLOP_PER_PARAM_TOKEN = 6.0


@dataclass(frozen=True)
class ScalingRule:
    """The shape rule of :func:`arch_for_params` (defaults: Llama 3 with GPT-3's aspect ratio).

    ``hidden_multiple`` is ``head_dim x kv_heads`` (1024) rather than the head dimension alone, so the
    query heads always divide into the KV groups (a scenario requires ``attention_heads % kv_heads == 0``)
    and tensor parallelism up to 8 divides the heads; the number of layers is then chosen to hit the
    target parameter count (see :func:`arch_for_params`).
    """

    head_dim: int = 128
    hidden_per_layer: float = 128.0
    ffn_multiplier: float = 3.5
    ffn_multiple: int = 256
    kv_heads: int = 8
    vocab_size: int = 128256
    gated_mlp: bool = True
    tied_embeddings: bool = False

    @property
    def hidden_multiple(self) -> int:
        return self.head_dim * self.kv_heads

    def arch(self, hidden: int, layers: int) -> dict[str, Any]:
        """The architecture (catalog field names) of a hidden size and a depth under this rule."""
        ffn = int(self.ffn_multiple * round(self.ffn_multiplier * hidden / self.ffn_multiple))
        return {
            "layers": int(layers),
            "hidden_size": int(hidden),
            "ffn_hidden_size": ffn,
            "attention_heads": int(hidden // self.head_dim),
            "kv_heads": self.kv_heads,
            "vocab_size": self.vocab_size,
            "gated_mlp": self.gated_mlp,
            "experts": 1,
            "experts_per_token": 1,
            "tied_embeddings": self.tied_embeddings,
        }


LLAMA3_RULE = ScalingRule()


def _params(arch: dict[str, Any]) -> float:
    return catalog.params_from_architecture(arch)


def _layers_for(rule: ScalingRule, hidden: int, target: float) -> int:
    """The depth whose parameter count is nearest the target at this width (at least one layer)."""
    one = _params(rule.arch(hidden, 1))
    two = _params(rule.arch(hidden, 2))
    per_layer = two - one
    fixed = one - per_layer  # embeddings, output head, final norm
    return max(1, int(round((target - fixed) / per_layer)))


def arch_for_params(params: float, rule: ScalingRule = LLAMA3_RULE) -> dict[str, Any]:
    """A decoder architecture with about ``params`` parameters under the scaling rule.

    First the continuous width: the ``hidden`` at which ``layers = hidden / 128`` gives exactly the
    target (parameters counted by :func:`clustersim.scenario.catalog.params_from_architecture`,
    Narayanan et al. 2021 Eq. 2 generalised to GQA and gated MLPs; solved by bisection, the count
    is monotone in the width). Then the two multiples of 1024 around it (see :class:`ScalingRule`), each
    with the depth that brings the count nearest the target; of the two, the one whose width/depth is
    nearer 128 (in log ratio). So the count is within half a layer of the target, and the aspect
    ratio follows GPT-3's. The result carries ``params`` (the count) and ``name``.
    """
    if not (isinstance(params, (int, float)) and math.isfinite(params) and params > 0):
        raise ClustersimError(f"a model size must be a positive number of parameters, got {params!r}")

    def continuous(hidden: float) -> float:
        layers = hidden / rule.hidden_per_layer
        h = hidden
        f = rule.ffn_multiplier * h
        kv = rule.kv_heads * rule.head_dim
        per_layer = 2 * h * h + 2 * h * kv + (3 if rule.gated_mlp else 2) * h * f + 2 * h
        head = 0 if rule.tied_embeddings else rule.vocab_size * h
        return layers * per_layer + rule.vocab_size * h + head + h

    lo, hi = 1.0, 1e7
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if continuous(mid) < params:
            lo = mid
        else:
            hi = mid
    h_star = math.sqrt(lo * hi)
    m = rule.hidden_multiple
    candidates = sorted({max(m, m * math.floor(h_star / m)), max(m, m * math.ceil(h_star / m))})
    best: dict[str, Any] | None = None
    best_key = math.inf
    for hidden in candidates:
        layers = _layers_for(rule, hidden, params)
        arch = rule.arch(hidden, layers)
        key = abs(math.log(hidden / layers / rule.hidden_per_layer))
        if key < best_key:
            best, best_key = arch, key
    if best is None:  # pragma: no cover - there is always at least one candidate width
        raise ClustersimError(f"no architecture for {params:g} parameters")
    best["params"] = _params(best)
    best["name"] = f"rule-{format_size(params)}"
    return best


def format_size(params: float) -> str:
    """``7e9`` -> ``7B``, ``1.5e12`` -> ``1.5T``, ``350e6`` -> ``350M``."""
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if params >= div:
            return f"{params / div:.4g}{unit}"
    return f"{params:.4g}"


def parse_size(text: str | float) -> float:
    """A parameter count from ``70B``, ``1.5T``, ``350M``, ``7e9`` or a number."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        try:
            value = units.parse_count(str(text))  # the suffixes scenario files accept too
        except ValueError:
            raise ClustersimError(f"cannot read the model size {text!r}; write e.g. 7B, 70B, 1.5T or 7e9") from None
    if not math.isfinite(value) or value <= 0:
        raise ClustersimError(f"a model size must be positive, got {text!r}")
    return value


def chinchilla_tokens(params: Any) -> Any:
    """Compute-optimal tokens, about 20 per parameter (Hoffmann et al. 2022, Table 3, Approach 1)."""
    return CHINCHILLA_TOKENS_PER_PARAM * np.asarray(params, dtype=float) if np.ndim(params) else (
        CHINCHILLA_TOKENS_PER_PARAM * float(params))


def training_flop(params: Any, tokens: Any) -> Any:
    """C = 6 N D (Kaplan et al. 2020 Sec. 2.1; Hoffmann et al. 2022 Sec. 3; reference.md D.1)."""
    return FLOP_PER_PARAM_TOKEN * np.asarray(params, dtype=float) * np.asarray(tokens, dtype=float) if (
        np.ndim(params) or np.ndim(tokens)) else FLOP_PER_PARAM_TOKEN * float(params) * float(tokens)


def chinchilla_loss(params: Any, tokens: Any) -> Any:
    """Chinchilla's fitted final loss L(N, D) = E + A / N^alpha + B / D^beta.

    Hoffmann et al. 2022 (arXiv:2203.15556), Eq. 10 with the Sec. 3.3 fit (Approach 3): E = 1.69,
    A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28; N in parameters, D in tokens, L in nats per token
    on their MassiveText distribution (it predicts the trend, not another dataset's absolute loss).
    """
    n = np.asarray(params, dtype=float)
    d = np.asarray(tokens, dtype=float)
    if np.any(n <= 0) or np.any(d <= 0):
        raise ClustersimError("the loss needs a positive number of parameters and tokens")
    out = E_LOSS + A_LOSS / n**ALPHA_LOSS + B_LOSS / d**BETA_LOSS
    return float(out) if np.ndim(out) == 0 else out


def loss_optimal_params(flop: Any) -> Any:
    """The N that minimises L(N, C / 6N) at fixed compute (Hoffmann et al. 2022, Eq. 4).

    N_opt(C) = G (C / 6)^(beta / (alpha + beta)), G = (alpha A / (beta B))^(1 / (alpha + beta)).
    Approach 3's optimum; it puts fewer tokens per parameter than Approach 1's 20 (Hoffmann et al.
    Table A3), which is why a plan reports both.
    """
    c = np.asarray(flop, dtype=float)
    g = (ALPHA_LOSS * A_LOSS / (BETA_LOSS * B_LOSS)) ** (1.0 / (ALPHA_LOSS + BETA_LOSS))
    out = g * (c / FLOP_PER_PARAM_TOKEN) ** (BETA_LOSS / (ALPHA_LOSS + BETA_LOSS))
    return float(out) if np.ndim(out) == 0 else out


def chinchilla_params_for_flop(flop: Any) -> Any:
    """N with C = 6 N (20 N), i.e. N = sqrt(C / 120) (Hoffmann et al. 2022, Table 3, Approach 1)."""
    c = np.asarray(flop, dtype=float)
    out = np.sqrt(c / (FLOP_PER_PARAM_TOKEN * CHINCHILLA_TOKENS_PER_PARAM))
    return float(out) if np.ndim(out) == 0 else out


def rule_dict(rule: ScalingRule = LLAMA3_RULE) -> dict[str, Any]:
    """The rule's fields, for results that say which shape they used."""
    return {**asdict(rule), "hidden_multiple": rule.hidden_multiple}
