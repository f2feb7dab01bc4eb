"""The results store: one SQLite file (the standard library's sqlite3), one row per point.

Table ``points`` holds the point's key (the SHA-256 of its expanded scenario, seed and mode), its index
in the sweep, its status (``ok``, ``infeasible``, ``invalid`` or ``failed``), the reason when it is not
``ok``, one column per swept input (named by its dotted key, e.g. ``cluster.nodes``) and one column per
output (``train_days``, ``cost_usd``, ``wall_days_p90``...). Output columns are added as they first
appear, so the store follows the result objects without a schema of its own.

Durability: the database is in write-ahead-log mode with ``synchronous=FULL``, and rows are written
in a transaction as points finish, so a killed process, a killed worker or a power cut loses nothing
that was committed (SQLite documentation, "Write-Ahead Logging" and "PRAGMA synchronous").
Only the process that runs the sweep writes; readers (``load_rows``, the report) never block it.

Table ``meta`` records the sweep (name, file hash, mode, inputs, versions); table ``runs`` one line
per run or resume (executor, workers, points run, seconds), kept apart so that the rows themselves are
identical whatever ran them.

Safety: a database is written only if it is new (no tables) or a clustersim sweep's (its ``meta`` and
``points`` tables have the columns above); any other SQLite file is refused untouched, as is one that
another running sweep holds: the writer takes an exclusive ``flock(2)`` on the database file for the
whole run (released by the kernel if the process dies; on Linux independent of SQLite's own POSIX
locks, and the descriptor stays open until SQLite's connection is closed, so those are never dropped).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from clustersim.errors import ClustersimError

__all__ = ["ResultStore", "load_rows", "load_meta", "load_columns", "status_counts", "export_results",
           "FIXED_COLUMNS", "FINAL_STATUSES", "row_columns", "prepare_rows"]

#: Columns every row has, before the inputs and outputs.
FIXED_COLUMNS = ("point_index", "point_key", "status", "error")
#: Statuses that ``--resume`` does not run again (a ``failed`` point, e.g. one whose worker died, is).
FINAL_STATUSES = ("ok", "infeasible", "invalid")
#: Outputs listed first (in this order) when rows are read or exported; the rest follow alphabetically.
PREFERRED_OUTPUTS = (
    "train_days", "cost_usd", "gpu_hours", "expected_goodput", "expected_wall_days", "expected_wall_cost_usd",
    "wall_days_mean", "wall_days_p50", "wall_days_p90", "wall_days_p99",
    "wall_cost_usd_mean", "wall_cost_usd_p50", "wall_cost_usd_p90", "wall_cost_usd_p99",
    "goodput_mean", "goodput_p50", "goodput_p90", "goodput_p99", "interruptions_mean",
    "step_time_s", "tokens_per_s", "mfu", "hfu", "memory_per_gpu_gib", "fits_in_memory",
    "gpus", "gpu_name", "model_name", "params_b",
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_PLAIN = frozenset({int, float, str, bool, bytes})


def _cell(value: Any) -> Any:
    """A value SQLite stores as is (numbers, text, NULL); mappings and lists as canonical JSON text."""
    if value is None or type(value) in _PLAIN or isinstance(value, (int, float, str, bytes)):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def prepare_rows(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
    """Rows as SQLite takes them: grouped by their columns, each a tuple of stored cells (:func:`_cell`)."""
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        cols = tuple(row)
        values = tuple(row.values())
        if not set(map(type, values)) <= _STORED_AS_IS:
            values = tuple(_cell(v) for v in values)
        groups.setdefault(cols, []).append(values)
    return groups


#: Cell types :func:`_cell` leaves as they are (a row of only these needs no conversion).
_STORED_AS_IS = _PLAIN | {type(None)}


def row_columns(columns: Sequence[str], input_keys: Sequence[str]) -> list[str]:
    """The fixed columns, the inputs in sweep order, then outputs (preferred first, then alphabetical)."""
    present = set(columns)
    head = [c for c in FIXED_COLUMNS if c in present] + [k for k in input_keys if k in present]
    rest = present - set(head)
    preferred = [c for c in PREFERRED_OUTPUTS if c in rest]
    return head + preferred + sorted(rest - set(preferred))


_OURS = {"meta": {"key", "value"}, "points": set(FIXED_COLUMNS)}


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database whose tables are not a clustersim sweep's (an unrelated SQLite file)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return
    for table, needed in _OURS.items():
        if table not in tables:
            raise ClustersimError(f"{path} is an SQLite database but not a clustersim sweep's (it has no {table} "
                                  f"table; its tables: {', '.join(sorted(tables)[:8])}); give another --out")
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({_quote(table)})")}
        if not needed <= have:
            raise ClustersimError(f"{path}: its {table} table is not a clustersim sweep's (it lacks "
                                  f"{', '.join(sorted(needed - have))}); give another --out")


def _lock(path: Path) -> int:
    """An exclusive flock on the database file for this process's run (see the module doc)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ClustersimError(f"{path} is being written by another running sweep; wait for it to finish, or "
                              "give another --out") from None
    return fd


