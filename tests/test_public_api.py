"""The public API is curated: ``clustersim.__all__`` is pinned."""

import clustersim

PINNED = [
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
    "calibrate",
    "CalibrationResult",
]


def test_all_is_pinned():
    assert sorted(clustersim.__all__) == sorted(PINNED)


def test_all_names_exist():
    for name in clustersim.__all__:
        assert hasattr(clustersim, name), name
