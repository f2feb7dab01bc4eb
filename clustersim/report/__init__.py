"""``clustersim.report``: one self-contained HTML file (plotly embedded, works offline) from a result dict.

The report is drawn from the JSON objects the commands print, never by re-running a model, so
``clustersim report result.json`` draws the same page as ``clustersim simulate FILE --report out.html``.

Kinds and the dicts they read:

- ``simulate``: the ``simulate --json`` object (summary, timeline of replica 0, time breakdown, CDFs of
  wall time and cost from ``samples``, step-time and memory breakdowns);
- ``estimate``: the ``estimate --json`` object (summary, step-time and memory breakdowns);
- both draw a tornado chart when the dict carries ``sensitivity``: ``[{parameter, low_label, high_label,
  low_value_usd, high_value_usd, base_usd}]`` (see :func:`clustersim.report.sensitivity.sensitivity`);
- ``costs`` / ``plan``: ``{rows: [...], curves: [...]?, summary: {...}?}`` (plan also ``budget_usd``,
  ``deadline_days``, ``optimum``); the curves (cost vs size, days vs GPUs; for plan the loss trade-off)
  and a Pareto front of dollars against days computed from the rows (see :mod:`.planfigs`);
- ``sweep``: ``{rows: [...], x: name, y: name, z: name}``: a heatmap of ``z`` against ``x`` and ``y``, and
  the Pareto front.

Every string from a scenario or result file is HTML-escaped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clustersim.errors import ClustersimError
from clustersim.io import atomic_write_text
from clustersim.report.data import KINDS, infer_kind, pareto_front
from clustersim.report.html import render_page
from clustersim.report.sections import build_page

__all__ = ["KINDS", "render_report", "render_html", "report_from_file", "figure_count", "pareto_front"]

#: A result file larger than this is refused (a simulate result with 100k replicas' samples is ~10 MB).
MAX_RESULT_BYTES = 512 * 2**20


def _kind(result: Mapping[str, Any], kind: str | None) -> str:
    if kind is None:
        return infer_kind(result)
    if kind not in KINDS:
        raise ClustersimError(f"unknown report kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def render_html(result: Mapping[str, Any], *, kind: str | None = "simulate") -> str:
    """The report as an HTML string (``kind=None``: guessed from the dict's keys)."""
    if not isinstance(result, Mapping):
        raise ClustersimError(f"a report needs a JSON object, got {type(result).__name__}")
    return render_page(build_page(result, _kind(result, kind)))


def figure_count(result: Mapping[str, Any], *, kind: str | None = "simulate") -> int:
    """How many plotly figures the report of this result holds (the browser test checks each renders)."""
    return sum(1 for s in build_page(result, _kind(result, kind)).sections if s.figure is not None)


def render_report(result: Mapping[str, Any], path: str | os.PathLike[str], *, kind: str | None = "simulate") -> None:
    """Write the report of ``result`` to ``path`` (atomically: the file appears whole or not at all)."""
    html = render_html(result, kind=kind)
    try:
        atomic_write_text(path, html)
    except OSError as exc:
        raise ClustersimError(f"cannot write the report {os.fspath(path)}: {exc.strerror or exc}") from None


def _load_json(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ClustersimError(f"{path}: cannot read the result: {exc.strerror}") from None
    if size > MAX_RESULT_BYTES:
        raise ClustersimError(f"{path}: {size / 2**20:.0f} MiB is larger than a result can be "
                              f"({MAX_RESULT_BYTES // 2**20} MiB)")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ClustersimError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except UnicodeDecodeError:
        raise ClustersimError(f"{path}: not a UTF-8 text file") from None
    except RecursionError:
        raise ClustersimError(f"{path}: nested too deeply to be a clustersim result") from None


def _sweep_db(path: Path) -> dict[str, Any]:
    """A sweep database's finished rows and its swept inputs (``clustersim.sweep.load_rows``/``load_meta``)."""
    try:
        from clustersim.sweep import load_meta, load_rows
    except ImportError:  # pragma: no cover - the sweep package ships with clustersim
        raise ClustersimError("reading a sweep database needs clustersim.sweep") from None
    if not path.is_file():
        raise ClustersimError(f"{path}: cannot read the result: no such file")
    meta = load_meta(path)
    return {"rows": list(load_rows(path, status="ok")), "name": meta.get("name") or path.stem,
            "inputs": list(meta.get("input_keys") or [])}


#: The output a sweep heatmap draws when none is chosen: the simulated mean cost, else expected, else failure-free.
DEFAULT_Z = ("wall_cost_usd_mean", "expected_wall_cost_usd", "cost_usd")


def _default_axes(rows: list[dict[str, Any]], inputs: list[str]) -> tuple[str, str]:
    """The first two swept inputs that vary (the sweep's input keys, else dotted scenario keys)."""
    keys = inputs or [k for k in (rows[0] if rows else {}) if "." in k]
    varying = [k for k in keys if len({repr(r.get(k)) for r in rows}) > 1]
    if len(varying) < 2:
        raise ClustersimError("cannot tell which two inputs to draw; give them (--x KEY --y KEY)")
    return varying[0], varying[1]


def report_from_file(json_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                     kind: str | None = None, x: str | None = None, y: str | None = None,
                     z: str | None = None) -> str:
    """Draw the report of a saved result (``result.json``, or a sweep's SQLite ``.db``); return its kind.

    ``kind`` defaults to the file's ``kind`` key or a guess from its keys; ``x``, ``y``, ``z`` choose the
    sweep heatmap's inputs and output (defaults: the first two swept inputs that vary, and the simulated
    mean cost, else the expected cost, else the failure-free cost).
    """
    path = Path(json_path)
    data: Any
    if path.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
        data = _sweep_db(path)
        kind = "sweep"
    else:
        data = _load_json(path)
    if isinstance(data, list):
        data = {"rows": data}
        if kind is None:
            kind = "sweep" if (x or y or z or path.suffix.lower() != ".json") else "costs"
    if not isinstance(data, dict):
        raise ClustersimError(f"{path}: a result must be a JSON object or a list of rows, "
                              f"got {type(data).__name__}")
    if x or y or z or kind == "sweep":
        kind = "sweep"
        given_rows = data.get("rows")
        rows: list[dict[str, Any]] = [r for r in given_rows if isinstance(r, dict)] if isinstance(given_rows, list) else []
        x, y = x or data.get("x"), y or data.get("y")
        if not x or not y:
            dx, dy = _default_axes(rows, list(data.get("inputs") or []))
            x, y = x or (dy if dx == y else dx), y or (dx if dy == x else dy)
        z = z or data.get("z") or next((k for k in DEFAULT_Z if any(k in r for r in rows)), "cost_usd")
        data = {**data, "x": x, "y": y, "z": z}
    resolved = _kind(data, kind)
    render_report(data, out_path, kind=resolved)
    return resolved
