"""The ``clustersim`` command: parse, call one library function, render. No modelling logic here.

User errors (:class:`~clustersim.errors.ClustersimError`) print a one-screen message and exit 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import click

from clustersim import __version__
from clustersim.errors import ClustersimError, ScenarioError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 120)


def user_errors(func: F) -> F:
    """Turn ClustersimError into a clear message and exit code 2 (a traceback only with --debug)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            return func(*args, **kwargs)
        except ClustersimError as exc:
            if debug:
                raise
            text = exc.render() if isinstance(exc, ScenarioError) else str(exc)
            click.echo(f"error: {text}" if "\n" not in text else f"error:\n{text}", err=True)
            ctx.exit(EXIT_USER_ERROR)

    return cast(F, wrapper)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False))


set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
    help="Override a scenario field (YAML scalar, re-validated), e.g. --set cluster.nodes=256.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clustersim")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Plan a large-model training run: days, GPU-hours, dollars, parallelism, failures."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@set_option
@user_errors
def validate(files: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Check scenario FILES; report every problem of each file (exit 2 if any)."""
    from clustersim.scenario import check_file
    from clustersim.scenario.warnings import scenario_warnings

    bad = 0
    for path in files:
        scenario, problems = check_file(path, overrides)
        if problems:
            bad += 1
            err = ScenarioError(problems, path)
            click.echo(err.render(), err=True)
            click.echo(f"{path}: {len(problems)} error{'s' if len(problems) != 1 else ''}", err=True)
        else:
            assert scenario is not None
            for warning in scenario_warnings(scenario):
                click.echo(f"{path}: warning: {warning}", err=True)
            click.echo(f"{path}: ok ({scenario.name}: {scenario.gpus:,} GPUs)")
    if bad:
        raise click.exceptions.Exit(EXIT_USER_ERROR)


@cli.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
@user_errors
def schema(output: str | None) -> None:
    """Print the JSON Schema of the scenario format (for editor completion)."""
    from clustersim.io import atomic_write_text
    from clustersim.scenario.schema import scenario_json_schema

    text = json.dumps(scenario_json_schema(), indent=2) + "\n"
    if output:
        atomic_write_text(output, text)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("kind", type=click.Choice(["gpus", "models", "prices", "reliability"]))
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@user_errors
def catalog(kind: str, as_json: bool) -> None:
    """List the catalog of GPUS, MODELS, PRICES or RELIABILITY presets, with sources."""
    from clustersim.scenario import catalog as cat
    from clustersim.tables import catalog_table

    data = {"gpus": cat.gpus, "models": cat.models, "prices": cat.prices, "reliability": cat.reliability}[kind]()
    if as_json:
        emit_json(data)
    else:
        _console().print(catalog_table(kind, data))


scenario_arg = click.argument("file", type=click.Path(dir_okay=False, path_type=str))


@cli.command()
@scenario_arg
@set_option
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as one JSON object.")
@user_errors
def estimate(file: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Failure-free step time, MFU, memory, days, GPU-hours and dollars for FILE."""
    from clustersim.estimate import estimate as run_estimate
    from clustersim.tables import estimate_tables

    result = run_estimate(file, set=overrides).to_dict()
    if as_json:
        emit_json(result)
        return
    console = _console()
    for table in estimate_tables(result):
        console.print(table)


@cli.command()
@scenario_arg
@set_option
@click.option("--objective", type=click.Choice(["time", "cost"]), default="time", show_default=True,
              help="Rank by step time or by dollars.")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the ranking as one JSON object.")
@user_errors
def search(file: str, overrides: tuple[str, ...], objective: str, top: int, as_json: bool) -> None:
    """Rank every parallelism that fits FILE's cluster (tp, pp, dp, cp, ep, vpp, micro-batch, ZeRO, recompute, SP)."""
    from clustersim.estimate import resolve
    from clustersim.search import search as run_search
    from clustersim.search import search_to_dict
    from clustersim.tables import search_table

    scenario = resolve(file, overrides)
    result = search_to_dict(scenario, run_search(scenario, objective=objective, top=top))  # type: ignore[arg-type]
    if as_json:
        emit_json(result)
        return
    console = _console()
    console.print(search_table(result))
    console.print(f"[bold]why the best wins:[/] {result['why_best']}")


@cli.command()
@scenario_arg
@set_option
@click.option("--replicas", type=click.IntRange(1, 1_000_000), help="Monte Carlo replicas (default: the scenario's).")
@click.option("--seed", type=click.IntRange(0), help="Seed (default: the scenario's).")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: one per CPU); the result does not depend on it.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--events", type=click.Path(dir_okay=False), help="Write replica 0's event log as CSV.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the JSON result to a file.")
@user_errors
def simulate(file: str, overrides: tuple[str, ...], replicas: int | None, seed: int | None, workers: int | None,
             as_json: bool, events: str | None, report: str | None, output: str | None) -> None:
    """Monte Carlo of FILE's run with failures, checkpoints, spares and restarts."""
    from clustersim.io import atomic_write_text
    from clustersim.simulate import simulate as run_simulate
    from clustersim.tables import simulate_tables

    progress = not as_json and sys.stderr.isatty()
    if workers is None:
        import os

        workers = os.cpu_count() or 1
    result = run_simulate(file, replicas=replicas, seed=seed, workers=workers, progress=progress, set=overrides)
    data = result.to_dict()
    if events:
        result.write_events(events)
    if output:
        atomic_write_text(output, json.dumps(data, indent=2, allow_nan=False) + "\n")
    if report:
        from clustersim.report import render_report
        from clustersim.report.sensitivity import sensitivity

        data_for_report = {**data, "sensitivity": sensitivity(result.estimate.scenario, data)}
        render_report(data_for_report, report, kind="simulate")
    if as_json:
        emit_json(data)
        return
    console = _console()
    for table in simulate_tables(data):
        console.print(table)
    if report:
        console.print(f"report written to {report}")


