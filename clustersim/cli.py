"""The ``clustersim`` command: parse, call one library function, render. No modelling logic here.

Every command is wrapped by :func:`clustersim.cli_errors.user_errors`: a user error prints a one-screen
message naming the file and exits 2; any other exception is reported as an internal error (exit 1)
asking for a bug report; ``--debug`` shows the traceback instead. Nothing prints a raw traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click

from clustersim import __version__
from clustersim.cli_conventions import (
    EXIT_UNFINISHED,
    EXIT_USER_ERROR,
    ConventionGroup,
    default_workers,
    json_option,
    output_option,
    workers_option,
)
from clustersim.cli_errors import EXIT_INTERRUPTED, terminated, user_errors
from clustersim.cli_money import MONEY_COMMANDS
from clustersim.cli_shared import (
    _console,
    emit_json,
    emit_result,
    print_warnings,
    scenario_arg,
    set_option,
)
from clustersim.errors import ScenarioError, visible


@click.group(cls=ConventionGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clustersim")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Plan a large-model training run: days, GPU-hours, dollars, parallelism, failures.

    \b
    Environment (a value you set yourself wins):
      OPENBLAS_NUM_THREADS=1, MKL_NUM_THREADS=1: one BLAS thread
      PYDANTIC_DISABLE_PLUGINS=__all__: no pydantic plugin discovery
    """
    if not debug:  # numpy's overflow/invalid-value warnings are for developers; results carry their own notes
        warnings.simplefilter("ignore", RuntimeWarning)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@set_option
@json_option("one object per file (ok, problems, warnings)")
@output_option()
@user_errors
def validate(files: tuple[str, ...], overrides: tuple[str, ...], as_json: bool, output: str | None) -> None:
    """Check scenario FILES; report every problem of each file (exit 2 if any)."""
    from clustersim.cli_conventions import error_object
    from clustersim.scenario import check_file
    from clustersim.scenario.warnings import scenario_warnings

    bad = 0
    results: list[dict[str, Any]] = []
    for path in files:
        scenario, problems = check_file(path, overrides)
        if problems or scenario is None:
            bad += 1
            err = ScenarioError(problems, path)
            click.echo(err.render(), err=True)
            click.echo(f"{path}: {len(problems)} error{'s' if len(problems) != 1 else ''}", err=True)
            results.append({"file": path, "ok": False, "problems": error_object(err)["error"]["problems"]})
            continue
        warnings = scenario_warnings(scenario)
        for warning in warnings:
            click.echo(f"{path}: warning: {warning}", err=True)
        gpus = f"{scenario.gpus:,} GPUs"
        if scenario.gpus_per_node != 8:
            gpus += f" = {scenario.cluster.nodes:,} nodes x {scenario.gpus_per_node}"
        if not as_json:
            click.echo(f"{path}: ok ({visible(scenario.name)}: {gpus})")
        results.append({"file": path, "ok": True, "name": scenario.name, "gpus": scenario.gpus,
                        "nodes": scenario.cluster.nodes, "gpus_per_node": scenario.gpus_per_node,
                        "warnings": warnings, "problems": []})
    summary: dict[str, Any] = {"kind": "validate", "ok": not bad, "files": results}
    if bad:  # the error convention too: one "error" object with every problem of every file
        summary["error"] = {"type": "ScenarioError", "message": f"{bad} of {len(files)} files have errors",
                            "exit_code": EXIT_USER_ERROR,
                            "problems": [p for r in results for p in r["problems"]]}
    emit_result(summary, as_json, output)
    if bad:
        raise click.exceptions.Exit(EXIT_USER_ERROR)


