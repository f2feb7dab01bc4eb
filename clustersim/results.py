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
        found = _version_beside_package("numpy")
        if found is not None:
            return found
        from importlib import metadata

        try:
            dist = metadata.distribution("numpy")
        except metadata.PackageNotFoundError:
            import numpy as loaded
        else:
            return _metadata_version(dist.read_text("METADATA") or "") or str(dist.version)
    return str(loaded.__version__)


def _metadata_version(text: str) -> str | None:
    """The Version header of a distribution's core metadata (packaging.python.org, "Core metadata
    specifications"; the headers end at the first blank line), read without the e-mail parser that
    ``importlib.metadata.version`` imports; None when it has none."""
    for line in text.splitlines():
        if not line:
            break
        if line.startswith("Version:"):
            return line.partition(":")[2].strip()
    return None


def _version_beside_package(name: str) -> str | None:
    """The version of the distribution installed beside the package ``import name`` would load: the one
    ``<name>-<version>.dist-info`` folder in the package's own site folder (the layout pip and every
    wheel installer write, PyPA "Recording installed projects"), without importing the package or
    importlib.metadata (whose import, with the e-mail parser's, is some 15 ms of a 0.3 s estimate).
    None when that is not the layout (an egg, a zip, a source checkout, more than one such folder):
    the caller then asks importlib.metadata."""
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.submodule_search_locations:
        return None
    site = os.path.dirname(os.path.dirname(spec.origin))
    try:
        infos = [e for e in os.listdir(site) if e.startswith(name + "-") and e.endswith(".dist-info")]
    except OSError:
        return None
    if len(infos) != 1:
        return None
    try:
        with open(os.path.join(site, infos[0], "METADATA"), encoding="utf-8") as fh:
            return _metadata_version(fh.read(65_536))
    except OSError:
        return None


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
