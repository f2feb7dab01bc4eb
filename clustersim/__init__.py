"""clustersim: what a large training run will take (days, GPU-hours, dollars), before renting a GPU.

The public API is exactly ``__all__`` (pinned by a test); everything else is private.

The names are loaded on first use (PEP 562 module ``__getattr__``), so ``import clustersim`` and
``clustersim --help`` do not pay for numpy, pydantic, networkx, simpy, plotly or dask until a command
needs them (tests/test_startup.py holds that).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from clustersim._version import __version__

if TYPE_CHECKING:  # the eager imports, for type checkers and IDEs only
    from clustersim import theory
    from clustersim.calibrate.run import CalibrationResult, calibrate
    from clustersim.cost.kernel import evaluate
    from clustersim.errors import ClustersimError, InfeasibleError, ScenarioError, SimulationError
    from clustersim.estimate import Estimate, estimate
    from clustersim.fleet import FleetResult, fleet
    from clustersim.money.costs import CostsResult, costs
    from clustersim.money.dollars import DollarsResult, dollars
    from clustersim.money.finetune import FinetuneResult, finetune
    from clustersim.money.plan import PlanResult, plan
    from clustersim.money.spot import SpotResult, spot_breakeven
    from clustersim.scenario import Scenario, load_scenario
    from clustersim.search import search
    from clustersim.simulate import SimulationResult, simulate
    from clustersim.sweep import run_sweep

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

#: Where each public name lives (a module path; ``theory`` is a module itself).
_HOME: dict[str, str] = {
    "ClustersimError": "clustersim.errors",
    "ScenarioError": "clustersim.errors",
    "InfeasibleError": "clustersim.errors",
    "SimulationError": "clustersim.errors",
    "Scenario": "clustersim.scenario",
    "load_scenario": "clustersim.scenario",
    "Estimate": "clustersim.estimate",
    "estimate": "clustersim.estimate",
    "search": "clustersim.search",
    "SimulationResult": "clustersim.simulate",
    "simulate": "clustersim.simulate",
    "evaluate": "clustersim.cost.kernel",
    "theory": "clustersim.theory",
    "run_sweep": "clustersim.sweep",
    "fleet": "clustersim.fleet",
    "FleetResult": "clustersim.fleet",
    "calibrate": "clustersim.calibrate.run",
    "CalibrationResult": "clustersim.calibrate.run",
    **{name: "clustersim.money" for name in (
        "dollars", "DollarsResult", "costs", "CostsResult", "plan", "PlanResult", "finetune",
        "FinetuneResult", "spot_breakeven", "SpotResult")},
}


def __getattr__(name: str) -> Any:
    """Load a public name on first access and keep it as a module attribute (PEP 562)."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'clustersim' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if name == "theory" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


#: Public functions that share their name with the submodule they live in.
_SHADOWED = frozenset({"estimate", "search", "simulate", "fleet", "calibrate"})


class _Package(types.ModuleType):
    """The package module, so that importing ``clustersim.estimate`` (the submodule) does not replace
    the public function ``clustersim.estimate``: the import system binds a loaded submodule on its
    parent with ``setattr``, which for these names is skipped (the submodule stays in ``sys.modules``
    and ``__getattr__`` gives the function), as the eager ``from ... import`` used to do."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
