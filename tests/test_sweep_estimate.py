"""Analytic sweeps: chunks through the vectorized kernel, rows that match ``clustersim estimate``.

Every row must be what ``clustersim estimate --json`` says for that point; the chunked path must call
the kernel once per chunk, never once per point; rows must be identical on 1 worker, 2 workers, Dask,
and after a resume that re-chunks the missing points differently.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from clustersim.estimate import estimate
from clustersim.scenario import load_scenario
from clustersim.sweep import load_rows, run_sweep
from clustersim.sweep.expand import expand_points, plan_sweep
from clustersim.sweep.spec import read_sweep
from clustersim.sweep.tasks import flatten

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "scenarios" / "sweeps"

#: The tests' own base scenario (the shipped examples may change; these figures must not).
BASE = """\
name: sweep test base
model: llama3-8b
training:
  tokens: 1.0e11
  seq_len: 8192
  global_batch_seqs: 512
  parallelism: {tp: 2, pp: 1, dp: 32, zero: 1, sequence_parallel: true}
cluster:
  gpu: h100-sxm-80gb
  nodes: 8
  network: {nic_gbit_per_s: 400, nics_per_node: 8}
failures:
  node_mtbf_hours: 3692
  spare_nodes: 1
checkpoint:
  interval_minutes: auto
  write_gbyte_per_s: 20
  read_gbyte_per_s: 40
pricing:
  usd_per_gpu_hour: 2.99
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(BASE, encoding="utf-8")
    return path

GRID = """\
name: estimate grid
base: {base}
mode: estimate
chunk_size: 4
set:
  training.parallelism.dp: null
grid:
  cluster.nodes: [2, 4, 8]
  training.parallelism.tp: [1, 2, 4]
  failures.node_mtbf_hours: [1000, 8000]
objective: cost_usd
"""


@pytest.fixture
def grid(tmp_path: Path, base: Path) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(GRID.format(base=base), encoding="utf-8")
    return path


