"""The mappings a sweep's points share with its base are validated once (clustersim.sweep.shared): each
point's scenario must equal a full validation of its mapping, and an invalid point must raise the same
errors, whatever it sets (a top-level key, a nested one, one beside a shared nested mapping)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from clustersim.scenario import Scenario
from clustersim.scenario.loader import read_scenario_mapping
from clustersim.sweep.expand import apply_inputs, scenario_dump
from clustersim.sweep.shared import SharedMemo, validated_scenario

from .test_sweep_estimate import BASE

CONTEXT = {"defer_cross_checks": True}

#: Each point's inputs: tokens and nodes (sections copied, parallelism shared), a nested key, the name only.
POINTS: list[dict[str, Any]] = [
    {"training.tokens": 1e11, "cluster.nodes": 4},
    {"training.tokens": 2e11, "cluster.nodes": 8},
    {"training.parallelism.tp": 2, "training.parallelism.dp": None},
    {"name": "only the name"},
    {"checkpoint.write_gbyte_per_s": 50.0},
    {"training.tokens": 3e11},
]


@pytest.fixture
def base(tmp_path: Any) -> dict[str, Any]:
    path = tmp_path / "base.yaml"
    path.write_text(BASE, encoding="utf-8")
    return read_scenario_mapping(path)


def test_each_point_equals_its_full_validation(base):
    memo = SharedMemo()
    scenarios = []
    for inputs in POINTS:
        data = apply_inputs(base, inputs)
        fast = validated_scenario(data, base, CONTEXT, memo)
        full = Scenario.model_validate(data, context=CONTEXT)
        assert fast == full, inputs
        assert scenario_dump(fast) == scenario_dump(full), inputs
        assert fast.model_fields_set == full.model_fields_set
        scenarios.append(fast)
    # the shared mappings were validated once: later points hold the first point's models
    assert memo.models, "no shared mapping was remembered"
    assert scenarios[1].training.parallelism is scenarios[0].training.parallelism
    assert scenarios[4].failures is scenarios[0].failures
    assert scenarios[5].cluster is scenarios[3].cluster


@pytest.mark.parametrize("inputs", [
    {"training.parallelism.tp": 0},
    {"cluster.nodes": -1, "training.tokens": 1e11},
    {"checkpoint.write_gbyte_per_s": "fast"},
    {"training.no_such_key": 1},
])
def test_an_invalid_point_raises_the_same_errors(base, inputs):
    memo = SharedMemo()
    validated_scenario(apply_inputs(base, {"training.tokens": 1e11}), base, CONTEXT, memo)  # fill the memo
    data = apply_inputs(base, inputs)
    with pytest.raises(ValidationError) as fast:
        validated_scenario(data, base, CONTEXT, memo)
    with pytest.raises(ValidationError) as full:
        Scenario.model_validate(data, context=CONTEXT)
    assert fast.value.errors() == full.value.errors()


def test_a_mapping_not_of_the_base_is_validated_in_full(base):
    """A memo entry is used only for the very mapping it came from: another base's equal-looking
    mapping with a different value is validated, not taken from the memo."""
    memo = SharedMemo()
    validated_scenario(apply_inputs(base, {}), base, CONTEXT, memo)
    other = {**base, "training": {**base["training"], "parallelism": {**base["training"]["parallelism"], "tp": 4, "dp": 16}}}
    fast = validated_scenario(apply_inputs(other, {}), other, CONTEXT, memo)
    assert fast == Scenario.model_validate(other, context=CONTEXT)
    assert fast.training.parallelism.tp == 4