@cli.command()
@output_option("the schema")
@json_option("the schema (it is JSON already: the flag is accepted for uniformity)")
@user_errors
def schema(output: str | None, as_json: bool) -> None:
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
@json_option("the catalog")
@output_option()
@user_errors
def catalog(kind: str, as_json: bool, output: str | None) -> None:
    """List the catalog of GPUS, MODELS, PRICES or RELIABILITY presets, with sources."""
    from clustersim.scenario import catalog as cat
    from clustersim.tables import catalog_table

    data = {"gpus": cat.gpus, "models": cat.models, "prices": cat.prices, "reliability": cat.reliability}[kind]()
    if not emit_result(data, as_json, output):
        _console().print(catalog_table(kind, data))


@cli.command()
@scenario_arg
@set_option
@json_option("the estimate")
@output_option()
@user_errors
def estimate(file: str, overrides: tuple[str, ...], as_json: bool, output: str | None) -> None:
    """Failure-free step time, MFU, memory, days, GPU-hours and dollars for FILE."""
    from clustersim.estimate import estimate as run_estimate
    from clustersim.estimate import require_fit

    est = run_estimate(file, set=overrides)
    require_fit(est)  # a layout that does not fit is refused (exit 2, the reason), never priced
    result = est.to_dict()
    result["warnings"] = print_warnings(est.scenario, as_json)
    if emit_result(result, as_json, output):
        return
    from clustersim.cli_text import estimate_layout, plain_output, plain_text, plain_value

    text = plain_text(estimate_layout(result, plain_value)) if plain_output() else None
    if text is not None:  # what rich prints there, without rich (clustersim.cli_text)
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from clustersim.tables import estimate_tables  # (rich: only for the tables)

    console = _console()
    for table in estimate_tables(result):
        console.print(table)


@cli.command()
@scenario_arg
@set_option
@click.option("--objective", type=click.Choice(["time", "cost"]), default="time", show_default=True,
              help="Rank by step time or by dollars.")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="How many of the best configurations to list.")
@json_option("the ranking")
@output_option()
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write the ranking as CSV (atomic).")
@user_errors
def search(file: str, overrides: tuple[str, ...], objective: str, top: int, as_json: bool, output: str | None,
           csv_path: str | None) -> None:
    """Rank every parallelism that fits FILE's cluster (tp, pp, dp, cp, ep, vpp, micro-batch, ZeRO, recompute, SP)."""
    from clustersim.resolve import resolve_run
    from clustersim.search import search_to_dict

    # what clustersim.search.search does, keeping the resolved run: the scenario is read and validated once
    run = resolve_run(file, set_=overrides, objective=objective, top=top, search=True)
    result = search_to_dict(run, run.search)
    if csv_path:
        from clustersim.money.tabular import write_csv

        write_csv(csv_path, result["top"])
    if emit_result(result, as_json, output):
        return
    from clustersim.tables import search_table  # (rich: only for the table)

    console = _console()
    console.print(search_table(result))
    console.print(f"[bold]why the best wins:[/] {result['why_best']}")


@cli.command()
@scenario_arg
@set_option
@click.option("--replicas", type=click.IntRange(1, 1_000_000), help="Monte Carlo replicas (default: the scenario's).")
@click.option("--seed", type=click.IntRange(0), help="Seed (default: the scenario's).")
@workers_option(256)
@json_option("the result (with `finished` and `horizon_days`)")
@click.option("--failures-only", is_flag=True,
              help="Failure randomness only: no per-replica step-time factor or failure-rate draws.")
