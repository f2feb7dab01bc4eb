"""The worker's fast path for analytic chunks gives, bit for bit, what the plain per-point path gives.

The plain path: each point's mapping (``apply_inputs``), ``load_scenario``, ``point_key``, one full
``resolve_run`` per point, then the same chunk evaluation and rows. The fast path (clustersim.sweep.stream:
shared mappings validated once, template sections and resolutions memoized, keys composed from cached
section text) must give the same groups of cells, in the same order, with the same types and bits
(compared by ``repr``: -0.0 is not 0.0, 1 is not 1.0), on sweeps that mix valid, invalid and infeasible
points, repeated and new templates, null values and several key sets in one chunk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clustersim.errors import ScenarioError
from clustersim.scenario import load_scenario
from clustersim.sweep import batch
from clustersim.sweep.expand import (
    apply_inputs,
    base_with_set,
    describe_problems,
    expand_inputs,
    invalid_key,
    point_key,
)
from clustersim.sweep.spec import read_sweep
from clustersim.sweep.store import prepare_rows
from clustersim.sweep.stream import Groups, analytic_chunk, row_of
from clustersim.sweep.tasks import estimate_resolved, resolved

from .test_sweep_estimate import BASE, SAMPLE

SWEEPS = {
    "grid with invalid and infeasible points": SAMPLE,
    "samples over every section, presets and nulls": """\
base: {base}
set:
  training.parallelism.dp: null
  training.parallelism.tp: 8
  pricing.usd_per_gpu_hour: null
  pricing.preset: lambda-h100-2026
seed: 3
samples:
  n: 40
  method: lhs
  ranges:
    cluster.nodes: {{choices: [1, 2, 4, 8]}}
    training.tokens: {{low: 1.0e10, high: 1.0e12, log: true}}
    cluster.network.oversubscription: {{choices: [1.0, 2.0, 4.0]}}
    failures.node_mtbf_hours: {{low: 500, high: 20000, log: true}}
    checkpoint.write_gbyte_per_s: {{low: 2, high: 500, log: true}}
    simulation.seed: {{low: 0, high: 3, integer: true}}
""",
    "whole sections, a GPU preset, no failures": """\
base: {base}
set:
  training.parallelism.dp: null
grid:
  cluster.gpu: [h100-sxm-80gb, {{preset: h200-sxm-141gb, memory_gib: 141}}, no-such-gpu]
  failures: [null, {{node_mtbf_hours: 2000, spare_nodes: 2}}]
  checkpoint.async: [true, false]
""",
}


def _plain_rows(base: dict[str, Any], mode: str, items: list[tuple[int, dict[str, Any]]]) -> Groups:
    """A chunk's rows, each point on its own: no memo, no shared model, the key from the whole dump."""
    rows: list[dict[str, Any] | None] = []
    valid = []
    for index, inputs in items:
        data = apply_inputs(base, inputs)
        try:
            scenario = load_scenario(data)
        except ScenarioError as exc:
            rows.append(row_of(index, inputs, invalid_key(data, mode), "invalid", describe_problems(exc.items), {}))
            continue
        key = point_key(scenario, mode)
        valid.append((len(rows), index, inputs, key, resolved(scenario)))
        rows.append(None)
    results = estimate_resolved([(key, run) for *_, key, run in valid])
    for (slot, index, inputs, key, _), (_, status, error, outputs) in zip(valid, results, strict=True):
        rows[slot] = row_of(index, inputs, key, status, error, outputs)
    return prepare_rows(r for r in rows if r is not None)


def _exact(groups: Groups) -> str:
    return repr([(cols, values) for cols, values in groups.items()])


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_the_fast_chunk_path_gives_the_plain_paths_rows_bit_for_bit(tmp_path: Path, name: str):
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(SWEEPS[name].format(base=tmp_path / "base.yaml"), encoding="utf-8")
    spec = read_sweep(path)
    base, points = base_with_set(spec), list(expand_inputs(spec))
    want = _plain_rows(base, "estimate", points)
    statuses = {v[c.index("status")] for c, vs in want.items() for v in vs}
    assert len(statuses) > 1 or name.startswith("samples"), statuses
    batch.MEMO.templates.clear()
    batch.MEMO.sections.clear()
    batch.MEMO.checks.clear()
    cold = analytic_chunk((base, "estimate", points))  # memos filled as the chunk runs
    warm = analytic_chunk((base, "estimate", points))  # every template and check already known
    halves = [analytic_chunk((base, "estimate", points[i::2])) for i in (0, 1)]  # other chunks, other orders
    assert _exact(cold) == _exact(want)
    assert _exact(warm) == _exact(want)
    assert _exact(halves[0]) == _exact(_plain_rows(base, "estimate", points[0::2]))
    assert _exact(halves[1]) == _exact(_plain_rows(base, "estimate", points[1::2]))


def test_a_mixed_chunk_of_key_sets_gives_the_plain_rows(tmp_path: Path):
    """Points that set different keys in one chunk (a resumed or hand-made chunk): each key set has its own
    shared mappings."""
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    from clustersim.scenario.loader import read_scenario_mapping

    base = read_scenario_mapping(tmp_path / "base.yaml")
    base["training"]["parallelism"]["dp"] = None
    points = list(enumerate([
        {"cluster.nodes": 2}, {"training.tokens": 2e11}, {"cluster.nodes": 4}, {"training.tokens": 3e11},
        {"cluster.nodes": 4, "training.tokens": 1e10}, {"name": "only the name"}, {"cluster.nodes": 0},
        {"checkpoint.write_gbyte_per_s": "fast"}, {"cluster.nodes": 8}, {"training.tokens": -1.0},
    ]))
    assert _exact(analytic_chunk((base, "estimate", points))) == _exact(_plain_rows(base, "estimate", points))
    assert _exact(analytic_chunk((base, "simulate", points))) == _exact(_plain_rows(base, "simulate", points))
