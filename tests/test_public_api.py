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


def test_all_is_pinned():
    assert sorted(clustersim.__all__) == sorted(PINNED)


def test_all_names_exist():
    for name in clustersim.__all__:
        assert hasattr(clustersim, name), name


def test_money_functions_take_overrides_as_set_and_return_typed_results():
    import inspect

    for name in ("estimate", "simulate", "dollars", "costs", "plan", "finetune", "spot_breakeven"):
        params = inspect.signature(getattr(clustersim, name)).parameters
        assert "set" in params and params["set"].kind is inspect.Parameter.KEYWORD_ONLY, name
    for name in ("DollarsResult", "CostsResult", "PlanResult", "FinetuneResult", "SpotResult"):
        cls = getattr(clustersim, name)
        assert callable(cls.to_dict) and callable(cls.write_csv), name
