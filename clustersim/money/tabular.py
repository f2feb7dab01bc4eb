"""CSV for the money results: flat rows, chosen columns, written atomically."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from clustersim.errors import ClustersimError
from clustersim.io import atomic_write_text

__all__ = ["csv_text", "write_csv", "flatten"]


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists are joined with ``;``)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            out[name] = ";".join(str(v) for v in value)
        else:
            out[name] = value
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV text with a header; columns default to every key in the order first seen (rows flattened)."""
    flat = [flatten(r) for r in rows]
    if columns is None:
        seen: dict[str, None] = {}
        for r in flat:
            for k in r:
                seen.setdefault(k, None)
        columns = list(seen)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in flat:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def write_csv(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]],
              columns: Sequence[str] | None = None) -> None:
    """Write the rows as CSV; the file appears whole or not at all (clustersim.io.atomic_write_text)."""
    try:
        atomic_write_text(path, csv_text(rows, columns))
    except OSError as exc:
        raise ClustersimError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from None
