"""Running sweeps: executors, identical rows on 1 or N workers or Dask, killed workers, kill and resume.

The simulated points here use a stand-in simulation (``fake_simulate``): deterministic from the
scenario and its seed like the real one, but instant, so these tests exercise the sweep machinery
(executors, store, resume) in seconds. Workers import it from this module.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clustersim.errors import ClustersimError, InfeasibleError
from clustersim.rng import stream
from clustersim.scenario import Scenario
from clustersim.sweep import load_rows, run_sweep
from clustersim.sweep.executors import ProcessExecutor, SerialExecutor
from tests.conftest import VALID

REPO = Path(__file__).resolve().parents[1]
MARKER_ENV = "CLUSTERSIM_TEST_KILL_MARKER"


def _stats(x: np.ndarray) -> dict[str, Any]:
    half = 1.96 * float(x.std(ddof=1)) / np.sqrt(len(x))
    return {"mean": float(x.mean()), "p50": float(np.percentile(x, 50)), "p90": float(np.percentile(x, 90)),
            "p99": float(np.percentile(x, 99)), "mean_ci95": [float(x.mean()) - half, float(x.mean()) + half]}


def fake_simulate(s: Scenario) -> dict[str, Any]:
    """A stand-in for clustersim.simulate: seeded by the scenario, shaped like its to_dict()."""
    if s.cluster.nodes == 8 and s.failures is not None and s.failures.node_mtbf_hours == 1000:
        raise InfeasibleError("8 nodes at 1000 h MTBF never finish (stand-in rule)")
    rng = stream(s.simulation.seed, 0, "fake-simulate")
    days = 1000.0 / s.gpus
    mtbf = s.failures.node_mtbf_hours if s.failures is not None and s.failures.node_mtbf_hours else 1e9
    wall = days * (1.0 + rng.exponential(100.0 / mtbf, size=s.simulation.replicas))
    price = s.usd_per_gpu_hour() or 0.0
    return {"name": s.name, "gpus": s.gpus, "train_days": days, "cost_usd": days * 24 * s.gpus * price,
            "wall_days": _stats(wall), "wall_cost_usd": _stats(wall * 24 * s.gpus * price),
            "goodput": _stats(days / wall), "interruptions": _stats(wall - days),
            "time_breakdown_days": {"productive": {"mean": days, "p50": days}},
            "samples": {"wall_days": wall.tolist()}, "timeline": [{"start_s": 0, "end_s": 1, "state": "running"}],
            "clustersim_version": "test", "replicas": s.simulation.replicas, "seed": s.simulation.seed}


def slow_simulate(s: Scenario) -> dict[str, Any]:
    time.sleep(0.3)
    return fake_simulate(s)


def kill_once_simulate(s: Scenario) -> dict[str, Any]:
    """Kills its own worker the first time it runs the 4-node, 5000 h point."""
    marker = Path(os.environ[MARKER_ENV])
    if s.cluster.nodes == 4 and s.failures is not None and s.failures.node_mtbf_hours == 5000 \
            and not marker.exists():
        marker.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return fake_simulate(s)


def always_kill_simulate(s: Scenario) -> dict[str, Any]:
    if s.cluster.nodes == 4 and s.failures is not None and s.failures.node_mtbf_hours == 5000:
        os.kill(os.getpid(), signal.SIGKILL)
    return fake_simulate(s)


def buggy_simulate(s: Scenario) -> dict[str, Any]:
    if s.cluster.nodes == 16:
        raise ZeroDivisionError("a bug in the simulation")
    return fake_simulate(s)


SWEEP = """\
name: test sweep
base: base.yaml
mode: simulate
set:
  training.parallelism.dp: null
  simulation.replicas: 20
grid:
  cluster.nodes: [2, 4, 8, 16]
  failures.node_mtbf_hours: [1000, 5000]
