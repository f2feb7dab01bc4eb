"""Money and planning answers: dollars of a run, cost per model size, budget to model, fine-tuning, spot.

Each question is one function returning a result with ``rows`` (a table), ``to_dict()`` (JSON-safe)
and ``write_csv(path)`` (atomic):

* :func:`dollars` - GPU time x price, energy and checkpoint storage of a scenario's run, failure-free,
  expected (theory) and simulated (mean, p50, p90), and per billion tokens;
* :func:`costs` - time and dollars per model size, GPU type and count, each with its best parallelism
  (one vectorized kernel pass for the whole table) and the expected goodput;
* :func:`plan` - the compute-optimal (Chinchilla) model a budget trains by a deadline, its cluster and
  its predicted loss, with the trade-off curve around it;
* :func:`finetune` - the fewest GPUs of each catalog type that can fine-tune a model (full, LoRA,
  QLoRA), with days and dollars;
* :func:`spot_breakeven` - the preemption rate at which spot stops being cheaper than on demand,
  by simulation.
"""

from __future__ import annotations

from clustersim.money.costs import CostsResult, costs
from clustersim.money.dollars import DollarsResult, dollars
from clustersim.money.finetune import FinetuneResult, finetune
from clustersim.money.plan import PlanResult, plan
from clustersim.money.prices import PriceQuote, newest_price, presets_for_gpu, quote
from clustersim.money.scaling import arch_for_params, chinchilla_loss, chinchilla_tokens
from clustersim.money.spot import SpotResult, spot_breakeven

__all__ = [
    "dollars", "DollarsResult", "costs", "CostsResult", "plan", "PlanResult", "finetune", "FinetuneResult",
    "spot_breakeven", "SpotResult", "PriceQuote", "quote", "newest_price", "presets_for_gpu",
    "arch_for_params", "chinchilla_loss", "chinchilla_tokens",
]
