"""The sweep store and executors with hostile surroundings: a foreign SQLite file, two writers, a killed
main process; and analytic chunks sized by time as well as by count."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from clustersim.errors import ClustersimError
from clustersim.sweep import runner
from clustersim.sweep.store import ResultStore, load_rows

REPO = Path(__file__).resolve().parents[1]


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_an_unrelated_sqlite_file_is_refused_untouched(tmp_path):
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    with pytest.raises(ClustersimError, match="not a clustersim sweep's"):
        ResultStore(db)
    assert _tables(db) == {"users"}
    with pytest.raises(ClustersimError, match="not a clustersim sweep's"):
        load_rows(db)


def test_a_foreign_points_table_is_refused(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE points (x REAL, y REAL)")
        conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    with pytest.raises(ClustersimError, match="lacks"):
        ResultStore(db)
    with pytest.raises(ClustersimError, match="lacks"):
        load_rows(db)
    assert _tables(db) == {"points", "meta"}


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path):
    db = tmp_path / "sweep.db"
    first = ResultStore(db)
    try:
        with pytest.raises(ClustersimError, match="another running sweep"):
            ResultStore(db)
        first.write([{"point_key": "k", "point_index": 0, "status": "ok", "error": None, "x": 1.0}])
    finally:
        first.close()
    with ResultStore(db) as again:  # the lock went with the first writer
        assert again.count() == 1
    assert [r["x"] for r in load_rows(db)] == [1.0]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_analytic_chunks_are_sized_by_time_and_capped_by_count():
    points = [runner.ValidPoint(index=i, key=f"k{i}", inputs={}) for i in range(5000)]
    plan = type("P", (), {"base": {}})()
    clock = _Clock()
    members: dict = {}
    chunks = runner._Chunks(plan, points, chunk_size=2048, workers=2, members=members, clock=clock)
    assert chunks.size() == runner.FIRST_CHUNK
    clock.now, chunks.points_done = 10.0, 100  # 0.2 s per point on each of 2 workers: 10 points per 2 s
    assert chunks.size() == int(runner.TASK_TARGET_S / 0.2)
    clock.now, chunks.points_done = 1.0, 100_000  # fast: the chunk_size caps it
    assert chunks.size() == 2048
    sizes = [len(payload[1]) for _, payload in chunks]
    assert sum(sizes) == 5000 and max(sizes) <= 2048
    assert sorted(p.index for m in members.values() for p in m) == list(range(5000))


_ORPHAN = textwrap.dedent("""
    import time
    from clustersim.sweep.executors import ProcessExecutor, guarded
    pool = ProcessExecutor(2)._new_pool()
    futures = [pool.submit(guarded, time.sleep, 60) for _ in range(2)]
    while len(pool._processes) < 2:
        time.sleep(0.05)
    print(" ".join(str(p) for p in pool._processes), flush=True)
    time.sleep(120)
""")


def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=env, cwd=tmp_path)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    eof = threading.Event()  # EOF only once no worker (nor the resource tracker) holds the pipe
    reader = threading.Thread(target=lambda: (proc.stdout.read(), eof.set()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    assert eof.wait(timeout=60), "the workers still hold the caller's pipe"
    deadline = time.monotonic() + 60
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running: it waits for init to reap it
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_dask_local_listens_on_loopback_and_keeps_scratch_in_a_temporary_folder(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from clustersim.sweep.executors import DaskExecutor

    monkeypatch.chdir(tmp_path)
    ex = DaskExecutor(workers=1)
    try:
        scratch = Path(ex._scratch.name)
        assert ex.client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert "127.0.0.1" in ex.client.dashboard_link
        port = int(ex.client.dashboard_link.split(":")[2].split("/")[0])
        bound = _listening(port)
        assert bound and bound <= {"0100007F"}, bound  # 127.0.0.1 only, not 0.0.0.0 or ::
        workers = ex.client.scheduler_info()["workers"]
        assert workers and all(addr.startswith("tcp://127.0.0.1:") for addr in workers)
        assert scratch.is_dir()
    finally:
        ex.close()
    assert not scratch.exists()
    assert list(tmp_path.iterdir()) == []  # nothing written in the current directory


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* writes them) listening on ``port``."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            pytest.skip("no /proc/net/tcp")
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                out.add(address)
    return out
