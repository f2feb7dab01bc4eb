"""Sweep files: validation with file:line errors, expansion, sampling, keys, the SQLite store, answers."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from clustersim.errors import ClustersimError, ScenarioError
from clustersim.scenario import load_scenario
from clustersim.sweep.expand import expand_points, plan_sweep, point_key, sample_values, set_dotted
from clustersim.sweep.spec import SamplesSpec, check_dotted_key, read_sweep
from clustersim.sweep.store import ResultStore, export_results, load_rows
from clustersim.sweep.summary import Objective, best_rows, pareto_front, parse_objective
from tests.conftest import VALID


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(VALID, encoding="utf-8")
    return path


def sweep_file(tmp_path: Path, body: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_grid_zip_samples_expand_to_the_product(tmp_path, base):
    path = sweep_file(tmp_path, """\
base: base.yaml
set:
  training.parallelism.dp: null
grid:
  cluster.nodes: [2, 4]
  training.seq_len: [2048, 4096, 8192]
zip:
  model: [llama3-8b, llama2-7b]
  training.tokens: [1.0e9, 2.0e9]
samples:
  n: 4
  ranges:
    failures.node_mtbf_hours: {low: 1000, high: 9000}
""")
    sweep = read_sweep(path)
    points = list(expand_points(sweep))
    assert len(points) == 2 * 3 * 2 * 4 == sweep.spec.point_count()
    assert [p.index for p in points] == list(range(len(points)))
    first = points[0]
    assert first.inputs["cluster.nodes"] == 2 and first.inputs["training.seq_len"] == 2048
    assert first.inputs["model"] == "llama3-8b" and first.inputs["training.tokens"] == 1.0e9
    assert first.data["cluster"]["nodes"] == 2
    assert first.data["training"]["parallelism"]["dp"] is None
    # the zip lists move together; the last grid key varies fastest
    assert {(p.inputs["model"], p.inputs["training.tokens"]) for p in points} == {
        ("llama3-8b", 1.0e9), ("llama2-7b", 2.0e9)}
    assert points[8].inputs["training.seq_len"] == 4096
    plan = plan_sweep(sweep)
    assert len(plan.valid) == len(points) and not plan.invalid
    assert plan.input_keys == ["cluster.nodes", "training.seq_len", "model", "training.tokens",
                               "failures.node_mtbf_hours"]


def test_invalid_points_are_listed_with_their_reason_not_raised(tmp_path, base):
    # the base fixes dp = 4 on 16 GPUs: 4 nodes give 32 GPUs, so those points are invalid
    path = sweep_file(tmp_path, "base: base.yaml\ngrid:\n  cluster.nodes: [2, 4]\n  cluster.gpu: [h100-sxm-80gb, nope-gpu]\n")
    plan = plan_sweep(read_sweep(path))
    assert [p.index for p in plan.valid] == [0]
    reasons = {p.index: p.reason for p in plan.invalid}
    assert set(reasons) == {1, 2, 3}
    assert "nope-gpu" in reasons[1] and "cluster.gpu" in reasons[1]
    assert "tp*pp*dp*cp" in reasons[2]


def test_sweep_file_errors_have_file_line_and_suggestions(tmp_path, base):
    path = sweep_file(tmp_path, """\
base: base.yaml
mode: simulat
gird:
  cluster.nodes: [4]
grid:
  cluster.nodez: [2, 4]
samples:
  n: 3
  ranges:
    failures.node_mtbf_hours: {low: 1000, high: 20}
    cluster.nodes: {low: 1, high: 4, integer: true}
