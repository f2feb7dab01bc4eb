"""The mappings a sweep's points share with its base are validated once (clustersim.sweep.shared): each
point's scenario, made from the base with the shared mappings' models, must equal a full validation of its
mapping, and an invalid point must raise the same errors, whatever it sets (a top-level key, a nested one,
one beside a shared nested mapping)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from clustersim.scenario import Scenario
from clustersim.scenario.loader import read_scenario_mapping
from clustersim.sweep.expand import apply_inputs, canonical_json, scenario_dump
from clustersim.sweep.shared import SharedBase, shared_paths

from .test_sweep_estimate import BASE

CONTEXT = {"defer_cross_checks": True}

#: Pairs of points with the same keys: tokens and nodes (sections copied, parallelism shared), a nested
#: key, the name only, a checkpoint key.
POINTS: list[dict[str, Any]] = [
    {"training.tokens": 1e11, "cluster.nodes": 4},
    {"training.tokens": 2e11, "cluster.nodes": 8},
    {"training.parallelism.tp": 2, "training.parallelism.dp": None},
    {"training.parallelism.tp": 4, "training.parallelism.dp": None},
    {"name": "only the name"},
    {"name": "another name"},
    {"checkpoint.write_gbyte_per_s": 50.0},
    {"checkpoint.write_gbyte_per_s": 70.0},
]


@pytest.fixture
def base(tmp_path: Any) -> dict[str, Any]:
    path = tmp_path / "base.yaml"
    path.write_text(BASE, encoding="utf-8")
    return read_scenario_mapping(path)


def test_the_shared_paths_are_those_off_the_keys_ways(base):
    assert shared_paths(base, ("training.tokens", "cluster.nodes")) == [
        ("training", "parallelism"), ("cluster", "network"), ("failures",), ("checkpoint",), ("pricing",)]
    assert shared_paths(base, ("training.parallelism.tp",)) == [("cluster",), ("failures",), ("checkpoint",),
                                                                ("pricing",)]
    assert ("training", "parallelism") not in shared_paths(base, ("training.parallelism",))


def test_each_point_equals_its_full_validation(base):
    import copy

    untouched = copy.deepcopy(base)
    shared = SharedBase(base)
    scenarios = []
    for inputs in POINTS:
        before = shared.source(inputs)
        fast = Scenario.model_validate(apply_inputs(before, inputs), context=CONTEXT)
        full = Scenario.model_validate(apply_inputs(base, inputs), context=CONTEXT)
        assert fast == full, inputs
        assert scenario_dump(fast) == scenario_dump(full), inputs
        assert fast.model_fields_set == full.model_fields_set
        shared.learn(inputs, fast, scenario_dump(fast))
        texts = shared.texts(inputs)
        assert texts and all(text == canonical_json(scenario_dump(full)[name]) for name, text in texts.items())
        scenarios.append(fast)
    # the shared mappings were validated once: a later point with the same keys holds the first one's models
    assert scenarios[1].training.parallelism is scenarios[0].training.parallelism
    assert scenarios[1].failures is scenarios[0].failures and scenarios[7].cluster is scenarios[6].cluster
    assert scenarios[3].cluster is scenarios[2].cluster and scenarios[5].training is scenarios[4].training
    assert scenarios[2].cluster is not scenarios[0].cluster  # (another key set: learned on its own)
    assert base == untouched  # the base is never written to


@pytest.mark.parametrize(("valid", "inputs"), [
    ({"training.parallelism.tp": 2}, {"training.parallelism.tp": 0}),
    ({"cluster.nodes": 4, "training.tokens": 2e11}, {"cluster.nodes": -1, "training.tokens": 1e11}),
    ({"checkpoint.write_gbyte_per_s": 9.0}, {"checkpoint.write_gbyte_per_s": "fast"}),
    ({"training.seq_len": 4096}, {"training.seq_len": -5}),  # beside the shared parallelism
])
def test_an_invalid_point_raises_the_same_errors(base, valid, inputs):
    shared = SharedBase(base)
    first = Scenario.model_validate(apply_inputs(base, valid), context=CONTEXT)
    shared.learn(valid, first, scenario_dump(first))  # what the key set shares, from a valid point
    assert shared.source(inputs) is not base
    with pytest.raises(ValidationError) as fast:
        Scenario.model_validate(apply_inputs(shared.source(inputs), inputs), context=CONTEXT)
    with pytest.raises(ValidationError) as full:
        Scenario.model_validate(apply_inputs(base, inputs), context=CONTEXT)
    assert fast.value.errors() == full.value.errors()