class ResultStore:
    """Write side of the results database (one per running sweep)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise ClustersimError(f"{self.path}: not a file (give a path for the results database)")
        if not self.path.parent.is_dir():
            raise ClustersimError(f"{self.path}: the folder {self.path.parent} does not exist")
        self._lock_fd: int | None = None
        try:
            self._lock_fd = _lock(self.path)
        except PermissionError as exc:
            raise ClustersimError(f"cannot write {self.path}: {exc.strerror}") from None
        try:
            self._open()
        except BaseException:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise
        self.columns = self._columns()

    def _open(self) -> None:
        try:
            self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            _check_ours(self.conn, self.path)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS points (point_key TEXT PRIMARY KEY, point_index INTEGER NOT NULL, "
                "status TEXT NOT NULL, error TEXT)")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_unix REAL, "
                "finished_unix REAL, executor TEXT, workers INTEGER, points_run INTEGER, elapsed_s REAL, "
                "outcome TEXT)")
        except sqlite3.DatabaseError as exc:
            raise ClustersimError(f"{self.path}: not a usable SQLite results database ({exc})") from None
        except ClustersimError:
            self.conn.close()
            raise

    def _columns(self) -> list[str]:
        return [r[1] for r in self.conn.execute("PRAGMA table_info(points)")]

    def close(self) -> None:
        if self._lock_fd is None:
            return
        try:
            self.conn.close()
        finally:
            os.close(self._lock_fd)  # after SQLite's connection: closing it earlier would drop SQLite's locks
            self._lock_fd = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta --
    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def set_meta(self, values: Mapping[str, Any]) -> None:
        with self._transaction():
            self.conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                  [(k, json.dumps(v, sort_keys=True)) for k, v in values.items()])

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0])

    def done_keys(self) -> set[str]:
        """Keys of points with a final status (what ``--resume`` skips)."""
        marks = ",".join("?" * len(FINAL_STATUSES))
        rows = self.conn.execute(f"SELECT point_key FROM points WHERE status IN ({marks})", FINAL_STATUSES)
        return {r[0] for r in rows}

    # -- rows --
    def _transaction(self) -> Any:
        store = self

        class _Tx:
            def __enter__(self) -> None:
                store.conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind: object, *rest: object) -> None:
                store.conn.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def _ensure_columns(self, names: Iterable[str]) -> None:
        known = set(self.columns)
        for name in names:
            if name not in known:
                self.conn.execute(f"ALTER TABLE points ADD COLUMN {_quote(name)}")
                known.add(name)
                self.columns.append(name)

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert or replace rows (each has point_key, point_index, status) in ONE transaction."""
        self.write_prepared(prepare_rows(rows))

    def write_prepared(self, groups: Mapping[tuple[str, ...], Sequence[tuple[Any, ...]]]) -> None:
        """:meth:`write` for rows already in :func:`prepare_rows`' shape (a sweep's workers prepare them,
        so that this process only inserts)."""
        groups = {cols: values for cols, values in groups.items() if values}
        if not groups:
            return
        with self._transaction():
            self._ensure_columns(c for cols in groups for c in cols)
            for cols, values in groups.items():
                sql = (f"INSERT OR REPLACE INTO points ({', '.join(map(_quote, cols))}) "
                       f"VALUES ({', '.join('?' * len(cols))})")
                self.conn.executemany(sql, values)

    def start_run(self, executor: str, workers: int) -> int:
        with self._transaction():
            cur = self.conn.execute("INSERT INTO runs (started_unix, executor, workers, outcome) VALUES (?, ?, ?, ?)",
                                    (time.time(), executor, workers, "running"))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, points_run: int, elapsed_s: float, outcome: str) -> None:
        with self._transaction():
            self.conn.execute("UPDATE runs SET finished_unix = ?, points_run = ?, elapsed_s = ?, outcome = ? "
                              "WHERE run_id = ?", (time.time(), points_run, elapsed_s, outcome, run_id))