""")
    with pytest.raises(ScenarioError) as info:
        read_sweep(path)
    text = info.value.render()
    items = {i.path: i for i in info.value.items}
    assert items["mode"].line == 2
    assert items["gird"].line == 3 and "grid" in (items["gird"].hint or "")
    assert "cluster.nodes" in items["grid.cluster.nodez"].message and items["grid.cluster.nodez"].line == 6
    assert items["samples.ranges.failures.node_mtbf_hours"].line == 10
    assert f"{path}:2:" in text


def test_same_key_in_two_sections_and_unequal_zip_are_errors(tmp_path, base):
    path = sweep_file(tmp_path, "base: base.yaml\ngrid:\n  cluster.nodes: [2]\nset:\n  cluster.nodes: 2\n")
    with pytest.raises(ScenarioError, match="already given"):
        read_sweep(path)
    path = sweep_file(tmp_path, "base: base.yaml\nzip:\n  cluster.nodes: [2, 4]\n  model: [llama3-8b]\n")
    with pytest.raises(ScenarioError, match="equal lengths"):
        read_sweep(path)


def test_missing_base_is_located(tmp_path):
    path = sweep_file(tmp_path, "name: x\nbase: nowhere.yaml\ngrid:\n  cluster.nodes: [2]\n")
    with pytest.raises(ScenarioError) as info:
        read_sweep(path)
    assert info.value.items[0].line == 2 and info.value.items[0].path == "base"


@pytest.mark.parametrize("key, ok", [
    ("cluster.nodes", True), ("cluster.network.oversubscription", True), ("model.layers", True),
    ("cluster.gpu.peak_tflops.bf16", True), ("training.parallelism.tp", True), ("checkpoint.async", True),
    ("cluster.nodez", False), ("cluster.nodes.x", False), ("training..tp", False), ("nothing", False),
])
def test_dotted_keys_are_checked_against_the_scenario_format(key, ok):
    assert (check_dotted_key(key) is None) == ok


def test_set_dotted_follows_set_rules():
    data = {"model": "llama3-8b", "training": {"parallelism": "auto"}}
    set_dotted(data, "model.layers", 4)
    set_dotted(data, "training.parallelism.tp", 2)
    set_dotted(data, "failures.node_mtbf_hours", 100)
    assert data == {"model": {"preset": "llama3-8b", "layers": 4}, "training": {"parallelism": {"tp": 2}},
                    "failures": {"node_mtbf_hours": 100}}
    with pytest.raises(ScenarioError):
        set_dotted({"cluster": {"nodes": 2}}, "cluster.nodes.x", 1)


def test_latin_hypercube_puts_one_point_in_each_stratum():
    spec = SamplesSpec.model_validate({"n": 50, "method": "lhs", "ranges": {
        "failures.node_mtbf_hours": {"low": 100, "high": 10000, "log": True},
        "checkpoint.write_gbyte_per_s": {"low": 10, "high": 60},
        "cluster.nodes": {"low": 2, "high": 51, "integer": True}}})
    rows = sample_values(spec, seed=3)
    w = sorted(r["checkpoint.write_gbyte_per_s"] for r in rows)
    assert [int((x - 10) / 1.0) for x in w] == list(range(50))  # 50 strata of width 1, one point each
    assert sorted(r["cluster.nodes"] for r in rows) == list(range(2, 52))
    import math
    logs = sorted(math.log(r["failures.node_mtbf_hours"] / 100) / math.log(100) * 50 for r in rows)
    assert [int(v) for v in logs] == list(range(50))
    # reproducible, and keyed per input: adding an input leaves the others' draws unchanged
    assert sample_values(spec, seed=3) == rows
    assert sample_values(spec, seed=4) != rows
    more = SamplesSpec.model_validate({**spec.model_dump(), "ranges": {
        **spec.model_dump()["ranges"], "checkpoint.async": {"choices": [True, False]}}})
    again = sample_values(more, seed=3)
    assert [r["cluster.nodes"] for r in again] == [r["cluster.nodes"] for r in rows]
    assert {r["checkpoint.async"] for r in again} == {True, False}


def test_random_samples_stay_in_range():
    spec = SamplesSpec.model_validate({"n": 200, "method": "random", "ranges": {
        "cluster.nodes": {"low": 3, "high": 5, "integer": True, "log": True},
        "training.tokens": {"low": 1e9, "high": 2e9}}})
    rows = sample_values(spec, seed=0)
    assert {r["cluster.nodes"] for r in rows} == {3, 4, 5}
    assert all(1e9 <= r["training.tokens"] <= 2e9 for r in rows)


def test_point_key_ignores_name_and_order_but_not_content_seed_or_mode():
    a = load_scenario({"name": "a", "model": "llama3-8b", "training": {"tokens": 1e9},
                       "cluster": {"gpu": "h100-sxm-80gb", "nodes": 2}})
    b = load_scenario({"cluster": {"nodes": 2, "gpu": "h100-sxm-80gb"}, "training": {"tokens": 1.0e9},
                       "model": "llama3-8b", "name": "b"})
    assert point_key(a, "estimate") == point_key(b, "estimate")
    assert len(point_key(a, "estimate")) == 64
    assert point_key(a, "estimate") != point_key(a, "simulate")
    assert point_key(a, "estimate") != point_key(load_scenario(a, ["simulation.seed=1"]), "estimate")
    assert point_key(a, "estimate") != point_key(load_scenario(a, ["cluster.nodes=4"]), "estimate")


def test_duplicate_points_run_once(tmp_path, base):
    path = sweep_file(tmp_path, "base: base.yaml\ngrid:\n  cluster.nodes: [2, 2]\n")
    plan = plan_sweep(read_sweep(path))
    assert len(plan.valid) == 1 and plan.duplicates == [(1, 0)]


def test_store_writes_reads_and_exports(tmp_path):
    db = tmp_path / "r.db"
    with ResultStore(db) as store:
        store.set_meta({"input_keys": ["cluster.nodes", "model"], "mode": "estimate"})
        store.write([{"point_key": "k1", "point_index": 1, "status": "ok", "error": None, "cluster.nodes": 4,
                      "model": "llama3-8b", "train_days": 2.5, "cost_usd": 10.0},
                     {"point_key": "k0", "point_index": 0, "status": "invalid", "error": "bad", "cluster.nodes": 2,
                      "model": {"preset": "x"}}])
        store.write([{"point_key": "k2", "point_index": 2, "status": "failed", "error": "died", "cluster.nodes": 8,
                      "model": "llama3-8b", "new_output": 1}])
        assert store.done_keys() == {"k0", "k1"}
        mode = store.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    rows = load_rows(db)
    assert [r["point_index"] for r in rows] == [0, 1, 2]
    assert list(rows[0])[:6] == ["point_index", "point_key", "status", "error", "cluster.nodes", "model"]
    assert rows[0]["model"] == '{"preset":"x"}' and rows[0]["train_days"] is None
    assert rows[1]["train_days"] == 2.5 and rows[2]["new_output"] == 1
    assert [r["point_index"] for r in load_rows(db, status="ok")] == [1]
    out = tmp_path / "r.csv"
    assert export_results(db, out) == 3
    with open(out, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert table[1]["train_days"] == "2.5" and table[0]["train_days"] == ""
    with pytest.raises(ClustersimError):
        export_results(db, tmp_path / "r.xlsx")


def test_store_refuses_a_file_that_is_not_a_database(tmp_path):
    bad = tmp_path / "x.db"
    bad.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ClustersimError):
        ResultStore(bad)
    with pytest.raises(ClustersimError):
        load_rows(tmp_path / "missing.db")
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ClustersimError):
        load_rows(tmp_path / "other.db")


def test_pareto_front_and_best_rows():
    rows = [{"point_index": i, "status": "ok", "d": d, "c": c} for i, (d, c) in
            enumerate([(1, 9), (2, 5), (3, 6), (4, 1), (2, 5), (5, 1), (1.5, 9)])]
    rows.append({"point_index": 9, "status": "failed", "d": 0, "c": 0})
    rows.append({"point_index": 10, "status": "ok", "d": None, "c": 0})
    front = pareto_front(rows, "d", "c")
    assert [r["point_index"] for r in front] == [0, 1, 3]
    # nothing on the front is dominated; everything off it is
    ok = [r for r in rows if r["status"] == "ok" and r["d"] is not None]
    for r in ok:
        dominated = any(o["d"] <= r["d"] and o["c"] <= r["c"] and (o["d"], o["c"]) != (r["d"], r["c"]) for o in ok)
        assert dominated == (r["point_index"] not in {0, 1, 3} and (r["d"], r["c"]) != (2, 5))
    assert [r["point_index"] for r in best_rows(rows, Objective("c", False), top=3)] == [10, 3, 5]
    assert [r["point_index"] for r in best_rows(rows, Objective("d", True), top=2)] == [5, 3]


def test_objective_parsing():
    assert parse_objective(None, "estimate") == Objective("train_days", False)
    assert parse_objective("goodput_mean", "simulate").maximise
    assert not parse_objective("min:mfu", "estimate").maximise
    with pytest.raises(ClustersimError, match="did you mean cost_usd"):
        parse_objective("cost_ud", "estimate")
    with pytest.raises(ClustersimError):
        parse_objective("wall_days_mean", "estimate")


def test_a_swept_key_replaces_the_alternative_it_stands_for(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(VALID.replace("  node_mtbf_hours: 5000\n", "  preset: llama3-405b\n"), encoding="utf-8")
    path = sweep_file(tmp_path, """\
