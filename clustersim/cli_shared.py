"""What the command modules share: output helpers and common options (:mod:`clustersim.cli` and
:mod:`clustersim.cli_money` both import it; neither imports the other's group)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from clustersim.cli_conventions import write_json

__all__ = ["F", "_console", "emit_json", "print_warnings", "emit_result", "set_option", "scenario_arg"]

F = TypeVar("F", bound=Callable[..., Any])


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 120)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False))


def print_warnings(scenario: Any, as_json: bool) -> list[str]:
    """The scenario's warnings, printed to stderr unless under --json (they are in the JSON then)."""
    from clustersim.scenario.warnings import scenario_warnings

    warnings = scenario_warnings(scenario)
    if not as_json:
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
    return warnings


def emit_result(obj: Any, as_json: bool, output: str | None) -> bool:
    """The convention for a JSON result: ``-o`` writes it to a file, ``--json`` prints it.

    True when it was printed (the caller then prints no tables)."""
    if output:
        write_json(output, obj)
    if as_json:
        emit_json(obj)
    return as_json


set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
    help=("Override a scenario field (YAML scalar, or [a, b] for a list key; re-validated), "
          "e.g. --set cluster.nodes=256."))

scenario_arg = click.argument("file", type=click.Path(dir_okay=False, path_type=str))
