"""How the ``clustersim`` command fails: every exception becomes a one-screen message and an exit status.

* a user error (:class:`~clustersim.errors.ClustersimError`, or an ``OSError`` such as an unwritable
  output or a full disk): the message names the file (and the field and line where the error has
  them), exit 2;
* anything else is a bug: an internal-error message that names the command and the scenario and asks
  for a bug report, exit 1;
* Ctrl-C: "interrupted", exit 130 (SIGTERM under :func:`clustersim.cli.main` exits 143 the same way,
  so that ``finally`` blocks remove temporary files and close databases);
* ``--debug`` re-raises instead, for the traceback; under ``--json`` the error is also one JSON object on
  stdout (``{"error": {"type", "message", "exit_code", "kind", "file", "problems"}}``, the convention of
  :mod:`clustersim.cli_conventions`);
* before a command runs, its outputs are checked: none may be one of its inputs, and each output's
  folder must exist (a typo in a path is refused, not created).

User text in messages has its control characters escaped (:func:`clustersim.errors.visible`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import click

from clustersim import __version__
from clustersim.errors import ClustersimError, ScenarioError, visible

__all__ = ["EXIT_USER_ERROR", "EXIT_INTERNAL_ERROR", "EXIT_INTERRUPTED", "user_errors", "terminated"]

F = TypeVar("F", bound=Callable[..., Any])

#: Exit status of a user error (click's own usage errors exit 2 as well).
EXIT_USER_ERROR = 2
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
    click.echo(f"error: {text}" if "\n" not in text else f"error:\n{text}", err=True)
    if ctx.params.get("as_json"):  # the CLI convention: the error object on stdout, the text on stderr
        problems = [{"file": source if isinstance(exc, ScenarioError) and not exc.filename else
                     getattr(exc, "filename", source), **{k: i.get(k) for k in (
                         "line", "column", "path", "message", "given", "expected", "hint")}} for i in items]
        obj = {"error": {"type": type(exc).__name__, "message": text, "exit_code": code, "kind": kind,
                         "file": source, "problems": problems}}
        click.echo(json.dumps(obj, indent=2, default=str))
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


def terminated(signum: int, frame: object) -> None:
    """SIGTERM handler: exit as SystemExit(128 + signal), running ``finally`` blocks on the way."""
    raise SystemExit(128 + signum)
