"""The ``--json`` outputs flattened to one level of columns (the results store's row shape)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["flatten", "UNIT_SUFFIXES"]

#: A nested output whose name ends in a unit (``breakdown_s``) keeps the unit last when flattened:
#: ``breakdown_s.compute`` -> ``breakdown_compute_s`` (the project's rule: units end names).
UNIT_SUFFIXES = ("_s", "_gib", "_gb", "_days", "_hours", "_minutes", "_usd")
#: Keys that are not per-point results: provenance (stored once in the database's meta table),
#: per-replica samples and the timeline (kept by ``clustersim simulate --json``, too long for a row).
_DROP = frozenset({"name", "clustersim_version", "schema_version", "numpy_version", "python_version",
                   "samples", "timeline"})
#: Outputs renamed so they never collide with an input of the same name (``model``, ``cluster.gpu``).
_RENAME = {"model": "model_name", "gpu": "gpu_name"}


#: Statistics of one output: appended after the unit (``wall_days_p90``, not ``wall_p90_days``).
_STAT_KEYS = frozenset({"mean", "std", "min", "max", "p50", "p90", "p95", "p99", "mean_ci95"})


def _join(parent: str, child: str) -> str:
    if child in _STAT_KEYS:
        return f"{parent}_{child}"
    for suffix in UNIT_SUFFIXES:
        if parent.endswith(suffix):
            return f"{parent[: -len(suffix)]}_{child}{suffix}"
    return f"{parent}_{child}"


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A ``--json`` object as one level of columns.

    ``{"wall_days": {"mean": 1, "mean_ci95": [0.9, 1.1]}}`` -> ``wall_days_mean``, ``wall_days_mean_ci95_lo``,
    ``wall_days_mean_ci95_hi``; ``{"breakdown_s": {"compute": 2}}`` -> ``breakdown_compute_s``. Other
    lists (per-replica samples, timelines) are left out.
    """
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not prefix and key in _DROP:
            continue
        name = _join(prefix, str(key)) if prefix else _RENAME.get(str(key), str(key))
        if isinstance(value, Mapping):
            out.update(flatten(value, name))
        elif isinstance(value, (list, tuple)):  # an interval [lo, hi]: two columns; longer lists are left out
            if len(value) == 2 and all(v is None or isinstance(v, (int, float)) for v in value):
                out[f"{name}_lo"], out[f"{name}_hi"] = value
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out