@cli.command()
@click.argument("result", type=click.Path(dir_okay=False, path_type=str))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="The HTML file to write.")
@click.option("--kind", type=click.Choice(["simulate", "estimate", "costs", "plan", "sweep"]),
              help="What the result is (default: from the file).")
@click.option("--x", "x", help="Sweep heatmap: the input on the x axis (dotted key).")
@click.option("--y", "y", help="Sweep heatmap: the input on the y axis (dotted key).")
@click.option("--z", "z", help="Sweep heatmap: the output drawn (a column of the results).")
@user_errors
def report(result: str, output: str, kind: str | None, x: str | None, y: str | None, z: str | None) -> None:
    """Draw a self-contained HTML report from RESULT (a --json output saved to a file, or a sweep's .db)."""
    from clustersim.report import report_from_file

    drawn = report_from_file(result, output, kind=kind, x=x, y=y, z=z)
    click.echo(f"{drawn} report written to {output}")


@cli.command()
@click.argument("sweep_file", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_db", type=click.Path(dir_okay=False), help="SQLite results (default: next to the sweep file).")
@click.option("--workers", type=click.IntRange(1, 1024), default=1, show_default=True, help="Local worker processes.")
@click.option("--dask", type=click.Choice(["local"]), help="Run on a Dask LocalCluster of --workers processes.")
@click.option("--scheduler", metavar="tcp://HOST:8786", help="Run on an existing Dask cluster.")
@click.option("--resume", is_flag=True, help="Run only the points not in the database yet.")
@click.option("--objective", help="Rank the best points by this column (min:COL or max:COL).")
@click.option("--export", "export_path", type=click.Path(dir_okay=False),
              help="Write the results as CSV (or .parquet with pyarrow).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@user_errors
def sweep(sweep_file: str | None, out_db: str | None, workers: int, dask: str | None, scheduler: str | None,
          resume: bool, objective: str | None, export_path: str | None, as_json: bool) -> None:
    """Run SWEEP_FILE's what-if points (grid / zip / samples) into a resumable SQLite database."""
    from clustersim.sweep import export_results, render_summary, run_sweep
    from clustersim.sweep.runner import default_db_for

    if sweep_file is None:
        if not (export_path and out_db):
            raise click.UsageError("give a SWEEP_FILE to run, or --out DB --export FILE to export one")
        n = export_results(out_db, export_path)
        click.echo(f"{n} rows written to {export_path}")
        return
    db = out_db or str(default_db_for(sweep_file))
    summary = run_sweep(sweep_file, db, workers=workers, dask=dask, scheduler=scheduler, resume=resume,
                        progress=not as_json and sys.stderr.isatty(), objective=objective)
    if export_path:
        export_results(db, export_path)
    if as_json:
        emit_json(summary.to_dict())
        return
    console = _console()
    for renderable in render_summary(summary):
        console.print(renderable)
    if export_path:
        console.print(f"rows written to {export_path}")


@cli.command()
@click.argument("measurements", type=click.Path(dir_okay=False, path_type=str))
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the calibration profile (YAML) here; scenarios reference it with `calibration: PATH`.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@user_errors
def calibrate(measurements: str, output: str | None, as_json: bool) -> None:
    """Fit the kernel to MEASUREMENTS (your runs: YAML or CSV); failure rates and storage from your logs."""
    from clustersim.calibrate import calibrate as run_calibrate
    from clustersim.calibrate.render import calibration_tables

    result = run_calibrate(measurements)
    if output:
        result.write_profile(output)
    data = result.to_dict()
    if as_json:
        emit_json(data)
        return
    console = _console()
    for item in calibration_tables(data):
        console.print(item)
    if output:
        console.print(f"profile written to {output}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="clustersim")



# The money and planning commands live in their own module; importing it registers them on `cli`.
from clustersim import cli_money  # noqa: E402,F401  (import for its side effect)
