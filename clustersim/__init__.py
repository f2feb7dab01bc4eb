"""clustersim: what a large training run will take (days, GPU-hours, dollars), before renting a GPU.

The public API is exactly ``__all__`` (pinned by a test); everything else is private.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("clustersim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from clustersim import theory  # noqa: E402
from clustersim.calibrate import CalibrationResult, calibrate  # noqa: E402
from clustersim.cost.kernel import evaluate  # noqa: E402
from clustersim.errors import ClustersimError, InfeasibleError, ScenarioError, SimulationError  # noqa: E402
from clustersim.estimate import Estimate, estimate  # noqa: E402
from clustersim.fleet import FleetResult, fleet  # noqa: E402
from clustersim.money import (  # noqa: E402
    CostsResult,
    DollarsResult,
    FinetuneResult,
    PlanResult,
    SpotResult,
    costs,
    dollars,
    finetune,
    plan,
    spot_breakeven,
)
from clustersim.scenario import Scenario, load_scenario  # noqa: E402
from clustersim.search import search  # noqa: E402
from clustersim.simulate import SimulationResult, simulate  # noqa: E402
from clustersim.sweep import run_sweep  # noqa: E402

__all__ = [
    "__version__",
    "ClustersimError",
    "ScenarioError",
    "InfeasibleError",
    "SimulationError",
    "Scenario",
    "load_scenario",
    "Estimate",
    "estimate",
    "search",
    "SimulationResult",
    "simulate",
    "evaluate",
    "theory",
    "run_sweep",
    "dollars",
    "DollarsResult",
    "costs",
    "CostsResult",
    "plan",
    "PlanResult",
    "finetune",
    "FinetuneResult",
    "spot_breakeven",
    "SpotResult",
    "fleet",
    "FleetResult",
    "calibrate",
    "CalibrationResult",
]