@click.option("--events", type=click.Path(dir_okay=False), help="Write replica 0's event log as CSV.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@output_option()
@user_errors
def simulate(file: str, overrides: tuple[str, ...], replicas: int | None, seed: int | None, workers: int | None,
             failures_only: bool, as_json: bool, events: str | None, report: str | None, output: str | None) -> None:
    """Monte Carlo of FILE's run with failures, checkpoints, spares and restarts.

    Each replica also draws its step-time factor (the distribution behind estimate's interval) and its
    failure rates (a calibration profile's posterior, or a preset's study counts): the table shows the
    P50/P90/P99 with this parameter uncertainty and with failures only; --failures-only runs the latter alone.
    """
    from clustersim.io import atomic_write_text
    from clustersim.simulate import simulate as run_simulate
    from clustersim.tables import simulate_tables

    progress = not as_json and sys.stderr.isatty()
    if workers is None:
        workers = default_workers()
    result = run_simulate(file, replicas=replicas, seed=seed, workers=workers, progress=progress, set=overrides,
                          parameter_uncertainty=not failures_only)
    data = result.to_dict()
    from clustersim.money.horizon import mark_finished

    unfinished = mark_finished(data, result.job.horizon_s)
    data["warnings"] = print_warnings(result.estimate.scenario, as_json)
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
    else:
        console = _console()
        if unfinished:
            console.print(f"[bold red]{data['verdict']}[/]")
        for table in simulate_tables(data):
            console.print(table)
        if report:
            console.print(f"report written to {report}")
    if unfinished:
        raise click.exceptions.Exit(EXIT_UNFINISHED)


@cli.command()
@click.argument("result", type=click.Path(dir_okay=False, path_type=str))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="The HTML file to write.")
@click.option("--kind", type=click.Choice(["simulate", "estimate", "costs", "plan", "sweep"]),
              help="What the result is (default: from the file).")
@click.option("--x", "x", help="Sweep heatmap: the input on the x axis (dotted key).")
@click.option("--y", "y", help="Sweep heatmap: the input on the y axis (dotted key).")
@click.option("--z", "z", help="Sweep heatmap: the output drawn (a column of the results).")
@json_option("what was written ({kind, output, bytes})")
@user_errors
def report(result: str, output: str, kind: str | None, x: str | None, y: str | None, z: str | None,
           as_json: bool) -> None:
    """Draw a self-contained HTML report from RESULT (a --json output saved to a file, or a sweep's .db)."""
    import os

    from clustersim.report import report_from_file

    drawn = report_from_file(result, output, kind=kind, x=x, y=y, z=z)
    if as_json:
        emit_json({"kind": "report", "report_kind": drawn, "output": output, "bytes": os.path.getsize(output)})
    else:
        click.echo(f"{drawn} report written to {output} ({os.path.getsize(output) / 1e6:.1f} MB)")


@cli.command()
@click.argument("sweep_file", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "out_db", type=click.Path(dir_okay=False), help="SQLite results (default: next to the sweep file).")
@workers_option(1024)
@click.option("--dask", type=click.Choice(["local"]), help="Run on a Dask LocalCluster of --workers processes.")
@click.option("--scheduler", metavar="tcp://HOST:8786", help="Run on an existing Dask cluster.")
@click.option("--resume", is_flag=True, help="Run only the points not in the database yet.")
@click.option("--objective", help="Rank the best points by this column (min:COL or max:COL).")
@click.option("--export", "export_path", type=click.Path(dir_okay=False),
              help="Write the results as CSV (or .parquet with pyarrow).")
@json_option("the summary")
@output_option()
@user_errors
def sweep(sweep_file: str | None, out_db: str | None, workers: int | None, dask: str | None, scheduler: str | None,
          resume: bool, objective: str | None, export_path: str | None, as_json: bool, output: str | None) -> None:
    """Run SWEEP_FILE's what-if points (grid / zip / samples) into a resumable SQLite database.

    With --export and a database that already holds results (and no --resume), nothing runs: the
    stored results are exported.
    """
    from clustersim.sweep import export_results, render_summary, run_sweep
    from clustersim.sweep.runner import default_db_for

    db = out_db or (str(default_db_for(sweep_file)) if sweep_file else None)
    if sweep_file is None or (export_path and not resume and db and _stored_results(db)):
        if not (export_path and db):
            raise click.UsageError("give a SWEEP_FILE to run, or --out DB --export FILE to export one")
        n = export_results(db, export_path)
        if not emit_result({"kind": "sweep-export", "database": db, "export": export_path, "rows": n},
                           as_json, output):
            click.echo(f"{n} rows written to {export_path} (nothing run: pass --resume to run missing points)")
        return
    assert db is not None
    workers = workers or default_workers()
    summary = run_sweep(sweep_file, db, workers=workers, dask=dask, scheduler=scheduler, resume=resume,
                        progress=not as_json and sys.stderr.isatty(), objective=objective)
    from clustersim.sweep.expand import mode_warnings
    from clustersim.sweep.spec import read_sweep

    summary.notes.extend(mode_warnings(read_sweep(sweep_file)))
    if export_path:
        export_results(db, export_path)
    if emit_result(summary.to_dict(), as_json, output):
        return
    console = _console()
    for renderable in render_summary(summary):
        console.print(renderable)
    if export_path:
        console.print(f"rows written to {export_path}")


