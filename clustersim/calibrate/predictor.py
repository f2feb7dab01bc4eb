"""The real predictor: a scenario's step time through :func:`clustersim.estimate` with given parameters.

Bound to clustersim's own kernel once it exposes calibratable parameters (``clustersim.cost.inputs``
``CALIBRATABLE``) and scenarios accept a calibration; until then it refuses with the reason.
"""

from __future__ import annotations

from typing import Any

from clustersim.errors import ClustersimError

__all__ = ["estimate_predictor"]


def estimate_predictor(scenario: Any, params: dict[str, float]) -> float:
    """Step time (s) of ``scenario`` with ``params`` replacing the kernel's efficiency defaults."""
    from clustersim.estimate import estimate

    if params:
        raise ClustersimError("this clustersim's kernel takes no calibrated parameters yet")
    return float(estimate(scenario, with_theory=False).step_time_s)
