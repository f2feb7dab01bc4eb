"""What-if sweeps: a base scenario times grid/zip/samples of dotted keys, run on local processes or a
Dask cluster, one SQLite row per point, resumable, identical rows whatever runs them.

``run_sweep(path, out_db, ...)`` runs a sweep file; ``load_rows(db)`` reads the rows back (for reports);
``export_results(db, out_path)`` writes CSV (or Parquet with pyarrow).
"""

from clustersim.sweep.expand import Plan, plan_sweep, point_key
from clustersim.sweep.runner import run_sweep
from clustersim.sweep.spec import SweepFile, SweepSpec, read_sweep
from clustersim.sweep.store import export_results, load_meta, load_rows
from clustersim.sweep.summary import SweepSummary, best_rows, default_axes, pareto_front, render_summary

__all__ = [
    "run_sweep",
    "SweepSummary",
    "load_rows",
    "load_meta",
    "export_results",
    "read_sweep",
    "plan_sweep",
    "point_key",
    "Plan",
    "SweepFile",
    "SweepSpec",
    "pareto_front",
    "best_rows",
    "default_axes",
    "render_summary",
]
