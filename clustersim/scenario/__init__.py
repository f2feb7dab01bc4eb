"""Scenario files: pydantic models, safe YAML loading with located errors, overrides, catalogs."""

from clustersim.scenario.loader import apply_overrides, check_file, dump_yaml, load_scenario, parse_override
from clustersim.scenario.model import Scenario, cross_checks, resolve_gpu, resolve_model

__all__ = [
    "Scenario",
    "load_scenario",
    "check_file",
    "dump_yaml",
    "apply_overrides",
    "parse_override",
    "cross_checks",
    "resolve_gpu",
    "resolve_model",
]