def _stored_results(db: str) -> int:
    """How many results a sweep database holds (0 when there is no such file)."""
    import os

    if not os.path.exists(db):
        return 0
    from clustersim.sweep.store import ResultStore

    with ResultStore(db) as store:
        return store.count()

@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--replicas", type=click.IntRange(1, 100_000), help="Replicas (default: the file's).")
@click.option("--seed", type=click.IntRange(0), help="Seed (default: the file's).")
@workers_option(256)
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
def fleet(file: str, replicas: int | None, seed: int | None, workers: int | None, nodes: tuple[str, ...],
          policy: str | None, capacity_pool: str | None, metric: str, target_hours: float | None,
          what_if_nodes: tuple[str, ...], policies: str | None, as_json: bool, report: str | None,
          output: str | None) -> None:
    """Simulate FILE's fleet: many jobs, one scheduler, shared spares and repairs (or plan its capacity)."""
    workers = workers or default_workers()
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


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--replicas", type=click.IntRange(1, 1_000_000), help="Replicas per strategy (default: the file's).")
@click.option("--seed", type=click.IntRange(0), help="Seed (default: the file's).")
@click.option("--deadline-days", type=click.FloatRange(min=0, min_open=True),
              help="Pick the cheapest strategy whose P90 wall time meets this (default: the file's deadline_days).")
@click.option("--strategy", "only", multiple=True, help="Run only these strategies (base: the file as written).")
@click.option("--vary", multiple=True, metavar="KEY=V1,V2,...",
              help="Add one strategy per value: the base with KEY set, e.g. --vary failures.spare_nodes=0,8,16,32 "
                   "(a scenario) or --vary spares.hot=0,8,16,32 (a resilience file).")
@workers_option(256)
@set_option
@json_option()
@output_option()
@user_errors
def resilience(file: str, replicas: int | None, seed: int | None, deadline_days: float | None, only: tuple[str, ...],
               vary: tuple[str, ...], workers: int | None, overrides: tuple[str, ...], as_json: bool,
               output: str | None) -> None:
    """Compare FILE's resilience strategies on the same failures: days, dollars, goodput, and the pick.

    FILE is a training scenario (strategies under resilience.strategies, as dotted overrides; step time
    and checkpoint from the kernel) or a resilience file (docs/reference/resilience.md)."""
    from clustersim.resilience import compare
    from clustersim.resilience.tables import comparison_table

    result = compare(file, replicas=replicas, seed=seed, set=overrides, deadline_days=deadline_days, only=only,
                     workers=workers or default_workers(), vary=vary)
    data = result.to_dict()
    if emit_result(data, as_json, output):
        return
    _console().print(comparison_table(data))


@cli.command()
@click.argument("measurements", type=click.Path(dir_okay=False, path_type=str))
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False),
              help="Write the calibration profile (YAML, atomically); scenarios reference it with `calibration: PATH`.")
@json_option("the calibration (rows, fit, failures, storage, profile)")
@output_option()
@user_errors
def calibrate(measurements: str, profile_path: str | None, as_json: bool, output: str | None) -> None:
    """Fit the kernel to MEASUREMENTS (your runs: YAML or CSV); failure rates and storage from your logs."""
    from clustersim.calibrate import calibrate as run_calibrate
    from clustersim.calibrate.render import calibration_tables

    result = run_calibrate(measurements)
    if profile_path:
        result.write_profile(profile_path)
    if emit_result(result.to_dict(), as_json, output):
        return
    console = _console()
    for item in calibration_tables(result.to_dict()):
        console.print(item)
    if profile_path:
        console.print(f"profile written to {profile_path}")


