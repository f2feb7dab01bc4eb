"""The one convention every ``clustersim`` command follows (tested over the whole command tree).

* ``--json``: the result as one JSON object on stdout. Every command has it. An error under ``--json``
  is one JSON object on stdout too, ``{"error": {"type", "message", "exit_code", "problems"}}``
  (the same text also goes to stderr for a person watching), with exit code 2.
* ``-o/--output FILE``: write what ``--json`` would print to FILE, atomically (for ``report``, whose
  result is a page, the HTML; for ``schema``, the schema).
* ``--set KEY.PATH=VALUE`` (repeatable): on every command that reads a scenario, including the base
  scenario of ``costs``, ``plan`` and ``finetune``.
* ``--workers N``: worker processes, default one per CPU, wherever work runs in parallel; results do
  not depend on it. (The Python functions default to ``workers=1``: a library starts no processes
  unasked.)
* ``--csv FILE``: the command's table as CSV, on every command that prints one table of rows.
* ``--report FILE``: a self-contained HTML report, on the commands that have a report
  (``simulate``, ``costs``, ``plan``).

Exit codes: 0 success; 2 a refusal (bad input, or a run that cannot be done: it does not fit in
memory, no layout is valid, it cannot finish); 3 the command ran but its answer is incomplete (a
simulation in which some replica did not finish within the horizon).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import click

from clustersim.errors import ClustersimError, ScenarioError

__all__ = ["ConventionGroup", "EXIT_USER_ERROR", "EXIT_UNFINISHED", "error_object", "report_error", "json_option", "output_option",
           "workers_option", "default_workers", "write_json", "json_text", "progress_reporter"]

F = TypeVar("F", bound=Callable[..., Any])

#: A refusal: bad input, or a run that cannot be done (does not fit, cannot finish).
EXIT_USER_ERROR = 2
#: The command ran, but its answer is incomplete (some simulated replica did not finish in the horizon).
EXIT_UNFINISHED = 3


def error_object(exc: ClustersimError, exit_code: int = EXIT_USER_ERROR) -> dict[str, Any]:
    """The JSON form of an error: its type, message, exit code and (for a scenario) every problem."""
    problems: list[dict[str, Any]] = []
    if isinstance(exc, ScenarioError):
        for item in exc.items:
            problems.append({"file": exc.filename, "line": item.line, "column": item.column, "path": item.path,
                             "message": item.message, "given": item.given, "expected": item.expected,
                             "hint": item.hint})
        message = exc.render()
    else:
        message = str(exc)
    return {"error": {"type": type(exc).__name__, "message": message, "exit_code": exit_code, "problems": problems}}


def report_error(exc: ClustersimError, as_json: bool) -> None:
    """Print an error: the text on stderr, and under ``--json`` its JSON object on stdout."""
    text = exc.render() if isinstance(exc, ScenarioError) else str(exc)
    click.echo(f"error: {text}" if "\n" not in text else f"error:\n{text}", err=True)
    if as_json:
        click.echo(json_text(error_object(exc)))


class ConventionGroup(click.Group):
    """The command group: a usage error (unknown option, bad value) of a command given ``--json`` is
    also printed as the JSON error object on stdout (click prints the usage text on stderr and exits 2)."""

    def invoke(self, ctx: click.Context) -> Any:
        args = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # before the subcommand consumes them
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if "--json" in args:
                message = exc.format_message()
                click.echo(json_text({"error": {"type": "UsageError", "message": message,
                                                "exit_code": exc.exit_code, "problems": []}}))
            raise


def json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=False)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """The JSON result in a file that appears whole or not at all."""
    from clustersim.io import atomic_write_text

    try:
        atomic_write_text(path, json_text(obj) + "\n")
    except OSError as exc:
        raise ClustersimError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from None


def json_option(what: str = "the result") -> Callable[[F], F]:
    return cast(Callable[[F], F], click.option(
        "--json", "as_json", is_flag=True,
        help=f"Print {what} as one JSON object on stdout (an error as {{\"error\": ...}}, exit 2)."))


def output_option(what: str = "the JSON result (what --json prints)") -> Callable[[F], F]:
    return cast(Callable[[F], F], click.option(
        "--output", "-o", type=click.Path(dir_okay=False), help=f"Write {what} to this file (atomically)."))


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def workers_option(limit: int = 1024) -> Callable[[F], F]:
    return cast(Callable[[F], F], click.option(
        "--workers", type=click.IntRange(1, limit), default=None,
        help="Worker processes (default: one per CPU); the result does not depend on it."))


@contextmanager
def progress_reporter(enabled: bool, label: str) -> Iterator[Callable[[str], None]]:
    """A callback that shows the latest step of a long computation on stderr (a spinner on a terminal).

    Off (a no-op) under ``--json`` or when stderr is not a terminal.
    """
    if not (enabled and sys.stderr.isatty()):
        yield lambda _text: None
        return
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    with console.status(f"{label} ...") as status:
        yield lambda text: status.update(f"{label}: {text}")
