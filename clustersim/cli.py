"""The ``clustersim`` command: parse, call one library function, render. No modelling logic here.

Every command is wrapped by :func:`user_errors`: a user error (:class:`~clustersim.errors.ClustersimError`,
or an ``OSError`` such as an unwritable output) prints a one-screen message naming the file and exits 2;
any other exception is a bug, reported as an internal error that names the scenario and asks for a bug
report, exit 1. ``--debug`` shows the traceback instead; under ``--json`` the message is also one JSON
object on stderr. Nothing prints a raw traceback by default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import click

from clustersim import __version__
from clustersim.errors import ClustersimError, ScenarioError, visible

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 120)


#: Exit status of a bug (an exception that is not a user error), as Python's own default.
EXIT_INTERNAL_ERROR = 1
#: Exit status after Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130
_SCENARIO_PARAMS = ("file", "sweep_file", "result", "files")


def _input_of(ctx: click.Context) -> str | None:
    """The file a command was run on (its scenario, sweep or result), for error messages."""
    for key in _SCENARIO_PARAMS:
        value = ctx.params.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, (tuple, list)) and value:
            return ", ".join(map(str, value))
    return None


def _user_message(exc: BaseException, source: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The text of a user error (naming the file) and its located items, if any."""
    if isinstance(exc, ScenarioError):
        named = ScenarioError(exc.items, exc.filename or source)
        return named.render(), [dataclasses.asdict(i) for i in named.items]
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else source
        text = exc.strerror or str(exc)
        return (f"{where}: {text}" if where else text), []
    text = str(exc)
    if source and source not in text:
        text = f"{source}: {text}"
    return text, []


def _internal_message(exc: BaseException, ctx: click.Context, source: str | None) -> str:
    command = ctx.command_path or "clustersim"
    on = f" on {source}" if source else ""
    kind = type(exc).__name__
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return (f"internal error in clustersim {__version__} while running `{command}`{on}:\n"
            f"  {kind}{': ' + detail if detail else ''}\n"
            "This is a bug in clustersim, not a problem with your input. Please report it with the scenario "
            "file and the command line; run it again as `clustersim --debug ...` for the traceback.")


def _fail(ctx: click.Context, exc: BaseException) -> None:
    source = _input_of(ctx)
    items: list[dict[str, Any]] = []
    if isinstance(exc, (ClustersimError, OSError)):
        kind, code = "user", EXIT_USER_ERROR
        text, items = _user_message(exc, source)
    else:
        kind, code = "internal", EXIT_INTERNAL_ERROR
        text = _internal_message(exc, ctx, source)
    text = visible(text)  # a hostile name must not drive the terminal
    if ctx.params.get("as_json"):
        obj = {"error": {"kind": kind, "exit_code": code, "type": type(exc).__name__, "file": source,
                         "message": text, "items": items}}
        click.echo(json.dumps(obj, default=str), err=True)
    else:
        click.echo(f"error: {text}" if "\n" not in text else f"error:\n{text}", err=True)
    ctx.exit(code)


def _broken_pipe(ctx: click.Context) -> None:
    """stdout was closed early (``clustersim ... | head``): stop quietly, as other command-line tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file descriptor (e.g. under CliRunner)
        pass
    ctx.exit(EXIT_INTERNAL_ERROR)


#: Parameters that name a file a command writes, and those that name a file it reads.
_OUTPUT_PARAMS = ("output", "report", "events", "export_path", "csv_path", "report_path", "out_db")
_INPUT_PARAMS = ("file", "files", "sweep_file", "result", "base")


def _check_outputs(ctx: click.Context) -> None:
    """Before any work: no output may be one of the inputs, and each output's folder must exist."""
    inputs: list[str] = []
    for key in _INPUT_PARAMS:
        value = ctx.params.get(key)
        inputs += [value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)]
    for param in ctx.command.params:
        out = ctx.params.get(param.name or "")
        if param.name not in _OUTPUT_PARAMS or not isinstance(out, str) or out == "-":
            continue
        option = param.opts[0] if param.opts else param.name
        for source in inputs:
            try:
                same = os.path.samefile(out, source)
            except OSError:  # either does not exist (yet)
                same = False
            if same:
                raise ClustersimError(f"{option} {out} is the input file {source}: refusing to overwrite it")
        folder = os.path.dirname(os.path.realpath(out))
        if not os.path.isdir(folder):
            raise ClustersimError(f"{option} {out}: the folder {folder} does not exist (create it first)")


def user_errors(func: F) -> F:
    """Every exception a command raises becomes a one-screen message: exit 2 for a user error, exit 1
    (with a request for a bug report) for anything else; ``--debug`` re-raises it for the traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        try:
            _check_outputs(ctx)
            return func(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            if debug:
                raise
            _broken_pipe(ctx)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no raw traceback by default
            if debug:
                raise
            _fail(ctx, exc)

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
    if not debug:  # numpy's overflow/invalid-value warnings are for developers; results carry their own notes
        warnings.simplefilter("ignore", RuntimeWarning)


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
            click.echo(f"{path}: ok ({visible(scenario.name)}: {scenario.gpus:,} GPUs)")
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


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point (Ctrl-C outside a command, e.g. while importing, exits 130 quietly).

    SIGTERM raises SystemExit(143), so that the ``finally`` blocks run: a half-written output's temporary
    file is removed and a sweep's database is closed, as on Ctrl-C."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        cli(prog_name="clustersim")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)



# The money and planning commands live in their own module; importing it registers them on `cli`.
from clustersim import cli_money  # noqa: E402,F401  (import for its side effect)
