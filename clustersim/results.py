"""Result objects shared by the commands: schema version, provenance, JSON-safe conversion."""

from __future__ import annotations

import math
import platform
from typing import Any

import numpy as np

from clustersim import __version__

__all__ = ["SCHEMA_VERSION", "provenance", "jsonable", "format_usd"]

#: Version of the JSON outputs (``--json``). Bump the minor for added keys, the major for a break.
SCHEMA_VERSION = "1.0"


def provenance() -> dict[str, Any]:
    return {
        "clustersim_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
    }


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into plain JSON values (NaN/inf -> None)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def format_usd(value: Any) -> str:
    """Dollars for people: ``$12.50``, ``$9,120``, ``$1.27M``, ``$7.42B``; an em dash for None or non-finite."""
    if value is None:
        return "\u2014"
    x = float(value)
    if not math.isfinite(x):
        return "\u2014"
    if abs(x) >= 1e9:
        return f"${x / 1e9:,.2f}B"
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.2f}M"
    if abs(x) >= 100:
        return f"${x:,.0f}"
    return f"${x:,.2f}"
