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
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--replicas", type=click.IntRange(1, 100_000), help="Replicas (default: the file's).")
@click.option("--seed", type=click.IntRange(0), help="Seed (default: the file's).")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Worker processes; the result does not depend on it.")
@click.option("--nodes", "nodes", multiple=True, metavar="POOL=N", help="Resize a pool for this run.")
@click.option("--policy", type=click.Choice(["fifo", "priority", "backfill"]), help="Swap the scheduler policy.")
@click.option("--capacity", "capacity_pool", metavar="POOL",
              help="Find the smallest POOL for which --metric stays under --target-hours.")
@click.option("--metric", type=click.Choice(["p90_wait_hours", "p50_wait_hours", "mean_wait_hours",
                                             "p90_completion_hours", "mean_completion_hours"]),
              default="p90_wait_hours", show_default=True, help="The capacity target's figure.")
@click.option("--target-hours", type=click.FloatRange(min=0, min_open=True), help="The capacity target.")
@click.option("--what-if", "what_if_nodes", multiple=True, metavar="POOL=N1,N2,...",
              help="A what-if table over pool sizes (with --policies).")
@click.option("--policies", help="What-if: comma-separated policies, e.g. fifo,backfill.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the JSON result to a file.")
@user_errors
def fleet(file: str, replicas: int | None, seed: int | None, workers: int, nodes: tuple[str, ...],
          policy: str | None, capacity_pool: str | None, metric: str, target_hours: float | None,
          what_if_nodes: tuple[str, ...], policies: str | None, as_json: bool, report: str | None,
          output: str | None) -> None:
    """Simulate FILE's fleet: many jobs, one scheduler, shared spares and repairs (or plan its capacity)."""
    from clustersim.fleet import capacity_search, what_if
    from clustersim.fleet import fleet as run_fleet
    from clustersim.fleet.tables import capacity_table, fleet_tables, what_if_table
    from clustersim.io import atomic_write_text

    def _pool_sizes(values: tuple[str, ...], option: str) -> dict[str, list[int]]:
        """``POOL=N`` or ``POOL=N1,N2`` options as {pool: [sizes]} (a usage error names the option)."""
        out: dict[str, list[int]] = {}
        for text in values:
            name, _, sizes = text.partition("=")
            try:
                out[name.strip()] = [int(x) for x in sizes.split(",")]
                if not name.strip() or any(n <= 0 for n in out[name.strip()]):
                    raise ValueError
            except ValueError:
                raise click.BadParameter(f"expected POOL=N[,N...] with whole numbers > 0, got {text!r}",
                                         param_hint=option) from None
        return out

    if report and (capacity_pool or what_if_nodes or policies):
        raise click.UsageError("--report draws a fleet run; it does not go with --capacity or --what-if")
    sizes = {k: v[0] for k, v in _pool_sizes(nodes, "--nodes").items()}
    if capacity_pool is not None:
        if target_hours is None:
            raise click.UsageError("--capacity needs --target-hours")
        data = capacity_search(file, capacity_pool, target_hours, metric=metric, replicas=replicas, seed=seed,
                               workers=workers).to_dict()
        render: Callable[[], list[Any]] = lambda: [capacity_table(data)]  # noqa: E731
    elif what_if_nodes or policies:
        pols = [p.strip() for p in policies.split(",")] if policies else []
        bad = [p for p in pols if p not in ("fifo", "priority", "backfill")]
        if bad:
            raise click.BadParameter(f"unknown policy {bad[0]!r} (fifo, priority, backfill)", param_hint="--policies")
        rows = what_if(file, _pool_sizes(what_if_nodes, "--what-if"), pols, replicas=replicas, seed=seed,
                       workers=workers)
        data = {"kind": "fleet-what-if", "rows": rows}
        render = lambda: [what_if_table(rows)]  # noqa: E731
    else:
        result = run_fleet(file, replicas=replicas, seed=seed, workers=workers, nodes=sizes or None, policy=policy)
        data = result.to_dict()
        render = lambda: fleet_tables(data)  # noqa: E731
        if report:
            from clustersim.report.fleet import render_fleet_report

            render_fleet_report(data, report)
    if output:
        atomic_write_text(output, json.dumps(data, indent=2, allow_nan=False) + "\n")
    if as_json:
        emit_json(data)
        return
    console = _console()
    for table in render():
        console.print(table)
    if report and data.get("kind") == "fleet":
        console.print(f"report written to {report}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="clustersim")



# The money and planning commands live in their own module; importing it registers them on `cli`.
from clustersim import cli_money  # noqa: E402,F401  (import for its side effect)
