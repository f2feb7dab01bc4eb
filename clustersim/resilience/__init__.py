"""Resilience strategies priced side by side, and the simulation checked against published runs.

A training scenario's ``resilience.strategies`` (or a resilience file, :mod:`.spec`) names strategies as
dotted overrides; :func:`compare` runs them on common random numbers through the strategy engine
(:mod:`clustersim.sim.strategy`) and picks the cheapest that meets a deadline at P90; :mod:`.scenario`
turns a scenario's resilience keys into the engine's input (``clustersim simulate`` uses it too);
:mod:`.validation` runs the files under ``scenarios/validation/`` against their published figures.
"""

from __future__ import annotations

from .compare import Comparison, StrategyResult, build_strategy_job, compare
from .spec import ResilienceFile, load_resilience

__all__ = ["compare", "Comparison", "StrategyResult", "build_strategy_job", "ResilienceFile", "load_resilience"]
