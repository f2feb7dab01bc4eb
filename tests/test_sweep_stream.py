"""Analytic sweeps streamed: points validated once in the worker, the main process only writes.

The streamed path must give what planning first gave: the same keys, one row per distinct scenario
under its lowest index whatever order chunks finish in, invalid points with their reasons, failed
tasks as ``failed`` rows under the point's own key (so that ``--resume`` runs them again).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clustersim.sweep import load_rows, run_sweep
from clustersim.sweep.executors import Outcome, SerialExecutor
from clustersim.sweep.expand import base_with_set, expand_inputs, plan_sweep
from clustersim.sweep.spec import read_sweep
from clustersim.sweep.store import prepare_rows
from clustersim.sweep.stream import Tally, analytic_chunk, row_of

from .test_sweep_estimate import BASE

#: Index 1 repeats index 0 (the same scenario), index 3 is invalid (no such GPU), index 4 repeats 3.
SWEEP = """\
name: streamed
base: {base}
mode: estimate
chunk_size: 2
set:
  training.parallelism.dp: null
zip:
  cluster.nodes: [2, 2, 4, 4, 4, 8]
  cluster.gpu: [h100-sxm-80gb, h100-sxm-80gb, h100-sxm-80gb, no-such-gpu, no-such-gpu, h100-sxm-80gb]
"""


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    base = tmp_path / "base.yaml"
    base.write_text(BASE, encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(SWEEP.format(base=base), encoding="utf-8")
    return path


def test_streamed_rows_keys_duplicates_and_invalid_points_match_planning(tmp_path, sweep):
    summary = run_sweep(sweep, tmp_path / "s.db", progress=False)
    plan = plan_sweep(read_sweep(sweep))
    rows = load_rows(tmp_path / "s.db")
    assert {r["point_key"]: r["point_index"] for r in rows if r["status"] != "invalid"} == {
        p.key: p.index for p in plan.valid}
    assert {r["point_key"]: r["point_index"] for r in rows if r["status"] == "invalid"} == {
        p.key: p.index for p in plan.invalid}
    assert [r["point_index"] for r in rows] == [0, 2, 3, 5]
    assert summary.duplicates == len(plan.duplicates) == 2
    assert summary.valid_points == len(plan.valid) == 3 and summary.ran == 3
    assert [(i["point_index"], i["inputs"]) for i in summary.invalid] == [(p.index, p.inputs) for p in plan.invalid]
    assert "no-such-gpu" in summary.invalid[0]["reason"]
    again = run_sweep(sweep, tmp_path / "s.db", resume=True, progress=False)
    assert again.ran == 0 and again.skipped == 3 and load_rows(tmp_path / "s.db") == rows


def test_the_lowest_index_wins_whatever_order_chunks_finish_in(sweep):
    spec = read_sweep(sweep)
    base, points = base_with_set(spec), list(expand_inputs(spec))
    chunks = [analytic_chunk((base, "estimate", points[i: i + 2])) for i in range(0, len(points), 2)]
    kept_in_order, kept_reversed = Tally(), Tally()
    forward = [kept_in_order.keep(c)[0] for c in chunks]
    backward = [kept_reversed.keep(c)[0] for c in reversed(chunks)]
    assert kept_in_order.first == kept_reversed.first
    assert kept_in_order.duplicates() == kept_reversed.duplicates() == [(1, 0), (4, 3)]
    assert sorted(kept_in_order.invalid) == sorted(kept_reversed.invalid) == [3]

    def indices(groups_list):
        return sorted(v[cols.index("point_index")] for g in groups_list for cols, vs in g.items() for v in vs)

    assert indices(forward) == [0, 2, 3, 5]
    assert indices(backward) == [0, 2, 3, 4, 5]  # 4 came first, then 3 replaced it (same key)


def test_a_tally_skips_what_a_previous_run_stored():
    rows = [row_of(0, {"x": 1}, "k0", "ok", None, {"y": 2.0}), row_of(1, {"x": 2}, "k1", "ok", None, {})]
    tally = Tally(done={"k0"})
    kept, ran = tally.keep(prepare_rows(rows))
    assert ran == 1 and [v[0] for vs in kept.values() for v in vs] == ["k1"] and tally.skipped == 1


class _FailingExecutor(SerialExecutor):
    """Every task fails, as a task whose worker raised would."""

    def run(self, fn, tasks):
        for task_id, _ in tasks:
            yield Outcome(task_id, error="RuntimeError: boom")


def test_a_failed_chunk_stores_failed_rows_under_the_points_keys_and_resume_runs_them(tmp_path, sweep):
    failed = run_sweep(sweep, tmp_path / "f.db", progress=False, executor=_FailingExecutor())
    rows = load_rows(tmp_path / "f.db")
    good = {p.key: p.index for p in plan_sweep(read_sweep(sweep)).valid}
    assert {r["point_key"]: r["point_index"] for r in rows if r["status"] == "failed"} == good
    assert all("boom" in r["error"] for r in rows if r["status"] == "failed")
    assert [r["status"] for r in rows if r["point_index"] == 3] == ["invalid"]
    assert len(failed.failed) == 3
    resumed = run_sweep(sweep, tmp_path / "f.db", resume=True, progress=False)
    assert resumed.ran == 3 and not resumed.failed
    run_sweep(sweep, tmp_path / "fresh.db", progress=False)
    assert load_rows(tmp_path / "f.db") == load_rows(tmp_path / "fresh.db")