base: base.yaml
grid:
  failures.node_mtbf_hours: [500, 5000]
  pricing.preset: [lambda-h100-2026]
""")
    plan = plan_sweep(read_sweep(path))
    assert not plan.invalid and len(plan.valid) == 2  # no "give one of node_mtbf_hours, preset, sources"
    points = list(expand_points(read_sweep(path)))
    assert all("preset" not in p.data["failures"] and "usd_per_gpu_hour" not in p.data["pricing"] for p in points)
    assert [p.data["failures"]["node_mtbf_hours"] for p in points] == [500, 5000]


def test_estimate_mode_warns_that_it_cannot_see_spares(tmp_path, base):
    from clustersim.sweep.expand import mode_warnings

    blind = sweep_file(tmp_path, "base: base.yaml\nmode: estimate\ngrid:\n  failures.spare_nodes: [0, 1, 2]\n")
    assert "cannot see what failures.spare_nodes" in mode_warnings(read_sweep(blind))[0]
    sim = sweep_file(tmp_path, "base: base.yaml\nmode: simulate\ngrid:\n  failures.spare_nodes: [0, 1]\n", "s.yaml")
    assert mode_warnings(read_sweep(sim)) == []


def test_export_of_a_finished_database_runs_nothing(tmp_path, base):
    from click.testing import CliRunner

    from clustersim.cli import cli

    path = sweep_file(tmp_path, "base: base.yaml\nmode: estimate\ngrid:\n  failures.spare_nodes: [0, 1]\n")
    db, out = tmp_path / "a.db", tmp_path / "a.csv"
    first = CliRunner().invoke(cli, ["sweep", str(path), "--out", str(db), "--workers", "1"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli, ["sweep", str(path), "--out", str(db), "--export", str(out)])
    assert again.exit_code == 0, again.output  # no "already holds 2 results; pass --resume"
    assert "nothing run" in again.output
    assert len(list(csv.DictReader(out.read_text().splitlines()))) == 2