VARIANTS = {
    "no failures, async checkpoints": """\
base: {base}
set:
  failures: null
grid:
  cluster.nodes: [8, 16]
  checkpoint.async: [true, false]
  training.parallelism.dp: [null]
""",
    "spot preemptions only, fixed interval, no price": """\
base: {base}
set:
  failures: null
  pricing.preset: null
  pricing.spot.discount: 0.5
  checkpoint.interval_minutes: 45
grid:
  pricing.spot.preemptions_per_node_day: [0.0, 0.05]
""",
    "per-component failure preset, inline GPU": """\
base: {base}
set:
  failures.node_mtbf_hours: null
  failures.preset: llama3-405b
grid:
  cluster.gpu.preset: [h100-sxm-80gb, h200-sxm-141gb]
  cluster.gpu.memory_gib: [80, 141]
""",
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rows_match_clustersim_estimate_in_every_theory_branch(tmp_path, base, variant):
    path = tmp_path / "v.yaml"
    path.write_text(VARIANTS[variant].format(base=base), encoding="utf-8")
    run_sweep(path, tmp_path / "v.db", progress=False)
    rows = load_rows(tmp_path / "v.db")
    points = {p.index: p for p in expand_points(read_sweep(path))}
    assert rows and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    for row in rows:
        want = flatten(estimate(load_scenario(points[row["point_index"]].data)).to_dict())
        assert set(want) <= set(row)
        for key, value in want.items():
            assert _close(row[key], value), (key, row[key], value)


def _close(a: Any, b: Any) -> bool:
    if isinstance(b, bool):
        return bool(a) == b
    if isinstance(a, float) and isinstance(b, (int, float)):
        return a == pytest.approx(b, rel=1e-12, abs=1e-12)
    return bool(a == b)


def test_rows_match_clustersim_estimate_point_by_point(tmp_path, grid):
    summary = run_sweep(grid, tmp_path / "g.db", progress=False)
    rows = load_rows(tmp_path / "g.db")
    assert len(rows) == 18 and summary.ran == 18
    points = {p.index: p for p in expand_points(read_sweep(grid))}
    checked = 0
    for row in rows:
        if row["status"] != "ok":
            continue
        want = flatten(estimate(load_scenario(points[row["point_index"]].data)).to_dict())
        for key, value in want.items():
            assert _close(row[key], value), (key, row[key], value)
        checked += 1
    assert checked >= 12
    for col in ("train_days", "cost_usd", "mfu", "expected_goodput", "expected_wall_days", "expected_wall_cost_usd",
                "breakdown_compute_s", "memory_breakdown_weights_gib", "parallelism_tp", "gpu_name", "model_name"):
        assert col in rows[0], col
    # the expected cost is theory's wall time x the GPUs paid for (spares included) x the price
    r = next(r for r in rows if r["status"] == "ok")
    spares = 1 * 8  # the base: spare_nodes 1, 8 GPUs per node
    assert r["expected_wall_cost_usd"] == pytest.approx(r["expected_wall_days"] * 24 * (r["gpus"] + spares) * 2.99)
    assert summary.pareto_axes == ("expected_wall_days", "expected_wall_cost_usd")
    assert summary.best[0]["cost_usd"] == min(x["cost_usd"] for x in rows if x["status"] == "ok")


def test_the_kernel_runs_once_per_chunk(tmp_path, grid, monkeypatch):
    import clustersim.cost.kernel as kernel

    calls: list[int] = []
    real = kernel.evaluate

    def counting(inputs: Any, **options: Any) -> Any:
        calls.append(len(inputs.tp))
        return real(inputs, **options)

    monkeypatch.setattr(kernel, "evaluate", counting)
    monkeypatch.setattr(kernel, "evaluate_one", None)  # a per-point call would fail loudly
    run_sweep(grid, tmp_path / "g.db", progress=False)
    assert calls == [4, 4, 4, 4, 2]  # 18 points in chunks of 4: one kernel call each


def test_parallelism_auto_points_are_searched_and_infeasible_ones_reported(tmp_path, base):
    path = tmp_path / "auto.yaml"
    path.write_text(f"""\
base: {base}
set:
  training.parallelism: auto
zip:
  model: [llama3-8b, llama3-405b]
  cluster.nodes: [8, 1]
""", encoding="utf-8")
    summary = run_sweep(path, tmp_path / "a.db", progress=False)
    rows = load_rows(tmp_path / "a.db")
    assert [r["status"] for r in rows] == ["ok", "infeasible"]
    assert rows[0]["parallelism_searched"] == 1
    want = estimate(load_scenario(base, ["training.parallelism=auto"])).to_dict()
    assert rows[0]["step_time_s"] == pytest.approx(want["step_time_s"], rel=1e-12)
    assert rows[1]["error"] and summary.infeasible == 1


def test_one_two_workers_dask_and_resume_give_identical_rows(tmp_path, grid):
    pytest.importorskip("distributed")
    run_sweep(grid, tmp_path / "one.db", progress=False)
    run_sweep(grid, tmp_path / "two.db", workers=2, progress=False)
    run_sweep(grid, tmp_path / "dask.db", dask="local", workers=2, progress=False)
    one = load_rows(tmp_path / "one.db")
    assert one == load_rows(tmp_path / "two.db") == load_rows(tmp_path / "dask.db")
    conn = sqlite3.connect(tmp_path / "one.db")
    with conn:
        conn.execute("DELETE FROM points WHERE point_index % 3 = 1")  # holes in every chunk
    conn.close()
    summary = run_sweep(grid, tmp_path / "one.db", resume=True, progress=False)
    assert summary.ran == 6
    assert load_rows(tmp_path / "one.db") == one


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_example_sweeps_are_valid_and_expand(name):
    plan = plan_sweep(read_sweep(EXAMPLES / name))
    assert plan.valid and not plan.invalid, [p.reason for p in plan.invalid[:3]]


@pytest.mark.parametrize("name", ["quickstart-grid.yaml", "checkpoint-lhs.yaml"])
def test_small_example_sweeps_run(tmp_path, name):
    summary = run_sweep(EXAMPLES / name, tmp_path / "x.db", progress=False)
    assert summary.ok > 0 and not summary.failed and summary.best


@pytest.mark.parametrize("failures", [None, {"node_mtbf_hours": 1.0e4}, {"node_mtbf_hours": 0.01}])
def test_the_fast_row_has_every_field_of_estimate_json(failures):
    """The guard against drift: the column-wise row holds exactly the keys of flatten(Estimate.to_dict())
    (a field estimate gains must be added to the fast path), in every theory branch, cannot-finish too."""
    from clustersim.cost.inputs import stack
    from clustersim.cost.kernel import evaluate
    from clustersim.resolve import resolve_run
    from clustersim.sweep.rows import estimate_rows, slow_row

    data = yaml.safe_load(open("scenarios/quickstart.yaml", encoding="utf-8"))
    data.pop("failures", None)
    if failures is not None:
        data["failures"] = failures
    runs = [resolve_run(data)]
    kernel = evaluate(stack([r.inputs for r in runs]))
    fast = estimate_rows(runs, kernel)[0]
    one = {k: (bool(v[0]) if v.dtype.kind == "b" else float(v[0])) for k, v in kernel.items()}
    slow = slow_row(runs[0], one)
    assert set(fast) == set(slow)
    for key, value in slow.items():
        assert fast[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), key
    if failures == {"node_mtbf_hours": 0.01}:
        assert fast["cannot_finish"] and fast["expected_wall_days"] is None


SAMPLE = """\
base: {base}
set:
  training.parallelism.dp: null
grid:
  cluster.nodes: [2, 8]
  training.parallelism.tp: [1, 2, 3, 8]
  training.micro_batch_seqs: [1, 16]
zip:
  training.tokens: [1.0e10, 3.3e11]
  failures.node_mtbf_hours: [20.0, 9000.0]
  pricing.usd_per_gpu_hour: [1.5, 7.25]
"""


def test_batched_rows_equal_estimate_json_values_refusals_included(tmp_path, base):
    """The worker's batched path (memoized checks, resolution templates, stacked inputs, column-wise
    interval) gives, point by point, the values of ``clustersim estimate --json`` (rtol 1e-12), and the
    same refusal for a point validation refuses (tp 3: 32 heads) or estimate refuses (16 sequences of 8k
    per micro-batch do not fit)."""
    from clustersim.errors import InfeasibleError, ScenarioError
    from clustersim.sweep import batch
    from clustersim.sweep.expand import apply_inputs, base_with_set, describe_problems, expand_inputs
    from clustersim.sweep.stream import analytic_chunk

    path = tmp_path / "sample.yaml"
    path.write_text(SAMPLE.format(base=base), encoding="utf-8")
    spec = read_sweep(path)
    base_map, points = base_with_set(spec), list(expand_inputs(spec))
    batch.MEMO.templates.clear()
    groups = analytic_chunk((base_map, "estimate", points))
    assert len(batch.MEMO.templates) < 16  # the points share templates: the memo path ran
    rows = {v[c.index("point_index")]: dict(zip(c, v, strict=True)) for c, vs in groups.items() for v in vs}
    assert sorted(rows) == list(range(len(points))) == list(range(32))
    seen = {"ok": 0, "invalid": 0, "infeasible": 0}
    for index, inputs in points:
        row, data = rows[index], apply_inputs(base_map, inputs)
        seen[row["status"]] += 1
        if row["status"] == "invalid":
            with pytest.raises(ScenarioError) as refused:
                load_scenario(data)
            assert row["error"] == describe_problems(refused.value.items)
            continue
        scenario = load_scenario(data)
        if row["status"] == "infeasible":
            with pytest.raises(InfeasibleError) as refused:
                estimate(scenario)
            assert f"{scenario.name}: {row['error']}" == str(refused.value)
            want = flatten(estimate(scenario, feasible_only=False).to_dict())
        else:
            want = flatten(estimate(scenario).to_dict())
        assert set(want) <= set(row)
        for key, value in want.items():
            assert _close(row[key], value), (index, key, row[key], value)
    assert all(seen.values()), seen


def test_stack_inputs_gives_the_arrays_of_inputs_stack(base):
    """The sweep's stacking (one attrgetter per item) and clustersim.cost.inputs.stack: the same arrays,
    dtypes included; and ``amended`` changes only the fields it is given."""
    import numpy as np

    from clustersim.cost.inputs import INPUTS, stack
    from clustersim.resolve import resolve_run
    from clustersim.sweep.batch import amended
    from clustersim.sweep.rows import stack_inputs

    one = resolve_run(load_scenario(base)).inputs
    two = amended(one, tokens=2.5e11, usd_per_gpu_hour=4.0)
    assert two == one.replace(tokens=2.5e11, usd_per_gpu_hour=4.0) and one.tokens == 1.0e11
    want, got = stack([one, two, one]), stack_inputs([one, two, one])
    for name in INPUTS:
        a, b = getattr(want, name), getattr(got, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
