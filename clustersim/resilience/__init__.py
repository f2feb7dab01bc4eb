"""Resilience strategies priced side by side, and the simulation checked against published runs.

A resilience file (:mod:`.spec`) states a run by what reliability reports give; :func:`compare` runs
its named strategies on common random numbers through the strategy engine
(:mod:`clustersim.sim.strategy`) and picks the cheapest that meets a deadline at P90;
:mod:`.validation` runs the files under ``scenarios/validation/`` against their published figures.
"""

from __future__ import annotations

from .compare import Comparison, StrategyResult, build_strategy_job, compare
from .spec import ResilienceFile, load_resilience

__all__ = ["compare", "Comparison", "StrategyResult", "build_strategy_job", "ResilienceFile", "load_resilience"]
