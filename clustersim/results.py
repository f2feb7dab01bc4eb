"""Result objects shared by the commands: schema version, provenance, JSON-safe conversion."""

from __future__ import annotations

import math
import platform
import sys
from typing import Any

from clustersim import __version__

__all__ = ["SCHEMA_VERSION", "provenance", "jsonable", "format_usd"]

#: Version of the JSON outputs (``--json``). Bump the minor for added keys, the major for a break.
SCHEMA_VERSION = "1.0"


def provenance() -> dict[str, Any]:
    return {
        "clustersim_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "numpy_version": _numpy_version(),
        "python_version": platform.python_version(),
    }


def _numpy_version() -> str:
    """numpy's version: the loaded module's, else the installed distribution's (a single estimate runs
    without importing numpy: its import is about a sixth of that command's time)."""
    loaded: Any = sys.modules.get("numpy")
    if loaded is None:
        from importlib import metadata

        try:
            dist = metadata.distribution("numpy")
        except metadata.PackageNotFoundError:
            import numpy as loaded
        else:
            # the core metadata's Version header (packaging.python.org, "Core metadata specifications"),
            # read without importing and running the e-mail parser that metadata.version uses
            for line in (dist.read_text("METADATA") or "").splitlines():
                if not line:  # the headers end at the first blank line
                    break
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()
            return str(dist.version)
    return str(loaded.__version__)


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into plain JSON values (NaN/inf -> None)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    np = sys.modules.get("numpy")  # without numpy loaded, no value can be one of its types
    if np is None:
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else None
        return obj
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
