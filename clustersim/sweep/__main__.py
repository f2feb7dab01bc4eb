"""``python -m clustersim.sweep SWEEP.yaml --out results.db``: the sweep runner without the CLI group.

The ``clustersim sweep`` command calls the same :func:`run_sweep`; this entry point exists so that a
sweep can run where only the package is importable (a batch job, a test that kills it mid-way).
``--task module:function`` replaces the simulation for simulated points (for tests and benchmarks).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from clustersim.errors import ClustersimError, ScenarioError


def _import(spec: str) -> Any:
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ClustersimError(f"--task takes module:function (got {spec!r})")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clustersim.sweep", description=__doc__)
    parser.add_argument("sweep")
    parser.add_argument("--out", required=True, help="SQLite results database")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--dask", choices=["local"])
    parser.add_argument("--scheduler", help="tcp://HOST:8786 of a Dask scheduler")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--export", help="write the rows to this .csv or .parquet file")
    parser.add_argument("--objective")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from rich.console import Console

    from clustersim.sweep import export_results, render_summary, run_sweep

    try:
        summary = run_sweep(args.sweep, args.out, workers=args.workers, dask=args.dask, scheduler=args.scheduler,
                            resume=args.resume, progress=not args.no_progress, objective=args.objective,
                            simulate_fn=_import(args.task) if args.task else None)
        if args.export:
            export_results(args.out, args.export)
    except ClustersimError as exc:
        text = exc.render() if isinstance(exc, ScenarioError) else str(exc)
        print(f"error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    Console(highlight=False).print(*render_summary(summary))
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