objective: wall_cost_usd_mean
"""


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(VALID, encoding="utf-8")
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP, encoding="utf-8")
    return path


def rows_of(db: Path) -> list[dict[str, Any]]:
    return load_rows(db)


def test_simulated_sweep_serial_rows_statuses_and_answers(tmp_path, sweep):
    summary = run_sweep(sweep, tmp_path / "a.db", progress=False, simulate_fn=fake_simulate)
    rows = rows_of(tmp_path / "a.db")
    assert len(rows) == 8 and summary.ran == 8 and summary.total_points == 8
    assert [r["point_index"] for r in rows] == list(range(8))
    assert {r["status"] for r in rows} == {"ok", "infeasible"}
    infeasible = [r for r in rows if r["status"] == "infeasible"]
    assert len(infeasible) == 1 and infeasible[0]["cluster.nodes"] == 8 and "never finish" in infeasible[0]["error"]
    ok = rows[0]
    assert ok["cluster.nodes"] == 2 and ok["failures.node_mtbf_hours"] == 1000
    for col in ("wall_days_mean", "wall_days_p90", "wall_days_mean_ci95_lo", "goodput_mean",
                "time_breakdown_productive_days_mean", "train_days", "gpus"):
        assert col in ok, col
    assert "samples" not in ok and "timeline" not in ok and "clustersim_version" not in ok
    assert ok["gpus"] == 16
    assert summary.ok == 7 and summary.infeasible == 1 and not summary.failed
    # the best by wall_cost_usd_mean is the cheapest ok row; the Pareto front is non-dominated
    costs = {r["point_index"]: r["wall_cost_usd_mean"] for r in rows if r["status"] == "ok"}
    assert summary.best[0]["point_index"] == min(costs, key=lambda i: costs[i])
    front = summary.pareto
    assert front and all(a["wall_days_mean"] < b["wall_days_mean"] and a["wall_cost_usd_mean"] > b["wall_cost_usd_mean"]
                         for a, b in zip(front, front[1:], strict=False))


def test_one_worker_and_two_workers_give_identical_rows(tmp_path, sweep):
    run_sweep(sweep, tmp_path / "one.db", progress=False, simulate_fn=fake_simulate)
    summary = run_sweep(sweep, tmp_path / "two.db", workers=2, progress=False, simulate_fn=fake_simulate)
    assert summary.executor == "processes" and summary.workers == 2
    assert rows_of(tmp_path / "one.db") == rows_of(tmp_path / "two.db")


def test_a_worker_killed_mid_task_is_retried(tmp_path, sweep, monkeypatch):
    monkeypatch.setenv(MARKER_ENV, str(tmp_path / "marker"))
    run_sweep(sweep, tmp_path / "ref.db", progress=False, simulate_fn=fake_simulate)
    summary = run_sweep(sweep, tmp_path / "k.db", workers=2, progress=False, simulate_fn=kill_once_simulate)
    assert (tmp_path / "marker").exists()  # the worker really was killed once
    assert not summary.failed
    assert rows_of(tmp_path / "k.db") == rows_of(tmp_path / "ref.db")


def test_a_point_that_always_kills_its_worker_is_reported_not_lost(tmp_path, sweep):
    summary = run_sweep(sweep, tmp_path / "k.db", workers=2, progress=False, simulate_fn=always_kill_simulate)
    rows = rows_of(tmp_path / "k.db")
    assert len(rows) == 8
    failed = [r for r in rows if r["status"] == "failed"]
    assert [(r["cluster.nodes"], r["failures.node_mtbf_hours"]) for r in failed] == [(4, 5000)]
    assert "worker process died" in failed[0]["error"]
    assert [f["point_index"] for f in summary.failed] == [failed[0]["point_index"]]
    assert sum(r["status"] == "ok" for r in rows) == 6  # its neighbours all finished


def test_a_task_bug_is_a_failed_row_with_its_traceback_and_resume_retries_it(tmp_path, sweep):
    db = tmp_path / "b.db"
    summary = run_sweep(sweep, db, progress=False, simulate_fn=buggy_simulate)
    failed = [r for r in rows_of(db) if r["status"] == "failed"]
    assert len(failed) == 2 and all("ZeroDivisionError" in r["error"] for r in failed)
    assert len(summary.failed) == 2
    summary = run_sweep(sweep, db, resume=True, progress=False, simulate_fn=fake_simulate)
    assert summary.ran == 2 and summary.skipped == 6 and not summary.failed
    run_sweep(sweep, tmp_path / "ref.db", progress=False, simulate_fn=fake_simulate)
    assert rows_of(db) == rows_of(tmp_path / "ref.db")


def test_resume_runs_only_missing_points_and_refuses_to_overwrite(tmp_path, sweep):
    db = tmp_path / "r.db"
    run_sweep(sweep, db, progress=False, simulate_fn=fake_simulate)
    full = rows_of(db)
    with pytest.raises(ClustersimError, match="--resume"):
        run_sweep(sweep, db, progress=False, simulate_fn=fake_simulate)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM points WHERE point_index IN (1, 5, 6)")
    conn.close()
    summary = run_sweep(sweep, db, resume=True, progress=False, simulate_fn=fake_simulate)
    assert summary.ran == 3 and summary.skipped == 5
    assert rows_of(db) == full
    summary = run_sweep(sweep, db, resume=True, progress=False, simulate_fn=fake_simulate)
    assert summary.ran == 0 and summary.executor == "none"


def test_resume_refuses_a_database_of_another_sweep(tmp_path, sweep):
    db = tmp_path / "r.db"
    run_sweep(sweep, db, progress=False, simulate_fn=fake_simulate)
    other = sweep.with_name("other.yaml")
    other.write_text(SWEEP.replace("failures.node_mtbf_hours", "failures.repair_hours"), encoding="utf-8")
    with pytest.raises(ClustersimError, match="varies"):
        run_sweep(other, db, resume=True, progress=False, simulate_fn=fake_simulate)


def test_executors_yield_every_task_once():
    tasks = [(str(i), i) for i in range(7)]
    serial = sorted((o.task_id, o.value) for o in SerialExecutor().run(abs, tasks))
    with ProcessExecutor(2) as ex:
        pooled = sorted((o.task_id, o.value) for o in ex.run(abs, tasks))
    assert serial == pooled == sorted((str(i), i) for i in range(7))
    errors = list(SerialExecutor().run(int, [("x", "not a number")]))
    assert errors[0].value is None and "ValueError" in (errors[0].error or "")


def _start_sweep_and_wait_for_rows(sweep: Path, db: Path, rows: int) -> subprocess.Popen[bytes]:
    """Run 18 slow simulated points with 2 workers in a new process group; return once ``rows`` are stored."""
    more = (SWEEP.replace("[2, 4, 8, 16]", "[2, 4, 8, 16, 32, 64]").replace("[1000, 5000]", "[1000, 2000, 5000]")
            .replace("  simulation.replicas: 20", "  simulation.replicas: 20\n  training.global_batch_seqs: 512"))
    sweep.write_text(more, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "clustersim.sweep", str(sweep), "--out", str(db), "--workers", "2", "--no-progress",
         "--task", "tests.test_sweep_run:slow_simulate"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = sqlite3.connect(db)
            done = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
            conn.close()
        except sqlite3.Error:
            done = 0
        if done >= rows:
            break
        time.sleep(0.05)
    return proc


def _resume_matches_a_whole_run(tmp_path: Path, sweep: Path, db: Path) -> None:
    saved = rows_of(db)
    assert 3 <= len(saved) < 18  # stopped mid-way, with finished points stored
    summary = run_sweep(sweep, db, resume=True, workers=2, progress=False, simulate_fn=fake_simulate)
    assert summary.skipped == len(saved) and summary.ran == 18 - len(saved)
    run_sweep(sweep, tmp_path / "whole.db", progress=False, simulate_fn=fake_simulate)
    assert rows_of(db) == rows_of(tmp_path / "whole.db")


def test_a_killed_sweep_resumes_to_the_same_table(tmp_path, sweep):
    """SIGKILL the whole sweep (main process and workers) once some rows exist, then resume."""
    db = tmp_path / "killed.db"
    proc = _start_sweep_and_wait_for_rows(sweep, db, 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    _resume_matches_a_whole_run(tmp_path, sweep, db)


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, sweep):
    """SIGINT to the process group (what Ctrl-C in a terminal sends): exit 130, rows kept, resume finishes."""
    db = tmp_path / "interrupted.db"
    proc = _start_sweep_and_wait_for_rows(sweep, db, 3)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and b"--resume" in err, err
    _resume_matches_a_whole_run(tmp_path, sweep, db)


def test_dask_local_cluster_gives_the_same_rows(tmp_path, sweep):
    pytest.importorskip("distributed")
    run_sweep(sweep, tmp_path / "serial.db", progress=False, simulate_fn=fake_simulate)
    summary = run_sweep(sweep, tmp_path / "dask.db", dask="local", workers=2, progress=False,
                        simulate_fn=fake_simulate)
    assert summary.executor == "dask local" and summary.workers == 2
    assert rows_of(tmp_path / "dask.db") == rows_of(tmp_path / "serial.db")


def test_progress_bar_summary_rendering_and_export(tmp_path, sweep, capsys):
    from rich.console import Console

    from clustersim.sweep import export_results, render_summary

    summary = run_sweep(sweep, tmp_path / "p.db", progress=True, simulate_fn=fake_simulate)
    err = capsys.readouterr().err
    assert "8/8" in err and "pts/s" in err
    console = Console(record=True, width=200)
    console.print(*render_summary(summary))
    text = console.export_text()
    assert "8 points (8 valid, 0 invalid)" in text and "7 ok, 1 infeasible, 0 failed" in text
    assert "best 5 by min wall_cost_usd_mean" in text and "Pareto front: wall_days_mean vs wall_cost_usd_mean" in text
    assert summary.to_dict()["ran"] == 8
    assert export_results(tmp_path / "p.db", tmp_path / "p.csv") == 8
    header = (tmp_path / "p.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["point_index", "point_key", "status", "error", "cluster.nodes", "failures.node_mtbf_hours"]


def test_module_entry_point_reports_sweep_errors_with_exit_2(tmp_path, sweep):
    from clustersim.sweep.__main__ import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("base: base.yaml\ngrid:\n  cluster.nodez: [1]\n", encoding="utf-8")
    assert main([str(bad), "--out", str(tmp_path / "x.db"), "--no-progress"]) == 2
    assert main([str(sweep), "--out", str(tmp_path / "y.db"), "--no-progress", "--export", str(tmp_path / "y.csv"),
                 "--task", "tests.test_sweep_run:fake_simulate"]) == 0
    assert (tmp_path / "y.csv").exists()


def test_dask_reschedules_a_task_whose_worker_was_killed(tmp_path, sweep, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv(MARKER_ENV, str(tmp_path / "marker"))
    run_sweep(sweep, tmp_path / "ref.db", progress=False, simulate_fn=fake_simulate)
    summary = run_sweep(sweep, tmp_path / "k.db", dask="local", workers=2, progress=False,
                        simulate_fn=kill_once_simulate)
    assert (tmp_path / "marker").exists() and not summary.failed
    assert rows_of(tmp_path / "k.db") == rows_of(tmp_path / "ref.db")


def test_dask_reports_a_point_that_keeps_killing_its_worker(tmp_path, sweep):
    dask = pytest.importorskip("dask")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        summary = run_sweep(sweep, tmp_path / "k.db", dask="local", workers=2, progress=False,
                            simulate_fn=always_kill_simulate)
    rows = rows_of(tmp_path / "k.db")
    failed = [r for r in rows if r["status"] == "failed"]
    assert [(r["cluster.nodes"], r["failures.node_mtbf_hours"]) for r in failed] == [(4, 5000)]
    assert "KilledWorker" in failed[0]["error"] and len(summary.failed) == 1
    assert sum(r["status"] == "ok" for r in rows) == 6


def test_a_sweep_runs_on_an_existing_dask_scheduler(tmp_path, sweep):
    distributed = pytest.importorskip("distributed")
    import logging

    run_sweep(sweep, tmp_path / "serial.db", progress=False, simulate_fn=fake_simulate)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster:
        summary = run_sweep(sweep, tmp_path / "remote.db", scheduler=cluster.scheduler_address, progress=False,
                            simulate_fn=fake_simulate)
        assert summary.executor == f"dask {cluster.scheduler_address}" and summary.workers == 2
        assert len(cluster.scheduler.workers) == 2  # the sweep closed its client, not the cluster
    assert rows_of(tmp_path / "remote.db") == rows_of(tmp_path / "serial.db")
    with pytest.raises(ClustersimError, match="--scheduler"):
        run_sweep(sweep, tmp_path / "x.db", dask="remote", progress=False, simulate_fn=fake_simulate)