def _open_read(path: str | os.PathLike[str]) -> sqlite3.Connection:
    p = Path(path)
    if not p.is_file():
        raise ClustersimError(f"{p}: no such results database")
    conn = sqlite3.connect(p, timeout=30.0)
    try:
        _check_ours(conn, p)
        conn.execute("SELECT 1 FROM points LIMIT 1")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ClustersimError(f"{p}: not a clustersim sweep database ({exc})") from None
    except ClustersimError:
        conn.close()
        raise
    return conn


def load_meta(db: str | os.PathLike[str]) -> dict[str, Any]:
    """The sweep's description: name, mode, input_keys, objective, sweep_sha256, versions."""
    conn = _open_read(db)
    try:
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    finally:
        conn.close()


def _where(status: str | Sequence[str] | None, indices: Sequence[int] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        clauses.append(f"status IN ({','.join('?' * len(wanted))})")
        args += wanted
    if indices is not None:
        clauses.append(f"point_index IN ({','.join('?' * len(indices))})")
        args += [int(i) for i in indices]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def load_rows(db: str | os.PathLike[str], *, status: str | Sequence[str] | None = None,
              indices: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Every row of a sweep database as a dict, ordered by point index (``status`` filters, e.g. "ok";
    ``indices`` keeps those point indices).

    Keys: point_index, point_key, status, error, then the swept inputs by dotted key, then the outputs.
    Rows that are not ``ok`` have NULL (None) outputs where nothing was computed.
    """
    conn = _open_read(db)
    try:
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        names = [r[1] for r in conn.execute("PRAGMA table_info(points)")]
        cols = row_columns(names, meta.get("input_keys", []))
        where, args = _where(status, indices)
        sql = f"SELECT {', '.join(map(_quote, cols))} FROM points{where} ORDER BY point_index, point_key"
        return [dict(zip(cols, r, strict=True)) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def load_columns(db: str | os.PathLike[str], columns: Sequence[str], *,
                 status: str | Sequence[str] | None = "ok") -> list[dict[str, Any]]:
    """Only some columns of the rows (plus point_index and status), without reading whole rows: what the
    end-of-sweep answers need from a database of millions of points. Absent columns read as None."""
    conn = _open_read(db)
    try:
        names = {r[1] for r in conn.execute("PRAGMA table_info(points)")}
        wanted = list(dict.fromkeys(["point_index", "status", *columns]))
        select = ", ".join(_quote(c) if c in names else "NULL" for c in wanted)
        where, args = _where(status, None)
        rows = conn.execute(f"SELECT {select} FROM points{where} ORDER BY point_index, point_key", args)
        return [dict(zip(wanted, r, strict=True)) for r in rows]
    finally:
        conn.close()


def status_counts(db: str | os.PathLike[str]) -> dict[str, int]:
    """{status: number of rows}."""
    conn = _open_read(db)
    try:
        return {str(k): int(n) for k, n in conn.execute("SELECT status, COUNT(*) FROM points GROUP BY status")}
    finally:
        conn.close()


def export_results(db: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> int:
    """Write every row to CSV (``.csv``) or Parquet (``.parquet``, needs pyarrow); returns the row count."""
    from clustersim.io import atomic_write_bytes, atomic_write_text

    rows = load_rows(db)
    out = Path(out_path)
    suffix = out.suffix.lower()
    cols = list(rows[0]) if rows else list(FIXED_COLUMNS)
    if suffix == ".parquet":
        try:
            import pyarrow as pa  # type: ignore[import-not-found]
            import pyarrow.parquet as pq  # type: ignore[import-not-found]
        except ImportError:
            raise ClustersimError("Parquet export needs pyarrow (pip install pyarrow); or export to .csv") from None
        table = pa.table({c: [r[c] for r in rows] for c in cols})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        atomic_write_bytes(out, sink.getvalue().to_pybytes())
    elif suffix == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow(["" if r[c] is None else (repr(r[c]) if isinstance(r[c], float) else r[c]) for c in cols])
        atomic_write_text(out, buf.getvalue())
    else:
        raise ClustersimError(f"{out}: export to .csv or .parquet (got {suffix or 'no extension'})")
    return len(rows)