#: The BLAS libraries numpy may be built with, by the variable that sets their thread count.
_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def start_up_environment() -> None:
    """The process environment the commands run in, the user's own values first: one BLAS thread
    (:func:`single_threaded_blas`) and no pydantic plugins (pydantic looks them up in every installed
    package's entry points when the first model is built, a few ms of each command's start-up; the
    scenario models use none). Set ``PYDANTIC_DISABLE_PLUGINS`` (e.g. to an empty string) to load them."""
    single_threaded_blas()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in _ALL_PLUGINS_DISABLED:
        _no_plugin_discovery()


#: The values of PYDANTIC_DISABLE_PLUGINS that turn every plugin off (pydantic's documentation, "Plugins":
#: ``__all__``, ``1`` or ``true``; pydantic.plugin._loader.get_plugins returns none for them).
_ALL_PLUGINS_DISABLED = ("__all__", "1", "true")
#: pydantic's plugin loader (the module it imports when it builds its first model's validator).
_PYDANTIC_PLUGIN_LOADER = "pydantic.plugin._loader"


def _no_plugin_discovery() -> None:
    """With every pydantic plugin disabled, a stand-in for pydantic's plugin loader, whose ``get_plugins``
    gives none while the variable disables them all, as the loader itself does: the loader's own module imports importlib.metadata (and
    with it the e-mail parser, zipfile, csv...) for the entry points it would not read, some 15 ms of an
    estimate's 0.3 s. Any other name of the loader loads the real module in the stand-in's place. Nothing
    is replaced when the loader is loaded already."""
    if _PYDANTIC_PLUGIN_LOADER in sys.modules:
        return
    import types

    stand_in = types.ModuleType(_PYDANTIC_PLUGIN_LOADER, "clustersim: pydantic's plugin loader, every plugin disabled")

    def get_plugins() -> Any:
        if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in _ALL_PLUGINS_DISABLED:
            return ()
        return real_attribute("get_plugins")()  # the variable changed since: the real loader decides

    def real_attribute(name: str) -> Any:
        if name.startswith("__"):  # what the import system asks of any module (``__path__``...)
            raise AttributeError(name)
        import importlib

        if sys.modules.get(_PYDANTIC_PLUGIN_LOADER) is stand_in:
            del sys.modules[_PYDANTIC_PLUGIN_LOADER]
        return getattr(importlib.import_module(_PYDANTIC_PLUGIN_LOADER), name)

    vars(stand_in).update(get_plugins=get_plugins, __getattr__=real_attribute)
    sys.modules[_PYDANTIC_PLUGIN_LOADER] = stand_in


def single_threaded_blas() -> None:
    """One BLAS thread for this command's process (and the worker processes it starts), unless the user
    set the count: numpy starts OpenBLAS's thread pool (a thread per core) when it is imported, and the
    pool's start-up and spinning cost CPU time (a quarter of a whole ``clustersim search``'s CPU seconds
    on two cores, benchmarks/bench_search.py), while no command multiplies matrices large enough to use
    it (the kernel is elementwise; calibration's matrices have a few rows; parallel work is in
    processes: ``--workers``). Called before any command imports numpy."""
    for variable in _BLAS_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")


def main() -> None:
    """Console-script entry point (Ctrl-C outside a command, e.g. while importing, exits 130 quietly).

    SIGTERM raises SystemExit(143), so that the ``finally`` blocks run: a half-written output's temporary
    file is removed and a sweep's database is closed, as on Ctrl-C."""
    signal.signal(signal.SIGTERM, terminated)
    start_up_environment()
    try:
        cli(prog_name="clustersim")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)


# The money and planning commands live in their own module (which does not import this one).
for _command in MONEY_COMMANDS:
    cli.add_command(_command)
