"""The JSON Schema of the scenario format, generated from the pydantic models (so it cannot drift)."""

from __future__ import annotations

from typing import Any

from clustersim.scenario.model import Scenario

SCHEMA_ID = "https://clustersim.dev/schema/scenario.schema.json"


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a scenario file, by the YAML key names."""
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "clustersim scenario"
    return schema
