"""The numpy layer: the analytic, vectorized step-time / memory / FLOPs kernel and the parallelism search.

Imports numpy only (no simpy, networkx, plotly, pydantic). Public entry points:

* :func:`clustersim.cost.kernel.evaluate` — every input an array or a scalar, broadcast together.
* :func:`clustersim.cost.kernel.evaluate_one` — the same formulas for one configuration, plain Python.
* :func:`clustersim.cost.search.enumerate_configs` and :func:`clustersim.cost.search.search`.
* :class:`clustersim.cost.inputs.KernelInputs` — the kernel's inputs; :mod:`clustersim.cost.rules` — the one rule set.
"""

from __future__ import annotations

from clustersim.cost.kernel import MODES, PRECISIONS, RECOMPUTE, evaluate, evaluate_one

__all__ = ["evaluate", "evaluate_one", "PRECISIONS", "RECOMPUTE", "MODES"]
